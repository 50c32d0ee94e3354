//! portal-sweep's notifications (issue 14 item 7): the demo's Secure
//! Browser fixture swept live with the default policy, announcing on moto's
//! SNS topic read back from a subscribed SQS queue: one message per action
//! done (sessions expired, logging attached), none in a dry-run sweep.

use std::time::Duration;

use portal_sweep::{SweepConfig, SweepRequest, Sweeper};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::notify::Notifier;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::Policy;
use warden_emulator::moto::{MotoServer, TopicInbox};
use warden_emulator::{Emulator, Fixture};

const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-warden";

/// The topic the sweep announces on, and its inbox.
async fn topic(moto: &MotoServer) -> (Notifier, TopicInbox) {
    let sdk = load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await;
    let inbox = TopicInbox::create(&sdk, "portal-actions").await;
    (Notifier::new(inbox.sns.clone(), &inbox.arn), inbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_portal_sweep_announces_each_action_done_and_a_dry_run_nothing() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let (notifier, inbox) = topic(&moto).await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/emulator/demo-secure-browser.json"
    ))
    .unwrap();
    for dry_run in [false, true] {
        let fixture = Fixture::from_json(&text).unwrap();
        let portals: Vec<String> = fixture
            .workspaces_web
            .portals
            .iter()
            .map(|p| p.arn.clone())
            .collect();
        let emu = Emulator::new(fixture).start_local().await.unwrap();
        let clients = Clients::local(&emu.endpoint_url(), 3).await;
        let policy =
            Policy::from_yaml_str(warden_core::shell::DEFAULT_POLICY, "default.yaml").unwrap();
        let config = SweepConfig {
            dry_run,
            portal_arns: portals,
            access_log_stream: Some(STREAM.into()),
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
                "req-portal-1",
                Deadline::after(Duration::from_secs(30), Duration::ZERO),
            )
            .await
            .expect("a notifier is set");
        let done: Vec<String> = outcome
            .report
            .portals
            .iter()
            .flat_map(|p| &p.actions)
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
                done.iter().any(|d| d.starts_with("expire-sessions")),
                "the demo sweep expires sessions: {:#?}",
                outcome.report
            );
            assert_eq!(msgs.len(), done.len(), "{msgs:#?}");
            assert_eq!(sent.sent, done.len());
            assert_eq!(sent.failed, 0);
            for m in &msgs {
                let body = m["Message"].as_str().unwrap();
                assert!(
                    body.contains("by: portal-sweep request req-portal-1"),
                    "{body}"
                );
                assert!(done.iter().any(|d| body.starts_with(d.as_str())), "{body}");
            }
        }
        emu.shutdown().await;
    }
}
