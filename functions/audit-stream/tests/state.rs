//! The processor with the DynamoDB state store on moto: thresholds counted
//! across invocations and the action ledger, through the real store.

use std::sync::Arc;
use std::time::Duration;

use audit_stream::StubRunner;
use audit_stream::{InvocationInfo, KinesisEvent, MemorySink, ProcessorConfig, StreamProcessor};
use base64::Engine as _;
use serde_json::json;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::{load_sdk_config, AwsSettings};
use warden_core::policy::Policy;
use warden_core::state::DynamoStateStore;
use warden_emulator::moto::MotoServer;

const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";

const POLICY: &str = r#"
rules:
  - name: brute-force
    on: audit-event
    where: { event_type: SignInFailed }
    threshold: count 6 within 2m by user
    actions: [sign-out-user]
"#;

/// Failed sign-ins of `user`, records `first..first + n` of one shard.
fn batch(first: usize, n: usize, user: &str) -> KinesisEvent {
    let records: Vec<serde_json::Value> = (first..first + n)
        .map(|i| {
            let seq = format!("{:056}", i + 1);
            let data = json!({"eventType": "SignInFailed", "userName": user,
                              "time": format!("2026-11-23T12:00:{i:02}Z")})
            .to_string();
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "pk",
                    "sequenceNumber": seq,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                    "approximateArrivalTimestamp": 1795433400.25
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/r",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-x"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

#[tokio::test]
async fn three_plus_three_failed_sign_ins_sign_out_once_on_dynamodb() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let settings = AwsSettings {
        max_attempts: 2,
        attempt_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(10),
        ..AwsSettings::local(moto.endpoint_url())
    };
    let store = DynamoStateStore::from_config(&load_sdk_config(&settings).await, "warden-state");
    assert!(store.create_table().await.expect("create table"));
    let store = Arc::new(store);
    let p = StreamProcessor::new(
        Arc::new(Policy::from_yaml_str(POLICY, "inline.yaml").unwrap()),
        StubRunner,
        MemorySink::new(),
        ProcessorConfig {
            default_fleet_arn: Some(FLEET.into()),
            dry_run: false,
            ..ProcessorConfig::default()
        },
    )
    .with_state(store.clone());
    let inv = InvocationInfo {
        request_id: "req-1",
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
        now: "2026-11-23T12:00:30Z".parse().unwrap(),
        deadline: Deadline::none(),
    };

    let r1 = p.process(batch(0, 3, "Alice"), &inv).await;
    assert!(r1.plan.actions.is_empty());
    assert!(r1.failure.is_none());
    let r2 = p.process(batch(3, 3, "alice "), &inv).await;
    assert_eq!(r2.executed.len(), 1, "one sign-out: {:?}", r2.plan.actions);
    assert!(r2.failure.is_none());

    // The second batch again: the firing is replayed, the ledger holds it.
    store.reset_stats();
    let r3 = p.process(batch(3, 3, "alice "), &inv).await;
    assert!(r3.executed.is_empty(), "{:?}", r3.plan.actions);
    assert!(r3.failure.is_none());
    let stats = store.stats();
    // No write call of any kind: the re-delivery only reads.
    for write in [
        "TransactWriteItems",
        "BatchWriteItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
    ] {
        assert_eq!(stats.calls.get(write), None, "{write}: {stats:?}");
    }
}
