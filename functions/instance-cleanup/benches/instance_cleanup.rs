//! Benchmark (not a timed test): 10,000 instances of which 200 errored, 50 ms
//! of injected latency on every WorkSpaces Instances call. Prints, for the
//! marking run, the deleting run (after the grace period) and a steady-state
//! run, the calls by operation and the wall time.
//!
//! `cargo bench -p instance-cleanup --bench instance_cleanup`
//! (`WARDEN_BENCH_CONCURRENCY=32` to try another concurrency).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use instance_cleanup::{Cleaner, CleanupConfig, MemoryMarkStore, Overrides, Report};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::emf::Metrics;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::jiff::{SignedDuration, Timestamp};
use warden_core::policy::{ActionKind, Cap};
use warden_core::Policy;
use warden_emulator::wsi::{Instance, ProvisionState, State};
use warden_emulator::{Emulator, FaultRule, FaultsConfig, Fixture, RunningEmulator};

const FLEET: usize = 10_000;
const ERRORED_EVERY: usize = 50; // 200 of 10,000
const LATENCY_MS: u64 = 50;

fn fleet(t0: Timestamp) -> State {
    let mut st = State::default();
    for n in 1..=FLEET {
        let id = format!("wsinst-{n:017x}");
        let inst = if n % ERRORED_EVERY == 0 {
            let state = if n % 100 == 0 {
                ProvisionState::ErrorAllocating
            } else {
                ProvisionState::ErrorDeallocating
            };
            Instance::new(&id, state, t0).with_workspace_error("EC2_LAUNCH_FAILED", "failed")
        } else {
            Instance::new(&id, ProvisionState::Allocated, t0)
                .with_ec2_instance_id(format!("i-{n:017x}"))
                .with_tag("team", "bench")
        };
        st.instances.insert(id, inst);
    }
    st
}

fn policy() -> Policy {
    let mut p = Policy::from_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/default.yaml"
    )))
    .expect("policies/default.yaml");
    // Absolute caps that let the 200 through (the default policy's caps
    // would refuse them: that is what caps are for, not what is measured).
    for kind in [
        ActionKind::MarkForCleanup,
        ActionKind::DeleteInstance,
        ActionKind::UntagInstance,
    ] {
        p.settings.caps.insert(
            kind,
            Cap {
                max: Some(1000),
                max_percent: None,
                min_population: None,
            },
        );
    }
    p
}

async fn pass(
    name: &str,
    emu: &RunningEmulator,
    c: &Cleaner<MemoryMarkStore>,
    now: Timestamp,
) -> Report {
    emu.shared().calls.clear();
    let started = Instant::now();
    let report = c
        .run(
            now,
            &Overrides::default(),
            Deadline::none(),
            &mut Metrics::new("bench"),
        )
        .await
        .expect("cleanup run");
    let wall = started.elapsed();
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for call in emu.shared().calls.snapshot() {
        *by_op.entry(call.operation).or_default() += 1;
    }
    let total: usize = by_op.values().sum();
    println!(
        "{name}: wall {:.3} s, {total} calls ({})",
        wall.as_secs_f64(),
        by_op
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  report: {}", report.summary().replace('\n', "\n  "));
    println!("  phases (ms): {:?}", report.timings_ms);
    report
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let t0: Timestamp = "2026-11-23T12:00:00Z".parse().expect("t0");
    let concurrency: usize = std::env::var("WARDEN_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(instance_cleanup::DEFAULT_CONCURRENCY);
    let emu = Emulator::new(Fixture {
        clock: Some(t0),
        workspaces_instances: fleet(t0),
        ..Default::default()
    })
    .start_local()
    .await
    .expect("emulator");
    emu.shared().faults.set(FaultsConfig {
        rules: vec![FaultRule {
            latency_ms: LATENCY_MS,
            ..Default::default()
        }],
        seed: 1,
    });
    let mut settings = AwsSettings::local(emu.endpoint_url());
    settings.attempt_timeout = Duration::from_secs(10);
    let clients = Clients::new(&load_sdk_config(&settings).await);
    let c = Cleaner::new(
        policy(),
        &clients,
        MemoryMarkStore::new(),
        CleanupConfig {
            dry_run: false,
            concurrency,
            ..CleanupConfig::default()
        },
    );
    println!(
        "instance-cleanup bench: {FLEET} instances, {} errored, {LATENCY_MS} ms per call, concurrency {concurrency}",
        FLEET / ERRORED_EVERY
    );
    let r1 = pass("run 1 (mark)", &emu, &c, t0).await;
    assert_eq!(r1.marked.count, FLEET / ERRORED_EVERY);
    let now2 = emu
        .shared()
        .clock
        .advance(SignedDuration::from_hours(25))
        .expect("advance");
    let r2 = pass("run 2 (delete)", &emu, &c, now2).await;
    assert_eq!(r2.deleted.count, FLEET / ERRORED_EVERY);
    let now3 = emu
        .shared()
        .clock
        .advance(SignedDuration::from_hours(1))
        .expect("advance");
    pass("run 3 (steady state)", &emu, &c, now3).await;
}
