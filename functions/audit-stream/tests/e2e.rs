//! End to end: moto's Kinesis stream `AmazonWorkLink-test` (2 shards) and an
//! SQS failure queue, the emulator with a fleet fixture, the real
//! `audit-stream` binary as a process under a local Lambda Runtime API, fed
//! by the local event-source mapping (the CLI's own code).
//!
//! 1,000 audit events that trigger every audit rule of the default policy,
//! plus 20 malformed records. First without faults: exactly the expected
//! SignOutUser and RevokeDomainAccess calls, each once, the malformed records
//! in the queue with their reasons, nothing else. Then again on a fresh
//! emulator with 20% throttling and 5% server errors: the same final state,
//! no record lost, no target called twice within one invocation.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use audit_stream::esm::BinaryFunction;
use audit_stream::{
    EsmConfig, EsmReport, FunctionError, Invoke, KinesisEventResponse, LocalEsm, MemorySink,
};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use common::scenario::{self, Scenario, FLEET};
use warden_core::aws::Clients;
use warden_emulator::log::CallRecord;
use warden_emulator::moto::MotoServer;
use warden_emulator::{Emulator, FaultRule, FaultsConfig, Fixture, RunningEmulator};

const STREAM: &str = "AmazonWorkLink-test";

/// A record as stored: (shard, sequence number) -> index in the scenario.
type Stored = BTreeMap<(String, String), usize>;

async fn put_all(k: &aws_sdk_kinesis::Client, s: &Scenario) -> Stored {
    let mut stored = Stored::new();
    let mut index = 0;
    for chunk in s.records.chunks(250) {
        let entries: Vec<_> = chunk
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .data(Blob::new(r.data.clone()))
                    .build()
                    .unwrap()
            })
            .collect();
        let out = k
            .put_records()
            .stream_name(STREAM)
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
        for r in out.records() {
            stored.insert(
                (
                    r.shard_id().unwrap().to_string(),
                    r.sequence_number().unwrap().to_string(),
                ),
                index,
            );
            index += 1;
        }
    }
    stored
}

/// The function, invoked one batch at a time, with the emulator calls each
/// invocation caused.
struct Recording<'a> {
    function: BinaryFunction,
    emu: &'a RunningEmulator,
    lock: tokio::sync::Mutex<()>,
    per_invocation: Mutex<Vec<Vec<CallRecord>>>,
}

impl Invoke for Recording<'_> {
    async fn invoke(
        &self,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<KinesisEventResponse, FunctionError> {
        let _one_at_a_time = self.lock.lock().await;
        let before = self.emu.shared().calls.len();
        let r = self.function.invoke(payload, timeout).await;
        let calls = self.emu.shared().calls.snapshot()[before..].to_vec();
        self.per_invocation.lock().unwrap().push(calls);
        r
    }
}

struct Outcome {
    report: EsmReport,
    per_invocation: Vec<Vec<CallRecord>>,
    messages: Vec<serde_json::Value>,
    state: BTreeMap<String, String>,
}

/// Device and domain statuses of the e2e fleet.
fn state(emu: &RunningEmulator) -> BTreeMap<String, String> {
    let wl = emu.shared().worklink();
    let f = wl.fleet(FLEET).unwrap();
    let mut out = BTreeMap::new();
    for d in &f.devices {
        out.insert(
            format!("user {}", d.username),
            d.status.as_str().to_string(),
        );
    }
    for d in &f.domains {
        out.insert(
            format!("domain {}", d.domain_name),
            d.status.as_str().to_string(),
        );
    }
    out
}

