//! fleet-sweep: the scheduled audit of WorkLink fleets, their devices,
//! domains and audit-stream configuration (issue #6). The Lambda binary is a
//! thin shell around [`Sweeper::run`]; the demo and the tests call it
//! in-process with an injected `now` and emulator clients.
//!
//! ```text
//! ListFleets (all pages) -> filter
//!   per fleet, `fleet_concurrency` at once, parts at once:
//!     DescribeAuditStreamConfiguration           -> Resource::Fleet + findings
//!     ListDevices (all pages) -> DescribeDevice   -> Resource::Device (each;
//!                        `device_concurrency` per fleet)
//!     ListDomains (all pages)                     -> Resource::Domain + findings
//!                        (ASSOCIATING / DISASSOCIATING left alone)
//! policy.run_resources (evaluate + plan: dedup, allow-lists, caps, dry-run)
//!   + the audit-stream guard (stream names must begin with AmazonWorkLink-)
//! Executor::execute (+ retry rounds for transient failures, within time)
//! -> SweepReport (per fleet) + EMF metrics (flushed once by the caller)
//! ```
//!
//! See `docs/fleet-sweep.md` for the design and the configuration.

mod config;
mod gather;
pub mod handler;
mod population;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

pub use config::{
    check_fleet_arn, check_stream_arn, vars, SweepConfig, SweepRequest, STREAM_PREFIX,
};
pub use report::{
    ActionLine, DomainState, Failure, Finding, FleetReport, HeldReport, RefusalReport,
    SkippedReport, SweepReport, Totals,
};

use gather::CallStats;
use warden_core::aws::deadline::{run_bounded, Deadline, FailureKind, Ran};
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::{dry_run_line, operation_name, ActionRecord, Executor, Outcome};
use warden_core::aws::notify::{Notice, Notifier, Origin, Sent};
use warden_core::aws::Clients;
use warden_core::engine::Context;
use warden_core::plan::PlanOptions;
use warden_core::plan::{ActionParams, Cause, PlannedAction, Target};
use warden_core::policy::{ActionKind, Policy};
use warden_core::state::{normalise_domain, revoke_hold, LeaseOutcome, Revocation, StateStore};

/// The function name used in metrics and logs.
pub const FUNCTION: &str = "fleet-sweep";

/// The name of the run lease in the state table: one sweep at a time.
pub const LEASE: &str = "fleet-sweep";

/// How long the run lease outlives the invocation's deadline, so a run
/// that dies without releasing it blocks the next one for at most this
/// long after its own timeout.
pub const LEASE_MARGIN: Duration = Duration::from_secs(60);

/// The rules of `policy` that need the state table: restore rules must not
/// undo warden's own revocations, which only the table knows of.
pub fn rules_needing_state(policy: &Policy) -> Vec<String> {
    policy
        .rules
        .iter()
        .filter(|r| {
            r.actions
                .iter()
                .any(|a| a.kind == ActionKind::RestoreDomain)
        })
        .map(|r| r.name.clone())
        .collect()
}

/// The durable state store, shown by its description.
#[derive(Clone)]
struct State(Arc<dyn StateStore>);

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "State({})", self.0.describe())
    }
}

/// Why a sweeper cannot be built: the policy and the configuration disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    /// A rule would point fleets at a stream WorkLink cannot write to.
    #[error("policy {policy}: rule `{rule}`: set-audit-stream {stream}: {reason}")]
    BadStream {
        policy: String,
        rule: String,
        stream: String,
        reason: String,
    },
    /// The configured stream and the policy's differ: every fleet the policy
    /// fixes would be reported as misconfigured, and the reverse.
    #[error("{var}={configured} but policy {policy} rule `{rule}` sets the audit stream to {policy_stream}; make them the same (or unset {var} to use the policy's)")]
    StreamConflict {
        var: &'static str,
        configured: String,
        policy: String,
        rule: String,
        policy_stream: String,
    },
    /// A rule sets "the configured stream" and none is configured.
    #[error("policy {policy} rule `{rule}` sets the audit stream to the configured one (no `stream-arn`), but {var} is not set; set it to the WorkLink audit stream (arn:aws:kinesis:REGION:ACCOUNT:stream/AmazonWorkLink-...)")]
    NoStreamConfigured {
        var: &'static str,
        policy: String,
        rule: String,
    },
}

