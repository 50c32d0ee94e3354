//! Evaluate 10,000 decoded ~400-byte audit events against a realistic
//! 50-rule policy. Prints events/second and heap allocations per event
//! (counted by a global allocator wrapper), then runs criterion.
//!
//! `cargo bench -p warden-core`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, Throughput};
use warden_core::jiff::Timestamp;
use warden_core::{AuditEvent, Context, Evaluation, MemoryStore, PlanOptions, Policy};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const EVENTS: usize = 10_000;

/// A 50-rule policy in the shape of the default one, scaled up: thresholds,
/// CIDR lists, globs, regexes, deny lists, time windows, raw paths.
fn policy_yaml() -> String {
    let mut y = String::from(
        "version: 1\ntimezone: Europe/Paris\nallow: { users: [\"breakglass-*\"] }\ncaps: { default: { max: 100000 } }\nrules:\n",
    );
    for i in 0..10 {
        y.push_str(&format!(
            "  - name: failed-sign-ins-{i}\n    on: audit-event\n    where:\n      event_type: {{ in: [SignInFailed, AuthenticationFailed] }}\n      user: {{ not-in: [svc-{i}, robot-{i}] }}\n    threshold: count {} within 10m by user\n    actions: [sign-out-user]\n",
            5 + i
        ));
    }
    for i in 0..10 {
        y.push_str(&format!(
            "  - name: sensitive-pages-{i}\n    on: audit-event\n    where:\n      event_type: VisitPage\n      host: {{ glob: [\"*.hr{i}.example.com\", \"payroll{i}.*\", \"*.finance{i}.example.com\"] }}\n      raw.details.title: {{ regex: \"(?i)(export|download|dump){i}\" }}\n    actions: [revoke-domain]\n"
        ));
    }
    for i in 0..10 {
        y.push_str(&format!(
            "  - name: outside-networks-{i}\n    on: audit-event\n    where:\n      event_type: {{ in: [SignIn, StartSession] }}\n      source_ip: {{ not-in-cidr: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 198.51.{i}.0/24, \"2001:db8::/32\"] }}\n      user: {{ glob: \"*@dept{i}.example.com\" }}\n    actions: [sign-out-user]\n"
        ));
    }
    // Deny lists: two that apply to every event (offboarded staff,
    // compromised accounts), and per-event-type rules on the rarer session
    // events a Secure Browser / WorkLink stream carries.
    for i in 0..2 {
        let names: Vec<String> = (0..100)
            .map(|j| format!("former{i}-{j}@example.com"))
            .collect();
        y.push_str(&format!(
            "  - name: deny-list-{i}\n    on: audit-event\n    where:\n      user: {{ in: [{}] }}\n    actions: [sign-out-user]\n",
            names.join(", ")
        ));
    }
    let rare = ["DownloadFile", "UploadFile", "PrintPage", "ClipboardCopy"];
    for i in 0..8 {
        y.push_str(&format!(
            "  - name: data-movement-{i}\n    on: audit-event\n    where:\n      event_type: {}\n      any:\n        - raw.details.bytes: {{ gt: {} }}\n        - raw.details.fileName: {{ glob: [\"*.kdbx\", \"*.pem\", \"*secret*\"] }}\n    actions: [sign-out-user]\n",
            rare[i % rare.len()],
            50_000_000 * (i + 1)
        ));
    }
    for i in 0..5 {
        y.push_str(&format!(
            "  - name: off-hours-{i}\n    on: audit-event\n    where:\n      event_type: VisitPage\n      time: {{ between: [\"22:00\", \"06:00\"] }}\n      host: {{ ends-with: .restricted{i}.example.com }}\n    actions: [revoke-domain]\n  - name: weekend-agents-{i}\n    on: audit-event\n    where:\n      event_type: {{ in: [SignIn, VisitPage] }}\n      time: {{ weekday: [sat, sun], tz: America/New_York }}\n      user_agent: {{ contains: headless{i}, ignore-case: true }}\n      raw.details.bytes: {{ gt: {} }}\n    actions: [sign-out-user]\n",
            1_000_000 * (i + 1)
        ));
    }
    y
}