async fn run_once(
    moto: &MotoServer,
    clients: &Clients,
    s: &Scenario,
    faults: Option<FaultsConfig>,
    sdk_attempts: u32,
    queue: &str,
) -> Outcome {
    let mut fixture = Fixture::from_json(&s.fixture.to_string()).unwrap();
    fixture.faults = faults;
    let emu = Emulator::new(fixture).start_local().await.unwrap();
    let queue_url = clients
        .sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let vars: Vec<(String, String)> = [
        ("WARDEN_DRY_RUN", "false".to_string()),
        ("WARDEN_DEFAULT_FLEET_ARN", FLEET.to_string()),
        ("WARDEN_FAILURE_QUEUE_URL", queue_url.clone()),
        ("WARDEN_STATE_TABLE", "memory:".into()),
        ("WARDEN_CAPS", "sign-out-user=100,revoke-domain=10".into()),
        ("WARDEN_CONCURRENCY", "8".into()),
        ("AWS_MAX_ATTEMPTS", sdk_attempts.to_string()),
        ("AWS_ENDPOINT_URL", emu.endpoint_url()),
        ("AWS_ENDPOINT_URL_WORKLINK", emu.endpoint_url()),
        ("AWS_ENDPOINT_URL_SQS", moto.endpoint_url()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "AKIDLOCALTEST".into()),
        ("AWS_SECRET_ACCESS_KEY", "local-test-secret".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_PROFILE", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let function = BinaryFunction::start_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_audit-stream")),
        &vars,
        std::process::Stdio::null(),
    )
    .await
    .unwrap();
    let recording = Recording {
        function,
        emu: &emu,
        lock: tokio::sync::Mutex::new(()),
        per_invocation: Mutex::new(Vec::new()),
    };
    let mut config = EsmConfig::new(STREAM);
    // Far more than a batch needs here; a record given up would fail the
    // test (records_to_sink == 0), never hang it.
    config.max_retry_attempts = Some(50);
    config.retry_delay = Duration::from_millis(20);
    config.invoke_timeout = Duration::from_secs(60);
    let esm = LocalEsm::new(
        clients.kinesis.clone(),
        recording,
        MemorySink::new(),
        config,
    );
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let report = esm.run(rx).await.unwrap();
    let per_invocation = esm.invoker().per_invocation.lock().unwrap().clone();

    let mut messages = Vec::new();
    loop {
        let got = clients
            .sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            break;
        }
        for m in got.messages() {
            messages.push(serde_json::from_str(m.body().unwrap()).unwrap());
        }
    }
    let state = state(&emu);
    drop(esm);
    emu.shutdown().await;
    Outcome {
        report,
        per_invocation,
        messages,
        state,
    }
}

