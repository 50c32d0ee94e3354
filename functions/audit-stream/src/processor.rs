//! One Kinesis batch through the whole pipeline: decode every record,
//! evaluate and plan over all events of the batch (so dedup works across
//! the batch: one sign-out per fleet + user), execute within the
//! invocation's remaining time, send malformed records to the failure sink,
//! and map every outcome back to the records that caused it.
//!
//! The partial-batch response follows Kinesis semantics: at most one
//! `batchItemFailures` entry, the LOWEST failing sequence number. Lambda
//! checkpoints everything before it and re-delivers from it; later records
//! are re-delivered too, which is safe because every action is idempotent
//! (a repeated sign-out succeeds, a repeated revoke is "already INACTIVE").
//!
//! A record fails when an action it caused failed transiently (still
//! throttled / 5xx after the SDK's retries) or was not started for lack of
//! time, or when it is malformed and the sink refused it. Permanent action
//! failures (not found, unauthorized, invalid) are findings: logged with the
//! rule and the events, never retried, never a batch failure.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use jiff::{SignedDuration, Timestamp};

use crate::envelope::{Batch, Envelope, EnvelopeRecord, InvalidData};
use crate::record::{decode_record_into, BatchBudget, Limits, Malformed};
use crate::sink::{Condition, FailureContext, FailureMessage, FailureSink};
use crate::wire::RecordInfo;
use warden_core::action::TargetKind;
use warden_core::aws::deadline::{Deadline, FailureKind};
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::{operation_name, ActionRecord, Executor, Outcome};
use warden_core::aws::notify::{Notifier, Origin};
use warden_core::engine::{Context, Evaluation, Match, MemoryStore, ThresholdCandidate};
use warden_core::plan::{
    Cause, Plan, PlanOptions, PlannedAction, Population, RefusalReason, Target,
};
use warden_core::policy::{ActionKind, Policy};
use warden_core::state::{
    normalise_domain, normalise_key, BudgetRequest, EventId, Hit, HitOutcome, LedgerEntry,
    LedgerKey, Revocation, StateStore, ThresholdSpec, WindowHits, WindowKey, WindowOutcome,
};
use warden_core::AuditEvent;

/// The function name used in metrics.
pub const FUNCTION_NAME: &str = "audit-stream";

/// Runs planned actions. The shared [`Executor`] in production;
/// [`StubRunner`] in benchmarks.
pub trait ActionRunner: Send + Sync {
    /// Runs `actions`, results in the same order.
    fn run(
        &self,
        actions: &[PlannedAction],
        deadline: Deadline,
        metrics: &mut Metrics,
    ) -> impl Future<Output = Vec<ActionRecord>> + Send;
}

impl ActionRunner for Executor {
    fn run(
        &self,
        actions: &[PlannedAction],
        deadline: Deadline,
        metrics: &mut Metrics,
    ) -> impl Future<Output = Vec<ActionRecord>> + Send {
        self.execute(actions, deadline, metrics)
    }
}

/// Pretends every action succeeded without any I/O (benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct StubRunner;

impl ActionRunner for StubRunner {
    async fn run(
        &self,
        actions: &[PlannedAction],
        _deadline: Deadline,
        _metrics: &mut Metrics,
    ) -> Vec<ActionRecord> {
        actions
            .iter()
            .map(|a| ActionRecord {
                action: a.clone(),
                outcome: if a.dry_run {
                    Outcome::DryRun
                } else {
                    Outcome::Done
                },
                attempts: 0,
                latency_ms: 0,
            })
            .collect()
    }
}

/// What the processor needs besides the policy.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Fleet for events and rules that name none.
    pub default_fleet_arn: Option<String>,
    /// Plan every action as dry-run (logged, not executed).
    pub dry_run: bool,
    /// Decoding limits: events per record, inflated bytes per record and
    /// per batch.
    pub limits: Limits,
    /// Budgets per action kind across invocations (`WARDEN_BUDGETS`), taken
    /// from the state store before executing.
    pub budgets: Vec<Budget>,
}

/// At most `max` actions of `kind` per `per`, across every invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The action kind.
    pub kind: ActionKind,
    /// Actions allowed per period.
    pub max: u32,
    /// The period (fixed, aligned on the Unix epoch).
    pub per: SignedDuration,
}

/// The policy's `budgets:`, each kind replaced by the override's when the
/// override names it, in action-kind order.
pub fn effective_budgets(policy: &Policy, overrides: &[Budget]) -> Vec<Budget> {
    let mut out: Vec<Budget> = policy
        .settings
        .budgets
        .iter()
        .filter(|(k, _)| !overrides.iter().any(|o| o.kind == **k))
        .map(|(k, b)| Budget {
            kind: *k,
            max: b.max,
            per: b.per,
        })
        .collect();
    out.extend_from_slice(overrides);
    out.sort_by_key(|b| b.kind);
    out
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            default_fleet_arn: None,
            dry_run: true,
            limits: Limits::default(),
            budgets: Vec::new(),
        }
    }
}

/// The invocation being served.
#[derive(Debug, Clone, Copy)]
pub struct InvocationInfo<'a> {
    /// Lambda request id.
    pub request_id: &'a str,
    /// The function's ARN.
    pub function_arn: &'a str,
    /// "Now" for the policy.
    pub now: Timestamp,
    /// When to stop starting new calls.
    pub deadline: Deadline,
}

/// A record that could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct MalformedRecord {
    /// Position in the batch.
    pub index: usize,
    /// `shardId-...:sequence`.
    pub event_id: String,
    /// Sequence number.
    pub sequence_number: String,
    /// Why it does not decode (the failure sink's reason).
    pub reason: Malformed,
    /// `None` once the sink accepted it; else why it did not (the record is
    /// then a batch item failure).
    pub sink_error: Option<String>,
}

/// The record reported in `batchItemFailures`, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFailure {
    /// Position in the batch.
    pub index: usize,
    /// Its sequence number (the reported item identifier).
    pub sequence_number: String,
    /// Why this is the lowest failing record.
    pub reason: String,
}

/// Everything one batch did.
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// The response for Lambda.
    pub response: KinesisEventResponse,
    /// Records received.
    pub records: usize,
    /// Events decoded (a record may hold several).
    pub events: usize,
    /// Events that matched at least one rule.
    pub events_matched: usize,
    /// Malformed records.
    pub malformed: Vec<MalformedRecord>,
    /// The plan (actions, refusals, skipped).
    pub plan: Plan,
    /// The planned actions with their outcomes, in plan order.
    pub executed: Vec<ActionRecord>,
    /// The lowest failing record, if any.
    pub failure: Option<BatchFailure>,
    /// The batch's metrics (flush them as EMF).
    pub metrics: Metrics,
}

/// Decodes, evaluates, plans and executes Kinesis batches. Build it once
/// at cold start; it is shared by every invocation.
#[derive(Debug)]
pub struct StreamProcessor<R, S> {
    policy: Arc<Policy>,
    runner: R,
    sink: S,
    config: ProcessorConfig,
    state: Option<State>,
    notifier: Option<Notifier>,
    /// The policy has a `max-percent` cap on a user action it can plan:
    /// with a state store, each batch notes its users there and the cap's
    /// base is the recent window's distinct users.
    user_percent_caps: bool,
}

/// Whether some rule of `policy` plans a user action (`sign-out-user`,
/// `expire-sessions`) whose cap has a `max-percent`.
fn has_user_percent_caps(policy: &Policy) -> bool {
    policy.rules.iter().flat_map(|r| &r.actions).any(|a| {
        matches!(
            a.kind.descriptor().target,
            TargetKind::FleetUser | TargetKind::PortalUser
        ) && policy.settings.cap(a.kind).max_percent.is_some()
    })
}

/// The durable state store, when there is one.
#[derive(Clone)]
struct State(Arc<dyn StateStore>);

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateStore")
    }
}

/// Lambda's `eventID` for a record, or `<shard?>:<sequence>` without one.
fn record_id(event_id: Option<String>, sequence_number: &str) -> String {
    match event_id {
        Some(id) if !id.is_empty() => id,
        _ => format!("unknown-shard:{sequence_number}"),
    }
}

pub(crate) fn shard_of(event_id: &str) -> &str {
    event_id.split_once(':').map_or("unknown-shard", |(s, _)| s)
}

/// Logs a malformed record (at warn) and builds its failure-sink message:
/// the typed path and the parse-time [`Batch`] report it the same way.
pub(crate) fn malformed_message(
    info: &RecordInfo<'_>,
    event_id: &str,
    reason: &Malformed,
    inv: &InvocationInfo<'_>,
) -> FailureMessage {
    tracing::warn!(
        target: "warden::record",
        shard = info.shard_id,
        sequence_number = %info.sequence_number,
        event_id = %event_id,
        reason_code = reason.code(),
        reason = %reason,
        bytes = info.data.len(),
        "malformed record: sending it to the failure sink"
    );
    FailureMessage::new(
        info,
        reason.code(),
        &reason.to_string(),
        &FailureContext {
            request_id: inv.request_id,
            function_arn: inv.function_arn,
            condition: Condition::MalformedRecord,
            invoke_count: 1,
            function_error: None,
            now_ms: inv.now.as_millisecond(),
        },
    )
}

/// A record as stage 1 reads it: the typed [`KinesisEventRecord`] or the
/// compact envelope's [`EnvelopeRecord`].
trait IncomingRecord {
    /// Lambda's `eventID`, moved out.
    fn take_event_id(&mut self) -> Option<String>;
    fn sequence_number(&self) -> &str;
    /// The sequence number, moved out (the record is done with).
    fn take_sequence_number(&mut self) -> String;
    /// The record's data, decoded into `buf` if it is not already.
    fn data<'b>(&'b self, buf: &'b mut Vec<u8>) -> Result<&'b [u8], base64::DecodeError>;
    /// The record as the sink's wire format wants it.
    fn info<'b>(&'b self, event_id: &'b str, data: &'b [u8]) -> RecordInfo<'b>;
}

