//! The action executor shared by the functions: turns planned actions into
//! WorkLink / WorkSpaces Instances / WorkSpaces Secure Browser calls with bounded concurrency, within
//! the invocation's remaining time, and classifies every outcome.
//!
//! Outcomes:
//! * `done`: the call succeeded.
//! * `already`: the target was already in the wanted state (domain already
//!   INACTIVE for a revoke, instance already gone or deallocating for a
//!   delete, no active session left for an expire). Counts as success: actions are idempotent, so re-delivery is
//!   safe.
//! * `dry-run`: logged, not executed.
//! * `failed` with a [`FailureKind`]: `permanent` (not found, unauthorized,
//!   invalid: a finding, never retried) or `transient` (still throttled or
//!   failing after the SDK's retries: the caller retries in a later run or
//!   reports a batch item failure).
//! * `not-started`: too little time was left; the caller leaves it for the
//!   next run / reports it.
//!
//! Every executed action writes one JSON log line (target `warden::action`).

#![allow(deprecated)] // every WorkLink operation is marked deprecated (service retired)

use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use super::deadline::{
    classify, run_bounded, AttemptCounter, CallFailure, Deadline, FailureKind, Ran,
};
use super::emf::Metrics;
use crate::action::{ActionKind, ActionParams, Already, Target};
use crate::arn::PortalArn;
use crate::plan::PlannedAction;

/// What happened to one planned action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Done,
    Already { detail: String },
    DryRun,
    Failed(CallFailure),
    NotStarted,
}

impl Outcome {
    /// Done, already, or dry-run.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Done | Outcome::Already { .. } | Outcome::DryRun
        )
    }

    /// A failure that a later attempt may fix (incl. not started for time).
    pub fn should_retry(&self) -> bool {
        match self {
            Outcome::Failed(f) => f.kind == FailureKind::Transient,
            Outcome::NotStarted => true,
            _ => false,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Already { .. } => "already",
            Outcome::DryRun => "dry-run",
            Outcome::Failed(f) if f.kind == FailureKind::Permanent => "failed-permanent",
            Outcome::Failed(_) => "failed-transient",
            Outcome::NotStarted => "not-started",
        }
    }
}

/// One planned action and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    pub action: PlannedAction,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// SDK attempts, retries included (0 when nothing was sent).
    pub attempts: u32,
    pub latency_ms: u64,
}

/// The API operation an action kind calls (its descriptor's).
pub fn operation_name(kind: ActionKind) -> &'static str {
    kind.operation()
}

/// A call or an action that failed, as the scheduled sweeps report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportedFailure {
    /// The API operation.
    pub operation: String,
    /// What it was about: `fleet`, `device d-1`, `user bob`, `portal`.
    pub subject: String,
    pub kind: FailureKind,
    /// The service's error code (or `DeadlineExceeded`, `NotStarted`, ...).
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ReportedFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} ({}): {}",
            self.operation,
            self.subject,
            self.code,
            match self.kind {
                FailureKind::Permanent => "permanent",
                FailureKind::Transient => "transient",
            },
            self.message
        )
    }
}

impl Outcome {
    /// What a report says of an action of `kind` about `subject` that ended
    /// this way: a failure for `failed` and `not-started`, else nothing.
    pub fn failure(&self, kind: ActionKind, subject: String) -> Option<ReportedFailure> {
        let (kind_of, code, message) = match self {
            Outcome::Failed(f) => (f.kind, f.code.clone(), f.message.clone()),
            Outcome::NotStarted => (
                FailureKind::Transient,
                "NotStarted".to_string(),
                "too little time left in this invocation; left for the next run".to_string(),
            ),
            _ => return None,
        };
        Some(ReportedFailure {
            operation: operation_name(kind).into(),
            subject,
            kind: kind_of,
            code,
            message,
        })
    }
}

