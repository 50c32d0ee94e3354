//! Operator notifications: one compact message per executed destructive
//! action, per action refused by a cap and per action refused over a
//! budget, published to the deployment's optional SNS topic
//! (`WARDEN_NOTIFY_TOPIC_ARN`, the template's `NotifyTopicArn`).
//!
//! A function collects one invocation's [`Notice`]s in [`Notices`] (pure:
//! the rule's `notify: false` silences it, dry-run actions are left out
//! unless `WARDEN_NOTIFY_DRY_RUN=true`) and hands them to
//! [`Notifier::send`], which publishes them with `PublishBatch`, ten per
//! call. Sending never fails the invocation: what SNS refuses, or what
//! time did not allow, is logged at error (target `warden::notify`) and
//! counted (`NotificationsFailed`), so nothing is lost silently.
//!
//! Each message names who/what, the rule, why in one line, the causes, and
//! the Logs Insights query that pulls the invocation's log lines out of the
//! function's log group by request id.

use std::fmt::Write as _;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_smithy_types::error::display::DisplayErrorContext;
use serde::Serialize;

use super::deadline::Deadline;
use super::emf::Metrics;
use super::executor::{ActionRecord, Outcome};
use crate::action::ActionKind;
use crate::env::{Env, EnvError};
use crate::plan::{Cause, PlannedAction, Refusal, RefusalReason};
use crate::policy::Policy;

/// The topic's ARN; unset or empty: no notification.
pub const TOPIC_VAR: &str = "WARDEN_NOTIFY_TOPIC_ARN";
/// `true`: dry-run actions are notified too (default `false`).
pub const DRY_RUN_VAR: &str = "WARDEN_NOTIFY_DRY_RUN";
/// Entries per `PublishBatch` call (the service's limit).
pub const MAX_BATCH: usize = 10;
/// Causes listed by id in one message (the count says how many in all).
pub const MAX_CAUSES_LISTED: usize = 5;
/// SNS subjects are at most this long.
const MAX_SUBJECT: usize = 100;

/// Whether an executed action of this kind is announced. Tagging and the
/// cleanup mark only label an instance; everything else (sign-outs,
/// revocations, restorations, deletions, stream changes, and any kind added
/// later) changes what people can reach and is announced.
pub fn is_destructive(kind: ActionKind) -> bool {
    !matches!(
        kind,
        ActionKind::TagInstance | ActionKind::UntagInstance | ActionKind::MarkForCleanup
    )
}

/// What a notice is about (also its `warden_event` message attribute, for
/// subscription filter policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// An action that was executed.
    Executed,
    /// A dry-run action (only with `WARDEN_NOTIFY_DRY_RUN=true`).
    DryRun,
    /// Refused: the run would exceed the kind's cap.
    CapRefused,
    /// Refused: the kind's budget for the period is spent.
    OverBudget,
}

impl NoticeKind {
    /// Its name in messages and attributes.
    pub fn label(self) -> &'static str {
        match self {
            NoticeKind::Executed => "executed",
            NoticeKind::DryRun => "dry-run",
            NoticeKind::CapRefused => "refused-by-cap",
            NoticeKind::OverBudget => "over-budget",
        }
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// What it is about.
    pub kind: NoticeKind,
    /// The action kind (`sign-out-user`).
    pub action: ActionKind,
    /// One line, at most 100 ASCII characters (the SNS subject).
    pub subject: String,
    /// The body: a few short lines (what, rule, why, causes); [`render`]
    /// adds where it comes from.
    ///
    /// [`render`]: Notice::render
    pub message: String,
}

impl Notice {
    /// The message as sent: the body, then the invocation and the Logs
    /// Insights query for its log lines.
    pub fn render(&self, origin: &Origin) -> String {
        let group = origin
            .log_group
            .clone()
            .unwrap_or_else(|| format!("the {} log group", origin.function));
        format!(
            "{}\nby: {} request {}\nlogs: {group}: {}",
            self.message,
            origin.function,
            origin.request_id,
            origin.log_query()
        )
    }
}

/// Settings read at cold start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifySettings {
    /// The topic; `None`: notifications are off.
    pub topic_arn: Option<String>,
    /// Announce dry-run actions too.
    pub dry_run: bool,
}

