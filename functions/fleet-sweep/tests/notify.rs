//! fleet-sweep's notifications (issue 14 item 7): the demo fixture swept
//! live with the default policy, announcing on moto's SNS topic read back
//! from a subscribed SQS queue: one message per action done, none in a
//! dry-run sweep.

use std::time::Duration;

use fleet_sweep::{SweepConfig, SweepRequest, Sweeper};
use serde_json::Value;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::notify::Notifier;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::Policy;
use warden_emulator::moto::MotoServer;
use warden_emulator::{Emulator, Fixture};

const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-warden-audit";

async fn topic(moto: &MotoServer) -> (Notifier, aws_sdk_sqs::Client, String) {
    let sdk = load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let arn = sns
        .create_topic()
        .name("sweep-actions")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let url = sqs
        .create_queue()
        .queue_name("sweep-inbox")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let qarn = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(qarn.clone())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&qarn]
        .clone();
    sns.subscribe()
        .topic_arn(&arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    (Notifier::new(sns, arn), sqs, url)
}

async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_sweep_announces_each_action_done_and_a_dry_run_nothing() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let (notifier, sqs, url) = topic(&moto).await;
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
        let msgs = drain(&sqs, &url).await;
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
