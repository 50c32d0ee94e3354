//! fleet-sweep speed (issue #6): 10 fleets x 1,000 devices, 50 ms added to
//! every WorkLink call by the emulator. Prints, per concurrency setting, the
//! wall time, the calls by kind, and the requests actually in flight at
//! most. A benchmark, not a test: it asserts only that the sweep was
//! complete (every device examined, no failure), never a time.
//!
//! `cargo bench -p fleet-sweep --bench sweep` (set `SWEEP_BENCH_QUICK=1` to
//! run only the default setting).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_sweep::{SweepConfig, SweepRequest, Sweeper};
use serde_json::{json, Value};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::jiff::Timestamp;
use warden_core::Policy;
use warden_emulator::{Emulator, FaultRule, FaultsConfig, Fixture, Service, Shared};

const FLEETS: usize = 10;
const DEVICES_PER_FLEET: usize = 1_000;
const LATENCY_MS: u64 = 50;
const NOW: &str = "2026-11-23T12:00:00Z";
const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-warden-audit";
const POLICY: &str = include_str!("../../../policies/default.yaml");

fn fixture() -> Fixture {
    let fleets: Vec<Value> = (0..FLEETS)
        .map(|f| {
            let devices: Vec<Value> = (0..DEVICES_PER_FLEET)
                .map(|k| {
                    // Two outdated devices per fleet: 20 sign-outs, under the cap.
                    let version = if k % 500 == 7 { "15.7.2" } else { "17.5.1" };
                    json!({
                        "device_id": format!("dev-{f:02}-{k:04}"),
                        "username": format!("user{:04}@example.com", (f * 397 + k) % 3_000),
                        "status": if k % 10 == 0 { "SIGNED_OUT" } else { "ACTIVE" },
                        "manufacturer": "Apple",
                        "model": "iPhone15,2",
                        "operating_system": "iOS",
                        "operating_system_version": version,
                        "patch_level": "2026-11-01",
                        "first_accessed_time": "2025-01-01T00:00:00Z",
                        "last_accessed_time": "2026-11-22T00:00:00Z",
                    })
                })
                .collect();
            let domains: Vec<Value> = ["wiki", "hr", "mail", "jira", "git"]
                .iter()
                .map(|d| {
                    json!({
                        "domain_name": format!("{d}.corp.example.com"),
                        "status": "ACTIVE",
                        "acm_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/0f2d9c3e-1111-4a5b-8c6d-000000000001",
                        "created_time": "2025-01-01T00:00:00Z",
                    })
                })
                .collect();
            let mut fleet = json!({
                "arn": format!("arn:aws:worklink::123456789012:fleet/bench-{f:02}"),
                "name": format!("bench-{f:02}"),
                "company_code": format!("cc{f:02}"),
                "status": "ACTIVE",
                "created_time": "2025-01-01T00:00:00Z",
                "last_updated_time": "2025-01-01T00:00:00Z",
                "devices": devices,
                "domains": domains,
            });
            // Two fleets without the warden stream: two UpdateAuditStreamConfiguration.
            if f >= 2 {
                fleet["audit_stream_arn"] = json!(STREAM);
            }
            fleet
        })
        .collect();
    let doc = json!({ "clock": NOW, "worklink": { "fleets": fleets } });
    Fixture::from_json(&doc.to_string()).expect("bench fixture")
}

/// Serves the emulator behind a counter of requests in flight.
async fn start(latency_ms: u64) -> (Arc<Shared>, String, Arc<AtomicUsize>) {
    let emu = Emulator::new(fixture());
    let shared = emu.shared().clone();
    shared.faults.set(FaultsConfig {
        rules: vec![FaultRule {
            service: Some(Service::WorkLink),
            latency_ms,
            ..Default::default()
        }],
        seed: 1,
    });
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (fl, pk) = (in_flight.clone(), peak.clone());
    let app = emu.router().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let (fl, pk) = (fl.clone(), pk.clone());
            async move {
                let now = fl.fetch_add(1, Ordering::SeqCst) + 1;
                pk.fetch_max(now, Ordering::SeqCst);
                let resp = next.run(req).await;
                fl.fetch_sub(1, Ordering::SeqCst);
                resp
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (shared, url, peak)
}

async fn run(fleet_concurrency: usize, device_concurrency: usize) {
    let (shared, url, peak) = start(LATENCY_MS).await;
    let clients = Clients::new(&load_sdk_config(&AwsSettings::local(url)).await);
    let policy = Policy::from_yaml_str(POLICY, "policies/default.yaml").expect("policy");
    let config = SweepConfig {
        dry_run: false,
        fleet_concurrency,
        device_concurrency,
        expected_audit_stream: Some(STREAM.into()),
        ..SweepConfig::default()
    };
    let sweeper = Sweeper::new(policy, &clients, config).expect("sweeper");
    let now: Timestamp = NOW.parse().expect("now");
    let started = Instant::now();
    let out = sweeper
        .run(
            &SweepRequest::default(),
            now,
            Deadline::after(Duration::from_secs(900), Duration::from_millis(1500)),
        )
        .await;
    let wall = started.elapsed();
    let r = &out.report;
    assert_eq!(
        r.totals.devices_examined,
        FLEETS * DEVICES_PER_FLEET,
        "complete sweep"
    );
    assert_eq!(r.totals.failures, 0, "{}", r.render_text());

    let mut calls: BTreeMap<String, usize> = BTreeMap::new();
    for c in shared.calls.snapshot() {
        *calls.entry(c.operation).or_default() += 1;
    }
    let total: usize = calls.values().sum();
    println!(
        "fleet_concurrency={fleet_concurrency:>2} device_concurrency={device_concurrency:>3} (at most {:>3} DescribeDevice in flight): wall {:>6.2} s, {total} calls, peak in flight {}",
        fleet_concurrency * device_concurrency,
        wall.as_secs_f64(),
        peak.load(Ordering::SeqCst)
    );
    println!(
        "    calls: {}",
        calls
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "    result: {} devices, {} signed out, {} audit streams set, {} refusals",
        r.totals.devices_examined,
        r.totals.users_signed_out,
        r.totals.audit_streams_set,
        r.totals.refusals
    );
}

fn main() {
    // Lambda gives a 1,769 MB function one vCPU; two workers is generous.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "fleet-sweep bench: {FLEETS} fleets x {DEVICES_PER_FLEET} devices, {LATENCY_MS} ms per WorkLink call"
    );
    let serial = FLEETS * (DEVICES_PER_FLEET + DEVICES_PER_FLEET / 100 + 2) + 1;
    println!(
        "    one call at a time would take about {:.0} s ({serial} calls x {LATENCY_MS} ms)",
        serial as f64 * LATENCY_MS as f64 / 1000.0
    );
    let quick = std::env::var_os("SWEEP_BENCH_QUICK").is_some();
    let settings: &[(usize, usize)] = if quick {
        &[(4, 16)]
    } else {
        &[(4, 16), (10, 16), (10, 32), (10, 64)]
    };
    for &(f, d) in settings {
        rt.block_on(run(f, d));
    }
}