impl IncomingRecord for KinesisEventRecord {
    fn take_event_id(&mut self) -> Option<String> {
        self.event_id.take()
    }
    fn sequence_number(&self) -> &str {
        &self.kinesis.sequence_number
    }
    fn take_sequence_number(&mut self) -> String {
        std::mem::take(&mut self.kinesis.sequence_number)
    }
    fn data<'b>(&'b self, _buf: &'b mut Vec<u8>) -> Result<&'b [u8], base64::DecodeError> {
        Ok(&self.kinesis.data)
    }
    fn info<'b>(&'b self, event_id: &'b str, _data: &'b [u8]) -> RecordInfo<'b> {
        record_info(self, event_id)
    }
}

impl IncomingRecord for EnvelopeRecord {
    fn take_event_id(&mut self) -> Option<String> {
        self.event_id.take()
    }
    fn sequence_number(&self) -> &str {
        &self.kinesis.sequence_number
    }
    fn take_sequence_number(&mut self) -> String {
        std::mem::take(&mut self.kinesis.sequence_number)
    }
    fn data<'b>(&'b self, buf: &'b mut Vec<u8>) -> Result<&'b [u8], base64::DecodeError> {
        self.decode_data(buf)?;
        Ok(buf)
    }
    fn info<'b>(&'b self, event_id: &'b str, data: &'b [u8]) -> RecordInfo<'b> {
        EnvelopeRecord::info(self, shard_of(event_id), data)
    }
}

/// The record as the sink's wire format wants it.
pub fn record_info<'a>(rec: &'a KinesisEventRecord, event_id: &'a str) -> RecordInfo<'a> {
    RecordInfo {
        shard_id: shard_of(event_id),
        sequence_number: &rec.kinesis.sequence_number,
        partition_key: &rec.kinesis.partition_key,
        arrival_ms: rec.kinesis.approximate_arrival_timestamp.timestamp_millis(),
        data: &rec.kinesis.data,
        stream_arn: rec.event_source_arn.as_deref().unwrap_or_default(),
        region: rec.aws_region.as_deref().unwrap_or_default(),
        invoke_identity_arn: rec.invoke_identity_arn.as_deref().unwrap_or_default(),
    }
}

impl<R: ActionRunner, S: FailureSink> StreamProcessor<R, S> {
    /// A processor over a compiled policy. The budgets in force are the
    /// policy's `budgets:`, each kind replaced by the configuration's
    /// (`WARDEN_BUDGETS`) when it names that kind.
    pub fn new(policy: Arc<Policy>, runner: R, sink: S, mut config: ProcessorConfig) -> Self {
        config.budgets = effective_budgets(&policy, &config.budgets);
        let s = &policy.settings;
        if s.default_cap.max_percent.is_some() || s.caps.values().any(|c| c.max_percent.is_some()) {
            // The population of `max-percent` (docs/audit-stream.md).
            tracing::info!(
                "max-percent caps: the population is each batch's distinct users (user actions) \
                 and hosts (domain actions); with a state store, user actions use the distinct \
                 users of the state table's recent window (this hour and the last)"
            );
        }
        StreamProcessor {
            user_percent_caps: has_user_percent_caps(&policy),
            policy,
            runner,
            sink,
            config,
            state: None,
            notifier: None,
        }
    }

    /// Announces executed actions, cap refusals and over-budget refusals
    /// on the deployment's SNS topic (`WARDEN_NOTIFY_TOPIC_ARN`).
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// The durable state store (`WARDEN_STATE_TABLE`): threshold windows
    /// count across invocations in it.
    pub fn with_state(mut self, store: Arc<dyn StateStore>) -> Self {
        if self.user_percent_caps {
            tracing::info!(
                store = %store.describe(),
                "max-percent caps on user actions: the population is the distinct users \
                 noted in the state table in this hour and the last (one write per batch)"
            );
        }
        self.state = Some(State(store));
        self
    }