/// ~400-byte records in the Secure Browser access-log shape plus the extra
/// fields a WorkLink record may carry.
fn events(policy: &Policy) -> Vec<AuditEvent> {
    let types = [
        "VisitPage",
        "VisitPage",
        "VisitPage",
        "VisitPage",
        "VisitPage",
        "VisitPage",
        "VisitPage",
        "VisitPage",
        "VisitPage",
        "VisitPage",
        "VisitPage",
        "SignIn",
        "SignIn",
        "StartSession",
        "EndSession",
        "SignInFailed",
        "SignInFailed",
        "DownloadFile",
        "UploadFile",
        "PrintPage",
    ];
    let hosts = [
        "wiki.corp.example.com",
        "mail.corp.example.com",
        "app.hr3.example.com",
        "payroll7.example.net",
        "intranet.example.com",
        "docs.finance1.example.com",
    ];
    let base: Timestamp = "2026-11-21T21:00:00Z".parse().expect("time");
    let mut out = Vec::with_capacity(EVENTS);
    let mut total = 0usize;
    for i in 0..EVENTS {
        let t = base.as_millisecond() + (i as i64) * 1_700;
        let user = format!("user{}@dept{}.example.com", i % 300, i % 12);
        let ip = if i % 7 == 0 {
            format!("203.0.113.{}", i % 250)
        } else {
            format!("10.{}.{}.{}", i % 200, i % 100, i % 250)
        };
        let json = format!(
            r#"{{"timestamp":"{t}","eventType":"{}","userName":"{user}","portalArn":"arn:aws:workspaces-web:us-east-1:123456789012:portal/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9","deviceId":"dev-{:08x}","sourceIp":"{ip}","userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/17.5","details":{{"title":"Quarterly report {i}","url":"https://{}/path/{i}?q=1","fileName":"report-{i}.xlsx","bytes":{}}}}}"#,
            types[i % types.len()],
            i * 2654435761 % 0xffff_ffff,
            hosts[i % hosts.len()],
            (i * 7919) % 5_000_000,
        );
        total += json.len();
        out.push(
            policy
                .decode_event(json.as_bytes(), format!("4959{i:052}"))
                .expect("decodes"),
        );
    }
    println!(
        "events: {EVENTS}, average record size {} bytes",
        total / EVENTS
    );
    out
}

fn main() {
    let yaml = policy_yaml();
    let policy = Policy::from_yaml_str(&yaml, "bench.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.rules.len(), 50);
    let events = events(&policy);
    let ctx = Context::new("2026-11-23T12:00:00Z".parse().expect("time"));
    let mut eval = Evaluation::new();

    // Warm up (and size the reusable match buffer).
    for _ in 0..20 {
        policy.evaluate_events_into(&events, &ctx, &mut MemoryStore::new(), &mut eval);
    }
    let matches = eval.matches.len();

    // Allocations during one evaluation of the batch (fresh threshold store,
    // as in one Lambda invocation).
    let before = ALLOCS.load(Ordering::Relaxed);
    policy.evaluate_events_into(&events, &ctx, &mut MemoryStore::new(), &mut eval);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;

    // Throughput, one core: many timed rounds; this VM shares its host, so
    // report the median and the best round (the least disturbed one).
    let rounds = 300;
    let mut per_round: Vec<f64> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        policy.evaluate_events_into(black_box(&events), &ctx, &mut MemoryStore::new(), &mut eval);
        black_box(&eval);
        per_round.push(start.elapsed().as_secs_f64());
    }
    per_round.sort_by(f64::total_cmp);
    let median = per_round[rounds / 2];
    let best = per_round[0];
    println!(
        "rules: {}, matches per batch: {matches}",
        policy.rules.len()
    );
    println!(
        "evaluate: median {:.0} events/s ({:.0} ns/event), best {:.0} events/s ({:.0} ns/event)",
        EVENTS as f64 / median,
        median * 1e9 / EVENTS as f64,
        EVENTS as f64 / best,
        best * 1e9 / EVENTS as f64,
    );
    println!(
        "allocations: {} per batch of {EVENTS} = {:.4} per event",
        allocs,
        allocs as f64 / EVENTS as f64
    );

    // Planning is not on the per-event path, but report it too.
    let before = ALLOCS.load(Ordering::Relaxed);
    let start = Instant::now();
    let plan = policy.plan_events(&eval, &events, &ctx, &PlanOptions::default());
    println!(
        "plan: {} actions, {} refusals in {:.2} ms, {} allocations",
        plan.actions.len(),
        plan.refusals.len(),
        start.elapsed().as_secs_f64() * 1e3,
        ALLOCS.load(Ordering::Relaxed) - before
    );

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("10k_events_50_rules", |b| {
        b.iter(|| {
            policy.evaluate_events_into(
                black_box(&events),
                &ctx,
                &mut MemoryStore::new(),
                &mut eval,
            );
        })
    });
    g.finish();
    c.final_summary();
}
