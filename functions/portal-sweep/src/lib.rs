//! portal-sweep: the scheduled audit of WorkSpaces Secure Browser portals
//! and their sessions (issue #12). fleet-sweep's sibling: the Lambda binary
//! is a thin shell around [`Sweeper::run`]; the demo, the CLI and the tests
//! call it in-process with an injected `now` and emulator clients.
//!
//! ```text
//! per configured portal (WARDEN_PORTAL_ARNS), `portal_concurrency` at once:
//!   GetPortal                                 -> Resource::Portal + findings
//!     GetUserAccessLoggingSettings            (the stream its logs go to)
//!     ListSessions status=Active (all pages)  -> Resource::Session (each)
//!       GetSession (only when a rule reads client_ips;
//!                   `session_concurrency` per portal)
//! policy.run_resources (evaluate + plan: dedup, allow-lists, caps, dry-run)
//!   + the access-log guard (streams must begin with amazon-workspaces-web-)
//! Executor::execute (+ retry rounds for transient failures, within time)
//! -> SweepReport (per portal) + EMF metrics (flushed once by the caller)
//! ```
//!
//! A portal that fails (GetPortal denied, throttled past every round) is
//! reported and skipped; the others are swept. See `docs/portal-sweep.md`.

mod config;
mod gather;
pub mod handler;
mod report;

use jiff::Timestamp;

pub use config::{
    check_access_log_stream_arn, check_portal_arn, vars, SweepConfig, SweepRequest,
    ACCESS_LOG_STREAM_PREFIX,
};
pub use report::{
    ActionLine, Failure, Finding, PortalReport, RefusalReport, SkippedReport, SweepReport, Totals,
};

use gather::CallStats;
use warden_core::aws::deadline::{run_bounded, Deadline, FailureKind, Ran};
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::{dry_run_line, operation_name, ActionRecord, Executor, Outcome};
use warden_core::aws::notify::{Notice, Notifier, Origin, Sent};
use warden_core::aws::Clients;
use warden_core::engine::Context;
use warden_core::plan::{ActionParams, Cause, PlanOptions, PlannedAction, Target};
use warden_core::policy::{ActionKind, Policy};

/// The function name used in metrics and logs.
pub const FUNCTION: &str = "portal-sweep";

/// Why a sweeper cannot be built: the policy and the configuration disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    /// A rule sets user access logging and no stream is configured.
    #[error("policy {policy} rule `{rule}` uses set-access-logging, but {var} is not set; set it to the Secure Browser access log stream (arn:aws:kinesis:REGION:ACCOUNT:stream/amazon-workspaces-web-...)")]
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
    web: aws_sdk_workspacesweb::Client,
    executor: Executor,
    config: SweepConfig,
    notifier: Option<Notifier>,
}

impl Sweeper {
    /// Checks the policy against the configuration: `set-access-logging`
    /// needs `WARDEN_ACCESS_LOG_STREAM_ARN`.
    pub fn new(policy: Policy, clients: &Clients, config: SweepConfig) -> Result<Self, SweepError> {
        if config.access_log_stream.is_none() {
            for rule in &policy.rules {
                if rule
                    .actions
                    .iter()
                    .any(|a| a.kind == ActionKind::SetAccessLogging)
                {
                    return Err(SweepError::NoStreamConfigured {
                        var: vars::ACCESS_LOG_STREAM_ARN,
                        policy: policy.source.clone(),
                        rule: rule.name.clone(),
                    });
                }
            }
        }
        Ok(Sweeper {
            executor: Executor::new(clients, config.action_concurrency),
            web: clients.web.clone(),
            policy,
            config,
            notifier: None,
        })
    }

    /// Announces expired sessions, attached logging settings and cap
    /// refusals on the deployment's SNS topic (`WARDEN_NOTIFY_TOPIC_ARN`);
    /// see [`Sweeper::notify`].
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

    /// The portals one run sweeps: the request's (each must be configured),
    /// else the configured ones.
    fn portals<'a>(&'a self, req: &'a SweepRequest) -> Result<Vec<&'a str>, String> {
        match &req.portal_arns {
            None => Ok(self.config.portal_arns.iter().map(String::as_str).collect()),
            Some(asked) => {
                let mut out: Vec<&str> = Vec::new();
                for a in asked {
                    if !self.config.portal_arns.contains(a) {
                        return Err(format!(
                            "portal {a} is not among the configured portals ({}); the function's role covers only those",
                            vars::PORTAL_ARNS
                        ));
                    }
                    if !out.contains(&a.as_str()) {
                        out.push(a);
                    }
                }
                Ok(out)
            }
        }
    }

    /// Checks a request before running it (the handler refuses a bad one).
    pub fn check_request(&self, req: &SweepRequest) -> Result<(), String> {
        self.portals(req).map(drop)
    }

