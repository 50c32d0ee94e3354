//! Issue 11, "Done when", with the real `audit-stream` binary under the
//! local Lambda Runtime API: WorkLink on the emulator, the state table and
//! the failure queue on moto (DynamoDB, SQS). Each invocation is one batch
//! as Lambda would deliver it (records of two shards, re-deliveries).
//! Event times are the real clock's: the binary's `now` is.

mod common;

use std::io::Write as _;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use warden_core::jiff::{SignedDuration, Timestamp};
use warden_core::state::{DynamoStateStore, StateStore};
use warden_emulator::function::FunctionProcess;
use warden_emulator::moto::MotoServer;
use warden_emulator::RunningEmulator;

const TIMEOUT: Duration = Duration::from_secs(60);
const TABLE: &str = "warden-state";

/// One Kinesis record of `shard` with sequence number `seq`.
fn rec(shard: u32, seq: u64, data: &[u8]) -> Value {
    let seq = format!("{seq:056}");
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
        "eventID": format!("shardId-{shard:012}:{seq}"),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/r",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-warden"
    })
}

fn batch(records: Vec<Value>) -> Vec<u8> {
    json!({ "Records": records }).to_string().into_bytes()
}

fn failed(user: &str, at: Timestamp) -> Vec<u8> {
    json!({"eventType": "SignInFailed", "userName": user, "time": at.to_string()})
        .to_string()
        .into_bytes()
}

fn visit(host: &str, at: Timestamp) -> Vec<u8> {
    json!({"eventType": "VisitPage", "userName": "eve", "time": at.to_string(),
           "details": {"url": format!("https://{host}/export")}})
    .to_string()
    .into_bytes()
}

fn sign_in(user: &str, at: Timestamp) -> Vec<u8> {
    json!({"eventType": "SignIn", "userName": user, "time": at.to_string()})
        .to_string()
        .into_bytes()
}

struct Setup {
    moto: MotoServer,
    emu: RunningEmulator,
    store: DynamoStateStore,
    queue_url: String,
}

async fn setup() -> Setup {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let sdk = warden_core::aws::load_sdk_config(&warden_core::aws::AwsSettings::local(
        moto.endpoint_url(),
    ))
    .await;
    let store = DynamoStateStore::from_config(&sdk, TABLE);
    assert!(store.create_table().await.expect("create table"));
    let queue_url = clients(&moto.endpoint_url(), 2)
        .await
        .sqs
        .create_queue()
        .queue_name("warden-failures")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    Setup {
        emu: demo_emulator().await,
        moto,
        store,
        queue_url,
    }
}

fn env(s: &Setup, dynamodb: &str, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("WARDEN_DRY_RUN", "false".to_string()),
        ("WARDEN_DEFAULT_FLEET_ARN", CORP.into()),
        ("AWS_ENDPOINT_URL", s.emu.endpoint_url()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.into()),
        ("AWS_ENDPOINT_URL_SQS", s.moto.endpoint_url()),
        ("WARDEN_FAILURE_QUEUE_URL", s.queue_url.clone()),
        ("WARDEN_STATE_TABLE", TABLE.into()),
        ("WARDEN_MAX_ATTEMPTS", "2".into()),
    ];
    v.extend(extra.iter().cloned());
    v
}