impl NotifySettings {
    /// From [`TOPIC_VAR`] and [`DRY_RUN_VAR`]. A topic that is not an SNS
    /// topic ARN is refused, naming the variable.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, EnvError> {
        let topic_arn = env.get(TOPIC_VAR).filter(|v| !v.trim().is_empty());
        if let Some(arn) = &topic_arn {
            let parts: Vec<&str> = arn.split(':').collect();
            if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
                return Err(EnvError::Invalid {
                    name: TOPIC_VAR.into(),
                    value: arn.clone(),
                    reason: "expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), \
                             or empty for no notifications"
                        .into(),
                });
            }
        }
        Ok(NotifySettings {
            topic_arn,
            dry_run: env.bool_or(DRY_RUN_VAR, false)?,
        })
    }
}

/// Where one invocation's notices point back to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The function (`audit-stream`).
    pub function: String,
    /// The invocation's request id (every log line carries it).
    pub request_id: String,
    /// The function's log group (`AWS_LAMBDA_LOG_GROUP_NAME` on Lambda).
    pub log_group: Option<String>,
}

impl Origin {
    /// An invocation of `function`; the log group from Lambda's environment.
    pub fn new(function: &str, request_id: &str) -> Origin {
        Origin {
            function: function.into(),
            request_id: request_id.into(),
            log_group: std::env::var("AWS_LAMBDA_LOG_GROUP_NAME")
                .ok()
                .filter(|g| !g.is_empty()),
        }
    }

    /// The Logs Insights query for the invocation's lines.
    pub fn log_query(&self) -> String {
        format!(
            "fields timestamp, level, message, rule, action, outcome | filter requestId = \"{}\" | sort timestamp asc",
            self.request_id
        )
    }
}

/// One invocation's notices, collected as its stages run.
#[derive(Debug)]
pub struct Notices<'p> {
    policy: &'p Policy,
    include_dry_run: bool,
    /// The notices so far, in the order they were added.
    pub notices: Vec<Notice>,
    /// How many were left out by `notify: false`.
    pub silenced: usize,
}

impl<'p> Notices<'p> {
    /// Empty; `include_dry_run` announces dry-run actions too.
    pub fn new(policy: &'p Policy, include_dry_run: bool) -> Self {
        Notices {
            policy,
            include_dry_run,
            notices: Vec::new(),
            silenced: 0,
        }
    }

    /// Whether any of the action's rules wants it announced (a rule not in
    /// the policy counts as wanting it).
    fn wanted(&mut self, action: &PlannedAction) -> bool {
        let wanted = action.rules.is_empty()
            || action
                .rules
                .iter()
                .any(|r| self.policy.rule(r).is_none_or(|rule| rule.notify));
        if !wanted {
            self.silenced += 1;
        }
        wanted
    }

    /// The first rule's description, on one line, or "matched rule NAME".
    fn why(&self, action: &PlannedAction) -> String {
        let first = action.rules.first().map(String::as_str).unwrap_or("?");
        self.policy
            .rule(first)
            .and_then(|r| r.description.as_deref())
            .map(one_line)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| format!("matched rule {first}"))
    }

    /// The executed destructive actions, and the dry-run ones when asked.
    /// "Already done" (a re-delivery, or someone else did it), failed and
    /// not-started actions are in the logs and metrics, not announced.
    pub fn executed(&mut self, records: &[ActionRecord]) {
        for rec in records {
            let kind = match &rec.outcome {
                Outcome::Done => NoticeKind::Executed,
                Outcome::DryRun if self.include_dry_run => NoticeKind::DryRun,
                _ => continue,
            };
            if !is_destructive(rec.action.kind) || !self.wanted(&rec.action) {
                continue;
            }
            let outcome = match &rec.outcome {
                Outcome::DryRun => "dry-run, not executed",
                _ => "done",
            };
            let why = self.why(&rec.action);
            self.push(kind, &rec.action, outcome, &why);
        }
    }

    /// The actions a cap refused (allow-lists and conflicts are routine:
    /// logs only).
    pub fn refusals(&mut self, refusals: &[Refusal]) {
        for r in refusals {
            if matches!(r.reason, RefusalReason::CapExceeded { .. }) && self.wanted(&r.action) {
                self.push(
                    NoticeKind::CapRefused,
                    &r.action,
                    "refused",
                    &one_line(&r.reason.to_string()),
                );
            }
        }
    }

    /// An action refused because its kind's budget is spent; `detail` says
    /// which budget and until when.
    pub fn over_budget(&mut self, action: &PlannedAction, detail: &str) {
        if self.wanted(action) {
            self.push(NoticeKind::OverBudget, action, "refused", &one_line(detail));
        }
    }

    fn push(&mut self, kind: NoticeKind, a: &PlannedAction, outcome: &str, why: &str) {
        let rules = a.rules.join(",");
        let subject = subject_line(&format!(
            "warden {}: {} {} ({})",
            kind.label(),
            a.kind,
            a.target,
            rules
        ));
        let mut m = String::new();
        let _ = writeln!(m, "{} {}: {} [{}]", a.kind, outcome, a.target, kind.label());
        let _ = writeln!(m, "rule: {rules}");
        let _ = writeln!(m, "why: {why}");
        let _ = write!(m, "causes ({}): {}", a.cause_count, causes(&a.causes));
        self.notices.push(Notice {
            kind,
            action: a.kind,
            subject,
            message: m,
        });
    }
}

