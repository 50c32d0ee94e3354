//! audit-stream benchmarks (`cargo bench -p audit-stream`); prints figures,
//! asserts nothing about time.
//!
//! 1. A 10,000-record Kinesis event (~480-byte JSON records, base64 as Lambda
//!    sends it: ~10 MB) through parse, decode, evaluate and plan with the
//!    actions stubbed, against a floor measured in the same run: serde_json
//!    parsing the event JSON into `Value` and every base64-decoded record
//!    into `Value`, nothing more.
//! 2. Peak resident memory (VmHWM) of the release `audit-stream` process
//!    serving that event under a local Lambda Runtime API (dry-run, so no
//!    calls leave the process).
//! 3. 40 distinct sign-outs with 50 ms injected latency per WorkLink call, at
//!    concurrency 8 (and 1, for contrast).
//! 4. The state store's cost per 100-record batch of the same stream with
//!    the default policy (issue 11): stateless (no store), the memory
//!    store, DynamoDB on moto with 10 ms injected before every call; store
//!    calls per batch and the end-to-end slowdown (`AUDIT_STREAM_BENCH=state`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_stream::{
    InvocationInfo, KinesisEvent, MemorySink, ProcessorConfig, StreamProcessor, StubRunner,
};
use base64::Engine as _;
use serde_json::{json, Value};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::executor::Executor;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::Policy;
use warden_emulator::{Emulator, FaultRule, FaultsConfig, Fixture};

#[path = "support/batch.rs"]
mod batch;

use batch::{record_json, Rng, FLEET};
const RECORDS: usize = 10_000;

/// The event JSON exactly as Lambda sends it.
fn big_event() -> (Vec<u8>, usize) {
    batch::kinesis_event(RECORDS)
}