/// A sweep's result: the report (the Lambda response) and the metrics the
/// caller flushes once (as EMF on stdout in the function).
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    pub report: SweepReport,
    pub metrics: Metrics,
    /// What to announce on the notification topic (empty without one).
    pub notices: Vec<Notice>,
}

/// Everything a sweep needs, built once at cold start.
#[derive(Debug, Clone)]
pub struct Sweeper {
    policy: Policy,
    worklink: aws_sdk_worklink::Client,
    executor: Executor,
    config: SweepConfig,
    expected_stream: Option<String>,
    state: Option<State>,
    notifier: Option<Notifier>,
    on_fleet: Option<OnFleet>,
}

#[derive(Clone)]
struct OnFleet(FleetProgress);

impl std::fmt::Debug for OnFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FleetProgress")
    }
}

/// Called as each fleet is gathered, with how many fleets the sweep covers
/// (the CLI's progress line: fleets and devices).
pub type FleetProgress = std::sync::Arc<dyn Fn(&FleetReport, usize) + Send + Sync>;

impl Sweeper {
    /// Checks the policy against the configuration: every `set-audit-stream`
    /// target must be a stream WorkLink can write to, and agree with
    /// `WARDEN_AUDIT_STREAM_ARN` when that is set; one that names no stream
    /// (the configured one) needs that variable. The expected stream is the
    /// configured one, else the policy's (when it names exactly one).
    pub fn new(policy: Policy, clients: &Clients, config: SweepConfig) -> Result<Self, SweepError> {
        let mut policy_streams: BTreeMap<String, String> = BTreeMap::new();
        for rule in &policy.rules {
            for spec in &rule.actions {
                if spec.kind == ActionKind::SetAuditStream {
                    let Some(stream_arn) = &spec.stream_arn else {
                        if config.expected_audit_stream.is_none() {
                            return Err(SweepError::NoStreamConfigured {
                                var: vars::AUDIT_STREAM_ARN,
                                policy: policy.source.clone(),
                                rule: rule.name.clone(),
                            });
                        }
                        continue;
                    };
                    check_stream_arn(stream_arn).map_err(|reason| SweepError::BadStream {
                        policy: policy.source.clone(),
                        rule: rule.name.clone(),
                        stream: stream_arn.clone(),
                        reason,
                    })?;
                    if let Some(configured) = &config.expected_audit_stream {
                        if configured != stream_arn {
                            return Err(SweepError::StreamConflict {
                                var: vars::AUDIT_STREAM_ARN,
                                configured: configured.clone(),
                                policy: policy.source.clone(),
                                rule: rule.name.clone(),
                                policy_stream: stream_arn.clone(),
                            });
                        }
                    }
                    policy_streams.insert(stream_arn.clone(), rule.name.clone());
                }
            }
        }
        let expected_stream = match &config.expected_audit_stream {
            Some(s) => Some(s.clone()),
            None if policy_streams.len() == 1 => policy_streams.keys().next().cloned(),
            None => None,
        };
        Ok(Sweeper {
            executor: Executor::new(clients, config.action_concurrency),
            worklink: clients.worklink.clone(),
            policy,
            config,
            expected_stream,
            state: None,
            notifier: None,
            on_fleet: None,
        })
    }

    /// Keeps the run lease and reads warden's revocations in `store`
    /// (`WARDEN_STATE_TABLE`). Without a store there is no lease and
    /// restore rules act on every INACTIVE domain they match.
    pub fn with_state(mut self, store: Arc<dyn StateStore>) -> Self {
        self.state = Some(State(store));
        self
    }

    /// The state store, if any.
    pub fn state(&self) -> Option<&Arc<dyn StateStore>> {
        self.state.as_ref().map(|s| &s.0)
    }

    /// Calls `f` as each fleet is gathered (progress of a local sweep).
    pub fn with_fleet_progress(mut self, f: FleetProgress) -> Self {
        self.on_fleet = Some(OnFleet(f));
        self
    }

    /// Announces executed actions and cap refusals on the deployment's SNS
    /// topic (`WARDEN_NOTIFY_TOPIC_ARN`); see [`Sweeper::notify`].
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Sends a sweep's notices (none without a notifier); failures are
    /// logged and counted in `metrics`, never an error.
    pub async fn notify(
        &self,
        outcome: &mut SweepOutcome,
        request_id: &str,
        deadline: Deadline,
    ) -> Option<Sent> {
        let notifier = self.notifier.as_ref()?;
        let origin = Origin::new(FUNCTION, request_id);
        Some(
            notifier
                .send(&outcome.notices, &origin, deadline, &mut outcome.metrics)
                .await,
        )
    }