/// The line a dry-run action leaves in a sweep's report:
/// `kind target[ params] (rules: a, b; n causes)`.
pub fn dry_run_line(a: &PlannedAction, bare_target: &str, params: &str) -> String {
    format!(
        "{} {}{} (rules: {}; {} cause{})",
        a.kind,
        bare_target,
        params,
        a.rules.join(", "),
        a.cause_count,
        if a.cause_count == 1 { "" } else { "s" }
    )
}

/// A call's failure, classified; success is `Ok(())`.
type Sent = Result<(), CallFailure>;

/// Drops a call's output and classifies its error.
fn sent<T, E>(r: Result<T, SdkError<E, HttpResponse>>) -> Sent
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    r.map(drop).map_err(|e| classify(&e))
}

/// Executes planned actions against the services.
#[derive(Debug, Clone)]
pub struct Executor {
    worklink: aws_sdk_worklink::Client,
    wsi: aws_sdk_workspacesinstances::Client,
    web: aws_sdk_workspacesweb::Client,
    concurrency: usize,
}

/// Most ListSessions pages followed for one user on one portal: a guard
/// against a service that never stops handing out tokens.
const MAX_SESSION_PAGES: usize = 1_000;

impl Executor {
    pub fn new(clients: &super::Clients, concurrency: usize) -> Self {
        Executor {
            worklink: clients.worklink.clone(),
            wsi: clients.wsi.clone(),
            web: clients.web.clone(),
            concurrency: concurrency.max(1),
        }
    }

    /// Runs every action (dry-run ones are only logged), at most
    /// `concurrency` at a time, starting none once `deadline` is near.
    /// Results come back in the order of `actions`.
    pub async fn execute(
        &self,
        actions: &[PlannedAction],
        deadline: Deadline,
        metrics: &mut Metrics,
    ) -> Vec<ActionRecord> {
        let ran = run_bounded(actions.iter().collect(), self.concurrency, deadline, |a| {
            self.execute_one(a, deadline)
        })
        .await;
        let records: Vec<ActionRecord> = ran
            .into_iter()
            .zip(actions)
            .map(|(r, a)| match r {
                Ran::Done(rec) => rec,
                Ran::NotStarted => ActionRecord {
                    action: a.clone(),
                    outcome: Outcome::NotStarted,
                    attempts: 0,
                    latency_ms: 0,
                },
            })
            .collect();
        for rec in &records {
            log_action(rec);
            let op = operation_name(rec.action.kind);
            let name = match &rec.outcome {
                Outcome::Done | Outcome::Already { .. } => "ActionsExecuted",
                Outcome::DryRun => "ActionsDryRun",
                Outcome::Failed(_) => "ActionsFailed",
                Outcome::NotStarted => "ActionsNotStarted",
            };
            metrics.count_by(name, "Action", op, 1);
        }
        records
    }

