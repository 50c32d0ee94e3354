//! portal-sweep over 10 portals x 1,000 active sessions with 50 ms added to
//! every Secure Browser call (the emulator's latency injection): calls made
//! and wall time, printed (no assertion on time). Two policies: the shipped
//! default (its `client_ips` rule needs GetSession per session), and one
//! with only the age rule (ListSessions alone).
//!
//! `cargo bench -p portal-sweep --bench sweep` (WARDEN_BENCH_PORTALS,
//! WARDEN_BENCH_SESSIONS and WARDEN_BENCH_LATENCY_MS change the size).

use std::collections::BTreeMap;
use std::time::Instant;

use portal_sweep::{SweepConfig, SweepRequest, Sweeper};
use serde_json::json;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::Clients;
use warden_core::jiff::{SignedDuration, Timestamp};
use warden_core::Policy;
use warden_emulator::{Emulator, Fixture};

const NOW: &str = "2026-11-23T12:00:00Z";
const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-warden";
const AGE_ONLY: &str = r#"
version: 1
rules:
  - name: stale-sessions
    on: session
    where: { status: Active, age: { gt: 12h } }
    actions: [expire-sessions]
"#;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn portal_arn(p: usize) -> String {
    format!(
        "arn:aws:workspaces-web:us-east-1:123456789012:portal/{p:08x}-aaaa-4000-8000-000000000000"
    )
}

fn fixture(portals: usize, sessions: usize, latency_ms: u64) -> Fixture {
    let now: Timestamp = NOW.parse().unwrap();
    let settings = "arn:aws:workspaces-web:us-east-1:123456789012:userAccessLoggingSettings/00000001-bbbb-4000-8000-000000000000";
    let ip = "arn:aws:workspaces-web:us-east-1:123456789012:ipAccessSettings/00000001-bbbb-4000-8000-000000000000";
    let portals: Vec<_> = (0..portals)
        .map(|p| {
            let sessions: Vec<_> = (0..sessions)
                .map(|k| {
                    json!({
                        "session_id": format!("{p:08x}-cccc-4000-8000-{k:012x}"),
                        "username": format!("user{k:04}@example.com"),
                        "status": "Active",
                        "start_time": now - SignedDuration::from_mins(30 + (k % 600) as i64),
                        "client_ip_addresses": ["10.1.2.3"],
                    })
                })
                .collect();
            json!({
                "arn": portal_arn(p), "status": "Active", "display_name": format!("portal {p}"),
                "user_access_logging_settings_arn": settings, "ip_access_settings_arn": ip,
                "sessions": sessions,
            })
        })
        .collect();
    let doc = json!({
        "clock": NOW,
        "faults": {"rules": [{"service": "workspaces-web", "latency_ms": latency_ms}]},
        "workspaces_web": {
            "portals": portals,
            "user_access_logging_settings": [{"arn": settings, "kinesis_stream_arn": STREAM}],
            "ip_access_settings": [{"arn": ip, "ip_rules": [{"ip_range": "10.0.0.0/8"}]}],
        }
    });
    Fixture::from_json(&doc.to_string()).unwrap()
}

fn main() {
    let portals = env_usize("WARDEN_BENCH_PORTALS", 10);
    let sessions = env_usize("WARDEN_BENCH_SESSIONS", 1000);
    let latency = env_usize("WARDEN_BENCH_LATENCY_MS", 50) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "portal-sweep bench: {portals} portals x {sessions} active sessions, {latency} ms per call"
        );
        for (name, policy) in [
            ("default policy (client_ips: GetSession per session)", warden_core::shell::default_policy().unwrap()),
            ("age rule only (no GetSession)", Policy::from_yaml_str(AGE_ONLY, "age-only.yaml").unwrap()),
        ] {
            let emu = Emulator::new(fixture(portals, sessions, latency))
                .start_local()
                .await
                .unwrap();
            let clients = Clients::local(&emu.endpoint_url(), 5).await;
            let config = SweepConfig {
                dry_run: false,
                portal_arns: (0..portals).map(portal_arn).collect(),
                access_log_stream: Some(STREAM.into()),
                ..SweepConfig::default()
            };
            let c = config.clone();
            let sweeper = Sweeper::new(policy, &clients, config).unwrap();
            let started = Instant::now();
            let out = sweeper
                .run(&SweepRequest::default(), NOW.parse().unwrap(), Deadline::none())
                .await;
            let wall = started.elapsed();
            let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
            for call in emu.shared().calls.snapshot() {
                *by_op.entry(call.operation).or_default() += 1;
            }
            let total: usize = by_op.values().sum();
            let t = &out.report.totals;
            println!("- {name}");
            println!(
                "  portal_concurrency {} x session_concurrency {}; {} sessions examined, {} described, {} failures, {} actions",
                c.portal_concurrency, c.session_concurrency, t.sessions_examined, t.sessions_described,
                t.failures, t.users_expired + t.access_logging_set
            );
            println!("  calls: {total} {by_op:?}");
            println!(
                "  wall time: {:.2} s ({:.0} calls/s)",
                wall.as_secs_f64(),
                total as f64 / wall.as_secs_f64()
            );
            emu.shutdown().await;
        }
    });
}
