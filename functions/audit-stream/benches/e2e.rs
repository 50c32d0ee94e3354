//! audit-stream end to end against its floor (scripts/bench-stream.sh):
//! the RELEASE `audit-stream` binary and the release floor Lambda
//! (`stream-floor`: parses the event into `serde_json::Value` and every
//! record's base64-decoded data into `Value`, nothing else), each a real
//! process under its own local Lambda Runtime API, given the same generated
//! batch in turn (interleaved, so both see the same machine load), for
//! 100, 1,000 and 10,000 records. audit-stream runs the default policy,
//! dry-run, with `WARDEN_STATE_TABLE=memory:`.
//!
//! Printed per batch size: the median handler duration (event handed over
//! by `invocation/next` -> response posted) of each, their ratio, and the
//! peak resident memory (VmHWM) of each process, fresh processes per size.
//! Figures only; nothing is asserted about time.
//!
//! Environment: `WARDEN_STREAM_BIN`, `WARDEN_FLOOR_BIN` (the binaries;
//! default `target/release/...`), `WARDEN_BENCH_RUNS` (timed invocations
//! per size, default 15, after 3 warm-ups), `WARDEN_BENCH_SIZES` (default
//! `100,1000,10000`), `WARDEN_BASELINE_BIN` (optional: an older
//! audit-stream binary measured in the same run the same way, for before /
//! after figures), `WARDEN_BENCH_OUT` (optional: a directory where each
//! size's event is written as `kinesis-<n>.json` and the medians as
//! `medians.json`, for the Python peer, `benches/python_peer/run.py`).

#[path = "support/batch.rs"]
mod batch;

use std::path::PathBuf;
use std::time::Duration;

use warden_emulator::function::{FunctionProcess, Launch};

const WARMUP: usize = 3;

fn bin(var: &str, name: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/release")
            .join(name),
    }
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn vm_hwm_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn start(launch: &Launch) -> FunctionProcess {
    match FunctionProcess::start(launch, Duration::from_secs(60)).await {
        Ok(p) => p,
        Err((e, lines)) => panic!("cannot start the function: {e}\n{}", lines.join("\n")),
    }
}

struct Side {
    proc: FunctionProcess,
    idle_kib: u64,
    times: Vec<Duration>,
}

impl Side {
    async fn new(launch: &Launch) -> Side {
        let proc = start(launch).await;
        let idle_kib = vm_hwm_kib(proc.pid());
        Side {
            proc,
            idle_kib,
            times: Vec::new(),
        }
    }

    /// One invocation (the copy of the event is made before it is handed
    /// over, outside the measured time); returns the response's `batchItemFailures`.
    async fn invoke(&mut self, event: &[u8], keep: bool) -> serde_json::Value {
        let inv = self
            .proc
            .api
            .invoke(event.to_vec(), Duration::from_secs(300))
            .await
            .unwrap_or_else(|e| panic!("invoke: {e}\n{}", self.proc.output().join("\n")));
        if keep {
            self.times.push(inv.duration());
        }
        let body = inv.json().unwrap_or_else(|e| panic!("{e}"));
        body["batchItemFailures"].clone()
    }
}