    /// [`Executor::execute`], then up to `rounds` more rounds for the
    /// actions still failing transiently (throttled after the SDK's own
    /// retries) while time is left: the pause before round `n` is `pause`
    /// doubled `n - 1` times, at most 2 s, and no round starts when the
    /// deadline is nearer than its pause. Every round counts in `metrics`
    /// and logs its own lines; the result holds each action's last outcome
    /// with its attempts summed over the rounds (the scheduled sweeps).
    pub async fn execute_retrying(
        &self,
        actions: &[PlannedAction],
        deadline: Deadline,
        rounds: u32,
        pause: Duration,
        metrics: &mut Metrics,
    ) -> Vec<ActionRecord> {
        let mut records = self.execute(actions, deadline, metrics).await;
        for round in 1..=rounds {
            let again: Vec<usize> = records
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    matches!(&r.outcome, Outcome::Failed(f) if f.kind == FailureKind::Transient)
                })
                .map(|(i, _)| i)
                .collect();
            if again.is_empty() {
                break;
            }
            let wait = pause
                .saturating_mul(1 << (round - 1).min(8))
                .min(Duration::from_secs(2));
            if !deadline.can_start() || deadline.remaining().is_some_and(|left| left <= wait) {
                break;
            }
            tokio::time::sleep(wait).await;
            let retry: Vec<PlannedAction> =
                again.iter().map(|&i| records[i].action.clone()).collect();
            let redone = self.execute(&retry, deadline, metrics).await;
            for (i, mut rec) in again.into_iter().zip(redone) {
                rec.attempts += records[i].attempts;
                records[i] = rec;
            }
        }
        records
    }

    async fn execute_one(&self, action: &PlannedAction, deadline: Deadline) -> ActionRecord {
        let started = Instant::now();
        let counter = AttemptCounter::new();
        let outcome = if action.dry_run {
            Outcome::DryRun
        } else {
            // A call that started in time is not waited for past the
            // reserve: the function must still answer (a batch item failure,
            // a report saying what is left) before Lambda stops it.
            deadline
                .bound(self.call(action, &counter))
                .await
                .unwrap_or_else(|| {
                    Outcome::Failed(CallFailure::out_of_time(operation_name(action.kind)))
                })
        };
        ActionRecord {
            action: action.clone(),
            outcome,
            attempts: counter.get(),
            latency_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// Sends the action's one API call; a refusal may still mean "already
    /// done", as the kind's descriptor says ([`Already`]).
    async fn call(&self, action: &PlannedAction, counter: &AttemptCounter) -> Outcome {
        // More than one call: its own arm says what it did.
        if let (ActionKind::ExpireSessions, Target::PortalUser { portal_arn, user }) =
            (action.kind, &action.target)
        {
            return self.expire_sessions(portal_arn, user, counter).await;
        }
        let sent = match self.send(action, counter).await {
            Some(sent) => sent,
            None => return bad_params(action),
        };
        match (sent, action.kind.descriptor().already, &action.target) {
            (Ok(()), _, _) => Outcome::Done,
            (Err(failure), Already::Never, _) => Outcome::Failed(failure),
            (
                Err(failure),
                Already::DomainStatus(wanted),
                Target::FleetDomain { fleet_arn, domain },
            ) => {
                self.domain_already(fleet_arn, domain, wanted, failure)
                    .await
            }
            (Err(failure), Already::InstanceGone, Target::Instance { instance_id }) => {
                match failure.code.as_str() {
                    "ResourceNotFoundException" => Outcome::Already {
                        detail: "instance already gone".into(),
                    },
                    "ConflictException" => self.instance_already(instance_id, failure).await,
                    _ => Outcome::Failed(failure),
                }
            }
            (Err(failure), _, _) => Outcome::Failed(failure),
        }
    }

    /// The executor arm of each action kind: its SDK call. `None`: the plan
    /// gave the kind a target or parameters it cannot act on.
    async fn send(&self, action: &PlannedAction, counter: &AttemptCounter) -> Option<Sent> {
        let interceptor = counter.clone();
        Some(match (action.kind, &action.target, &action.params) {
            (ActionKind::SignOutUser, Target::FleetUser { fleet_arn, user }, _) => sent(
                self.worklink
                    .sign_out_user()
                    .fleet_arn(fleet_arn)
                    .username(user)
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await,
            ),
            (ActionKind::RevokeDomain, Target::FleetDomain { fleet_arn, domain }, _) => sent(
                self.worklink
                    .revoke_domain_access()
                    .fleet_arn(fleet_arn)
                    .domain_name(domain)
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await,
            ),
            (ActionKind::RestoreDomain, Target::FleetDomain { fleet_arn, domain }, _) => sent(
                self.worklink
                    .restore_domain_access()
                    .fleet_arn(fleet_arn)
                    .domain_name(domain)
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await,
            ),
            (
                ActionKind::SetAuditStream,
                Target::Fleet { fleet_arn },
                ActionParams::AuditStream { stream_arn },
            ) => sent(
                self.worklink
                    .update_audit_stream_configuration()
                    .fleet_arn(fleet_arn)
                    .audit_stream_arn(stream_arn)
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await,
            ),
            (
                ActionKind::TagInstance | ActionKind::MarkForCleanup,
                Target::Instance { instance_id },
                ActionParams::Tags { tags },
            ) => {
                let mut req = self.wsi.tag_resource().workspace_instance_id(instance_id);
                for (k, v) in tags {
                    let tag = aws_sdk_workspacesinstances::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build();
                    req = req.tags(tag);
                }
                sent(req.customize().interceptor(interceptor).send().await)
            }
            (
                ActionKind::UntagInstance,
                Target::Instance { instance_id },
                ActionParams::TagKeys { keys },
            ) => sent(
                self.wsi
                    .untag_resource()
                    .workspace_instance_id(instance_id)
                    .set_tag_keys(Some(keys.clone()))
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await,
            ),
            (ActionKind::DeleteInstance, Target::Instance { instance_id }, _) => sent(
                self.wsi
                    .delete_workspace_instance()
                    .workspace_instance_id(instance_id)
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await,
            ),
            (
                ActionKind::SetAccessLogging,
                Target::Portal { portal_arn },
                ActionParams::AccessLogStream { stream_arn },
            ) => {
                self.set_access_logging(portal_arn, stream_arn, counter)
                    .await
            }
            _ => return None,
        })
    }

    /// The arm of `set-access-logging`: user access logging settings that
    /// already send to the stream (ListUserAccessLoggingSettings, every
    /// page), else new ones (CreateUserAccessLoggingSettings; the SDK fills
    /// in the idempotency token, so its own retries create one), then
    /// AssociateUserAccessLoggingSettings with the portal (which replaces
    /// earlier settings). A failure names the call it happened in.
    async fn set_access_logging(
        &self,
        portal_arn: &str,
        stream_arn: &str,
        counter: &AttemptCounter,
    ) -> Sent {
        let mut found: Option<String> = None;
        let mut token: Option<String> = None;
        for _ in 0..MAX_SESSION_PAGES {
            let page = self
                .web
                .list_user_access_logging_settings()
                .set_next_token(token.clone())
                .customize()
                .interceptor(counter.clone())
                .send()
                .await
                .map_err(|e| in_call(classify(&e), "ListUserAccessLoggingSettings", portal_arn))?;
            found = page
                .user_access_logging_settings()
                .iter()
                .find(|s| s.kinesis_stream_arn() == Some(stream_arn))
                .map(|s| s.user_access_logging_settings_arn().to_owned());
            match page.next_token() {
                _ if found.is_some() => break,
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => {
                    token = Some(t.to_owned())
                }
                _ => break,
            }
        }
        let settings = match found {
            Some(arn) => arn,
            None => self
                .web
                .create_user_access_logging_settings()
                .kinesis_stream_arn(stream_arn)
                .customize()
                .interceptor(counter.clone())
                .send()
                .await
                .map_err(|e| in_call(classify(&e), "CreateUserAccessLoggingSettings", stream_arn))?
                .user_access_logging_settings_arn()
                .to_owned(),
        };
        sent(
            self.web
                .associate_user_access_logging_settings()
                .portal_arn(portal_arn)
                .user_access_logging_settings_arn(settings)
                .customize()
                .interceptor(counter.clone())
                .send()
                .await,
        )
    }

    /// The arm of `expire-sessions`: every page of ListSessions on the
    /// portal for the user's `Active` sessions, then ExpireSession for each,
    /// one after the other (a user has few). The listing is complete before
    /// the first expiry, so no page token outlives a change it depends on.
    ///
    /// None active: already done. A session gone between listing and
    /// expiring (`ResourceNotFoundException` on ExpireSession after the
    /// portal answered ListSessions) has ended: counted as such. Any other
    /// failure stops the action with its own classification (a transient
    /// one after some expiries is retried: the next run lists what is left).
    async fn expire_sessions(
        &self,
        portal_arn: &str,
        user: &str,
        counter: &AttemptCounter,
    ) -> Outcome {
        let portal_id = match PortalArn::parse(portal_arn) {
            Ok(p) => p.id,
            Err(e) => {
                return Outcome::Failed(CallFailure {
                    kind: FailureKind::Permanent,
                    code: "InvalidPlan".into(),
                    message: format!("expire-sessions: {e}"),
                })
            }
        };
        let active = aws_sdk_workspacesweb::types::SessionStatus::Active;
        let mut ids: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_SESSION_PAGES {
            let page = match self
                .web
                .list_sessions()
                .portal_id(portal_id)
                .username(user)
                .status(active.clone())
                .set_next_token(token.clone())
                .customize()
                .interceptor(counter.clone())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    return Outcome::Failed(in_call(classify(&e), "ListSessions", portal_arn))
                }
            };
            // The service filters; the check here keeps a lax answer from
            // ending someone else's session.
            for s in page.sessions() {
                if s.username() == Some(user) && s.status() == Some(&active) {
                    if let Some(id) = s.session_id().filter(|id| !ids.iter().any(|x| x == id)) {
                        ids.push(id.to_owned());
                    }
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => {
                    token = Some(t.to_owned())
                }
                _ => break,
            }
        }
        if ids.is_empty() {
            return Outcome::Already {
                detail: "no active session".into(),
            };
        }
        let (mut expired, mut gone) = (0usize, 0usize);
        for id in &ids {
            match sent(
                self.web
                    .expire_session()
                    .portal_id(portal_id)
                    .session_id(id)
                    .customize()
                    .interceptor(counter.clone())
                    .send()
                    .await,
            ) {
                Ok(()) => expired += 1,
                Err(f) if f.code == "ResourceNotFoundException" => gone += 1,
                Err(f) => {
                    let mut f = in_call(f, "ExpireSession", portal_arn);
                    f.message = format!(
                        "{} (session {id}; {expired} of {} expired before it)",
                        f.message,
                        ids.len()
                    );
                    return Outcome::Failed(f);
                }
            }
        }
        if expired == 0 {
            Outcome::Already {
                detail: format!("{gone} listed session(s) already gone"),
            }
        } else {
            Outcome::Done
        }
    }

    /// After a refused revoke/restore: if the domain is already in the
    /// wanted state the action is done; otherwise the original failure holds.
    async fn domain_already(
        &self,
        fleet_arn: &str,
        domain: &str,
        wanted: &str,
        failure: CallFailure,
    ) -> Outcome {
        if failure.code != "InvalidRequestException" {
            return Outcome::Failed(failure);
        }
        match self
            .worklink
            .describe_domain()
            .fleet_arn(fleet_arn)
            .domain_name(domain)
            .send()
            .await
        {
            Ok(d) if d.domain_status().map(|s| s.as_str()) == Some(wanted) => Outcome::Already {
                detail: format!("domain already {wanted}"),
            },
            Ok(_) => Outcome::Failed(failure),
            // The check itself did not get an answer (throttled, 5xx, a
            // timeout): whether the refusal is final is unknown, so the
            // action stays transient and is retried, never a finding.
            Err(e) => {
                let check = classify(&e);
                if check.kind == FailureKind::Transient {
                    Outcome::Failed(CallFailure {
                        kind: FailureKind::Transient,
                        message: format!(
                            "{}; checking the domain's state (DescribeDomain) failed too: {}",
                            failure.message, check
                        ),
                        ..failure
                    })
                } else {
                    Outcome::Failed(failure)
                }
            }
        }
    }

    /// After a ConflictException on delete: an instance already
    /// DEALLOCATING/DEALLOCATED counts as deleted; any other conflict (an
    /// allocation in progress) is transient, retried next run.
    async fn instance_already(&self, instance_id: &str, failure: CallFailure) -> Outcome {
        match self
            .wsi
            .get_workspace_instance()
            .workspace_instance_id(instance_id)
            .send()
            .await
        {
            Ok(i) => match i.provision_state().map(|s| s.as_str()) {
                Some(s @ ("DEALLOCATING" | "DEALLOCATED")) => Outcome::Already {
                    detail: format!("instance already {s}"),
                },
                _ => Outcome::Failed(CallFailure {
                    kind: FailureKind::Transient,
                    ..failure
                }),
            },
            Err(e) if classify(&e).code == "ResourceNotFoundException" => Outcome::Already {
                detail: "instance already gone".into(),
            },
            Err(_) => Outcome::Failed(CallFailure {
                kind: FailureKind::Transient,
                ..failure
            }),
        }
    }
}