fn target(c: &CallRecord) -> String {
    c.params["Username"]
        .as_str()
        .or(c.params["DomainName"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The malformed records of the queue, by (shard, sequence), with their
/// reason codes; asserting each message's shape.
fn malformed_in_queue(messages: &[serde_json::Value]) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for m in messages {
        assert_eq!(m["requestContext"]["condition"], "MalformedRecord", "{m}");
        assert_eq!(m["KinesisBatchInfo"]["batchSize"], 1);
        assert!(m["KinesisBatchInfo"]["streamArn"]
            .as_str()
            .unwrap()
            .ends_with(":stream/AmazonWorkLink-test"));
        assert!(!m["reason"]["message"].as_str().unwrap().is_empty());
        let key = (
            m["KinesisBatchInfo"]["shardId"]
                .as_str()
                .unwrap()
                .to_string(),
            m["KinesisBatchInfo"]["startSequenceNumber"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        out.insert(key, m["reason"]["code"].as_str().unwrap().to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_end_to_end_then_again_under_faults() {
    let s = scenario::build();
    assert_eq!(s.events, 1000);
    let malformed_count = s.records.iter().filter(|r| r.malformed.is_some()).count();
    assert_eq!(malformed_count, 20);

    let moto = MotoServer::start().unwrap();
    let clients = common::clients(&moto.endpoint_url(), 3).await;
    clients
        .kinesis
        .create_stream()
        .stream_name(STREAM)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    let stored = put_all(&clients.kinesis, &s).await;
    assert_eq!(stored.len(), s.records.len());
    assert_eq!(
        stored
            .keys()
            .map(|(shard, _)| shard)
            .collect::<BTreeSet<_>>()
            .len(),
        2,
        "records on both shards"
    );
    let expected_malformed: BTreeMap<(String, String), String> = stored
        .iter()
        .filter_map(|(k, i)| s.records[*i].malformed.map(|c| (k.clone(), c.to_string())))
        .collect();
    let mut expected_calls: BTreeSet<(String, String)> = s
        .sign_outs
        .iter()
        .map(|u| ("SignOutUser".to_string(), u.clone()))
        .collect();
    expected_calls.extend(
        s.revokes
            .iter()
            .map(|d| ("RevokeDomainAccess".to_string(), d.clone())),
    );
    assert_eq!(expected_calls.len(), 18 + 2);

    // ---- 1. No faults.
    let clean = run_once(&moto, &clients, &s, None, 3, "warden-failures-clean").await;
    assert_eq!(clean.report.records_read(), s.records.len());
    assert_eq!(clean.report.records_processed(), s.records.len());
    assert_eq!(clean.report.records_to_sink(), 0);
    for shard in &clean.report.shards {
        assert_eq!(shard.partial_failures, 0, "{shard:?}");
        assert_eq!(shard.function_errors, 0, "{shard:?}");
    }
    let all: Vec<&CallRecord> = clean.per_invocation.iter().flatten().collect();
    let made: Vec<(String, String)> = all
        .iter()
        .map(|c| (c.operation.clone(), target(c)))
        .collect();
    assert_eq!(
        made.iter().cloned().collect::<BTreeSet<_>>(),
        expected_calls,
        "exactly the expected calls"
    );
    assert_eq!(
        made.len(),
        expected_calls.len(),
        "each exactly once: {made:?}"
    );
    for c in &all {
        assert_eq!(c.params["FleetArn"], FLEET);
        if s.not_found.contains(&target(c)) {
            assert_eq!(c.error.as_deref(), Some("ResourceNotFoundException"));
        } else {
            assert!(c.ok(), "{c:?}");
        }
    }
    assert_eq!(malformed_in_queue(&clean.messages), expected_malformed);
    assert_eq!(clean.messages.len(), 20, "nothing else in the queue");

    // The state: exactly the expected users signed out, domains revoked.
    for (key, status) in &clean.state {
        let (kind, name) = key.split_once(' ').unwrap();
        let acted = match kind {
            "user" => s.sign_outs.contains(name),
            _ => s.revokes.contains(name),
        };
        let want = match (kind, acted) {
            ("user", true) => "SIGNED_OUT",
            ("domain", true) => "INACTIVE",
            _ => "ACTIVE",
        };
        assert_eq!(status, want, "{key}");
    }

    // ---- 2. Again, fresh emulator, 20% throttling + 5% server errors. Two
    // SDK attempts per call (one retry with backoff), so some actions still
    // fail after the SDK's retries and their records are re-delivered.
    let faults = FaultsConfig {
        rules: vec![FaultRule {
            throttle_rate: 0.20,
            server_error_rate: 0.05,
            ..FaultRule::default()
        }],
        seed: 20_261_123,
    };
    let faulty = run_once(
        &moto,
        &clients,
        &s,
        Some(faults),
        2,
        "warden-failures-faults",
    )
    .await;
    let injected = faulty
        .per_invocation
        .iter()
        .flatten()
        .filter(|c| c.injected)
        .count();
    let partial: usize = faulty
        .report
        .shards
        .iter()
        .map(|s| s.partial_failures)
        .sum();
    eprintln!(
        "faults run: {} invocations, {} partial-batch failures (re-deliveries), {} injected errors",
        faulty.report.invocations(),
        partial,
        injected
    );
    assert!(injected > 0, "faults were injected");
    // No record lost: every record processed, none given up.
    assert_eq!(faulty.report.records_processed(), s.records.len());
    assert_eq!(faulty.report.records_to_sink(), 0);
    // The same final state.
    assert_eq!(faulty.state, clean.state);
    // Within one invocation, each target reached the service at most once
    // (injected errors are answered before the service acts; the SDK's
    // retries of them are expected).
    for (i, calls) in faulty.per_invocation.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for c in calls.iter().filter(|c| !c.injected) {
            if c.operation == "DescribeDomain" {
                continue; // the executor's "already INACTIVE?" check
            }
            assert!(
                seen.insert((c.operation.clone(), target(c))),
                "invocation {i}: {} {} twice",
                c.operation,
                target(c)
            );
        }
    }
    // Only the expected targets, and every one of them reached.
    let reached: BTreeSet<(String, String)> = faulty
        .per_invocation
        .iter()
        .flatten()
        .filter(|c| !c.injected && c.operation != "DescribeDomain")
        .map(|c| (c.operation.clone(), target(c)))
        .collect();
    assert_eq!(reached, expected_calls);
    // Every malformed record in the queue with its reason (a record
    // re-delivered after an earlier record's failure may be sent twice).
    assert_eq!(malformed_in_queue(&faulty.messages), expected_malformed);
    assert!(faulty.messages.len() >= 20);
}