    /// The state store, if any.
    pub fn state(&self) -> Option<&Arc<dyn StateStore>> {
        self.state.as_ref().map(|s| &s.0)
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The configuration.
    pub fn config(&self) -> &ProcessorConfig {
        &self.config
    }

    /// The failure sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Processes one batch, stage by stage: [`decode`](Self::decode) ->
    /// [`plan`](Self::plan) (pure) -> [`execute`](Self::execute) (the actions
    /// and the failure sink, side by side) -> [`report`] (pure: outcomes
    /// mapped back to records, the partial-batch response). Never fails as a
    /// whole: every problem is a malformed record, a finding, or a batch
    /// item failure in the report.
    pub async fn process(&self, event: KinesisEvent, inv: &InvocationInfo<'_>) -> BatchReport {
        let started = std::time::Instant::now();
        let mut metrics = Metrics::new(FUNCTION_NAME);
        let decoded = self.decode(event, inv, &mut metrics);
        self.process_decoded(decoded, started, metrics, inv).await
    }

    /// [`process`](Self::process) for the compact envelope the Lambda
    /// binary reads ([`Envelope`]): the same stages and report. A record
    /// whose data is not base64 rejects the whole batch before any action,
    /// as the typed event's deserialization does.
    pub async fn process_envelope(
        &self,
        event: Envelope,
        inv: &InvocationInfo<'_>,
    ) -> Result<BatchReport, InvalidData> {
        let started = std::time::Instant::now();
        let mut metrics = Metrics::new(FUNCTION_NAME);
        let decoded = self.decode_records(event.records, inv, &mut metrics)?;
        Ok(self.process_decoded(decoded, started, metrics, inv).await)
    }

    /// [`process`](Self::process) for the [`Batch`] the Lambda binary
    /// reads: its records were decoded while the event was parsed (stage 1
    /// timed from the parse's start); the same stages and report.
    pub async fn process_batch(
        &self,
        batch: Batch,
        inv: &InvocationInfo<'_>,
    ) -> Result<BatchReport, InvalidData> {
        let started = batch.started();
        let (decoded, metrics) = batch.into_decoded(inv)?;
        Ok(self.process_decoded(decoded, started, metrics, inv).await)
    }

    async fn process_decoded(
        &self,
        decoded: Decoded,
        started: std::time::Instant,
        mut metrics: Metrics,
        inv: &InvocationInfo<'_>,
    ) -> BatchReport {
        let decoded_at = started.elapsed();
        let planned = match self.state() {
            Some(store) => {
                let population = self
                    .population(store.as_ref(), &decoded, inv.now, &mut metrics)
                    .await;
                self.plan_with_state(store.as_ref(), &decoded, inv.now, population, &mut metrics)
                    .await
            }
            None => self.plan(&decoded, inv.now, &mut metrics),
        };
        let mut planned = planned;
        if let Some(store) = self.state() {
            self.skip_done(
                store.as_ref(),
                &decoded,
                &mut planned,
                inv.now,
                &mut metrics,
            )
            .await;
            self.take_budgets(
                store.as_ref(),
                &decoded,
                &mut planned,
                inv.now,
                &mut metrics,
            )
            .await;
        }
        let planned_at = started.elapsed();
        let (executed, sunk) = self
            .execute(&planned.plan, &decoded.messages, inv.deadline, &mut metrics)
            .await;
        if let Some(store) = self.state() {
            let unrecorded =
                record_revocations(store.as_ref(), &self.policy, &executed, inv.now).await;
            if let Some(e) = &unrecorded {
                // Reported at the lowest record of those revokes and kept out
                // of the ledger: the re-delivery revokes again ("already
                // INACTIVE") and records it then.
                let index = event_index(&decoded);
                let lowest = executed
                    .iter()
                    .filter(|r| is_recorded_revoke(r))
                    .filter_map(|r| lowest_cause(&r.action, &index))
                    .min()
                    .unwrap_or(0);
                metrics.count("StateStoreErrors", 1);
                let why = format!("revocation not recorded: {e}");
                planned.fail_at(lowest, why);
            }
            record_done(store.as_ref(), &executed, inv.now, unrecorded.is_some()).await;
        }
        if let Some(notifier) = &self.notifier {
            let mut notices = notifier.notices(&self.policy);
            notices.executed(&executed);
            notices.refusals(&planned.plan.refusals);
            for (a, why) in &planned.over_budget {
                notices.over_budget(a, why);
            }
            notifier
                .send(
                    &notices.notices,
                    &Origin::new(FUNCTION_NAME, inv.request_id),
                    inv.deadline,
                    &mut metrics,
                )
                .await;
        }
        let timings = StageTimes {
            decode_ms: decoded_at.as_millis() as u64,
            evaluate_plan_ms: (planned_at - decoded_at).as_millis() as u64,
            execute_ms: (started.elapsed() - planned_at).as_millis() as u64,
        };
        report(
            decoded,
            planned,
            executed,
            sunk,
            self.config.dry_run,
            timings,
            metrics,
        )
    }

    /// Stage 1: decodes every record. Takes the event by value and consumes
    /// it record by record: once a record is decoded only its id and
    /// sequence number are kept (a malformed one is turned into its
    /// failure-sink message first), so the batch is never held twice, as
    /// records and as events.
    pub fn decode(
        &self,
        event: KinesisEvent,
        inv: &InvocationInfo<'_>,
        metrics: &mut Metrics,
    ) -> Decoded {
        self.decode_records(event.records, inv, metrics)
            .expect("the typed event holds decoded data")
    }

    /// Stage 1 over either form of the records: the typed ones (data
    /// already decoded) or the envelope's (base64, decoded here into one
    /// buffer reused for every record).
    fn decode_records<T: IncomingRecord>(
        &self,
        mut records: Vec<T>,
        inv: &InvocationInfo<'_>,
        metrics: &mut Metrics,
    ) -> Result<Decoded, InvalidData> {
        let n = records.len();
        metrics.count("RecordsReceived", n as u64);
        let fields = self.policy.field_map();
        let mut d = Decoded {
            records: n,
            events: Vec::with_capacity(n),
            event_record: Vec::with_capacity(n),
            shards: Vec::new(),
            seqs: Vec::with_capacity(n),
            malformed: Vec::new(),
            messages: Vec::new(),
        };
        let mut budget = BatchBudget::new(self.config.limits);
        let mut buf = Vec::new();
        let mut i = 0usize;
        while !records.is_empty() {
            // Consumed in chunks, the records' buffer shrinking as it goes.
            let take = records.len().min(1024);
            for mut rec in records.drain(..take) {
                let id = record_id(rec.take_event_id(), rec.sequence_number());
                let data = rec.data(&mut buf).map_err(|e| InvalidData {
                    index: i,
                    sequence_number: rec.sequence_number().to_owned(),
                    reason: e.to_string(),
                })?;
                let first = d.events.len();
                match decode_record_into(data, &id, fields, &mut budget, &mut d.events) {
                    Ok(k) => {
                        let k = k - set_aside_validation(&mut d.events, first, metrics);
                        d.event_record.extend(std::iter::repeat_n(i as u32, k))
                    }
                    Err(reason) => {
                        d.messages
                            .push(malformed_message(&rec.info(&id, data), &id, &reason, inv));
                        d.malformed.push(MalformedRecord {
                            index: i,
                            event_id: id.clone(),
                            sequence_number: rec.sequence_number().to_owned(),
                            reason,
                            sink_error: None,
                        });
                    }
                }
                let shard = shard_of(&id);
                let shard = match d.shards.iter().position(|s| **s == *shard) {
                    Some(p) => p,
                    None => {
                        d.shards.push(shard.into());
                        d.shards.len() - 1
                    }
                };
                d.seqs
                    .push((shard as u32, rec.take_sequence_number().into()));
                i += 1;
            }
            records.shrink_to_fit();
        }
        metrics.count("RecordsMalformed", d.malformed.len() as u64);
        metrics.count("EventsDecoded", d.events.len() as u64);
        Ok(d)
    }

    /// Stage 2 (pure): evaluates and plans over the whole batch, so dedup
    /// works across it (one sign-out per fleet + user). Refusals and
    /// actions that could not be formed are logged as findings.
    pub fn plan(&self, decoded: &Decoded, now: Timestamp, metrics: &mut Metrics) -> Planned {
        let ctx = self.context(now, Population::default());
        let mut store = MemoryStore::new();
        let eval = self
            .policy
            .evaluate_events(&decoded.events, &ctx, &mut store);
        self.plan_evaluated(eval, decoded, &ctx, None, metrics)
    }

    /// The population of user actions for `max-percent`: only when the
    /// policy caps one by percentage ([`has_user_percent_caps`]), the batch's
    /// distinct (normalised) users are noted in the store and the recent
    /// window's distinct users are the base. Otherwise, or when the store
    /// fails (logged, never a batch failure), unknown: the base is then the
    /// batch's own distinct users, as without a store.
    pub async fn population(
        &self,
        store: &dyn StateStore,
        decoded: &Decoded,
        now: Timestamp,
        metrics: &mut Metrics,
    ) -> Population {
        if !self.user_percent_caps {
            return Population::default();
        }
        let mut users: Vec<String> = decoded
            .events
            .iter()
            .filter_map(|e| e.user.as_deref())
            .map(|u| normalise_key(u).into_owned())
            .filter(|u| !u.is_empty())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        users.sort();
        match store.note_users(&users, now).await {
            Ok(n) => Population {
                fleet_users: Some(n),
                portal_users: Some(n),
                ..Population::default()
            },
            Err(e) => {
                tracing::warn!(
                    target: "warden::state",
                    error = %e,
                    users = users.len(),
                    "state store failed: population unknown; max-percent caps use the batch's \
                     distinct users"
                );
                metrics.count("StateStoreErrors", 1);
                Population::default()
            }
        }
    }

    fn context(&self, now: Timestamp, population: Population) -> Context {
        Context {
            now,
            default_fleet_arn: self.config.default_fleet_arn.clone(),
            // set-audit-stream is a fleet action: never planned from events.
            audit_stream_arn: None,
            // Unknown (the batch's distinct users and hosts) unless the
            // state store's recent window gave one (`population`).
            population,
            // set-access-logging is a portal action: never planned from events.
            access_log_stream_arn: None,
        }
    }

    /// Stage 2 with the durable state store: the threshold rules' candidates
    /// of the whole batch are counted in ONE `record_hits` call (grouped per
    /// rule and normalised key, each hit identified by shard, sequence
    /// number and position in its record, so a re-delivery counts once), and
    /// the windows that fire decide the threshold matches. The matches of a
    /// firing are its completing event and the batch's other events of that
    /// window, so a failed action is reported at the lowest record of the
    /// window and its re-delivery replays the firing.
    ///
    /// When the store fails, no threshold rule matches (no action on an
    /// unknown count) and the lowest record holding a candidate becomes a
    /// batch item failure ([`Planned::state_failure`]), logged with why.
    pub async fn plan_with_state(
        &self,
        store: &dyn StateStore,
        decoded: &Decoded,
        now: Timestamp,
        population: Population,
        metrics: &mut Metrics,
    ) -> Planned {
        let ctx = self.context(now, population);
        let mut eval = Evaluation::new();
        let cands = self
            .policy
            .evaluate_events_deferred(&decoded.events, &ctx, &mut eval);
        let mut state_failure = None;
        if !cands.is_empty() {
            let (windows, members) = self.window_hits(decoded, &cands);
            match store.record_hits(&windows, now).await {
                Ok(outcomes) => {
                    let matches = firing_matches(&windows, &members, &outcomes);
                    metrics.count("ThresholdsFired", matches.1 as u64);
                    eval.add_matches(matches.0);
                }
                Err(e) => {
                    let lowest = cands
                        .iter()
                        .map(|c| decoded.event_record[c.subject as usize] as usize)
                        .min()
                        .unwrap_or(0);
                    tracing::error!(
                        target: "warden::state",
                        error = %e,
                        retryable = e.is_retryable(),
                        windows = windows.len(),
                        hits = cands.len(),
                        "state store failed: threshold rules not evaluated (no action on an unknown count); \
                         their records are reported as batch item failures"
                    );
                    metrics.count("StateStoreErrors", 1);
                    state_failure = Some((lowest, format!("threshold counts not recorded: {e}")));
                }
            }
        }
        self.plan_evaluated(eval, decoded, &ctx, state_failure, metrics)
    }

    /// The batch's threshold candidates as one [`WindowHits`] per (rule,
    /// normalised key), hits in time order, and for each window the event
    /// index and time of each hit.
    fn window_hits(
        &self,
        decoded: &Decoded,
        cands: &[ThresholdCandidate],
    ) -> (Vec<WindowHits>, Vec<Members>) {
        // The position of each event within its record (1-based).
        let mut position = Vec::with_capacity(decoded.events.len());
        let mut prev = None;
        let mut n = 0u32;
        for r in &decoded.event_record {
            n = if prev == Some(*r) { n + 1 } else { 1 };
            prev = Some(*r);
            position.push(n);
        }
        // The engine gives the candidates sorted by (rule, key, time,
        // event), so a window's hits are consecutive; sorted here if not.
        let mut order: Vec<&ThresholdCandidate> = cands.iter().collect();
        if !cands.is_sorted_by(|a, b| (a.rule, &a.key) <= (b.rule, &b.key)) {
            order.sort_by(|a, b| {
                (a.rule, &a.key, a.at, a.subject).cmp(&(b.rule, &b.key, b.at, b.subject))
            });
        }
        let mut windows: Vec<WindowHits> = Vec::new();
        let mut members: Vec<Members> = Vec::new();
        let mut last: Option<(u32, &str)> = None;
        for c in order {
            let rule = &self.policy.rules[c.rule as usize];
            let Some(th) = rule.threshold.as_ref() else {
                continue;
            };
            // Normalised by the engine, as the rule's `normalize` says.
            if last != Some((c.rule, c.key.as_str())) {
                last = Some((c.rule, c.key.as_str()));
                windows.push(WindowHits {
                    window: WindowKey {
                        rule: rule.name.clone(),
                        key: c.key.clone(),
                    },
                    spec: ThresholdSpec {
                        count: th.count,
                        within: th.within,
                    },
                    hits: Vec::new(),
                });
                members.push(Members {
                    rule: c.rule,
                    events: Vec::new(),
                });
            }
            let w = windows.len() - 1;
            let rec = decoded.event_record[c.subject as usize] as usize;
            let (shard, seq) = &decoded.seqs[rec];
            windows[w].hits.push(Hit {
                id: EventId::new(
                    decoded.shards[*shard as usize].clone(),
                    seq.clone(),
                    position[c.subject as usize],
                ),
                at: c.at,
            });
            members[w].events.push((c.subject, c.at));
        }
        // Time order (then the event's identity), as the store counts them:
        // already so when the candidates came sorted by time.
        for (w, m) in windows.iter_mut().zip(members.iter_mut()) {
            let ordered = w.hits.is_sorted_by(|a, b| (a.at, &a.id) <= (b.at, &b.id));
            if ordered {
                continue;
            }
            let mut both: Vec<_> = std::mem::take(&mut w.hits)
                .into_iter()
                .zip(m.events.drain(..))
                .collect();
            both.sort_by(|a, b| (a.0.at, &a.0.id).cmp(&(b.0.at, &b.0.id)));
            for (h, mm) in both {
                w.hits.push(h);
                m.events.push(mm);
            }
        }
        (windows, members)
    }

    fn plan_evaluated(
        &self,
        eval: Evaluation,
        decoded: &Decoded,
        ctx: &Context,
        state_failure: Option<(usize, String)>,
        metrics: &mut Metrics,
    ) -> Planned {
        let opts = PlanOptions::default().with_dry_run(self.config.dry_run);
        let mut events_matched = 0usize;
        let mut last = None;
        for m in &eval.matches {
            if last != Some(m.subject) {
                events_matched += 1;
                last = Some(m.subject);
            }
        }
        metrics.count("EventsMatched", events_matched as u64);
        let plan = self.policy.plan_events(&eval, &decoded.events, ctx, &opts);
        drop(eval);
        count_plan(&plan, metrics);
        log_plan_findings(&plan);
        Planned {
            plan,
            events_matched,
            state_failure,
            over_budget: Vec::new(),
        }
    }

    /// The action ledger, before executing: one `ledger_contains` call for
    /// every (kind, target, cause event) of the plan's live actions; an
    /// action all of whose causes are already recorded as done (a
    /// re-delivered batch, a replayed firing) is dropped from the plan,
    /// logged and counted (`ActionsAlreadyDone`). A new cause (a new burst,
    /// a new event) acts again. Dry-run actions are not looked up. When the
    /// store fails, no live action runs (it may have run already) and the
    /// lowest record among their causes is a batch item failure.
    pub async fn skip_done(
        &self,
        store: &dyn StateStore,
        decoded: &Decoded,
        planned: &mut Planned,
        now: Timestamp,
        metrics: &mut Metrics,
    ) {
        let live: Vec<usize> = (0..planned.plan.actions.len())
            .filter(|&i| !planned.plan.actions[i].dry_run)
            .collect();
        let mut keys = Vec::new();
        let mut spans = Vec::with_capacity(live.len());
        for &i in &live {
            let start = keys.len();
            keys.extend(ledger_keys(&planned.plan.actions[i]));
            spans.push(start..keys.len());
        }
        if keys.is_empty() {
            return;
        }
        match store.ledger_contains(&keys, now).await {
            Ok(done) => {
                let mut drop = vec![false; planned.plan.actions.len()];
                for (&i, span) in live.iter().zip(&spans) {
                    if !span.is_empty() && done[span.clone()].iter().all(|d| *d) {
                        drop[i] = true;
                    }
                }
                let mut i = 0;
                planned.plan.actions.retain(|a| {
                    let keep = !drop[i];
                    i += 1;
                    if !keep {
                        tracing::info!(
                            target: "warden::ledger",
                            rule = %a.rules.join(","),
                            action = a.kind.name(),
                            target_desc = %a.target,
                            events = %cause_ids(&a.causes),
                            "action already done for these causes: not repeated"
                        );
                        metrics.count_by("ActionsAlreadyDone", "Action", operation_name(a.kind), 1);
                    }
                    keep
                });
            }
            Err(e) => {
                let index = event_index(decoded);
                let lowest = live
                    .iter()
                    .filter_map(|&i| lowest_cause(&planned.plan.actions[i], &index))
                    .min()
                    .unwrap_or(0);
                tracing::error!(
                    target: "warden::state",
                    error = %e,
                    actions = live.len(),
                    "state store failed: the action ledger cannot say what was done; \
                     no action runs, the records are reported as batch item failures"
                );
                metrics.count("StateStoreErrors", 1);
                planned.plan.actions.retain(|a| a.dry_run);
                let why = format!("action ledger not readable: {e}");
                planned.fail_at(lowest, why);
            }
        }
    }

    /// Budgets, after the ledger and before executing: ONE `take_budget`
    /// call for the live actions of every kind that has a budget; the first
    /// `granted` of a kind (plan order) run, the rest are refused: logged at
    /// error and counted (`BudgetRefused` by `Action`), not retried (like a
    /// cap). When the store fails, no action of a budgeted kind runs and the
    /// lowest record among their causes is a batch item failure.
    pub async fn take_budgets(
        &self,
        store: &dyn StateStore,
        decoded: &Decoded,
        planned: &mut Planned,
        now: Timestamp,
        metrics: &mut Metrics,
    ) {
        let budgets = &self.config.budgets;
        let mut requests: Vec<BudgetRequest> = Vec::new();
        for b in budgets {
            let want = planned
                .plan
                .actions
                .iter()
                .filter(|a| !a.dry_run && a.kind == b.kind)
                .count() as u32;
            if want > 0 {
                requests.push(BudgetRequest {
                    kind: b.kind.name().to_owned(),
                    want,
                    max: b.max,
                    per: b.per,
                });
            }
        }
        if requests.is_empty() {
            return;
        }
        match store.take_budget(&requests, now).await {
            Ok(grants) => {
                let mut left: HashMap<&str, u32> = grants
                    .iter()
                    .map(|g| (g.kind.as_str(), g.granted))
                    .collect();
                let ends: HashMap<&str, (u32, u32, Timestamp)> = grants
                    .iter()
                    .map(|g| (g.kind.as_str(), (g.used, g.max, g.period_end)))
                    .collect();
                planned.plan.actions.retain(|a| {
                    if a.dry_run {
                        return true;
                    }
                    let Some(n) = left.get_mut(a.kind.name()) else {
                        return true;
                    };
                    if *n > 0 {
                        *n -= 1;
                        return true;
                    }
                    let (used, max, until) = ends[a.kind.name()];
                    tracing::error!(
                        target: "warden::finding",
                        rule = %a.rules.join(","),
                        action = a.kind.name(),
                        target_desc = %a.target,
                        events = %cause_ids(&a.causes),
                        budget_used = used,
                        budget_max = max,
                        refused_until = %until,
                        "action refused: over the budget"
                    );
                    metrics.count_by("BudgetRefused", "Action", operation_name(a.kind), 1);
                    // Per function too: the template's alarm watches it.
                    metrics.count("BudgetRefused", 1);
                    planned.over_budget.push((
                        a.clone(),
                        format!("over the budget: {used} of {max} used, refused until {until}"),
                    ));
                    false
                });
            }
            Err(e) => {
                let index = event_index(decoded);
                let kinds: Vec<ActionKind> = budgets.iter().map(|b| b.kind).collect();
                let lowest = planned
                    .plan
                    .actions
                    .iter()
                    .filter(|a| !a.dry_run && kinds.contains(&a.kind))
                    .filter_map(|a| lowest_cause(a, &index))
                    .min()
                    .unwrap_or(0);
                tracing::error!(
                    target: "warden::state",
                    error = %e,
                    "state store failed: budgets cannot be taken; no action of a budgeted kind runs, \
                     the records are reported as batch item failures"
                );
                metrics.count("StateStoreErrors", 1);
                planned
                    .plan
                    .actions
                    .retain(|a| a.dry_run || !kinds.contains(&a.kind));
                let why = format!("budget not taken: {e}");
                planned.fail_at(lowest, why);
            }
        }
    }

    /// Stage 3: runs the planned actions and sends the malformed records to
    /// the failure sink, side by side, within the invocation's time. The
    /// outcomes are in plan order, the sink's results in message order.
    pub async fn execute(
        &self,
        plan: &Plan,
        messages: &[FailureMessage],
        deadline: Deadline,
        metrics: &mut Metrics,
    ) -> (Vec<ActionRecord>, Vec<Result<(), String>>) {
        futures::join!(
            self.runner.run(&plan.actions, deadline, metrics),
            self.sink.send_all(messages, deadline)
        )
    }
}

/// What the decode stage made of a batch.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    /// Records received.
    pub records: usize,
    /// The events decoded, in record order (a record may hold several).
    pub events: Vec<AuditEvent>,
    /// For each event, the position of its record in the batch.
    pub event_record: Vec<u32>,
    /// The shards the records came from (a Lambda batch has one).
    pub shards: Vec<Arc<str>>,
    /// Per record: its shard (an index into `shards`) and sequence number,
    /// shared with the [`EventId`]s of its events.
    pub seqs: Vec<(u32, Arc<str>)>,
    /// The records that could not be decoded.
    pub malformed: Vec<MalformedRecord>,
    /// Their failure-sink messages, in the same order.
    pub messages: Vec<FailureMessage>,
}