    /// The configuration in force.
    pub fn config(&self) -> &SweepConfig {
        &self.config
    }

    /// The stream every ACTIVE fleet is expected to use, if known.
    pub fn expected_stream(&self) -> Option<&str> {
        self.expected_stream.as_deref()
    }

    /// One sweep. Never fails as a whole: what went wrong is in the report
    /// (`failures` at the top when ListFleets itself failed or the run
    /// lease could not be taken, per fleet otherwise). `now` is the time
    /// rules are evaluated at.
    ///
    /// With a state store the sweep first takes the run lease ([`LEASE`],
    /// until the deadline plus [`LEASE_MARGIN`]): a run that finds another
    /// in progress does nothing and says so (`not_run`); the lease is
    /// released at the end.
    pub async fn run(
        &self,
        req: &SweepRequest,
        now: Timestamp,
        deadline: Deadline,
    ) -> SweepOutcome {
        let Some(store) = self.state().cloned() else {
            return Box::pin(self.sweep(req, now, deadline, None)).await;
        };
        let owner = run_owner(now);
        let ttl = lease_ttl(deadline);
        let empty = || SweepReport {
            now: Some(now),
            dry_run: req.dry_run.unwrap_or(self.config.dry_run),
            ..SweepReport::default()
        };
        match store.acquire_lease(LEASE, &owner, now, ttl).await {
            Ok(LeaseOutcome::Acquired { expires }) => {
                tracing::info!(target: "warden::sweep", owner = %owner, expires = %expires, state = %store.describe(), "run lease taken");
                let outcome = Box::pin(self.sweep(req, now, deadline, Some(store.as_ref()))).await;
                match store.release_lease(LEASE, &owner).await {
                    Ok(true) => {
                        tracing::info!(target: "warden::sweep", owner = %owner, "run lease released")
                    }
                    Ok(false) => tracing::warn!(
                        target: "warden::sweep", owner = %owner, expires = %expires,
                        "run lease no longer ours at the end of the run (it expired: another run may have overlapped)"
                    ),
                    Err(e) => tracing::warn!(
                        target: "warden::sweep", owner = %owner, expires = %expires, error = %e,
                        "run lease not released; it lapses by itself at its expiry"
                    ),
                }
                outcome
            }
            Ok(LeaseOutcome::Held {
                owner: holder,
                expires,
            }) => {
                let mut metrics = Metrics::new(FUNCTION);
                metrics.count("RunsSkipped", 1);
                let mut report = empty();
                let why = format!(
                    "another sweep ({holder}) holds the run lease until {expires}; nothing done"
                );
                tracing::info!(target: "warden::sweep", holder = %holder, expires = %expires, "another sweep is in progress: nothing done");
                report.not_run = Some(why);
                SweepOutcome {
                    report,
                    metrics,
                    notices: Vec::new(),
                }
            }
            Err(e) => {
                let mut metrics = Metrics::new(FUNCTION);
                metrics.count("StateStoreErrors", 1);
                let mut report = empty();
                tracing::error!(target: "warden::sweep", error = %e, "run lease not taken: nothing swept (a run on an unknown lease could overlap another)");
                report.failures.push(Failure {
                    operation: "AcquireLease".into(),
                    subject: store.describe(),
                    kind: if e.is_retryable() {
                        FailureKind::Transient
                    } else {
                        FailureKind::Permanent
                    },
                    code: "StateStore".into(),
                    message: e.to_string(),
                });
                finish_totals(&mut report);
                SweepOutcome {
                    report,
                    metrics,
                    notices: Vec::new(),
                }
            }
        }
    }