/// The floor: the event into `Value`, every record's data base64-decoded and
/// parsed into `Value`.
fn floor(event: &[u8]) -> usize {
    let v: Value = serde_json::from_slice(event).unwrap();
    let mut n = 0;
    for r in v["Records"].as_array().unwrap() {
        let data = base64::engine::general_purpose::STANDARD
            .decode(r["kinesis"]["data"].as_str().unwrap())
            .unwrap();
        let rec: Value = serde_json::from_slice(&data).unwrap();
        n += rec.as_object().map_or(0, |o| o.len());
    }
    n
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // AUDIT_STREAM_BENCH=pipeline|rss|signouts runs one part only.
    let only = std::env::var("AUDIT_STREAM_BENCH").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only == name;
    let (event, avg_record) = big_event();
    println!(
        "event: {RECORDS} records, {avg_record} bytes of JSON each on average, {:.2} MB as Lambda sends it",
        event.len() as f64 / 1e6
    );

    // ---- 1. pipeline vs floor, interleaved in the same run.
    let policy = Arc::new(
        Policy::from_yaml_str(warden_core::shell::DEFAULT_POLICY, "policies/default.yaml").unwrap(),
    );
    let processor = StreamProcessor::new(
        policy,
        StubRunner,
        MemorySink::new(),
        ProcessorConfig {
            default_fleet_arn: Some(FLEET.into()),
            dry_run: false,
            ..ProcessorConfig::default()
        },
    );
    let inv = InvocationInfo {
        request_id: "bench",
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
        now: warden_core::jiff::Timestamp::now(),
        deadline: Deadline::none(),
    };
    let (mut floors, mut pipes, mut parses) = (Vec::new(), Vec::new(), Vec::new());
    let mut last_report = None;
    for i in 0..if part("pipeline") { 18 } else { 0 } {
        let t = Instant::now();
        std::hint::black_box(floor(std::hint::black_box(&event)));
        let f = t.elapsed();

        let t = Instant::now();
        let typed: KinesisEvent = serde_json::from_slice(std::hint::black_box(&event)).unwrap();
        let parsed = t.elapsed();
        let report = rt.block_on(processor.process(typed, &inv));
        let p = t.elapsed();
        if i >= 3 {
            floors.push(f);
            pipes.push(p);
            parses.push(parsed);
        }
        last_report = Some(report);
    }
    if let Some(report) = last_report {
        let (f, p, parse) = (median(&mut floors), median(&mut pipes), median(&mut parses));
        println!("\n1. parse + decode + evaluate + plan (actions stubbed), median of 15:");
        println!(
            "   floor (serde_json Value: event + every decoded record): {}",
            ms(f)
        );
        println!(
            "   pipeline: {} = typed event parse {} + decode/evaluate/plan {}",
            ms(p),
            ms(parse),
            ms(p - parse)
        );
        println!(
            "   ratio pipeline/floor: {:.2}x  (min: floor {}, pipeline {})",
            p.as_secs_f64() / f.as_secs_f64(),
            ms(floors[0]),
            ms(pipes[0])
        );
        println!(
            "   batch: {} events, {} matched, {} actions planned, {} refused, {} malformed",
            report.events,
            report.events_matched,
            report.plan.actions.len(),
            report.plan.refusals.len(),
            report.malformed.len()
        );
    }

    // ---- 2. Peak RSS of the release binary serving that event.
    if part("rss") {
        rt.block_on(async {
            let api = warden_emulator::runtime_api::start_local().await.unwrap();
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_audit-stream"))
                .env_clear()
                .env("AWS_LAMBDA_RUNTIME_API", api.address())
                .env("AWS_LAMBDA_FUNCTION_NAME", "audit-stream")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "AKIDLOCALTEST")
                .env("AWS_SECRET_ACCESS_KEY", "local-test-secret")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                // Dry-run: actions are logged, nothing is called; every endpoint
                // is a closed loopback port anyway.
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
                .env("WARDEN_DRY_RUN", "true")
                .env("WARDEN_DEFAULT_FLEET_ARN", FLEET)
                .env(
                    "WARDEN_FAILURE_QUEUE_URL",
                    "http://127.0.0.1:9/123456789012/none",
                )
                .env("WARDEN_STATE_TABLE", "memory:")
                .env("WARDEN_LOG_LEVEL", "error")
                .env(
                    "AWS_LAMBDA_LOG_LEVEL",
                    std::env::var("AUDIT_STREAM_LOG").unwrap_or("error".into()),
                )
                .stdout(if std::env::var("AUDIT_STREAM_LOG").is_ok() {
                    std::process::Stdio::inherit()
                } else {
                    std::process::Stdio::null()
                })
                .spawn()
                .unwrap();
            api.wait_ready(Duration::from_secs(30)).await.unwrap();
            let pid = child.id();
            let idle = vm_hwm_kib(pid).unwrap_or(0);
            let t = Instant::now();
            let inv = api
                .invoke(event.clone(), Duration::from_secs(120))
                .await
                .unwrap();
            let took = t.elapsed();
            let handler = inv.duration();
            let body = inv.json().unwrap();
            let peak = vm_hwm_kib(pid).unwrap_or(0);
            let _ = child.kill();
            let _ = child.wait();
            let event_mib = event.len() as f64 / (1024.0 * 1024.0);
            println!(
                "\n2. release binary under the local runtime API, {:.1} MiB event:",
                event_mib
            );
            println!("   VmHWM after cold start: {:.1} MiB", idle as f64 / 1024.0);
            println!(
                "   VmHWM after the batch:  {:.1} MiB = {:.2}x the event (budget 4x = {:.1} MiB)",
                peak as f64 / 1024.0,
                peak as f64 / 1024.0 / event_mib,
                4.0 * event_mib
            );
            println!(
                "   handler {} (invoke round trip {}), response batchItemFailures: {}",
                ms(handler),
                ms(took),
                body["batchItemFailures"]
            );
        });
    }

    // ---- 3. 40 sign-outs, 50 ms injected latency each.
    if part("signouts") {
        rt.block_on(async {
        let users: Vec<String> = (0..40).map(|i| format!("traveller-{i:02}")).collect();
        let fixture = json!({
            "worklink": { "fleets": [{
                "arn": FLEET, "name": "corp-mobile", "company_code": "benchfleet01",
                "status": "ACTIVE",
                "created_time": "2025-01-01T00:00:00Z", "last_updated_time": "2025-01-01T00:00:00Z",
                "devices": users.iter().enumerate().map(|(i, u)| json!({
                    "device_id": format!("dev-{i:02}"), "username": u, "status": "ACTIVE"
                })).collect::<Vec<_>>(),
            }]},
        });
        let mut fixture = Fixture::from_json(&fixture.to_string()).unwrap();
        fixture.faults = Some(FaultsConfig {
            rules: vec![FaultRule {
                latency_ms: 50,
                ..FaultRule::default()
            }],
            seed: 1,
        });
        let emu = Emulator::new(fixture).start_local().await.unwrap();
        let clients = Clients::new(&load_sdk_config(&AwsSettings::local(emu.endpoint_url())).await);
        // 40 events from outside the corporate networks: 40 sign-outs.
        let records: Vec<Value> = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let data = json!({"timestamp": "1795428000000", "eventType": "SignIn",
                    "userName": u, "sourceIp": format!("203.0.113.{}", i + 1)});
                json!({"kinesis": {"partitionKey": u, "sequenceNumber": format!("{}", 1000 + i),
                    "data": base64::engine::general_purpose::STANDARD.encode(data.to_string()),
                    "approximateArrivalTimestamp": 1795428000.0},
                    "eventID": format!("shardId-000000000000:{}", 1000 + i)})
            })
            .collect();
        let batch: KinesisEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
        println!("\n3. 40 distinct sign-outs, 50 ms injected latency per WorkLink call:");
        for concurrency in [8, 1] {
            emu.shared().calls.clear();
            let mut policy =
                Policy::from_yaml_str(warden_core::shell::DEFAULT_POLICY, "policies/default.yaml").unwrap();
            audit_stream::apply_caps(
                &mut policy,
                &[(
                    Some(warden_core::ActionKind::SignOutUser),
                    audit_stream::CapOverride::Max(100),
                )],
            );
            let processor = StreamProcessor::new(
                Arc::new(policy),
                Executor::new(&clients, concurrency),
                MemorySink::new(),
                ProcessorConfig {
                    default_fleet_arn: Some(FLEET.into()),
                    dry_run: false,
                    ..ProcessorConfig::default()
                },
            );
            let t = Instant::now();
            let report = processor.process(batch.clone(), &inv).await;
            let took = t.elapsed();
            let done = report.executed.iter().filter(|r| r.outcome.is_success()).count();
            assert_eq!(done, 40, "all 40 sign-outs done");
            let ideal = Duration::from_millis(40_u64.div_ceil(concurrency as u64) * 50);
            println!(
                "   concurrency {concurrency}: {} for the batch ({} calls; ceil(40/{concurrency}) x 50 ms = {})",
                ms(took),
                emu.shared().calls.len(),
                ms(ideal)
            );
        }
    });
    }

    // ---- 4. the state store per 100-record batch.
    if part("state") {
        rt.block_on(state_cost());
    }
}

