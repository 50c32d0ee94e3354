//! The population of audit-stream's `max-percent` caps without a state store: the batch's
//! distinct users (`population_state.rs`: with one), with the policy's
//! `min-population` floor.

use std::sync::Arc;

use audit_stream::{InvocationInfo, KinesisEvent, MemorySink, ProcessorConfig, StreamProcessor};
use audit_stream::{Planned, StubRunner};
use base64::Engine as _;
use serde_json::json;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::emf::Metrics;
use warden_core::plan::RefusalReason;
use warden_core::policy::Policy;

const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";

fn batch(data: &[Vec<u8>]) -> KinesisEvent {
    let records: Vec<serde_json::Value> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let seq = format!("{:056}", i + 1);
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "pk",
                    "sequenceNumber": seq,
                    "data": base64::engine::general_purpose::STANDARD.encode(d),
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

/// `bad` users on the deny list and `ok` others, one event each.
fn plan(cap: &str, bad: usize, ok: usize) -> Planned {
    let yaml = format!(
        r#"
caps: {{ sign-out-user: {cap} }}
rules:
  - name: deny
    on: audit-event
    where: {{ user: {{ glob: "bad-*" }} }}
    actions: [sign-out-user]
"#
    );
    let policy = Policy::from_yaml_str(&yaml, "inline.yaml").unwrap();
    let p = StreamProcessor::new(
        Arc::new(policy),
        StubRunner,
        MemorySink::new(),
        ProcessorConfig {
            default_fleet_arn: Some(FLEET.into()),
            dry_run: false,
            ..ProcessorConfig::default()
        },
    );
    let data: Vec<Vec<u8>> = (0..bad)
        .map(|i| format!("bad-{i}"))
        .chain((0..ok).map(|i| format!("ok-{i}")))
        .map(|u| {
            json!({"eventType": "SignIn", "userName": u})
                .to_string()
                .into_bytes()
        })
        .collect();
    let inv = InvocationInfo {
        request_id: "req-1",
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
        now: "2026-11-23T12:00:00Z".parse().unwrap(),
        deadline: Deadline::none(),
    };
    let mut metrics = Metrics::new("test");
    let d = p.decode(batch(&data), &inv, &mut metrics);
    p.plan(&d, inv.now, &mut metrics)
}

fn cap_refusal(p: &Planned) -> Option<(usize, usize, Option<usize>, bool)> {
    p.plan.refusals.iter().find_map(|r| match r.reason {
        RefusalReason::CapExceeded {
            limit,
            examined,
            population,
            percent_applied,
            ..
        } => Some((limit, examined, population, percent_applied)),
        _ => None,
    })
}

#[test]
fn the_percentage_is_of_the_batch_distinct_users() {
    // 2 of 20 users in the batch: 10 % allowed; 3 of 20 refused.
    let p = plan("{ max: 100, max-percent: 10 }", 2, 18);
    assert_eq!(p.plan.actions.len(), 2);
    let p = plan("{ max: 100, max-percent: 10 }", 3, 17);
    assert!(p.plan.actions.is_empty());
    assert_eq!(cap_refusal(&p), Some((2, 20, None, true)));
}

#[test]
fn a_small_batch_under_min_population_uses_the_absolute_cap() {
    // 3 of 6 users: 10 % of 6 is 0, but 6 is under the default floor (20):
    // only `max: 3` applies.
    let p = plan("{ max: 3, max-percent: 10 }", 3, 3);
    assert_eq!(p.plan.actions.len(), 3);
    let p = plan("{ max: 3, max-percent: 10 }", 4, 2);
    assert_eq!(cap_refusal(&p), Some((3, 6, None, false)));
    // With the floor at 0 the percentage applies to the 6 users.
    let p = plan("{ max: 3, max-percent: 10, min-population: 0 }", 3, 3);
    assert_eq!(cap_refusal(&p), Some((0, 6, None, true)));
}
