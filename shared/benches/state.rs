//! What the state store costs per 100-record Kinesis batch, against moto's
//! DynamoDB on loopback with 10 ms added before every call (a same-region
//! DynamoDB round trip): calls, wall time, billed request units, and bytes
//! stored per active key. Prints figures; asserts nothing about time.
//!
//! `cargo bench -p warden-core --features aws --bench state`
//! (needs moto: `scripts/tools.sh`, or WARDEN_TOOLS_BIN).

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use warden_core::aws::{load_sdk_config, AwsSettings};
use warden_core::state::{
    item_bytes, BudgetRequest, DynamoSettings, DynamoStateStore, EventId, Hit, LedgerEntry,
    LedgerKey, StateStore, ThresholdSpec, WindowHits, WindowKey,
};
use warden_emulator::moto::MotoServer;

const LATENCY: Duration = Duration::from_millis(10);

/// One batch of 100 hits spread over `keys` keys of one rule.
fn batch(
    rule: &str,
    keys: usize,
    spec: ThresholdSpec,
    base: u64,
    t0: Timestamp,
) -> Vec<WindowHits> {
    let mut out: Vec<WindowHits> = (0..keys)
        .map(|k| WindowHits {
            window: WindowKey {
                rule: rule.into(),
                key: format!("user-{k:05}@corp.example.com"),
            },
            spec,
            hits: Vec::new(),
        })
        .collect();
    for i in 0..100u64 {
        let seq = base + i;
        out[(i as usize) % keys].hits.push(Hit {
            id: EventId::new("shardId-000000000003", format!("{seq:056}"), 0),
            at: t0 + SignedDuration::from_millis(i as i64 * 10),
        });
    }
    out
}

struct Row {
    what: String,
    calls: u64,
    wall: Duration,
    wcu: u64,
    rcu: f64,
}

async fn measure<F, Fut>(store: &DynamoStateStore, what: String, f: F) -> Row
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    store.reset_stats();
    let start = Instant::now();
    f().await;
    let wall = start.elapsed();
    let st = store.stats();
    Row {
        what,
        calls: st.total_calls(),
        wall,
        wcu: st.write_units,
        rcu: st.read_units,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let moto = match MotoServer::start() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("state bench skipped: {e}");
            return;
        }
    };
    let config = load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await;
    let settings = |latency| DynamoSettings {
        call_latency: latency,
        ..DynamoSettings::default()
    };
    let store = DynamoStateStore::from_config(&config, "bench-state").with_settings(settings(None));
    store.create_table().await.expect("create the table");
    let store = store.with_settings(settings(Some(LATENCY)));

    let t0: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
    let brute = ThresholdSpec {
        count: 6,
        within: SignedDuration::from_mins(2),
    };
    let burst = ThresholdSpec {
        count: 60,
        within: SignedDuration::from_mins(5),
    };
    let mut rows = Vec::new();
    let mut base = 1u64;
    for (rule, spec) in [("brute", brute), ("burst", burst)] {
        for keys in [1usize, 10, 25, 100] {
            for round in ["first", "next"] {
                let b = batch(&format!("{rule}-{keys}"), keys, spec, base, t0);
                base += 100;
                let now = t0 + SignedDuration::from_secs(1);
                rows.push(
                    measure(
                        &store,
                        format!(
                            "record_hits: 100 hits, {keys:>3} key(s), count {} ({round} batch)",
                            spec.count
                        ),
                        || async {
                            store.record_hits(&b, now).await.expect("record hits");
                        },
                    )
                    .await,
                );
            }
        }
    }
    let budgets = [
        BudgetRequest {
            kind: "sign-out-user".into(),
            want: 3,
            max: 50,
            per: SignedDuration::from_hours(1),
        },
        BudgetRequest {
            kind: "revoke-domain".into(),
            want: 1,
            max: 2,
            per: SignedDuration::from_hours(1),
        },
    ];
    rows.push(
        measure(&store, "take_budget: 2 kinds".into(), || async {
            store.take_budget(&budgets, t0).await.expect("budget");
        })
        .await,
    );
    let keys: Vec<LedgerKey> = (0..5)
        .map(|i| LedgerKey {
            kind: "sign-out-user".into(),
            target: format!("arn:aws:worklink::123456789012:fleet/corp/user-{i}"),
            cause: format!("brute/user-{i}/shardId-000000000003:{:056}#0", i),
        })
        .collect();
    rows.push(
        measure(&store, "ledger_contains: 5 actions".into(), || async {
            store.ledger_contains(&keys, t0).await.expect("ledger");
        })
        .await,
    );
    let entries: Vec<LedgerEntry> = keys
        .iter()
        .map(|k| LedgerEntry {
            key: k.clone(),
            rule: "brute".into(),
            at: t0,
            keep: SignedDuration::from_hours(48),
            dry_run: false,
        })
        .collect();
    rows.push(
        measure(&store, "ledger_record: 5 actions".into(), || async {
            store.ledger_record(&entries).await.expect("ledger");
        })
        .await,
    );

    println!(
        "state store per call, moto on loopback + {} ms injected before each DynamoDB call",
        LATENCY.as_millis()
    );
    println!(
        "{:<66} {:>5} {:>9} {:>5} {:>5}",
        "what", "calls", "wall ms", "WRU", "RRU"
    );
    for r in &rows {
        println!(
            "{:<66} {:>5} {:>9.1} {:>5} {:>5.1}",
            r.what,
            r.calls,
            r.wall.as_secs_f64() * 1e3,
            r.wcu,
            r.rcu
        );
    }

    // Bytes per active key: the window items as stored.
    let client = aws_sdk_dynamodb::Client::new(&config);
    let scan = client
        .scan()
        .table_name("bench-state")
        .send()
        .await
        .expect("scan");
    let mut sizes: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for item in scan.items() {
        let pk = item
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let kind = match pk.split('#').nth(1) {
            Some(rule) if pk.starts_with("w#") => format!("window {rule}"),
            _ => pk.split('#').next().unwrap_or("?").to_string(),
        };
        sizes.entry(kind).or_default().push(item_bytes(item));
    }
    println!("\nbytes stored per item (DynamoDB item size), after the batches above");
    println!(
        "{:<24} {:>6} {:>8} {:>8}",
        "item", "items", "mean B", "max B"
    );
    for (kind, v) in sizes {
        let mean = v.iter().sum::<usize>() as f64 / v.len() as f64;
        let max = v.iter().max().copied().unwrap_or(0);
        println!("{kind:<24} {:>6} {mean:>8.0} {max:>8}", v.len());
    }
}