    /// The sweep itself, under the run lease when there is a store.
    async fn sweep(
        &self,
        req: &SweepRequest,
        now: Timestamp,
        deadline: Deadline,
        store: Option<&dyn StateStore>,
    ) -> SweepOutcome {
        let mut metrics = Metrics::new(FUNCTION);
        let stats = CallStats::default();
        let dry_run = req.dry_run.unwrap_or(self.config.dry_run);
        let filter: &[String] = req.fleet_arns.as_deref().unwrap_or(&self.config.fleet_arns);
        let mut report = SweepReport {
            now: Some(now),
            dry_run,
            ..SweepReport::default()
        };

        // 1. Fleets.
        let summaries = match self.list_fleets(deadline, &stats).await {
            Ok(s) => s,
            Err(f) => {
                tracing::error!(target: "warden::sweep", code = %f.code, message = %f.message, "ListFleets failed: nothing swept");
                report.failures.push(Failure {
                    operation: "ListFleets".into(),
                    subject: "account".into(),
                    kind: f.kind,
                    code: f.code,
                    message: f.message,
                });
                finish_totals(&mut report);
                count_metrics(&report, &stats, &mut metrics);
                return SweepOutcome {
                    report,
                    metrics,
                    notices: Vec::new(),
                };
            }
        };
        report.fleets_listed = summaries.len();
        let mut selected: Vec<_> = summaries
            .iter()
            .filter(|s| {
                filter.is_empty()
                    || s.fleet_arn()
                        .is_some_and(|arn| filter.iter().any(|f| f.as_str() == arn))
            })
            .filter(|s| s.fleet_arn().is_some_and(|a| !a.is_empty()))
            .collect();
        selected.sort_by(|a, b| a.fleet_arn().cmp(&b.fleet_arn()));
        selected.dedup_by(|a, b| a.fleet_arn() == b.fleet_arn());
        let listed: BTreeSet<&str> = summaries.iter().filter_map(|s| s.fleet_arn()).collect();
        report.unknown_fleets = filter
            .iter()
            .filter(|f| !listed.contains(f.as_str()))
            .cloned()
            .collect();
        for arn in &report.unknown_fleets {
            tracing::warn!(target: "warden::sweep", fleet = %arn, "fleet asked for but not returned by ListFleets");
        }

        // 2. Gather, fleets at once (bounded).
        let total = selected.len();
        let stats_ref = &stats;
        let gathered = run_bounded(
            selected.clone(),
            self.config.fleet_concurrency,
            deadline,
            |s| async move {
                let g = self.gather_fleet(s, now, deadline, stats_ref).await;
                if let Some(OnFleet(f)) = &self.on_fleet {
                    f(&g.report, total);
                }
                g
            },
        )
        .await;
        let mut resources = Vec::new();
        for (summary, g) in selected.iter().zip(gathered) {
            match g {
                Ran::Done(g) => {
                    resources.extend(g.resources);
                    report.fleets.push(g.report);
                }
                Ran::NotStarted => {
                    let fleet = gather::fleet_view(summary);
                    report.fleets.push(FleetReport {
                        fleet_arn: fleet.fleet_arn,
                        fleet_name: fleet.fleet_name,
                        status: fleet.status,
                        failures: vec![Failure {
                            operation: "Sweep".into(),
                            subject: "fleet".into(),
                            kind: FailureKind::Transient,
                            code: "NotStarted".into(),
                            message: "too little time left in this invocation; not swept this run"
                                .into(),
                        }],
                        ..FleetReport::default()
                    });
                }
            }
        }
        report.fleets_swept = report.fleets.len();

        // 3. Evaluate and plan (pure).
        let ctx = Context::new(now)
            .with_audit_stream(self.config.expected_audit_stream.as_deref())
            .with_population(population::of(&resources, &report.fleets));
        let opts = PlanOptions::default().with_dry_run(dry_run);
        let plan = self.policy.run_resources(&resources, &ctx, &opts);
        let mut notices = self.notifier.as_ref().map(|n| n.notices(&self.policy));
        if let Some(n) = &mut notices {
            n.refusals(&plan.refusals);
        }
        for a in &plan.actions {
            metrics.count_by("ActionsPlanned", "Action", operation_name(a.kind), 1);
        }
        let mut actions = Vec::with_capacity(plan.actions.len());
        for a in plan.actions {
            match audit_stream_guard(&a) {
                Ok(()) => actions.push(a),
                Err(reason) => report.refusals.push(refusal(&a, reason)),
            }
        }
        for r in &plan.refusals {
            report
                .refusals
                .push(refusal(&r.action, r.reason.to_string()));
        }
        for r in &report.refusals {
            tracing::error!(
                target: "warden::sweep",
                action = %r.action, target_desc = %r.target, rules = %r.rules.join(","),
                reason = %r.reason,
                "REFUSED"
            );
            let op = ActionKind::from_name(&r.action).map_or("Unknown", operation_name);
            metrics.count_by("ActionsRefused", "Action", op, 1);
        }
        report.skipped = plan
            .skipped
            .iter()
            .map(|s| SkippedReport {
                rule: s.rule.clone(),
                action: s.kind.name().into(),
                subject: match &s.cause {
                    Cause::Resource { id } => id.clone(),
                    Cause::Event { source_id, .. } => source_id.clone(),
                },
                reason: s.reason.clone(),
            })
            .collect();

        // 3b. Provenance: a restore rule leaves alone what warden revoked.
        if let Some(store) = store {
            self.hold_restores(store, &mut actions, now, &mut report, &mut metrics)
                .await;
        }

        // 4. Execute, then retry what is still transiently failing.
        let records = self.execute(&actions, deadline).await;
        if let Some(n) = &mut notices {
            n.executed(&records);
        }
        let notices = notices.map(|n| n.notices).unwrap_or_default();
        for rec in &records {
            let name = match &rec.outcome {
                Outcome::Done | Outcome::Already { .. } => "ActionsExecuted",
                Outcome::DryRun => "ActionsDryRun",
                Outcome::Failed(_) => "ActionsFailed",
                Outcome::NotStarted => "ActionsNotStarted",
            };
            metrics.count_by(name, "Action", operation_name(rec.action.kind), 1);
            attribute(&mut report, rec);
        }

        if let Some(store) = store {
            self.record_revocations(store, &records, now, &mut report, &mut metrics)
                .await;
        }

        // 5. Report.
        for f in &mut report.fleets {
            f.users_signed_out.sort();
            f.domains_revoked.sort();
            f.domains_restored.sort();
            log_fleet(f);
        }
        report.fleets_failed = report
            .fleets
            .iter()
            .filter(|f| !f.failures.is_empty())
            .count();
        finish_totals(&mut report);
        count_metrics(&report, &stats, &mut metrics);
        let t = &report.totals;
        tracing::info!(
            target: "warden::sweep",
            dry_run, fleets = report.fleets_swept, fleets_failed = report.fleets_failed,
            devices = t.devices_examined, domains = t.domains_examined,
            signed_out = t.users_signed_out, revoked = t.domains_revoked,
            restored = t.domains_restored, streams_set = t.audit_streams_set,
            dry_run_actions = t.dry_run_actions, findings = t.findings,
            refusals = t.refusals, failures = t.failures,
            "sweep done"
        );
        SweepOutcome {
            report,
            metrics,
            notices,
        }
    }