async fn start(vars: &[(&'static str, String)]) -> FunctionProcess {
    start_function(vars)
        .await
        .unwrap_or_else(|(e, out)| panic!("not ready: {e}\n{}", out.join("\n")))
}

/// Invokes with `payload`; the partial-batch response's failed item ids.
async fn invoke(f: &FunctionProcess, payload: Vec<u8>) -> Vec<String> {
    let inv = f.api.invoke(payload, TIMEOUT).await.unwrap();
    let body = inv
        .json()
        .unwrap_or_else(|e| panic!("{e}\n{}", f.output().join("\n")));
    body["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("no batchItemFailures: {body}"))
        .iter()
        .map(|x| x["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

fn count(emu: &RunningEmulator, op: &str) -> Vec<String> {
    calls(emu)
        .into_iter()
        .filter(|(o, _)| o == op)
        .map(|(_, who)| who)
        .collect()
}

/// 3 + 3 failed sign-ins in two invocations sign the user out once (the
/// default policy: 5 within 10 minutes; `Bob` and `bob ` are one user); the
/// second batch delivered again acts on nothing; a new burst later acts
/// again. A 60-hit burst on one domain over 4 invocations on 2 shards
/// revokes it once, and the revocation is on record for fleet-sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_count_across_invocations_and_act_once_per_burst() {
    let s = setup().await;
    let f = start(&env(&s, &s.moto.endpoint_url(), &[])).await;
    let t0 = Timestamp::now() - SignedDuration::from_mins(30);
    let sec = |n: i64| t0 + SignedDuration::from_secs(n);

    let first: Vec<Value> = (0..3)
        .map(|i| rec(0, 100 + i, &failed("Bob", sec(i as i64 * 10))))
        .collect();
    assert!(invoke(&f, batch(first)).await.is_empty());
    assert!(
        count(&s.emu, "SignOutUser").is_empty(),
        "3 of 5: nothing yet"
    );
    let second: Vec<Value> = (3..6)
        .map(|i| rec(1, 200 + i, &failed("bob ", sec(i as i64 * 10))))
        .collect();
    assert!(invoke(&f, batch(second.clone())).await.is_empty());
    let outs = count(&s.emu, "SignOutUser");
    assert_eq!(outs.len(), 1, "one sign-out: {outs:?}");
    assert_eq!(outs[0].trim().to_lowercase(), "bob");

    // The same batch again (Lambda's retry): no second sign-out.
    assert!(invoke(&f, batch(second)).await.is_empty());
    assert_eq!(count(&s.emu, "SignOutUser").len(), 1);

    // A new burst 15 minutes later: acts again.
    let later: Vec<Value> = (0..5)
        .map(|i| rec(0, 300 + i, &failed("bob", sec(900 + i as i64 * 10))))
        .collect();
    assert!(invoke(&f, batch(later)).await.is_empty());
    assert_eq!(count(&s.emu, "SignOutUser").len(), 2, "a new burst acts");

    // 60 hits on wiki.example.com, 15 per invocation, alternating shards.
    assert_eq!(domain_status(&s.emu, "wiki.example.com"), "ACTIVE");
    for inv in 0..4u64 {
        let records: Vec<Value> = (0..15u64)
            .map(|i| {
                let n = inv * 15 + i;
                rec(
                    (n % 2) as u32,
                    1000 + n,
                    &visit("wiki.example.com", sec(1000 + n as i64 / 2)),
                )
            })
            .collect();
        assert!(invoke(&f, batch(records)).await.is_empty());
    }
    let revokes = count(&s.emu, "RevokeDomainAccess");
    assert_eq!(revokes, ["wiki.example.com"], "revoked once");
    assert_eq!(domain_status(&s.emu, "wiki.example.com"), "INACTIVE");
    let on_record = s
        .store
        .revocations(&[(CORP.into(), "wiki.example.com".into())])
        .await
        .unwrap();
    let r = on_record[0].as_ref().expect("the revocation is recorded");
    assert_eq!(r.rule, "domain-access-burst");
    assert_eq!(
        r.hold_until, None,
        "the default policy holds until released"
    );
}

/// A rule matching 40 users over 10 batches of 4, with a budget of 10
/// sign-outs per hour (WARDEN_BUDGETS over the policy's 50): exactly 10
/// sign-outs; the 30 others refused, each logged at error and counted in
/// the EMF metric the template's alarm watches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_holds_across_invocations() {
    let s = setup().await;
    let dir = std::env::temp_dir().join(format!("state-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("egress.yaml");
    std::fs::write(
        &policy,
        "budgets:\n  sign-out-user: { max: 50, per: 1h }\nrules:\n  - name: new-egress-range\n    on: audit-event\n    where: { event_type: SignIn }\n    actions: [sign-out-user]\n",
    )
    .unwrap();
    let f = start(&env(
        &s,
        &s.moto.endpoint_url(),
        &[
            ("WARDEN_POLICY_FILE", policy.display().to_string()),
            ("WARDEN_BUDGETS", "sign-out-user=10/1h".into()),
        ],
    ))
    .await;
    let now = Timestamp::now();
    for b in 0..10u64 {
        let records: Vec<Value> = (0..4u64)
            .map(|i| {
                rec(
                    0,
                    b * 4 + i + 1,
                    &sign_in(&format!("user{:02}", b * 4 + i), now),
                )
            })
            .collect();
        assert!(invoke(&f, batch(records)).await.is_empty());
    }
    assert_eq!(count(&s.emu, "SignOutUser").len(), 10);
    let refused_total = |ls: &[Value]| -> (usize, f64) {
        let logs = ls
            .iter()
            .filter(|l| {
                l["level"] == "ERROR" && l.to_string().contains("action refused: over the budget")
            })
            .count();
        let emf: f64 = ls
            .iter()
            .filter(|l| l.get("_aws").is_some() && l.get("Action").is_none())
            .filter_map(|l| l["BudgetRefused"].as_f64())
            .sum();
        (logs, emf)
    };
    let lines = f.json_lines_once(|ls| refused_total(ls).1 >= 30.0).await;
    assert_eq!(refused_total(&lines), (30, 30.0));
    std::fs::remove_dir_all(&dir).ok();
}

/// DynamoDB fully throttled, then unreachable: the records become batch
/// item failures (from the lowest threshold candidate), no action runs on
/// the unknown count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_or_unreachable_store_fails_the_records_and_acts_on_nothing() {
    let s = setup().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for endpoint in [warden_emulator::stub::dynamodb_throttling().await, closed] {
        let f = start(&env(&s, &endpoint, &[])).await;
        let now = Timestamp::now();
        let records: Vec<Value> = (0..6u64)
            .map(|i| {
                rec(
                    0,
                    500 + i,
                    &failed("bob", now - SignedDuration::from_secs(60 - i as i64)),
                )
            })
            .collect();
        let first_id = records[0]["kinesis"]["sequenceNumber"]
            .as_str()
            .unwrap()
            .to_string();
        let failures = invoke(&f, batch(records)).await;
        assert_eq!(failures, [first_id], "{endpoint}");
        assert!(count(&s.emu, "SignOutUser").is_empty(), "{endpoint}");
        let said = |ls: &[Value]| {
            ls.iter()
                .any(|l| l["level"] == "ERROR" && l.to_string().contains("state store failed"))
        };
        let lines = f.json_lines_once(said).await;
        assert!(said(&lines), "{endpoint}: {lines:?}");
    }
}

/// One 15 KB record: gzip of 5 million `{}` lines. It is malformed (too
/// many events), sent to the failure queue with its reason, and the
/// process's peak RSS stays far below the template's 256 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_millions_of_tiny_events_is_malformed_in_bounded_memory() {
    let s = setup().await;
    let f = start(&env(&s, &s.moto.endpoint_url(), &[])).await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let line = b"{}\n".repeat(100_000);
    for _ in 0..50 {
        gz.write_all(&line).unwrap();
    }
    let data = gz.finish().unwrap();
    println!("gzip record: {} bytes for 5,000,000 events", data.len());
    let failures = invoke(&f, batch(vec![rec(0, 1, &data)])).await;
    assert!(
        failures.is_empty(),
        "malformed goes to the queue, not retried"
    );
    let hwm_kb = std::fs::read_to_string(format!("/proc/{}/status", f.pid()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        });
    if let Some(kb) = hwm_kb {
        println!(
            "audit-stream peak RSS (VmHWM) after the record: {:.1} MiB",
            kb as f64 / 1024.0
        );
        assert!(
            kb < 256 * 1024,
            "peak RSS {kb} kB is above the template's 256 MB"
        );
    }
    let got = clients(&s.moto.endpoint_url(), 2)
        .await
        .sqs
        .receive_message()
        .queue_url(&s.queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<&str> = got.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("events"), "{}", bodies[0]);
}