/// What the plan stage decided.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Actions, refusals, skipped.
    pub plan: Plan,
    /// Events that matched at least one rule.
    pub events_matched: usize,
    /// The state store failed: the record to report as a batch item
    /// failure (the lowest holding a threshold candidate) and why.
    pub state_failure: Option<(usize, String)>,
    /// Actions refused over their budget, and the budget's state (for the
    /// notifications).
    pub over_budget: Vec<(PlannedAction, String)>,
}

impl Planned {
    /// Reports record `index` as the batch item failure for `why`, unless
    /// a lower record already is (Lambda re-delivers from the lowest).
    pub fn fail_at(&mut self, index: usize, why: String) {
        if self
            .state_failure
            .as_ref()
            .is_none_or(|(at, _)| index < *at)
        {
            self.state_failure = Some((index, why));
        }
    }
}

/// How long the stages took, for the `batch processed` log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Milliseconds spent decoding the records into events.
    pub decode_ms: u64,
    /// Evaluating and planning.
    pub evaluate_plan_ms: u64,
    /// Executing and sinking.
    pub execute_ms: u64,
}

/// Stage 4 (pure): maps every outcome back to the records that caused it
/// and builds the partial-batch response: the LOWEST failing record among
/// malformed records the sink refused and records whose actions failed
/// transiently or were not started. Permanent failures are findings,
/// logged, never a batch failure.
pub fn report(
    decoded: Decoded,
    planned: Planned,
    executed: Vec<ActionRecord>,
    sunk: Vec<Result<(), String>>,
    dry_run: bool,
    timings: StageTimes,
    mut metrics: Metrics,
) -> BatchReport {
    let Decoded {
        records: n,
        events,
        event_record,
        shards,
        seqs,
        mut malformed,
        ..
    } = decoded;
    let Planned {
        plan,
        events_matched,
        state_failure,
        ..
    } = planned;
    let mut lowest: Option<(usize, String)> = None;
    let mut fail_at = |index: usize, why: String| {
        if lowest.as_ref().is_none_or(|(i, _)| index < *i) {
            lowest = Some((index, why));
        }
    };
    if let Some((index, why)) = state_failure {
        fail_at(index, why);
    }
    let mut sink_ok = 0u64;
    for (m, result) in malformed.iter_mut().zip(sunk) {
        match result {
            Ok(()) => sink_ok += 1,
            Err(e) => {
                tracing::error!(
                    target: "warden::record",
                    shard = shard_of(&m.event_id),
                    sequence_number = %m.sequence_number,
                    event_id = %m.event_id,
                    reason = %m.reason,
                    sink_error = %e,
                    "the failure sink refused a malformed record: reporting it as a batch item failure"
                );
                fail_at(
                    m.index,
                    format!(
                        "malformed ({}) and the failure sink refused it: {e}",
                        m.reason
                    ),
                );
                m.sink_error = Some(e);
            }
        }
    }
    metrics.count("RecordsSentToFailureSink", sink_ok);
    metrics.count("FailureSinkErrors", malformed.len() as u64 - sink_ok);

    let mut by_source: Option<HashMap<&str, u32>> = None;
    for rec in &executed {
        match &rec.outcome {
            Outcome::Failed(f) if f.kind == FailureKind::Permanent => {
                log_finding(rec);
            }
            o if o.should_retry() => {
                let index = by_source.get_or_insert_with(|| {
                    events
                        .iter()
                        .zip(&event_record)
                        .map(|(e, r)| (&*e.source_id, *r))
                        .collect()
                });
                let first = rec
                    .action
                    .causes
                    .iter()
                    .filter_map(|c| match c {
                        Cause::Event { source_id, .. } => index.get(source_id.as_str()),
                        Cause::Resource { .. } => None,
                    })
                    .min()
                    .copied();
                // Without a known cause the whole batch is retried.
                let at = first.map_or(0, |r| r as usize);
                fail_at(
                    at,
                    format!(
                        "{} {} {}",
                        rec.action.kind,
                        rec.action.target,
                        match &rec.outcome {
                            Outcome::Failed(f) => format!("failed: {f}"),
                            _ => "not started: too little time left".to_string(),
                        }
                    ),
                );
            }
            _ => {}
        }
    }

    let mut response = KinesisEventResponse::default();
    let failure = lowest.map(|(index, reason)| {
        let sequence_number = seqs
            .get(index)
            .map(|(_, seq)| seq.to_string())
            .unwrap_or_default();
        BatchFailure {
            index,
            sequence_number,
            reason,
        }
    });
    if let Some(f) = &failure {
        let shard = seqs
            .get(f.index)
            .and_then(|(s, _)| shards.get(*s as usize))
            .map_or("unknown-shard", |s| s);
        tracing::warn!(
            target: "warden::batch",
            shard,
            sequence_number = %f.sequence_number,
            position = f.index,
            reason = %f.reason,
            "batch item failure: Lambda re-delivers from this record"
        );
        response.add_failure(f.sequence_number.clone());
    }
    metrics.count("BatchItemFailures", u64::from(failure.is_some()));

    tracing::info!(
        target: "warden::batch",
        records = n,
        events = events.len(),
        malformed = malformed.len(),
        events_matched,
        actions_planned = plan.actions.len(),
        actions_refused = plan.refusals.len(),
        actions_skipped = plan.skipped.len(),
        actions_failed = executed.iter().filter(|r| !r.outcome.is_success()).count(),
        dry_run,
        failed_sequence_number = failure.as_ref().map(|f| f.sequence_number.as_str()),
        decode_ms = timings.decode_ms,
        evaluate_plan_ms = timings.evaluate_plan_ms,
        execute_ms = timings.execute_ms,
        "batch processed"
    );
    BatchReport {
        response,
        records: n,
        events: events.len(),
        events_matched,
        malformed,
        plan,
        executed,
        failure,
        metrics,
    }
}

