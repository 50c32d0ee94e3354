//! fleet-sweep's notifications (issue 14 item 7): the demo fixture swept
//! live with the default policy, announcing on moto's SNS topic read back
//! from a subscribed SQS queue: one message per action done, none in a
//! dry-run sweep.

use std::time::Duration;

use fleet_sweep::{SweepConfig, SweepRequest, Sweeper};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::notify::Notifier;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::Policy;
use warden_emulator::moto::{MotoServer, TopicInbox};
use warden_emulator::{Emulator, Fixture};

const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-warden-audit";

/// The topic the sweep announces on, and its inbox.
async fn topic(moto: &MotoServer) -> (Notifier, TopicInbox) {
    let sdk = load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await;
    let inbox = TopicInbox::create(&sdk, "sweep-actions").await;
    (Notifier::new(inbox.sns.clone(), &inbox.arn), inbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sweep_announces_each_action_done_and_a_dry_run_nothing() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let (notifier, inbox) = topic(&moto).await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/emulator/demo-fixture.json"
    ))
    .unwrap();
    for dry_run in [false, true] {
        let emu = Emulator::new(Fixture::from_json(&text).unwrap())
            .start_local()
            .await
            .unwrap();
        let clients = Clients::local(&emu.endpoint_url(), 3).await;
        let policy =
            Policy::from_yaml_str(warden_core::shell::DEFAULT_POLICY, "default.yaml").unwrap();
        let config = SweepConfig {
            dry_run,
            expected_audit_stream: Some(STREAM.into()),
            ..SweepConfig::default()
        };
        let sweeper = Sweeper::new(policy, &clients, config)
            .unwrap()
            .with_notifier(notifier.clone());
        let now = emu.shared().clock.now();
        let mut outcome = sweeper
            .run(&SweepRequest::default(), now, Deadline::none())
            .await;
        let sent = sweeper
            .notify(
                &mut outcome,
                "req-sweep-1",
                Deadline::after(Duration::from_secs(30), Duration::ZERO),
            )
            .await
            .expect("a notifier is set");
        let done: Vec<String> = outcome
            .report
            .fleets
            .iter()
            .flat_map(|f| &f.actions)
            .filter(|a| a.outcome == "done")
            .map(|a| format!("{} done: ", a.action))
            .collect();
        let msgs = inbox.drain().await;
        if dry_run {
            assert!(done.is_empty());
            assert!(msgs.is_empty(), "dry-run announced: {msgs:#?}");
            assert_eq!(sent.sent, 0);
        } else {
            assert!(
                done.len() >= 2,
                "the demo sweep acts: {:#?}",
                outcome.report
            );
            assert_eq!(msgs.len(), done.len(), "{msgs:#?}");
            assert_eq!(sent.sent, done.len());
            assert_eq!(sent.failed, 0);
            assert_eq!(outcome.metrics.get("NotificationsSent"), done.len() as f64);
            for m in &msgs {
                let body = m["Message"].as_str().unwrap();
                assert!(
                    body.contains("by: fleet-sweep request req-sweep-1"),
                    "{body}"
                );
                assert!(done.iter().any(|d| body.starts_with(d.as_str())), "{body}");
            }
        }
        emu.shutdown().await;
    }
}