    /// Drops the restores of domains warden revoked (one `revocations`
    /// call for every restore of the plan, dry-run ones included so a dry
    /// run shows what a live one would do): held until released or until
    /// the revoke's hold has passed. When the store fails no restore runs
    /// (one might undo a revocation) and each affected fleet reports it.
    async fn hold_restores(
        &self,
        store: &dyn StateStore,
        actions: &mut Vec<PlannedAction>,
        now: Timestamp,
        report: &mut SweepReport,
        metrics: &mut Metrics,
    ) {
        let keys: Vec<(String, String)> = actions
            .iter()
            .filter(|a| a.kind == ActionKind::RestoreDomain)
            .filter_map(|a| match &a.target {
                Target::FleetDomain { fleet_arn, domain } => {
                    Some((fleet_arn.clone(), normalise_domain(domain)))
                }
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            return;
        }
        let found = match store.revocations(&keys).await {
            Ok(found) => found,
            Err(e) => {
                metrics.count("StateStoreErrors", 1);
                tracing::error!(
                    target: "warden::sweep", error = %e, restores = keys.len(),
                    "state store failed: warden's revocations unknown, no restore runs this time"
                );
                let kind = if e.is_retryable() {
                    FailureKind::Transient
                } else {
                    FailureKind::Permanent
                };
                actions.retain(|a| {
                    if a.kind != ActionKind::RestoreDomain {
                        return true;
                    }
                    let failure = Failure {
                        operation: operation_name(a.kind).into(),
                        subject: subject(&a.target),
                        kind,
                        code: "StateStore".into(),
                        message: format!("not restored: warden's revocations unknown: {e}"),
                    };
                    fleet_report(report, fleet_of(&a.target).unwrap_or_default())
                        .failures
                        .push(failure);
                    false
                });
                return;
            }
        };
        let mut held = found.into_iter();
        actions.retain(|a| {
            if a.kind != ActionKind::RestoreDomain || !matches!(a.target, Target::FleetDomain { .. })
            {
                return true;
            }
            let Some(Some(r)) = held.next() else {
                return true;
            };
            if !r.blocks_restore(now) {
                tracing::info!(
                    target: "warden::sweep", fleet = %r.fleet, domain = %r.domain,
                    revoked_by = %r.rule, hold_until = ?r.hold_until,
                    "warden's revocation hold has passed: restore allowed"
                );
                return true;
            }
            let h = HeldReport {
                fleet_arn: r.fleet,
                domain: r.domain,
                rules: a.rules.clone(),
                revoked_by: r.rule,
                revoked_at: r.at,
                cause: r.cause,
                hold_until: r.hold_until,
            };
            tracing::warn!(target: "warden::sweep", rules = %a.rules.join(","), "not restored: {h}");
            metrics.count("RestoresHeld", 1);
            report.held.push(h);
            false
        });
    }

    /// Records the revokes this sweep made (done or already INACTIVE, not
    /// dry-run) with their rules' hold, so a later restore rule leaves them
    /// alone too. One `record_revocations` call; a failure is reported per
    /// fleet (the revoke itself stands).
    async fn record_revocations(
        &self,
        store: &dyn StateStore,
        records: &[ActionRecord],
        now: Timestamp,
        report: &mut SweepReport,
        metrics: &mut Metrics,
    ) {
        let revocations: Vec<Revocation> = records
            .iter()
            .filter(|r| {
                r.action.kind == ActionKind::RevokeDomain
                    && !r.action.dry_run
                    && matches!(r.outcome, Outcome::Done | Outcome::Already { .. })
            })
            .filter_map(|r| match &r.action.target {
                Target::FleetDomain { fleet_arn, domain } => Some(Revocation {
                    fleet: fleet_arn.clone(),
                    domain: normalise_domain(domain),
                    rule: r.action.rules.first().cloned().unwrap_or_default(),
                    at: now,
                    cause: match r.action.causes.first() {
                        Some(Cause::Resource { id }) => id.clone(),
                        Some(Cause::Event { source_id, .. }) => source_id.clone(),
                        None => String::new(),
                    },
                    hold_until: revoke_hold(&self.policy, &r.action.rules)
                        .and_then(|h| now.checked_add(h).ok()),
                }),
                _ => None,
            })
            .collect();
        if revocations.is_empty() {
            return;
        }
        if let Err(e) = store.record_revocations(&revocations).await {
            metrics.count("StateStoreErrors", 1);
            tracing::error!(
                target: "warden::sweep", error = %e, revocations = revocations.len(),
                "state store failed: revocations not recorded (a restore rule could undo them)"
            );
            for r in &revocations {
                fleet_report(report, &r.fleet).failures.push(Failure {
                    operation: "RecordRevocation".into(),
                    subject: format!("domain {}", r.domain),
                    kind: if e.is_retryable() {
                        FailureKind::Transient
                    } else {
                        FailureKind::Permanent
                    },
                    code: "StateStore".into(),
                    message: e.to_string(),
                });
            }
        }
    }

    /// Runs the actions, with up to `retry_rounds` more rounds for those
    /// failing transiently ([`Executor::execute_retrying`]); the result
    /// holds the last outcome of each action.
    async fn execute(&self, actions: &[PlannedAction], deadline: Deadline) -> Vec<ActionRecord> {
        // The executor counts every round; the sweep counts final outcomes.
        let mut scratch = Metrics::new(FUNCTION);
        self.executor
            .execute_retrying(
                actions,
                deadline,
                self.config.retry_rounds,
                self.config.retry_pause,
                &mut scratch,
            )
            .await
    }
}

/// The audit-stream guard: whatever the policy says, never point a fleet at
/// a stream WorkLink cannot write to (its name must begin with
/// `AmazonWorkLink-`). The loader checks this too; this holds even for a
/// plan built another way.
fn audit_stream_guard(a: &PlannedAction) -> Result<(), String> {
    if a.kind != ActionKind::SetAuditStream {
        return Ok(());
    }
    match &a.params {
        ActionParams::AuditStream { stream_arn } => check_stream_arn(stream_arn)
            .map_err(|e| format!("refusing UpdateAuditStreamConfiguration: {e}")),
        other => Err(format!(
            "refusing UpdateAuditStreamConfiguration: no stream ARN in the plan ({other:?})"
        )),
    }
}

fn fleet_of(t: &Target) -> Option<&str> {
    match t {
        Target::FleetUser { fleet_arn, .. }
        | Target::FleetDomain { fleet_arn, .. }
        | Target::Fleet { fleet_arn } => Some(fleet_arn),
        Target::Instance { .. } | Target::PortalUser { .. } | Target::Portal { .. } => None,
    }
}

/// The target within its fleet, bare (after the action kind): `bob`,
/// `x.example.com`, `fleet`.
fn bare(t: &Target) -> String {
    match t {
        Target::FleetUser { user, .. } | Target::PortalUser { user, .. } => user.clone(),
        Target::FleetDomain { domain, .. } => domain.clone(),
        Target::Fleet { .. } => "fleet".into(),
        Target::Instance { instance_id } => instance_id.clone(),
        Target::Portal { portal_arn } => portal_arn.clone(),
    }
}

/// The target within its fleet: `user bob`, `domain x`, `fleet`.
fn subject(t: &Target) -> String {
    match t {
        Target::FleetUser { user, .. } | Target::PortalUser { user, .. } => format!("user {user}"),
        Target::FleetDomain { domain, .. } => format!("domain {domain}"),
        Target::Fleet { .. } => "fleet".into(),
        Target::Instance { instance_id } => format!("instance {instance_id}"),
        Target::Portal { portal_arn } => format!("portal {portal_arn}"),
    }
}

fn refusal(a: &PlannedAction, reason: String) -> RefusalReport {
    RefusalReport {
        action: a.kind.name().into(),
        target: a.target.to_string(),
        fleet_arn: fleet_of(&a.target).map(str::to_owned),
        rules: a.rules.clone(),
        reason,
    }
}

/// The report of fleet `arn`, added when the fleet was not swept.
fn fleet_report<'r>(report: &'r mut SweepReport, arn: &str) -> &'r mut FleetReport {
    let idx = match report.fleets.iter().position(|f| f.fleet_arn == arn) {
        Some(i) => i,
        None => {
            report.fleets.push(FleetReport {
                fleet_arn: arn.to_owned(),
                notes: vec!["not swept; acted on by a rule naming it".into()],
                ..FleetReport::default()
            });
            report.fleets.len() - 1
        }
    };
    &mut report.fleets[idx]
}