/// How long the ledger remembers an executed action: past Kinesis'
/// default retention (24 h) and a retry storm's re-deliveries.
pub const LEDGER_KEEP: SignedDuration = SignedDuration::from_hours(7 * 24);

/// The ledger keys of an action: one per cause event (the event ids are
/// stable across re-deliveries). Only the listed causes (at most
/// `MAX_CAUSES`) count.
fn ledger_keys(a: &PlannedAction) -> impl Iterator<Item = LedgerKey> + '_ {
    let kind = a.kind.name().to_owned();
    // User names trimmed and case-folded: `Alice` and `alice ` are one.
    let target = match &a.target {
        Target::FleetUser { fleet_arn, user } => Target::FleetUser {
            fleet_arn: fleet_arn.clone(),
            user: normalise_key(user).into_owned(),
        }
        .to_string(),
        t => t.to_string(),
    };
    a.causes.iter().filter_map(move |c| match c {
        Cause::Event { source_id, .. } => Some(LedgerKey {
            kind: kind.clone(),
            target: target.clone(),
            cause: source_id.clone(),
        }),
        Cause::Resource { .. } => None,
    })
}

/// The event type WorkSpaces Secure Browser writes to its access log stream
/// when logging settings are associated with it ("the event is successfully
/// put to the Kinesis data stream").
pub const VALIDATION_EVENT: &str = "Validation";

/// Removes the `Validation` events among `events[first..]` (one record's),
/// returning how many. They name no portal and no user: recognised, logged
/// and counted (`ValidationEvents`), never evaluated, so no rule acts on
/// them whatever it says. The other events keep their source ids.
pub(crate) fn set_aside_validation(
    events: &mut Vec<AuditEvent>,
    first: usize,
    metrics: &mut Metrics,
) -> usize {
    let before = events.len();
    let mut i = first;
    while i < events.len() {
        if events[i].event_type.as_deref() == Some(VALIDATION_EVENT) {
            let e = events.remove(i);
            let detail = |k: &str| e.raw["details"][k].as_str().unwrap_or_default().to_owned();
            tracing::info!(
                target: "warden::record",
                event_id = %e.source_id,
                operation = %detail("operation"),
                settings = %detail("userAccessLoggingSettingsArn"),
                "Secure Browser access log validation event: recognised, not evaluated"
            );
        } else {
            i += 1;
        }
    }
    let removed = before - events.len();
    if removed > 0 {
        metrics.count("ValidationEvents", removed as u64);
    }
    removed
}

/// Event source id -> record position.
fn event_index(decoded: &Decoded) -> HashMap<&str, u32> {
    decoded
        .events
        .iter()
        .zip(&decoded.event_record)
        .map(|(e, r)| (&*e.source_id, *r))
        .collect()
}

/// The lowest record among an action's causes.
fn lowest_cause(a: &PlannedAction, index: &HashMap<&str, u32>) -> Option<usize> {
    a.causes
        .iter()
        .filter_map(|c| match c {
            Cause::Event { source_id, .. } => index.get(source_id.as_str()),
            Cause::Resource { .. } => None,
        })
        .min()
        .map(|r| *r as usize)
}

/// Whether an outcome is final for its cause: done, already in that state,
/// or a permanent failure (a finding, never retried: a re-delivery would
/// only make the same failing call again). Transient failures and actions
/// not started are not: their re-delivery must run them.
fn handled(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Done | Outcome::Already { .. } => true,
        Outcome::Failed(f) => f.kind == FailureKind::Permanent,
        Outcome::DryRun | Outcome::NotStarted => false,
    }
}

