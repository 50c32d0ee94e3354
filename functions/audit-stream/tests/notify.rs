//! Notifications end to end (issue 14 item 7): the handler against the
//! emulator (WorkLink), announcing on moto's SNS topic, read back from an
//! SQS queue subscribed to it. One message per executed action, none in
//! dry-run unless asked, none for a rule with `notify: false`; a topic that
//! refuses the messages changes nothing the actions did.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use audit_stream::{BatchReport, Handler, MemorySink, ProcessorConfig, StreamProcessor};
use common::*;
use serde_json::Value;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::{Executor, Outcome};
use warden_core::aws::notify::{is_destructive, Notice, NoticeKind, Notifier, Origin, Sent};
use warden_core::aws::{load_sdk_config, AwsSettings};
use warden_core::policy::Policy;
use warden_core::ActionKind;
use warden_emulator::moto::{MotoServer, TopicInbox};
use warden_emulator::RunningEmulator;

const MINUTE: Duration = Duration::from_secs(60);

/// A topic on moto with an SQS queue subscribed to it.
async fn topic(moto: &MotoServer, name: &str) -> TopicInbox {
    let sdk = load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await;
    TopicInbox::create(&sdk, name).await
}

fn notifier(topic: &TopicInbox) -> Notifier {
    Notifier::new(topic.sns.clone(), &topic.arn)
}

async fn notifying_handler(
    emu: &RunningEmulator,
    policy: Policy,
    dry_run: bool,
    notifier: Notifier,
) -> TestHandler {
    let clients = clients(&emu.endpoint_url(), 3).await;
    let processor = StreamProcessor::new(
        Arc::new(policy),
        Executor::new(&clients, 8),
        Arc::new(MemorySink::new()),
        ProcessorConfig {
            default_fleet_arn: Some(CORP.into()),
            dry_run,
            ..ProcessorConfig::default()
        },
    )
    .with_notifier(notifier);
    Handler::new(processor, Duration::from_millis(500))
}

async fn audit_batch(h: &TestHandler) -> BatchReport {
    h.process(lambda_event(read_event("kinesis-audit-batch.json"), MINUTE))
        .await
}

/// The targets (`user bob `, `domain wiki...`) of the actions done.
fn done_targets(report: &BatchReport) -> BTreeSet<String> {
    report
        .executed
        .iter()
        .filter(|r| r.outcome == Outcome::Done)
        .map(|r| r.action.target.to_string())
        .collect()
}

/// The target named on each message's first line (`KIND done: TARGET [..]`).
fn message_targets(msgs: &[Value]) -> BTreeSet<String> {
    msgs.iter()
        .map(|m| {
            let text = m["Message"].as_str().unwrap();
            let first = text.lines().next().unwrap();
            let (_, rest) = first.split_once(" done: ").expect(first);
            rest.rsplit_once(" [").unwrap().0.to_string()
        })
        .collect()
}