/// A unique owner for this run's lease: time, process and a random part
/// (two Lambda environments may share a process id).
fn run_owner(now: Timestamp) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.as_nanosecond() as u128);
    format!(
        "{FUNCTION}/{}/{}/{:016x}",
        now,
        std::process::id(),
        h.finish()
    )
}

/// The lease lasts the invocation (until the deadline, 15 minutes when
/// there is none: Lambda's longest) plus [`LEASE_MARGIN`].
fn lease_ttl(deadline: Deadline) -> SignedDuration {
    let left = deadline.remaining().unwrap_or(Duration::from_secs(15 * 60));
    SignedDuration::try_from(left + LEASE_MARGIN).unwrap_or(SignedDuration::from_mins(16))
}

/// Puts one action's outcome into its fleet's report.
fn attribute(report: &mut SweepReport, rec: &ActionRecord) {
    let a = &rec.action;
    let Some(arn) = fleet_of(&a.target) else {
        return;
    };
    let idx = match report.fleets.iter().position(|f| f.fleet_arn == arn) {
        Some(i) => i,
        None => {
            // A rule naming a fleet explicitly that was not swept.
            report.fleets.push(FleetReport {
                fleet_arn: arn.to_owned(),
                notes: vec!["not swept; acted on by a rule naming it".into()],
                ..FleetReport::default()
            });
            report.fleets.len() - 1
        }
    };
    let f = &mut report.fleets[idx];
    let detail = match (&rec.outcome, &a.params) {
        (Outcome::Already { detail }, _) => Some(detail.clone()),
        (Outcome::Failed(x), _) => Some(x.code.clone()),
        (_, ActionParams::AuditStream { stream_arn }) => Some(stream_arn.clone()),
        _ => None,
    };
    f.actions.push(ActionLine {
        action: a.kind.name().into(),
        subject: bare(&a.target),
        outcome: rec.outcome.label().into(),
        rules: a.rules.clone(),
        causes: a.cause_count,
        detail,
    });
    match &rec.outcome {
        Outcome::Done | Outcome::Already { .. } => match (&a.kind, &a.target, &a.params) {
            (ActionKind::SignOutUser, Target::FleetUser { user, .. }, _) => {
                f.users_signed_out.push(user.clone())
            }
            (ActionKind::RevokeDomain, Target::FleetDomain { domain, .. }, _) => {
                f.domains_revoked.push(domain.clone())
            }
            (ActionKind::RestoreDomain, Target::FleetDomain { domain, .. }, _) => {
                f.domains_restored.push(domain.clone())
            }
            (ActionKind::SetAuditStream, _, ActionParams::AuditStream { stream_arn }) => {
                f.audit_stream_set = Some(stream_arn.clone())
            }
            _ => {}
        },
        Outcome::DryRun => {
            let params = match &a.params {
                ActionParams::AuditStream { stream_arn } => format!(" -> {stream_arn}"),
                _ => String::new(),
            };
            f.dry_run_actions
                .push(dry_run_line(a, &bare(&a.target), &params));
        }
        Outcome::Failed(_) | Outcome::NotStarted => f
            .failures
            .extend(rec.outcome.failure(a.kind, subject(&a.target))),
    }
}