    /// One sweep. Never fails as a whole: what went wrong is in the report,
    /// per portal. `now` is the time rules are evaluated at. A request naming
    /// a portal not configured sweeps nothing (see [`Sweeper::check_request`]).
    pub async fn run(
        &self,
        req: &SweepRequest,
        now: Timestamp,
        deadline: Deadline,
    ) -> SweepOutcome {
        let mut metrics = Metrics::new(FUNCTION);
        let stats = CallStats::default();
        let dry_run = req.dry_run.unwrap_or(self.config.dry_run);
        let mut report = SweepReport {
            now: Some(now),
            dry_run,
            ..SweepReport::default()
        };
        let portals = match self.portals(req) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(target: "warden::sweep", reason = %e, "request refused: nothing swept");
                finish_totals(&mut report);
                return SweepOutcome {
                    report,
                    metrics,
                    notices: Vec::new(),
                };
            }
        };

        // 1. Gather, portals at once (bounded).
        let gathered = run_bounded(
            portals.clone(),
            self.config.portal_concurrency,
            deadline,
            |arn| self.gather_portal(arn, deadline, &stats),
        )
        .await;
        let mut resources = Vec::new();
        for (arn, g) in portals.iter().zip(gathered) {
            match g {
                Ran::Done(g) => {
                    resources.extend(g.resources);
                    report.portals.push(g.report);
                }
                Ran::NotStarted => report.portals.push(PortalReport {
                    portal_arn: (*arn).to_owned(),
                    failures: vec![Failure {
                        operation: "Sweep".into(),
                        subject: "portal".into(),
                        kind: FailureKind::Transient,
                        code: "NotStarted".into(),
                        message: "too little time left in this invocation; not swept this run"
                            .into(),
                    }],
                    ..PortalReport::default()
                }),
            }
        }
        report.portals_swept = report.portals.len();

        // 2. Evaluate and plan (pure).
        let ctx =
            Context::new(now).with_access_log_stream(self.config.access_log_stream.as_deref());
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
            match access_log_guard(&a) {
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

        // 3. Execute, then retry what is still transiently failing.
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

        // 4. Report.
        for p in &mut report.portals {
            p.users_expired.sort();
            log_portal(p);
        }
        report.portals_failed = report
            .portals
            .iter()
            .filter(|p| !p.failures.is_empty())
            .count();
        finish_totals(&mut report);
        count_metrics(&report, &stats, &mut metrics);
        let t = &report.totals;
        tracing::info!(
            target: "warden::sweep",
            dry_run, portals = report.portals_swept, portals_failed = report.portals_failed,
            sessions = t.sessions_examined, described = t.sessions_described,
            users_expired = t.users_expired, logging_set = t.access_logging_set,
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

/// The access-log guard: whatever the policy says, never point a portal's
/// user access logging at a stream Secure Browser cannot write to (its name
/// must begin with `amazon-workspaces-web-`).
fn access_log_guard(a: &PlannedAction) -> Result<(), String> {
    if a.kind != ActionKind::SetAccessLogging {
        return Ok(());
    }
    match &a.params {
        ActionParams::AccessLogStream { stream_arn } => check_access_log_stream_arn(stream_arn)
            .map_err(|e| format!("refusing AssociateUserAccessLoggingSettings: {e}")),
        other => Err(format!(
            "refusing AssociateUserAccessLoggingSettings: no stream ARN in the plan ({other:?})"
        )),
    }
}

fn portal_of(t: &Target) -> Option<&str> {
    match t {
        Target::PortalUser { portal_arn, .. } | Target::Portal { portal_arn } => Some(portal_arn),
        _ => None,
    }
}

/// The target within its portal: `bob`, `portal`.
fn bare(t: &Target) -> String {
    match t {
        Target::PortalUser { user, .. } => user.clone(),
        Target::Portal { .. } => "portal".into(),
        other => other.to_string(),
    }
}

/// The target within its portal: `user bob`, `portal`.
fn subject(t: &Target) -> String {
    match t {
        Target::PortalUser { user, .. } => format!("user {user}"),
        other => bare(other),
    }
}

fn refusal(a: &PlannedAction, reason: String) -> RefusalReport {
    RefusalReport {
        action: a.kind.name().into(),
        target: a.target.to_string(),
        portal_arn: portal_of(&a.target).map(str::to_owned),
        rules: a.rules.clone(),
        reason,
    }
}

/// Puts one action's outcome into its portal's report.
fn attribute(report: &mut SweepReport, rec: &ActionRecord) {
    let a = &rec.action;
    let Some(arn) = portal_of(&a.target) else {
        return;
    };
    let idx = match report.portals.iter().position(|p| p.portal_arn == arn) {
        Some(i) => i,
        None => {
            // A rule naming a portal explicitly that was not swept.
            report.portals.push(PortalReport {
                portal_arn: arn.to_owned(),
                notes: vec!["not swept; acted on by a rule naming it".into()],
                ..PortalReport::default()
            });
            report.portals.len() - 1
        }
    };
    let p = &mut report.portals[idx];
    let detail = match (&rec.outcome, &a.params) {
        (Outcome::Already { detail }, _) => Some(detail.clone()),
        (Outcome::Failed(x), _) => Some(x.code.clone()),
        (_, ActionParams::AccessLogStream { stream_arn }) => Some(stream_arn.clone()),
        _ => None,
    };
    p.actions.push(ActionLine {
        action: a.kind.name().into(),
        subject: bare(&a.target),
        outcome: rec.outcome.label().into(),
        rules: a.rules.clone(),
        causes: a.cause_count,
        detail,
    });
    match &rec.outcome {
        Outcome::Done | Outcome::Already { .. } => match (&a.kind, &a.target, &a.params) {
            (ActionKind::ExpireSessions, Target::PortalUser { user, .. }, _) => {
                p.users_expired.push(user.clone())
            }
            (ActionKind::SetAccessLogging, _, ActionParams::AccessLogStream { stream_arn }) => {
                p.access_logging_set = Some(stream_arn.clone())
            }
            _ => {}
        },
        Outcome::DryRun => {
            let params = match &a.params {
                ActionParams::AccessLogStream { stream_arn } => format!(" -> {stream_arn}"),
                _ => String::new(),
            };
            p.dry_run_actions
                .push(dry_run_line(a, &bare(&a.target), &params));
        }
        Outcome::Failed(_) | Outcome::NotStarted => p
            .failures
            .extend(rec.outcome.failure(a.kind, subject(&a.target))),
    }
}

fn finish_totals(report: &mut SweepReport) {
    let mut t = Totals::default();
    for p in &report.portals {
        t.sessions_examined += p.sessions_examined;
        t.sessions_described += p.sessions_described;
        t.users_expired += p.users_expired.len();
        t.access_logging_set += usize::from(p.access_logging_set.is_some());
        t.dry_run_actions += p.dry_run_actions.len();
        t.findings += p.findings.len();
        t.failures += p.failures.len();
    }
    t.refusals = report.refusals.len();
    report.totals = t;
}

fn count_metrics(report: &SweepReport, stats: &CallStats, m: &mut Metrics) {
    let t = &report.totals;
    m.count("PortalsSwept", report.portals_swept as u64);
    m.count("PortalsFailed", report.portals_failed as u64);
    m.count("SessionsExamined", t.sessions_examined as u64);
    m.count("SessionsDescribed", t.sessions_described as u64);
    m.count("Findings", t.findings as u64);
    m.count("Refusals", t.refusals as u64);
    m.count("Failures", t.failures as u64);
    for p in &report.portals {
        for x in &p.findings {
            m.count_by("Findings", "Finding", x.kind(), 1);
        }
    }
    for (op, n) in stats.snapshot() {
        m.count_by("ApiCalls", "Operation", op, n);
    }
}

fn log_portal(p: &PortalReport) {
    let findings: Vec<String> = p.findings.iter().map(|x| x.to_string()).collect();
    let failures: Vec<String> = p.failures.iter().map(|x| x.to_string()).collect();
    macro_rules! line {
        ($lvl:ident) => {
            tracing::$lvl!(
                target: "warden::sweep",
                portal = %p.portal_arn, status = p.status.as_deref().unwrap_or("?"),
                sessions = p.sessions_examined, described = p.sessions_described,
                users_expired = p.users_expired.len(), logging_set = p.access_logging_set.is_some(),
                dry_run_actions = p.dry_run_actions.len(),
                findings = %findings.join("; "), failures = %failures.join("; "),
                "portal swept"
            )
        };
    }
    if p.failures.is_empty() {
        line!(info);
    } else {
        line!(warn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_logging(arn: &str) -> PlannedAction {
        PlannedAction {
            kind: ActionKind::SetAccessLogging,
            target: Target::Portal {
                portal_arn: "arn:aws:workspaces-web:us-east-1:123456789012:portal/p".into(),
            },
            params: ActionParams::AccessLogStream {
                stream_arn: arn.into(),
            },
            rules: vec!["r".into()],
            causes: vec![],
            cause_count: 1,
            dry_run: false,
        }
    }

    #[test]
    fn the_guard_refuses_streams_secure_browser_cannot_write_to() {
        assert!(access_log_guard(&set_logging(
            "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-ok"
        ))
        .is_ok());
        let e = access_log_guard(&set_logging(
            "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-x",
        ))
        .unwrap_err();
        assert!(
            e.contains("AssociateUserAccessLoggingSettings")
                && e.contains("amazon-workspaces-web-"),
            "{e}"
        );
        let mut a = set_logging("x");
        a.params = ActionParams::None;
        assert!(access_log_guard(&a).is_err());
    }
}