/// A failure of one of an action's several calls, saying which and where.
fn in_call(f: CallFailure, operation: &str, resource: &str) -> CallFailure {
    CallFailure {
        message: format!("{operation} on {resource}: {}", f.message),
        ..f
    }
}

fn bad_params(action: &PlannedAction) -> Outcome {
    Outcome::Failed(CallFailure {
        kind: FailureKind::Permanent,
        code: "InvalidPlan".into(),
        message: format!(
            "{} cannot act on {} with {:?}",
            action.kind, action.target, action.params
        ),
    })
}

/// One JSON log line per action: rule, action, fleet or portal, user or
/// domain or instance, outcome, attempts, latency, dry-run.
pub fn log_action(rec: &ActionRecord) {
    let a = &rec.action;
    let portal = match &a.target {
        Target::PortalUser { portal_arn, .. } | Target::Portal { portal_arn } => {
            Some(portal_arn.as_str())
        }
        _ => None,
    };
    let (fleet, user, domain, instance) = match &a.target {
        Target::FleetUser { fleet_arn, user } => {
            (Some(fleet_arn.as_str()), Some(user.as_str()), None, None)
        }
        Target::FleetDomain { fleet_arn, domain } => {
            (Some(fleet_arn.as_str()), None, Some(domain.as_str()), None)
        }
        Target::Fleet { fleet_arn } => (Some(fleet_arn.as_str()), None, None, None),
        Target::Instance { instance_id } => (None, None, None, Some(instance_id.as_str())),
        Target::PortalUser { user, .. } => (None, Some(user.as_str()), None, None),
        Target::Portal { .. } => (None, None, None, None),
    };
    let rules = a.rules.join(",");
    let (code, message) = match &rec.outcome {
        Outcome::Failed(f) => (Some(f.code.as_str()), Some(f.message.as_str())),
        Outcome::Already { detail } => (None, Some(detail.as_str())),
        _ => (None, None),
    };
    let fields = (
        rules.as_str(),
        a.kind.name(),
        operation_name(a.kind),
        rec.outcome.label(),
    );
    if rec.outcome.is_success() {
        tracing::info!(
            target: "warden::action",
            rule = fields.0, action = fields.1, operation = fields.2, outcome = fields.3,
            fleet, portal, user, domain, instance, error_code = code, detail = message,
            attempts = rec.attempts, latency_ms = rec.latency_ms, dry_run = a.dry_run,
            causes = a.cause_count,
            "action"
        );
    } else {
        tracing::warn!(
            target: "warden::action",
            rule = fields.0, action = fields.1, operation = fields.2, outcome = fields.3,
            fleet, portal, user, domain, instance, error_code = code, detail = message,
            attempts = rec.attempts, latency_ms = rec.latency_ms, dry_run = a.dry_run,
            causes = a.cause_count,
            "action"
        );
    }
}

/// Remaining-time reserve the functions keep for reporting.
pub const REPORT_RESERVE: Duration = Duration::from_millis(1500);