fn finish_totals(report: &mut SweepReport) {
    let mut t = Totals::default();
    for f in &report.fleets {
        t.devices_examined += f.devices_examined;
        t.domains_examined += f.domains_examined;
        t.users_signed_out += f.users_signed_out.len();
        t.domains_revoked += f.domains_revoked.len();
        t.domains_restored += f.domains_restored.len();
        t.audit_streams_set += usize::from(f.audit_stream_set.is_some());
        t.dry_run_actions += f.dry_run_actions.len();
        t.findings += f.findings.len();
        t.failures += f.failures.len();
    }
    t.failures += report.failures.len();
    t.refusals = report.refusals.len();
    report.totals = t;
}

fn count_metrics(report: &SweepReport, stats: &CallStats, m: &mut Metrics) {
    let t = &report.totals;
    m.count("FleetsListed", report.fleets_listed as u64);
    m.count("FleetsSwept", report.fleets_swept as u64);
    m.count("FleetsFailed", report.fleets_failed as u64);
    m.count("DevicesExamined", t.devices_examined as u64);
    m.count("DomainsExamined", t.domains_examined as u64);
    m.count("Findings", t.findings as u64);
    m.count("Refusals", t.refusals as u64);
    m.count("Failures", t.failures as u64);
    for f in &report.fleets {
        for x in &f.findings {
            m.count_by("Findings", "Finding", x.kind(), 1);
        }
    }
    for (op, n) in stats.snapshot() {
        m.count_by("ApiCalls", "Operation", op, n);
    }
}