#[tokio::test]
async fn one_message_per_executed_action_and_none_in_dry_run() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let topic = topic(&moto, "warden-actions").await;

    // Live: every action done is announced once, with its rule, causes and
    // the request id to find the log lines by.
    let emu = demo_emulator().await;
    let h = notifying_handler(&emu, default_policy(), false, notifier(&topic)).await;
    let report = audit_batch(&h).await;
    let done = done_targets(&report);
    assert!(done.len() >= 2, "the batch does something: {done:?}");
    let failed = report
        .executed
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    assert!(
        failed >= 1,
        "a failed action is in the batch and not announced"
    );
    let msgs = topic.drain().await;
    assert_eq!(msgs.len(), done.len(), "one per action done: {msgs:#?}");
    assert_eq!(message_targets(&msgs), done);
    assert_eq!(report.metrics.get("NotificationsSent"), done.len() as f64);
    assert_eq!(report.metrics.get("NotificationsFailed"), 0.0);
    for m in &msgs {
        let text = m["Message"].as_str().unwrap();
        let subject = m["Subject"].as_str().unwrap();
        assert!(subject.starts_with("warden executed: "), "{subject}");
        assert!(subject.len() <= 100, "{subject}");
        assert!(text.contains("\nrule: "), "{text}");
        assert!(text.contains("\nwhy: "), "{text}");
        assert!(text.contains("\ncauses ("), "{text}");
        assert!(
            text.contains("filter requestId = \"00000000-0000-4000-8000-000000000001\""),
            "{text}"
        );
        assert_eq!(
            m["MessageAttributes"]["warden_event"]["Value"], "executed",
            "{m}"
        );
    }
    let dave = msgs
        .iter()
        .map(|m| m["Message"].as_str().unwrap())
        .find(|t| t.contains("user dave "))
        .expect("dave's sign-out announced");
    assert!(dave.contains("rule: repeated-failed-sign-ins"), "{dave}");
    assert!(dave.contains("causes (5): "), "{dave}");

    // Re-delivery: the actions are "already" done; nothing new announced.
    let again = audit_batch(&h).await;
    assert!(again
        .executed
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Already { .. })));
    let again_msgs = topic.drain().await;
    assert_eq!(
        again_msgs.len(),
        done_targets(&again).len(),
        "{again_msgs:#?}"
    );

    // Dry-run: the same batch plans the same actions; nothing announced...
    let emu = demo_emulator().await;
    let h = notifying_handler(&emu, default_policy(), true, notifier(&topic)).await;
    let report = audit_batch(&h).await;
    assert!(report.executed.iter().all(|r| r.outcome == Outcome::DryRun));
    assert!(report.executed.len() >= done.len());
    assert_eq!(topic.drain().await.len(), 0, "dry-run is not announced");
    assert_eq!(report.metrics.get("NotificationsSent"), 0.0);

    // ...unless asked (WARDEN_NOTIFY_DRY_RUN=true).
    let h = notifying_handler(
        &emu,
        default_policy(),
        true,
        notifier(&topic).with_dry_run(true),
    )
    .await;
    let report = audit_batch(&h).await;
    let msgs = topic.drain().await;
    let destructive = report
        .executed
        .iter()
        .filter(|r| is_destructive(r.action.kind))
        .count();
    assert_eq!(msgs.len(), destructive, "{msgs:#?}");
    assert!(msgs
        .iter()
        .all(|m| m["MessageAttributes"]["warden_event"]["Value"] == "dry-run"));
}

#[tokio::test]
async fn a_rule_with_notify_false_is_not_announced() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let topic = topic(&moto, "warden-quiet").await;
    let quiet = "repeated-failed-sign-ins";
    let text = warden_core::shell::DEFAULT_POLICY.replace(
        &format!("  - name: {quiet}\n"),
        &format!("  - name: {quiet}\n    notify: false\n"),
    );
    let policy = Policy::from_yaml_str(&text, "quiet.yaml").unwrap();
    assert!(!policy.rule(quiet).unwrap().notify);

    let emu = demo_emulator().await;
    let h = notifying_handler(&emu, policy, false, notifier(&topic)).await;
    let report = audit_batch(&h).await;
    let silenced: BTreeSet<String> = report
        .executed
        .iter()
        .filter(|r| r.outcome == Outcome::Done && r.action.rules == [quiet])
        .map(|r| r.action.target.to_string())
        .collect();
    assert!(!silenced.is_empty(), "the quiet rule acted");
    let msgs = topic.drain().await;
    let announced = message_targets(&msgs);
    let expected: BTreeSet<String> = done_targets(&report)
        .difference(&silenced)
        .cloned()
        .collect();
    assert!(!expected.is_empty(), "other rules still announce");
    assert_eq!(announced, expected);
}

fn origin() -> Origin {
    Origin::new("test", "req-1")
}