/// At most [`MAX_CAUSES_LISTED`] cause ids, then "+N more".
fn causes(causes: &[Cause]) -> String {
    let mut ids: Vec<&str> = causes
        .iter()
        .take(MAX_CAUSES_LISTED)
        .map(|c| match c {
            Cause::Event {
                event_id: Some(id), ..
            } => id.as_str(),
            Cause::Event { source_id, .. } => source_id.as_str(),
            Cause::Resource { id } => id.as_str(),
        })
        .collect();
    if ids.is_empty() {
        ids.push("-");
    }
    let mut s = ids.join(", ");
    if causes.len() > MAX_CAUSES_LISTED {
        let _ = write!(s, " (+{} more)", causes.len() - MAX_CAUSES_LISTED);
    }
    s
}

/// Collapses whitespace and line breaks to single spaces.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A valid SNS subject: printable ASCII on one line, at most 100 chars.
fn subject_line(s: &str) -> String {
    let clean: String = one_line(s)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() <= MAX_SUBJECT {
        clean
    } else {
        format!("{}...", &clean[..MAX_SUBJECT - 3])
    }
}

/// What [`Notifier::send`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Accepted by SNS.
    pub sent: usize,
    /// Refused, failed or not sent for lack of time (each logged).
    pub failed: usize,
}

/// Publishes notices to the deployment's topic.
#[derive(Debug, Clone)]
pub struct Notifier {
    sns: aws_sdk_sns::Client,
    topic_arn: String,
    include_dry_run: bool,
}

impl Notifier {
    /// A notifier for `topic_arn`.
    pub fn new(sns: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Notifier {
            sns,
            topic_arn: topic_arn.into(),
            include_dry_run: false,
        }
    }

    /// From the settings: `None` when no topic is configured.
    pub fn from_settings(
        settings: &NotifySettings,
        sdk: &aws_config::SdkConfig,
    ) -> Option<Notifier> {
        let topic = settings.topic_arn.as_ref()?;
        Some(Notifier::new(aws_sdk_sns::Client::new(sdk), topic).with_dry_run(settings.dry_run))
    }

    /// Announce dry-run actions too.
    pub fn with_dry_run(mut self, include: bool) -> Self {
        self.include_dry_run = include;
        self
    }

    /// The topic.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// An empty collection for one invocation.
    pub fn notices<'p>(&self, policy: &'p Policy) -> Notices<'p> {
        Notices::new(policy, self.include_dry_run)
    }

    /// Publishes `notices` ([`Notice::render`]ed for `origin`),
    /// [`MAX_BATCH`] per `PublishBatch` call, while `deadline` allows.
    /// Never fails: every message not accepted is logged at error and
    /// counted in `NotificationsFailed`; accepted ones in
    /// `NotificationsSent`.
    pub async fn send(
        &self,
        notices: &[Notice],
        origin: &Origin,
        deadline: Deadline,
        metrics: &mut Metrics,
    ) -> Sent {
        let mut out = Sent::default();
        for chunk in notices.chunks(MAX_BATCH) {
            let entries: Vec<PublishBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, n)| entry(i, n, origin))
                .collect();
            let built = entries.len();
            if built < chunk.len() {
                tracing::error!(target: "warden::notify", topic = %self.topic_arn, unbuilt = chunk.len() - built, "notification entries could not be built");
                out.failed += chunk.len() - built;
            }
            if entries.is_empty() {
                continue;
            }
            let call = self
                .sns
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send();
            match deadline.bound(call).await {
                Some(Ok(resp)) => {
                    out.sent += resp.successful().len();
                    for f in resp.failed() {
                        tracing::error!(
                            target: "warden::notify",
                            topic = %self.topic_arn, entry = f.id(), code = f.code(),
                            error = f.message().unwrap_or_default(), sender_fault = f.sender_fault(),
                            subject = notice_of(chunk, f.id()).map(|n| n.subject.as_str()),
                            "notification refused by SNS"
                        );
                    }
                    out.failed += resp.failed().len();
                    // Entries neither accepted nor refused are lost: count them.
                    out.failed +=
                        built.saturating_sub(resp.successful().len() + resp.failed().len());
                }
                Some(Err(e)) => {
                    tracing::error!(
                        target: "warden::notify",
                        topic = %self.topic_arn, notices = built,
                        error = %DisplayErrorContext(&e),
                        subjects = %subjects(chunk),
                        "notifications not sent: PublishBatch failed"
                    );
                    out.failed += built;
                }
                None => {
                    tracing::error!(
                        target: "warden::notify",
                        topic = %self.topic_arn, notices = built,
                        subjects = %subjects(chunk),
                        "notifications not sent: out of time in this invocation"
                    );
                    out.failed += built;
                }
            }
        }
        metrics.count("NotificationsSent", out.sent as u64);
        metrics.count("NotificationsFailed", out.failed as u64);
        if out.sent + out.failed > 0 {
            tracing::info!(target: "warden::notify", topic = %self.topic_arn, sent = out.sent, failed = out.failed, "notifications");
        }
        out
    }
}