fn log_fleet(f: &FleetReport) {
    let level_warn = !f.failures.is_empty();
    let findings: Vec<String> = f.findings.iter().map(|x| x.to_string()).collect();
    let failures: Vec<String> = f.failures.iter().map(|x| x.to_string()).collect();
    macro_rules! line {
        ($lvl:ident) => {
            tracing::$lvl!(
                target: "warden::sweep",
                fleet = %f.fleet_arn, status = f.status.as_deref().unwrap_or("?"),
                devices_listed = f.devices_listed, devices_examined = f.devices_examined,
                domains_listed = f.domains_listed, domains_examined = f.domains_examined,
                signed_out = f.users_signed_out.len(), revoked = f.domains_revoked.len(),
                restored = f.domains_restored.len(), stream_set = f.audit_stream_set.is_some(),
                dry_run_actions = f.dry_run_actions.len(),
                findings = %findings.join("; "), failures = %failures.join("; "),
                "fleet swept"
            )
        };
    }
    if level_warn {
        line!(warn);
    } else {
        line!(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_stream(arn: &str) -> PlannedAction {
        PlannedAction {
            kind: ActionKind::SetAuditStream,
            target: Target::Fleet {
                fleet_arn: "arn:aws:worklink::123456789012:fleet/a".into(),
            },
            params: ActionParams::AuditStream {
                stream_arn: arn.into(),
            },
            rules: vec!["r".into()],
            causes: vec![],
            cause_count: 1,
            dry_run: false,
        }
    }

    #[test]
    fn the_guard_refuses_streams_not_named_amazonworklink() {
        assert!(audit_stream_guard(&set_stream(
            "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-ok"
        ))
        .is_ok());
        let e = audit_stream_guard(&set_stream(
            "arn:aws:kinesis:us-east-1:123456789012:stream/corp-audit",
        ))
        .unwrap_err();
        assert!(
            e.contains("UpdateAuditStreamConfiguration")
                && e.contains("corp-audit")
                && e.contains("AmazonWorkLink-"),
            "{e}"
        );
        let mut a = set_stream("x");
        a.params = ActionParams::None;
        assert!(audit_stream_guard(&a).is_err());
    }
}