/// After executing: records the actions handled for good ([`handled`];
/// never dry-run) in the ledger, one key per cause. A failure is
/// logged: those actions may be repeated by a re-delivery (they are
/// idempotent), never lost.
async fn record_done(
    store: &dyn StateStore,
    executed: &[ActionRecord],
    now: Timestamp,
    skip_revokes: bool,
) {
    let entries: Vec<LedgerEntry> = executed
        .iter()
        .filter(|r| !r.action.dry_run && handled(&r.outcome))
        .filter(|r| !(skip_revokes && is_recorded_revoke(r)))
        .flat_map(|r| {
            let rule = r.action.rules.first().cloned().unwrap_or_default();
            ledger_keys(&r.action).map(move |key| LedgerEntry {
                key,
                rule: rule.clone(),
                at: now,
                keep: LEDGER_KEEP,
                dry_run: false,
            })
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    if let Err(e) = store.ledger_record(&entries).await {
        tracing::error!(
            target: "warden::state",
            error = %e,
            entries = entries.len(),
            "state store failed: executed actions not recorded in the ledger; a re-delivery may repeat them"
        );
    }
}

/// A revoke that took effect (done, or the domain already INACTIVE): its
/// provenance is recorded.
fn is_recorded_revoke(r: &ActionRecord) -> bool {
    r.action.kind == ActionKind::RevokeDomain
        && !r.action.dry_run
        && matches!(r.outcome, Outcome::Done | Outcome::Already { .. })
}

/// Issue 11 item 4: records warden's revokes (rule, time, first cause) so
/// fleet-sweep's restore rules leave them alone until released, or until
/// the rules' `revoke-domain: { hold: D }` has passed. One `record_revocations` call. Returns the
/// store's error, if any (logged here).
async fn record_revocations(
    store: &dyn StateStore,
    policy: &Policy,
    executed: &[ActionRecord],
    now: Timestamp,
) -> Option<warden_core::state::StateError> {
    let revocations: Vec<Revocation> = executed
        .iter()
        .filter(|r| is_recorded_revoke(r))
        .filter_map(|r| match &r.action.target {
            Target::FleetDomain { fleet_arn, domain } => Some(Revocation {
                fleet: fleet_arn.clone(),
                domain: normalise_domain(domain),
                rule: r.action.rules.first().cloned().unwrap_or_default(),
                at: now,
                cause: r
                    .action
                    .causes
                    .first()
                    .map(|c| match c {
                        Cause::Event { source_id, .. } => source_id.clone(),
                        Cause::Resource { id } => id.clone(),
                    })
                    .unwrap_or_default(),
                hold_until: warden_core::state::revoke_hold(policy, &r.action.rules)
                    .and_then(|h| now.checked_add(h).ok()),
            }),
            _ => None,
        })
        .collect();
    if revocations.is_empty() {
        return None;
    }
    match store.record_revocations(&revocations).await {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(
                target: "warden::state",
                error = %e,
                revocations = revocations.len(),
                "state store failed: revocations not recorded (a restore rule could undo them); \
                 reported as batch item failures"
            );
            Some(e)
        }
    }
}

/// The batch's events of one threshold window, in the order of its hits.
#[derive(Debug)]
struct Members {
    /// The rule's index in the policy.
    rule: u32,
    /// (event index, time) per hit.
    events: Vec<(u32, Timestamp)>,
}

/// The matches of the windows that fired: per firing, the batch's events of
/// that window (from its start to the completing hit) not already given to
/// an earlier firing. Also returns how many firings there were.
fn firing_matches(
    windows: &[WindowHits],
    members: &[Members],
    outcomes: &[WindowOutcome],
) -> (Vec<Match>, usize) {
    let mut out = Vec::new();
    let mut firings = 0;
    for ((w, m), o) in windows.iter().zip(members).zip(outcomes) {
        debug_assert_eq!(w.hits.len(), o.hits.len());
        let mut emitted = 0usize;
        for (j, (_, outcome)) in o.hits.iter().enumerate() {
            let HitOutcome::Fired(f) = outcome else {
                continue;
            };
            firings += 1;
            let Some(events) = m.events.get(emitted..=j) else {
                continue;
            };
            for (subject, at) in events {
                if *at >= f.window_start {
                    out.push(Match {
                        subject: *subject,
                        rule: m.rule,
                    });
                }
            }
            emitted = j + 1;
        }
    }
    (out, firings)
}

fn count_plan(plan: &Plan, metrics: &mut Metrics) {
    for a in &plan.actions {
        metrics.count_by("ActionsPlanned", "Action", operation_name(a.kind), 1);
    }
    for r in &plan.refusals {
        let name = match r.reason {
            RefusalReason::CapExceeded { .. } => "ActionsRefusedByCap",
            RefusalReason::AllowListed { .. } => "ActionsRefusedByAllowList",
            RefusalReason::Conflict { .. } => "ActionsRefusedByConflict",
        };
        metrics.count_by(name, "Action", operation_name(r.action.kind), 1);
    }
    for s in &plan.skipped {
        metrics.count_by("ActionsSkipped", "Action", operation_name(s.kind), 1);
    }
}

fn cause_ids(causes: &[Cause]) -> String {
    causes
        .iter()
        .map(|c| match c {
            Cause::Event { source_id, .. } => source_id.as_str(),
            Cause::Resource { id } => id.as_str(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn log_plan_findings(plan: &Plan) {
    for r in &plan.refusals {
        tracing::warn!(
            target: "warden::finding",
            rule = %r.action.rules.join(","),
            action = r.action.kind.name(),
            target_desc = %r.action.target,
            refusal = %r.reason,
            events = %cause_ids(&r.action.causes),
            "action refused"
        );
    }
    for s in &plan.skipped {
        let id = match &s.cause {
            Cause::Event { source_id, .. } => source_id.as_str(),
            Cause::Resource { id } => id.as_str(),
        };
        tracing::warn!(
            target: "warden::finding",
            rule = %s.rule,
            action = s.kind.name(),
            event = id,
            reason = %s.reason,
            "action could not be formed"
        );
    }
}

fn log_finding(rec: &ActionRecord) {
    let Outcome::Failed(f) = &rec.outcome else {
        return;
    };
    tracing::warn!(
        target: "warden::finding",
        rule = %rec.action.rules.join(","),
        action = rec.action.kind.name(),
        target_desc = %rec.action.target,
        error_code = %f.code,
        error = %f.message,
        events = %cause_ids(&rec.action.causes),
        cause_count = rec.action.cause_count,
        "permanent failure: a finding, not retried"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;
    use base64::Engine as _;
    use serde_json::json;
    use warden_core::aws::deadline::CallFailure;
    use warden_core::state::{MemoryStateStore, StateError};

    const POLICY: &str = r#"
rules:
  - name: deny-list
    on: audit-event
    where: { user: { in: [mallory, alice] } }
    actions: [sign-out-user]
"#;
    const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";

    fn processor() -> StreamProcessor<StubRunner, MemorySink> {
        let policy = Policy::from_yaml_str(POLICY, "inline.yaml").unwrap();
        StreamProcessor::new(
            Arc::new(policy),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig {
                default_fleet_arn: Some(FLEET.into()),
                dry_run: false,
                ..ProcessorConfig::default()
            },
        )
    }

    fn seq(i: usize) -> String {
        format!("{:056}", i + 1)
    }

    /// A batch of one shard, one record per data item.
    fn batch(data: &[&str]) -> KinesisEvent {
        let data: Vec<&[u8]> = data.iter().map(|d| d.as_bytes()).collect();
        batch_bytes(&data)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// [`batch`] with binary data.
    fn batch_bytes(data: &[&[u8]]) -> KinesisEvent {
        batch_at(0, data)
    }

    /// [`batch_bytes`] whose first record is the `first`-th of the shard.
    fn batch_at(first: usize, data: &[&[u8]]) -> KinesisEvent {
        let records: Vec<serde_json::Value> = data
            .iter()
            .enumerate()
            .map(|(i, d)| (first + i, d))
            .map(|(i, d)| {
                json!({
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": "pk",
                        "sequenceNumber": seq(i),
                        "data": base64::engine::general_purpose::STANDARD.encode(d),
                        "approximateArrivalTimestamp": 1795433400.25
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": format!("shardId-000000000000:{}", seq(i)),
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": "arn:aws:iam::123456789012:role/r",
                    "awsRegion": "us-east-1",
                    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-x"
                })
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn sign_in(user: &str) -> String {
        json!({"eventType": "SignIn", "userName": user}).to_string()
    }

    fn inv() -> InvocationInfo<'static> {
        InvocationInfo {
            request_id: "req-1",
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            deadline: Deadline::none(),
        }
    }

    /// alice (record 0), a malformed record (1), mallory (2): decoded and
    /// planned.
    fn staged(p: &StreamProcessor<StubRunner, MemorySink>) -> (Decoded, Planned) {
        let mut metrics = Metrics::new(FUNCTION_NAME);
        let d = p.decode(
            batch(&[&sign_in("alice"), "not json {", &sign_in("mallory")]),
            &inv(),
            &mut metrics,
        );
        let planned = p.plan(&d, inv().now, &mut metrics);
        (d, planned)
    }

    fn record(action: &PlannedAction, outcome: Outcome) -> ActionRecord {
        ActionRecord {
            action: action.clone(),
            outcome,
            attempts: 1,
            latency_ms: 1,
        }
    }

    #[test]
    fn decode_keeps_every_records_place_and_turns_malformed_ones_into_messages() {
        let p = processor();
        let mut metrics = Metrics::new(FUNCTION_NAME);
        let d = p.decode(
            batch(&[&sign_in("alice"), "not json {", &sign_in("bob")]),
            &inv(),
            &mut metrics,
        );
        assert_eq!(d.records, 3);
        assert_eq!(d.events.len(), 2);
        assert_eq!(d.event_record, [0, 2]);
        assert_eq!(d.shards, [Arc::from("shardId-000000000000")]);
        assert_eq!(d.seqs.len(), 3);
        assert_eq!(d.seqs[1], (0, seq(1).into()));
        assert_eq!(d.malformed.len(), 1);
        assert_eq!(d.malformed[0].index, 1);
        assert_eq!(d.messages.len(), 1);
        assert_eq!(metrics.get("RecordsMalformed"), 1.0);
        assert_eq!(metrics.get("EventsDecoded"), 2.0);
    }

    /// Issue 11 item 6: 15 KB of gzip holding 5 million `{}` events (15 MB
    /// inflated, under the per-record inflate limit) used to become 5
    /// million events (2.4 GiB peak RSS in the release binary). Decoding now
    /// stops at the per-record event limit: the record is malformed, the
    /// others are decoded as usual. Peak RSS of this test's process:
    /// measured in the commit that added it (`/usr/bin/time -v`).
    #[test]
    fn a_record_of_millions_of_tiny_events_is_malformed_not_decoded() {
        let bomb = gzip(&b"{}\n".repeat(5_000_000));
        assert!(bomb.len() < 64 * 1024, "{} bytes of gzip", bomb.len());
        let p = processor();
        let mut metrics = Metrics::new(FUNCTION_NAME);
        let d = p.decode(
            batch_bytes(&[
                sign_in("alice").as_bytes(),
                &bomb,
                sign_in("mallory").as_bytes(),
            ]),
            &inv(),
            &mut metrics,
        );
        assert_eq!(d.events.len(), 2, "only alice and mallory");
        assert_eq!(d.event_record, [0, 2]);
        assert_eq!(d.malformed.len(), 1);
        let m = &d.malformed[0];
        assert_eq!(m.index, 1);
        assert_eq!(m.reason.code(), "too-many-events");
        assert!(
            m.reason.to_string().contains("more than 10000 events"),
            "{}",
            m.reason
        );
        assert_eq!(d.messages.len(), 1, "to the failure sink");
        assert_eq!(metrics.get("RecordsMalformed"), 1.0);
    }

    #[test]
    fn the_batch_inflate_budget_comes_from_the_config() {
        let policy = Policy::from_yaml_str(POLICY, "inline.yaml").unwrap();
        let p = StreamProcessor::new(
            Arc::new(policy),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig {
                limits: Limits {
                    max_inflated_per_batch: 1 << 20,
                    ..Limits::default()
                },
                ..ProcessorConfig::default()
            },
        );
        // Two records of 600 KiB inflated each: the second is over the batch.
        let mut data = sign_in("alice").into_bytes();
        data.resize(600 << 10, b' ');
        let record = gzip(&data);
        let mut metrics = Metrics::new(FUNCTION_NAME);
        let d = p.decode(batch_bytes(&[&record, &record]), &inv(), &mut metrics);
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.malformed.len(), 1);
        assert_eq!(d.malformed[0].index, 1);
        assert_eq!(d.malformed[0].reason.code(), "batch-inflated-limit");
    }

    const THRESHOLD_POLICY: &str = r#"
rules:
  - name: deny-list
    on: audit-event
    where: { user: { in: [mallory] } }
    actions: [sign-out-user]
  - name: brute-force
    on: audit-event
    where: { event_type: SignInFailed }
    threshold: count 6 within 2m by user
    actions: [sign-out-user]
"#;

    fn stateful(store: Arc<MemoryStateStore>) -> StreamProcessor<StubRunner, MemorySink> {
        let policy = Policy::from_yaml_str(THRESHOLD_POLICY, "inline.yaml").unwrap();
        StreamProcessor::new(
            Arc::new(policy),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig {
                default_fleet_arn: Some(FLEET.into()),
                dry_run: false,
                ..ProcessorConfig::default()
            },
        )
        .with_state(store)
    }

    /// A failed sign-in of `user` at 12:00:`sec`.
    fn failed(user: &str, sec: u32) -> Vec<u8> {
        json!({"eventType": "SignInFailed", "userName": user,
               "time": format!("2026-11-23T12:00:{sec:02}Z")})
        .to_string()
        .into_bytes()
    }

    fn sign_outs(r: &BatchReport) -> Vec<String> {
        r.plan
            .actions
            .iter()
            .map(|a| format!("{} {}", a.kind, a.target))
            .collect()
    }

    /// Issue 11 item 1: 3 + 3 failed sign-ins of one user (spelt two ways)
    /// in two invocations: one sign-out, in the second. With the per-batch
    /// count (no state store) neither batch fires.
    #[tokio::test]
    async fn thresholds_count_across_invocations() {
        let store = Arc::new(MemoryStateStore::new());
        let p = stateful(store.clone());
        let first: Vec<Vec<u8>> = (0..3).map(|i| failed("Alice", i)).collect();
        let second: Vec<Vec<u8>> = (3..6).map(|i| failed(" alice", i)).collect();
        let calls = store.calls();
        let r1 = p.process(batch_at(0, &refs(&first)), &inv()).await;
        assert_eq!(store.calls() - calls, 1, "one record_hits call per batch");
        assert!(r1.plan.actions.is_empty(), "{:?}", sign_outs(&r1));
        let r2 = p.process(batch_at(3, &refs(&second)), &inv()).await;
        assert_eq!(sign_outs(&r2).len(), 1, "{:?}", sign_outs(&r2));
        assert_eq!(r2.plan.actions[0].kind, ActionKind::SignOutUser);
        assert!(r2.failure.is_none());
        assert_eq!(r2.metrics.get("ThresholdsFired"), 1.0);

        // The same batches without the store: nothing fires.
        let stateless = processor_with(THRESHOLD_POLICY);
        for (at, data) in [(0, &first), (3, &second)] {
            let r = stateless.process(batch_at(at, &refs(data)), &inv()).await;
            assert!(r.plan.actions.is_empty());
        }
    }

    /// Issue 11 item 7: a throttled store is never a zero count: no
    /// threshold action, the lowest record holding a candidate is the batch
    /// item failure, and (the ledger being unreadable too) no other action
    /// runs either; the re-delivery, with the store back, acts.
    #[tokio::test]
    async fn a_failing_store_makes_batch_item_failures_and_no_action() {
        let store = Arc::new(MemoryStateStore::new());
        let p = stateful(store.clone());
        store.set_failure(Some(StateError::Throttled {
            store: "memory".into(),
            operation: "record_hits".into(),
            message: "ProvisionedThroughputExceededException".into(),
        }));
        let mut data: Vec<Vec<u8>> = (0..6).map(|i| failed("bob", i)).collect();
        data.push(sign_in("mallory").into_bytes());
        let r = p.process(batch_at(0, &refs(&data)), &inv()).await;
        assert!(r.executed.is_empty(), "{:?}", sign_outs(&r));
        let f = r.failure.expect("a batch item failure");
        assert_eq!(f.index, 0, "bob's first failed sign-in");
        assert_eq!(f.sequence_number, seq(0));
        assert!(
            f.reason.contains("threshold counts not recorded"),
            "{}",
            f.reason
        );
        assert!(f.reason.contains("throttled"), "{}", f.reason);
        assert_eq!(r.metrics.get("StateStoreErrors"), 2.0, "hits and ledger");

        // Lambda re-delivers from it; the store is back: both act.
        store.set_failure(None);
        let r = p.process(batch_at(0, &refs(&data)), &inv()).await;
        assert_eq!(r.executed.len(), 2, "{:?}", sign_outs(&r));
        assert!(r.failure.is_none());
    }

    fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
        v.iter().map(Vec::as_slice).collect()
    }

    /// Issue 11 item 3: the same batch delivered twice: the second delivery
    /// executes nothing (the threshold firing is replayed, the deny-list
    /// matches again, both already in the ledger); a new burst later acts
    /// again. Without the ledger both actions ran twice.
    #[tokio::test]
    async fn a_redelivered_batch_does_not_repeat_its_actions() {
        let store = Arc::new(MemoryStateStore::new());
        let p = stateful(store.clone());
        let mut data: Vec<Vec<u8>> = vec![sign_in("mallory").into_bytes()];
        data.extend((0..6).map(|i| failed("bob", i)));
        let r1 = p.process(batch_at(0, &refs(&data)), &inv()).await;
        assert_eq!(r1.executed.len(), 2, "{:?}", sign_outs(&r1));
        assert!(r1.executed.iter().all(|r| r.outcome == Outcome::Done));

        let r2 = p.process(batch_at(0, &refs(&data)), &inv()).await;
        assert!(r2.executed.is_empty(), "repeated: {:?}", sign_outs(&r2));
        assert!(r2.plan.actions.is_empty());
        assert_eq!(
            r2.metrics
                .get_by("ActionsAlreadyDone", "Action", "SignOutUser"),
            2.0
        );
        assert!(r2.failure.is_none());

        // A new burst by bob, a minute later: a new cause, acts again.
        let later: Vec<Vec<u8>> = (0..6)
            .map(|i| {
                json!({"eventType": "SignInFailed", "userName": "bob",
                       "time": format!("2026-11-23T12:01:{i:02}Z")})
                .to_string()
                .into_bytes()
            })
            .collect();
        let r3 = p.process(batch_at(7, &refs(&later)), &inv()).await;
        assert_eq!(sign_outs(&r3).len(), 1, "{:?}", sign_outs(&r3));
        assert_eq!(r3.executed.len(), 1);
    }

    /// An action that failed is not recorded: its re-delivery runs it.
    /// A ledger that cannot be read: nothing runs, batch item failure.
    #[tokio::test]
    async fn the_ledger_keeps_failed_actions_retryable_and_fails_closed() {
        let store = Arc::new(MemoryStateStore::new());
        let p = stateful(store.clone());
        let data = vec![sign_in("mallory").into_bytes()];
        store.set_failure(Some(StateError::Unreachable {
            store: "memory".into(),
            operation: "ledger_contains".into(),
            message: "connection refused".into(),
        }));
        let r = p.process(batch_at(0, &refs(&data)), &inv()).await;
        assert!(r.executed.is_empty(), "no action on an unknown ledger");
        let f = r.failure.expect("a batch item failure");
        assert_eq!(f.index, 0);
        assert!(
            f.reason.contains("action ledger not readable"),
            "{}",
            f.reason
        );
        store.set_failure(None);
        let r = p.process(batch_at(0, &refs(&data)), &inv()).await;
        assert_eq!(r.executed.len(), 1, "the re-delivery acts");
        assert!(r.failure.is_none());
    }

    /// Issue 11 item 2: a rule matching 40 users over 10 batches of 4, with
    /// a budget of 10 sign-outs per hour: exactly 10 sign-outs, the other 30
    /// refused and counted. (Per-batch caps alone allowed all 40.)
    #[tokio::test]
    async fn a_budget_holds_across_invocations() {
        let store = Arc::new(MemoryStateStore::new());
        let policy = Policy::from_yaml_str(
            "rules:\n  - name: everyone\n    on: audit-event\n    where: { event_type: SignIn }\n    actions: [sign-out-user]\n",
            "inline.yaml",
        )
        .unwrap();
        let p = StreamProcessor::new(
            Arc::new(policy),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig {
                default_fleet_arn: Some(FLEET.into()),
                dry_run: false,
                budgets: vec![Budget {
                    kind: ActionKind::SignOutUser,
                    max: 10,
                    per: SignedDuration::from_hours(1),
                }],
                ..ProcessorConfig::default()
            },
        )
        .with_state(store);
        let (mut executed, mut refused) = (0, 0.0);
        for b in 0..10 {
            let data: Vec<Vec<u8>> = (0..4)
                .map(|i| sign_in(&format!("user{}", b * 4 + i)).into_bytes())
                .collect();
            let r = p.process(batch_at(b * 4, &refs(&data)), &inv()).await;
            assert!(r.failure.is_none());
            executed += r.executed.len();
            refused += r.metrics.get_by("BudgetRefused", "Action", "SignOutUser");
        }
        assert_eq!(executed, 10);
        assert_eq!(refused, 30.0);
    }

    /// Issue 11 item 4: a revoke done by the stream is recorded with its
    /// rule and cause (no hold: until released), for fleet-sweep (the
    /// domain normalised). Without the recording nothing is on record.
    #[tokio::test]
    async fn revokes_are_recorded_for_fleet_sweep() {
        let store = Arc::new(MemoryStateStore::new());
        let policy = Policy::from_yaml_str(
            "rules:\n  - name: hr-scrape\n    on: audit-event\n    where: { event_type: VisitPage, host: { exists: true } }\n    actions: [revoke-domain]\n",
            "inline.yaml",
        )
        .unwrap();
        let p = StreamProcessor::new(
            Arc::new(policy),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig {
                default_fleet_arn: Some(FLEET.into()),
                dry_run: false,
                ..ProcessorConfig::default()
            },
        )
        .with_state(store.clone());
        let visit = json!({"eventType": "VisitPage", "userName": "eve",
                           "details": {"url": "https://HR.corp.example.com/export"}})
        .to_string()
        .into_bytes();
        let data = vec![sign_in("bob").into_bytes(), visit];
        let r = p.process(batch_at(0, &refs(&data)), &inv()).await;
        assert_eq!(r.executed.len(), 1);
        assert!(r.failure.is_none());
        let got = store
            .revocations(&[(FLEET.into(), "hr.corp.example.com".into())])
            .await
            .unwrap();
        let rev = got[0].as_ref().expect("the revoke is on record");
        assert_eq!(rev.rule, "hr-scrape");
        assert_eq!(rev.cause, format!("shardId-000000000000:{}", seq(1)));
        assert_eq!(rev.hold_until, None);
        assert!(rev.blocks_restore(inv().now));
    }

    fn processor_with(policy: &str) -> StreamProcessor<StubRunner, MemorySink> {
        let policy = Policy::from_yaml_str(policy, "inline.yaml").unwrap();
        StreamProcessor::new(
            Arc::new(policy),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig {
                default_fleet_arn: Some(FLEET.into()),
                dry_run: false,
                ..ProcessorConfig::default()
            },
        )
    }

    #[test]
    fn plan_dedups_across_the_batch() {
        let p = processor();
        let mut metrics = Metrics::new(FUNCTION_NAME);
        let d = p.decode(
            batch(&[&sign_in("mallory"), &sign_in("bob"), &sign_in("mallory")]),
            &inv(),
            &mut metrics,
        );
        let planned = p.plan(&d, inv().now, &mut metrics);
        assert_eq!(planned.events_matched, 2);
        assert_eq!(
            planned.plan.actions.len(),
            1,
            "one sign-out per fleet + user"
        );
        let a = &planned.plan.actions[0];
        assert_eq!((a.kind, a.cause_count), (ActionKind::SignOutUser, 2));
        assert!(!a.dry_run);
    }

    #[tokio::test]
    async fn execute_runs_the_actions_and_sinks_the_malformed_side_by_side() {
        let p = processor();
        let (d, planned) = staged(&p);
        let mut metrics = Metrics::new(FUNCTION_NAME);
        let (executed, sunk) = p
            .execute(&planned.plan, &d.messages, Deadline::none(), &mut metrics)
            .await;
        assert_eq!(executed.len(), 2);
        assert!(executed.iter().all(|r| r.outcome == Outcome::Done));
        assert_eq!(sunk, [Ok(())]);
        assert_eq!(p.sink().messages().len(), 1);
    }

    #[test]
    fn report_names_the_lowest_failing_record() {
        let p = processor();
        let metrics = || Metrics::new(FUNCTION_NAME);
        let times = StageTimes::default();
        let throttled = Outcome::Failed(CallFailure {
            kind: FailureKind::Transient,
            code: "TooManyRequestsException".into(),
            message: "slow down".into(),
        });
        let (d, planned) = staged(&p);
        let by_user = |user: &str| {
            planned
                .plan
                .actions
                .iter()
                .find(|a| a.target.to_string().contains(user))
                .unwrap()
                .clone()
        };
        let (alice, mallory) = (by_user("alice"), by_user("mallory"));

        // mallory's sign-out (record 2) throttled: Lambda re-delivers from 2.
        let r = report(
            d.clone(),
            planned.clone(),
            vec![
                record(&alice, Outcome::Done),
                record(&mallory, throttled.clone()),
            ],
            vec![Ok(())],
            false,
            times,
            metrics(),
        );
        let f = r.failure.unwrap();
        assert_eq!((f.index, f.sequence_number.as_str()), (2, seq(2).as_str()));
        assert_eq!(r.response.batch_item_failures.len(), 1);
        assert_eq!(r.metrics.get("RecordsSentToFailureSink"), 1.0);

        // The sink refusing the malformed record 1 makes it the lowest.
        let r = report(
            d.clone(),
            planned.clone(),
            vec![record(&alice, Outcome::Done), record(&mallory, throttled)],
            vec![Err("queue down".into())],
            false,
            times,
            metrics(),
        );
        assert_eq!(r.failure.as_ref().map(|f| f.index), Some(1));
        assert_eq!(r.malformed[0].sink_error.as_deref(), Some("queue down"));

        // A permanent failure is a finding, not a batch item failure.
        let r = report(
            d,
            planned,
            vec![
                record(&alice, Outcome::Done),
                record(
                    &mallory,
                    Outcome::Failed(CallFailure {
                        kind: FailureKind::Permanent,
                        code: "ResourceNotFoundException".into(),
                        message: "no such user".into(),
                    }),
                ),
            ],
            vec![Ok(())],
            false,
            times,
            metrics(),
        );
        assert!(r.failure.is_none());
        assert!(r.response.batch_item_failures.is_empty());
        assert_eq!(r.metrics.get("BatchItemFailures"), 0.0);
    }

    /// Issue 12: `expire-sessions` passes the guards of `sign-out-user`:
    /// the Validation event is set aside (never evaluated), the allow-list
    /// refuses, the budget holds, the ledger stops a re-delivery, dry-run
    /// only logs.
    #[tokio::test]
    async fn expire_sessions_has_the_guards_of_sign_out_user() {
        const P1: &str =
            "arn:aws:workspaces-web:us-east-1:123456789012:portal/11111111-1111-4111-8111-111111111111";
        const P2: &str =
            "arn:aws:workspaces-web:us-east-1:123456789012:portal/22222222-2222-4222-8222-222222222222";
        let policy = || {
            Arc::new(
                Policy::from_yaml_str(
                    "allow: { users: [breakglass-*] }\nrules:\n  - name: sb\n    on: audit-event\n    where: { service: workspaces-web, event_type: { in: [StartSession, Validation] } }\n    actions: [expire-sessions]\n",
                    "inline.yaml",
                )
                .unwrap(),
            )
        };
        let start = |user: &str, portal: &str| {
            json!({"timestamp": "1795433401000", "eventType": "StartSession", "details": {},
                   "portalArn": portal, "userName": user})
            .to_string()
            .into_bytes()
        };
        let validation = json!({"timestamp": "1795433400000", "eventType": "Validation",
            "details": {"operation": "AssociateUserAccessLoggingSettings"}})
        .to_string()
        .into_bytes();
        let data = vec![
            validation,
            start("alice", P1),
            start("bob", P1),
            start("carol", P2),
            start("breakglass-1", P1),
        ];
        let store = Arc::new(MemoryStateStore::new());
        let p = StreamProcessor::new(
            policy(),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig {
                dry_run: false,
                budgets: vec![Budget {
                    kind: ActionKind::ExpireSessions,
                    max: 2,
                    per: SignedDuration::from_hours(1),
                }],
                ..ProcessorConfig::default()
            },
        )
        .with_state(store);
        let targets = |r: &BatchReport| -> Vec<String> {
            r.executed
                .iter()
                .map(|a| a.action.target.to_string())
                .collect()
        };

        let r1 = p.process(batch_at(0, &refs(&data)), &inv()).await;
        assert_eq!(r1.events, 4, "the Validation event is not evaluated");
        assert_eq!(r1.metrics.get("ValidationEvents"), 1.0);
        assert_eq!(
            targets(&r1),
            [format!("user alice on {P1}"), format!("user bob on {P1}")]
        );
        assert_eq!(
            r1.metrics
                .get_by("BudgetRefused", "Action", "ExpireSession"),
            1.0,
            "carol: over the budget"
        );
        let allow = &r1.plan.refusals;
        assert_eq!(allow.len(), 1, "{allow:?}");
        assert!(matches!(
            &allow[0].reason,
            RefusalReason::AllowListed { entry, .. } if entry == "breakglass-*"
        ));
        assert!(r1.failure.is_none());

        // Re-delivered: the ledger knows alice and bob, the budget is spent.
        let r2 = p.process(batch_at(0, &refs(&data)), &inv()).await;
        assert!(r2.executed.is_empty(), "{:?}", targets(&r2));
        assert_eq!(
            r2.metrics
                .get_by("ActionsAlreadyDone", "Action", "ExpireSession"),
            2.0
        );
        assert_eq!(
            r2.metrics
                .get_by("BudgetRefused", "Action", "ExpireSession"),
            1.0
        );

        // Dry-run: planned and logged, not executed.
        let dry = StreamProcessor::new(
            policy(),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig::default(),
        );
        let r = dry.process(batch_at(0, &refs(&data)), &inv()).await;
        assert_eq!(r.executed.len(), 3);
        assert!(r.executed.iter().all(|a| a.outcome == Outcome::DryRun));
    }
}