fn entry(i: usize, n: &Notice, origin: &Origin) -> Option<PublishBatchRequestEntry> {
    let attr = |v: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .ok()
    };
    PublishBatchRequestEntry::builder()
        .id(format!("n{i}"))
        .subject(&n.subject)
        .message(n.render(origin))
        .set_message_attributes(Some(
            [
                ("warden_event", attr(n.kind.label())?),
                ("action", attr(n.action.name())?),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        ))
        .build()
        .ok()
}

fn notice_of<'a>(chunk: &'a [Notice], id: &str) -> Option<&'a Notice> {
    id.strip_prefix('n')
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| chunk.get(i))
}

fn subjects(chunk: &[Notice]) -> String {
    chunk
        .iter()
        .map(|n| n.subject.as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{ActionParams, Target};
    use crate::aws::deadline::{CallFailure, FailureKind};
    use crate::env::from_pairs;

    const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";

    fn policy() -> Policy {
        Policy::from_yaml_str(
            r#"
rules:
  - name: loud
    description: |
      Sign out users
      on the deny list.
    on: audit-event
    where: { user: { in: [mallory] } }
    actions: [sign-out-user]
  - name: quiet
    on: audit-event
    where: { user: { in: [eve] } }
    actions: [sign-out-user]
    notify: false
"#,
            "p.yaml",
        )
        .unwrap()
    }

    fn action(user: &str, rules: &[&str], n_causes: usize) -> PlannedAction {
        PlannedAction {
            kind: ActionKind::SignOutUser,
            target: Target::FleetUser {
                fleet_arn: FLEET.into(),
                user: user.into(),
            },
            params: ActionParams::None,
            rules: rules.iter().map(|r| r.to_string()).collect(),
            causes: (0..n_causes)
                .map(|i| Cause::Event {
                    source_id: format!("seq-{i}"),
                    event_id: None,
                })
                .collect(),
            cause_count: n_causes,
            dry_run: false,
        }
    }

    fn rec(a: PlannedAction, outcome: Outcome) -> ActionRecord {
        ActionRecord {
            action: a,
            outcome,
            attempts: 1,
            latency_ms: 1,
        }
    }

    fn origin() -> Origin {
        Origin {
            function: "audit-stream".into(),
            request_id: "req-1".into(),
            log_group: Some("/aws/lambda/warden-audit-stream".into()),
        }
    }

    #[test]
    fn one_notice_per_executed_action_with_rule_why_causes_and_query() {
        let p = policy();
        let mut n = Notices::new(&p, false);
        n.executed(&[
            rec(action("mallory", &["loud"], 7), Outcome::Done),
            rec(action("eve", &["quiet"], 1), Outcome::Done),
            rec(action("bob", &["loud"], 1), Outcome::DryRun),
            rec(
                action("carol", &["loud"], 1),
                Outcome::Failed(CallFailure {
                    kind: FailureKind::Permanent,
                    code: "X".into(),
                    message: "y".into(),
                }),
            ),
            rec(action("dave", &["loud"], 1), Outcome::NotStarted),
        ]);
        assert_eq!(n.notices.len(), 1, "{:#?}", n.notices);
        assert_eq!(n.silenced, 1);
        let m = &n.notices[0];
        assert_eq!(m.kind, NoticeKind::Executed);
        assert!(
            m.subject.contains("sign-out-user user mallory"),
            "{}",
            m.subject
        );
        assert!(m.subject.len() <= 100 && !m.subject.contains('\n'));
        assert!(m.message.contains("rule: loud"), "{}", m.message);
        assert!(
            m.message.contains("why: Sign out users on the deny list."),
            "{}",
            m.message
        );
        assert!(
            m.message
                .contains("causes (7): seq-0, seq-1, seq-2, seq-3, seq-4 (+2 more)"),
            "{}",
            m.message
        );
        let text = m.render(&origin());
        assert!(text.starts_with(&m.message), "{text}");
        assert!(
            text.contains("\nby: audit-stream request req-1\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "\nlogs: /aws/lambda/warden-audit-stream: fields timestamp, level, message, rule, action, outcome | filter requestId = \"req-1\" | sort timestamp asc"
            ),
            "{text}"
        );
    }

    #[test]
    fn dry_run_only_when_asked_and_a_shared_action_is_silenced_only_by_all_its_rules() {
        let p = policy();
        let mut n = Notices::new(&p, true);
        n.executed(&[
            rec(action("bob", &["loud"], 1), Outcome::DryRun),
            rec(action("eve", &["quiet", "loud"], 1), Outcome::Done),
            rec(action("eve", &["quiet"], 1), Outcome::DryRun),
            rec(
                action("amy", &["loud"], 1),
                Outcome::Already { detail: "x".into() },
            ),
        ]);
        let kinds: Vec<NoticeKind> = n.notices.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [NoticeKind::DryRun, NoticeKind::Executed]);
        assert!(n.notices[0].message.contains("dry-run, not executed"));
        assert!(n.notices[1]
            .message
            .contains("sign-out-user done: user eve"));
    }

    #[test]
    fn caps_and_budgets_are_announced_allow_lists_are_not() {
        let p = policy();
        let mut n = Notices::new(&p, false);
        let cap = crate::policy::Cap {
            max: Some(2),
            max_percent: None,
            min_population: None,
        };
        n.refusals(&[
            Refusal {
                action: action("mallory", &["loud"], 1),
                reason: RefusalReason::CapExceeded {
                    planned: 3,
                    limit: 2,
                    cap,
                    examined: 3,
                    population: None,
                    percent_applied: false,
                },
            },
            Refusal {
                action: action("svc", &["loud"], 1),
                reason: RefusalReason::AllowListed {
                    scope: "global".into(),
                    list: "users".into(),
                    entry: "svc".into(),
                },
            },
            Refusal {
                action: action("eve", &["quiet"], 1),
                reason: RefusalReason::CapExceeded {
                    planned: 3,
                    limit: 2,
                    cap,
                    examined: 3,
                    population: None,
                    percent_applied: false,
                },
            },
        ]);
        n.over_budget(&action("bob", &["loud"], 1), "budget 10 per 1d used 10");
        let kinds: Vec<NoticeKind> = n.notices.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [NoticeKind::CapRefused, NoticeKind::OverBudget]);
        assert!(n.notices[0]
            .message
            .contains("why: cap exceeded: 3 planned, limit 2"));
        assert!(n.notices[1]
            .message
            .contains("why: budget 10 per 1d used 10"));
        assert_eq!(n.silenced, 1);
    }

    #[test]
    fn labels_are_not_destructive_the_rest_is() {
        assert!(is_destructive(ActionKind::SignOutUser));
        assert!(is_destructive(ActionKind::DeleteInstance));
        assert!(is_destructive(ActionKind::RevokeDomain));
        assert!(!is_destructive(ActionKind::MarkForCleanup));
        assert!(!is_destructive(ActionKind::TagInstance));
    }

    #[test]
    fn subjects_are_one_ascii_line_of_at_most_100() {
        let s = subject_line(&format!("a\nb é {}", "x".repeat(200)));
        assert!(s.starts_with("a b ? x"), "{s}");
        assert_eq!(s.len(), 100);
        assert!(s.ends_with("..."));
    }

    #[test]
    fn settings_from_the_environment() {
        let s = NotifySettings::from_env(&from_pairs(&[])).unwrap();
        assert_eq!(s, NotifySettings::default());
        let s = NotifySettings::from_env(&from_pairs(&[(TOPIC_VAR, "")])).unwrap();
        assert_eq!(s.topic_arn, None);
        let arn = "arn:aws:sns:us-east-1:123456789012:warden";
        let s = NotifySettings::from_env(&from_pairs(&[(TOPIC_VAR, arn), (DRY_RUN_VAR, "true")]))
            .unwrap();
        assert_eq!(s.topic_arn.as_deref(), Some(arn));
        assert!(s.dry_run);
        let e = NotifySettings::from_env(&from_pairs(&[(TOPIC_VAR, "warden-topic")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(TOPIC_VAR) && e.contains("SNS topic ARN"), "{e}");
    }
}