/// audit-stream's environment: default policy, dry-run (actions planned
/// and logged, nothing called; every endpoint is a closed loopback port
/// anyway), the in-memory state store.
const STREAM_VARS: &[(&str, &str)] = &[
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ("WARDEN_DRY_RUN", "true"),
    ("WARDEN_DEFAULT_FLEET_ARN", batch::FLEET),
    (
        "WARDEN_FAILURE_QUEUE_URL",
        "http://127.0.0.1:9/123456789012/none",
    ),
    ("WARDEN_STATE_TABLE", "memory:"),
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("WARDEN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let sizes: Vec<usize> = std::env::var("WARDEN_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut bins = vec![
        ("floor", bin("WARDEN_FLOOR_BIN", "stream-floor")),
        ("audit-stream", bin("WARDEN_STREAM_BIN", "audit-stream")),
    ];
    if let Some(b) = std::env::var_os("WARDEN_BASELINE_BIN") {
        bins.push(("baseline", PathBuf::from(b)));
    }
    if bins.iter().any(|(_, b)| !b.exists())
        && std::env::var_os("WARDEN_STREAM_BIN").is_none()
        && std::env::var_os("WARDEN_FLOOR_BIN").is_none()
    {
        // A plain `cargo bench -p audit-stream`: the release binaries are
        // scripts/bench-stream.sh's to build.
        println!("e2e: skipped (no release binaries): run scripts/bench-stream.sh");
        return;
    }
    for (name, b) in &bins {
        assert!(
            b.exists(),
            "{name}: {} is missing: build it with `cargo build --release -p audit-stream \
             -p stream-floor` (scripts/bench-stream.sh does)",
            b.display()
        );
        println!("{name:>12}: {}", b.display());
    }
    // `WARDEN_BENCH_LOG_LEVEL=info`: audit-stream logs `batch processed`
    // with its stage times, and their medians are printed; logging costs
    // time, so the handler figures of such a run are not the ones to quote.
    let log_level = std::env::var("WARDEN_BENCH_LOG_LEVEL").unwrap_or_else(|_| "error".into());
    let launches: Vec<Launch> = bins
        .iter()
        .map(|(name, b)| match *name {
            "floor" => Launch::new(b, "stream-floor"),
            _ => Launch::new(b, "audit-stream")
                .vars(STREAM_VARS.iter().copied())
                .var("WARDEN_LOG_LEVEL", log_level.clone())
                .var("AWS_LAMBDA_LOG_LEVEL", log_level.clone()),
        })
        .collect();
    println!(
        "{runs} timed invocations per size after {WARMUP} warm-ups, interleaved; \
         handler duration = event handed over -> response posted; fresh processes per size"
    );
    let out_dir = std::env::var_os("WARDEN_BENCH_OUT").map(PathBuf::from);
    if let Some(d) = &out_dir {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    }
    let mut summary = serde_json::Map::new();
    let names: Vec<&str> = bins.iter().map(|(n, _)| *n).collect();
    print!("\n| records | event |");
    for n in &names {
        print!(" {n} median |");
    }
    for n in &names[1..] {
        print!(" {n} / floor |");
    }
    for n in &names {
        print!(" {n} peak RSS (x event) |");
    }
    println!();
    println!("|{}", "---:|".repeat(2 + names.len() * 2 + names.len() - 1));
    for &n in &sizes {
        let (event, avg) = batch::kinesis_event(n);
        let event_mib = event.len() as f64 / (1024.0 * 1024.0);
        if let Some(d) = &out_dir {
            let path = d.join(format!("kinesis-{n}.json"));
            std::fs::write(&path, &event).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        let mut sides = Vec::new();
        for l in &launches {
            sides.push(Side::new(l).await);
        }
        for i in 0..WARMUP + runs {
            let keep = i >= WARMUP;
            for (k, side) in sides.iter_mut().enumerate() {
                let failures = side.invoke(&event, keep).await;
                if k > 0 {
                    assert_eq!(
                        failures,
                        serde_json::json!([]),
                        "{} reported batch item failures",
                        names[k]
                    );
                }
            }
        }
        let medians: Vec<Duration> = sides.iter_mut().map(|s| median(&mut s.times)).collect();
        let peaks: Vec<u64> = sides.iter().map(|s| vm_hwm_kib(s.proc.pid())).collect();
        summary.insert(
            n.to_string(),
            names
                .iter()
                .zip(&medians)
                .map(|(k, m)| (k.to_string(), serde_json::json!(ms(*m))))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        );
        print!("| {n} | {event_mib:.2} MiB |");
        for m in &medians {
            print!(" {:.2} ms |", ms(*m));
        }
        for m in &medians[1..] {
            print!(" {:.2} |", m.as_secs_f64() / medians[0].as_secs_f64());
        }
        for p in &peaks {
            print!(" {:.1} MiB ({:.2}x) |", mib(*p), mib(*p) / event_mib);
        }
        println!();
        for (k, s) in sides.iter().enumerate() {
            let stages: Vec<serde_json::Value> = s
                .proc
                .stdout
                .lines()
                .iter()
                .filter(|l| l.contains("\"batch processed\""))
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if stages.len() > runs {
                let kept = &stages[stages.len() - runs..];
                let med = |key: &str| {
                    let mut v: Vec<u64> = kept.iter().filter_map(|j| j[key].as_u64()).collect();
                    v.sort_unstable();
                    v.get(v.len() / 2).copied().unwrap_or(0)
                };
                eprintln!(
                    "  {n} records: {}: stage medians (ms, whole): decode {}, evaluate+plan {}, execute {}",
                    names[k],
                    med("decode_ms"),
                    med("evaluate_plan_ms"),
                    med("execute_ms")
                );
            }
            // File-backed pages (the binary's code and data, shared and
            // clean) count in VmHWM too: peak - file-backed ~ the heap's peak.
            let file_kib = status_kib(s.proc.pid(), "RssFile:");
            eprintln!(
                "  {n} records ({avg} B of JSON each): {}: idle RSS {:.1} MiB, file-backed RSS {:.1} MiB \
                 (peak - file-backed {:.1} MiB), fastest {:.2} ms",
                names[k],
                mib(s.idle_kib),
                mib(file_kib),
                mib(vm_hwm_kib(s.proc.pid()).saturating_sub(file_kib)),
                ms(s.times[0])
            );
        }
    }
    if let Some(d) = &out_dir {
        let path = d.join("medians.json");
        let text = serde_json::to_string_pretty(&summary).expect("medians serialise");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