fn notice(i: usize) -> Notice {
    Notice {
        kind: NoticeKind::Executed,
        action: ActionKind::SignOutUser,
        subject: format!("warden executed: sign-out-user user u{i}"),
        message: format!("sign-out-user done: user u{i}"),
    }
}

#[tokio::test]
async fn batches_of_ten_and_failures_counted_never_raised() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let topic = topic(&moto, "warden-batches").await;
    let notices: Vec<Notice> = (0..23).map(notice).collect();
    let mut m = Metrics::new("test");
    let sent = notifier(&topic)
        .send(&notices, &origin(), Deadline::none(), &mut m)
        .await;
    assert_eq!(
        sent,
        Sent {
            sent: 23,
            failed: 0
        }
    );
    let msgs = topic.drain().await;
    let subjects: BTreeSet<&str> = msgs
        .iter()
        .map(|m| m["Subject"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = notices.iter().map(|n| n.subject.as_str()).collect();
    assert_eq!(subjects, want, "23 messages in three calls, none lost");

    // A topic that does not exist: every message counted as failed.
    let gone = Notifier::new(topic.sns.clone(), format!("{}-gone", topic.arn));
    let mut m = Metrics::new("test");
    let sent = gone
        .send(&notices[..12], &origin(), Deadline::none(), &mut m)
        .await;
    assert_eq!(
        sent,
        Sent {
            sent: 0,
            failed: 12
        }
    );
    assert_eq!(m.get("NotificationsFailed"), 12.0);

    // A handler whose topic refuses: the actions are done all the same.
    let emu = demo_emulator().await;
    let h = notifying_handler(&emu, default_policy(), false, gone).await;
    let report = audit_batch(&h).await;
    let done = done_targets(&report);
    assert!(!done.is_empty());
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(report.metrics.get("NotificationsFailed"), done.len() as f64);
    assert_eq!(topic.drain().await.len(), 0);
}

/// Over a budget (WARDEN_BUDGETS, one sign-out per hour): the sign-outs the
/// budget refuses are announced once each as over-budget, next to the one
/// it allowed.
#[tokio::test]
async fn actions_over_the_budget_are_announced() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let topic = topic(&moto, "warden-budget").await;
    let emu = demo_emulator().await;
    let clients = clients(&emu.endpoint_url(), 3).await;
    let processor = StreamProcessor::new(
        Arc::new(default_policy()),
        Executor::new(&clients, 8),
        Arc::new(MemorySink::new()),
        ProcessorConfig {
            default_fleet_arn: Some(CORP.into()),
            dry_run: false,
            budgets: vec![audit_stream::Budget {
                kind: ActionKind::SignOutUser,
                max: 1,
                per: warden_core::jiff::SignedDuration::from_hours(1),
            }],
            ..ProcessorConfig::default()
        },
    )
    .with_state(Arc::new(warden_core::state::MemoryStateStore::new()))
    .with_notifier(notifier(&topic));
    let h = Handler::new(processor, Duration::from_millis(500));
    let report = audit_batch(&h).await;
    let refused = report
        .metrics
        .get_by("BudgetRefused", "Action", "SignOutUser");
    assert!(refused >= 2.0, "the budget refuses sign-outs: {refused}");
    let msgs = topic.drain().await;
    let kind = |m: &Value| m["MessageAttributes"]["warden_event"]["Value"].clone();
    let over: Vec<&Value> = msgs.iter().filter(|m| kind(m) == "over-budget").collect();
    assert_eq!(over.len() as f64, refused, "{msgs:#?}");
    for m in &over {
        let body = m["Message"].as_str().unwrap();
        assert!(body.starts_with("sign-out-user refused: user "), "{body}");
        assert!(body.contains("why: over the budget: 1 of 1 used"), "{body}");
    }
    let executed = msgs.iter().filter(|m| kind(m) == "executed").count();
    assert_eq!(executed, done_targets(&report).len());
    assert_eq!(msgs.len(), over.len() + executed);
}