/// `n` records from `first` on, as one Kinesis event.
fn small_event(first: usize, n: usize) -> KinesisEvent {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ first as u64);
    let records: Vec<Value> = (first..first + n)
        .map(|i| {
            let data = record_json(i, &mut rng);
            let seq = format!("4965432543420000000000000000000000000000000000{:010}", i);
            json!({
                "kinesis": {"partitionKey": format!("pk-{}", i % 97), "sequenceNumber": seq,
                    "data": base64::engine::general_purpose::STANDARD.encode(&data),
                    "approximateArrivalTimestamp": 1795428000.25},
                "eventID": format!("shardId-000000000000:{seq}"),
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

async fn state_cost() {
    use warden_core::state::{DynamoSettings, DynamoStateStore, MemoryStateStore, StateStore};
    const BATCHES: usize = 20;
    let policy = Arc::new(
        Policy::from_yaml_str(warden_core::shell::DEFAULT_POLICY, "policies/default.yaml").unwrap(),
    );
    let moto = match warden_emulator::moto::MotoServer::start() {
        Ok(m) => Some(m),
        Err(e) => {
            println!("\n4. DynamoDB part skipped: {e}");
            None
        }
    };
    let dynamo = match &moto {
        Some(m) => {
            let sdk = load_sdk_config(&AwsSettings::local(m.endpoint_url())).await;
            let store =
                DynamoStateStore::from_config(&sdk, "bench-state").with_settings(DynamoSettings {
                    call_latency: Some(Duration::from_millis(10)),
                    ..DynamoSettings::default()
                });
            store.create_table().await.unwrap();
            Some(Arc::new(store))
        }
        None => None,
    };
    println!(
        "\n4. {BATCHES} batches of 100 records (default policy, actions stubbed), mean per batch:"
    );
    let memory: Arc<dyn StateStore> = Arc::new(MemoryStateStore::new());
    let mut stores: Vec<(&str, Option<Arc<dyn StateStore>>)> = vec![
        ("stateless (no store)", None),
        ("memory store", Some(memory)),
    ];
    if let Some(d) = &dynamo {
        let d: Arc<dyn StateStore> = d.clone();
        stores.push(("DynamoDB (moto + 10 ms/call)", Some(d)));
    }
    let mut base = None;
    for (name, store) in stores {
        let mut p = StreamProcessor::new(
            policy.clone(),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig {
                default_fleet_arn: Some(FLEET.into()),
                dry_run: false,
                ..ProcessorConfig::default()
            },
        );
        if let Some(s) = store {
            p = p.with_state(s);
        }
        if let Some(d) = &dynamo {
            d.reset_stats();
        }
        let mut total = Duration::ZERO;
        let mut failures = 0;
        for b in 0..BATCHES {
            let event = small_event(b * 100, 100);
            // The batch's own time: windows live from their events' times.
            let inv = InvocationInfo {
                request_id: "bench",
                function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
                now: warden_core::jiff::Timestamp::from_millisecond(
                    1_795_428_000_000 + (b as i64 + 1) * 100 * 250,
                )
                .unwrap(),
                deadline: Deadline::none(),
            };
            let t = Instant::now();
            let r = p.process(event, &inv).await;
            total += t.elapsed();
            failures += usize::from(r.failure.is_some());
        }
        let mean = total / BATCHES as u32;
        let slowdown = base.map_or(String::new(), |b: Duration| {
            format!(
                ", {:.1}x the stateless path",
                mean.as_secs_f64() / b.as_secs_f64()
            )
        });
        base.get_or_insert(mean);
        println!(
            "   {name:<30} {}{slowdown} ({failures} batches failed)",
            ms(mean)
        );
        if name.starts_with("DynamoDB") {
            if let Some(d) = &dynamo {
                let st = d.stats();
                let calls: u64 = st.calls.values().sum();
                println!(
                    "      store calls per batch: {:.1} ({:?}); WRU {:.1}, RRU {:.1} per batch",
                    calls as f64 / BATCHES as f64,
                    st.calls,
                    st.write_units as f64 / BATCHES as f64,
                    st.read_units / BATCHES as f64,
                );
            }
        }
    }
}
