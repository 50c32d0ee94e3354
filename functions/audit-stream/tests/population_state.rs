//! audit-stream's `max-percent` population with a state store: the distinct
//! users noted in the state table in this hour and the last, so a cap that
//! the batch's own users would trip allows once earlier batches have shown
//! how many users there are. Without a user cap by percentage the store is
//! not asked.

use std::sync::Arc;

use audit_stream::{InvocationInfo, KinesisEvent, MemorySink, ProcessorConfig, StreamProcessor};
use audit_stream::{Planned, StubRunner};
use base64::Engine as _;
use serde_json::json;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::emf::Metrics;
use warden_core::plan::{Population, RefusalReason};
use warden_core::policy::Policy;
use warden_core::state::{MemoryStateStore, StateError};

const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";

fn batch(users: &[String], first_seq: usize) -> KinesisEvent {
    let records: Vec<serde_json::Value> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let seq = format!("{:056}", first_seq + i);
            let data = json!({"eventType": "SignIn", "userName": u}).to_string();
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

fn processor(
    policy: Policy,
    store: Arc<MemoryStateStore>,
) -> StreamProcessor<StubRunner, MemorySink> {
    StreamProcessor::new(
        Arc::new(policy),
        StubRunner,
        MemorySink::new(),
        ProcessorConfig {
            default_fleet_arn: Some(FLEET.into()),
            dry_run: false,
            ..ProcessorConfig::default()
        },
    )
    .with_state(store)
}

fn deny_policy(cap: &str) -> Policy {
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
    Policy::from_yaml_str(&yaml, "inline.yaml").unwrap()
}

fn inv() -> InvocationInfo<'static> {
    InvocationInfo {
        request_id: "req-1",
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
        now: "2026-11-23T12:00:00Z".parse().unwrap(),
        deadline: Deadline::none(),
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Plans one batch as `process` does with a store: population, then plan.
async fn plan(
    p: &StreamProcessor<StubRunner, MemorySink>,
    store: &MemoryStateStore,
    users: &[String],
    first_seq: usize,
) -> (Population, Planned) {
    let inv = inv();
    let mut metrics = Metrics::new("test");
    let d = p.decode(batch(users, first_seq), &inv, &mut metrics);
    let population = p.population(store, &d, inv.now, &mut metrics).await;
    let planned = p
        .plan_with_state(store, &d, inv.now, population, &mut metrics)
        .await;
    (population, planned)
}

fn cap_refusal(p: &Planned) -> Option<(usize, Option<usize>)> {
    p.plan.refusals.iter().find_map(|r| match r.reason {
        RefusalReason::CapExceeded {
            limit, population, ..
        } => Some((limit, population)),
        _ => None,
    })
}

#[tokio::test]
async fn earlier_batches_in_the_window_lift_a_percentage_cap_the_batch_alone_trips() {
    // 3 bad users among 20: 10 % of 20 is 2, so the batch alone refuses.
    let mut users = names("bad", 3);
    users.extend(names("ok", 17));
    let alone = Arc::new(MemoryStateStore::new());
    let p = processor(deny_policy("{ max-percent: 10 }"), alone.clone());
    let (population, planned) = plan(&p, &alone, &users, 1).await;
    assert_eq!(population.fleet_users, Some(20));
    assert!(planned.plan.actions.is_empty());
    assert_eq!(cap_refusal(&planned), Some((2, Some(20))));

    // Earlier batches (through `process`) saw 40 other users, " Other-1 "
    // and "other-1" being one: 60 users, 10 % is 6 >= 3.
    let store = Arc::new(MemoryStateStore::new());
    let p = processor(deny_policy("{ max-percent: 10 }"), store.clone());
    let mut earlier = names("other", 40);
    earlier.push(" OTHER-1 ".into());
    for (i, chunk) in earlier.chunks(10).enumerate() {
        p.process(batch(chunk, 1000 + 100 * i), &inv()).await;
    }
    let (population, planned) = plan(&p, &store, &users, 1).await;
    assert_eq!(population.fleet_users, Some(60));
    assert_eq!(population.portal_users, Some(60));
    assert_eq!(planned.plan.actions.len(), 3, "{:?}", planned.plan.refusals);
    assert_eq!(cap_refusal(&planned), None);
}

#[tokio::test]
async fn without_a_user_percentage_cap_the_store_is_not_asked() {
    let users = names("bad", 2);
    let default = Policy::from_yaml_str(
        include_str!("../../../policies/default.yaml"),
        "policies/default.yaml",
    )
    .unwrap();
    for policy in [default, deny_policy("{ max: 5 }")] {
        let store = Arc::new(MemoryStateStore::new());
        let p = processor(policy, store.clone());
        let inv = inv();
        let mut metrics = Metrics::new("test");
        let d = p.decode(batch(&users, 1), &inv, &mut metrics);
        let population = p
            .population(store.as_ref(), &d, inv.now, &mut metrics)
            .await;
        assert!(population.is_unknown());
        assert_eq!(store.calls(), 0);
    }
    // The same batch under a percentage cap notes its users: one call.
    let store = Arc::new(MemoryStateStore::new());
    let p = processor(deny_policy("{ max-percent: 10 }"), store.clone());
    let (population, _) = plan(&p, &store, &users, 1).await;
    assert_eq!(population.fleet_users, Some(2));
    assert_eq!(store.calls(), 1);
}

#[tokio::test]
async fn a_failing_store_leaves_the_population_unknown_and_the_batch_planned() {
    let mut users = names("bad", 2);
    users.extend(names("ok", 18));
    let store = Arc::new(MemoryStateStore::new());
    let p = processor(deny_policy("{ max-percent: 10 }"), store.clone());
    store.set_failure(Some(StateError::Throttled {
        store: "memory".into(),
        operation: "note_users".into(),
        message: "slow down".into(),
    }));
    let inv = inv();
    let mut metrics = Metrics::new("test");
    let d = p.decode(batch(&users, 1), &inv, &mut metrics);
    let population = p
        .population(store.as_ref(), &d, inv.now, &mut metrics)
        .await;
    assert!(population.is_unknown());
    store.set_failure(None);
    // The batch's own 20 users are the base: 2 allowed.
    let planned = p
        .plan_with_state(store.as_ref(), &d, inv.now, population, &mut metrics)
        .await;
    assert_eq!(planned.plan.actions.len(), 2);
}
