//! Packaging and cold start of the three Lambda functions (a benchmark: it
//! prints figures and asserts no timing).
//!
//! For each function binary (the `sam build` artifacts under
//! `$WARDEN_BOOTSTRAP_DIR`, as scripts/bench-coldstart.sh sets it; else debug
//! builds, which say little about cold start):
//!
//! * its size;
//! * cold start, `WARDEN_BENCH_RUNS` times (default 10): a fresh process with
//!   exactly the template's environment (as tests/template.rs builds it) under
//!   the local Lambda runtime API; initialisation = process start to its first
//!   `invocation/next` (configuration, policy compile, SDK clients); then the
//!   first invocation's duration (a scheduled event for the schedule
//!   functions, `events/kinesis-audit-batch.json` for audit-stream), served by
//!   the emulator (WorkLink, WorkSpaces Instances) and moto (DynamoDB, SQS);
//! * network calls during initialisation: every other AWS endpoint (and the
//!   instance metadata service) is a loopback sentinel that counts
//!   connections, so a call during init would show.
//!
//! The runtime API and the servers are this harness's own (debug build when
//! run with `--profile dev`); their share of the figures is well under a
//! millisecond.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::*;
use warden_emulator::moto::MotoServer;
use warden_emulator::{Emulator, Fixture};

const DEMO_FIXTURE: &str = include_str!("../events/emulator/demo-fixture.json");
const SCHEDULED: &str = include_str!("../events/scheduled-event.json");
/// The demo fixture's fleets.
const DEMO_FLEETS: &str =
    "arn:aws:worklink::123456789012:fleet/corp-mobile,arn:aws:worklink::123456789012:fleet/partner-portal";
const MARKS_TABLE: &str = "warden-bench-marks";
const FAILURE_QUEUE: &str = "warden-bench-failures";

/// One JSON-protocol call to moto (it checks the signature's shape only).
fn moto_call(endpoint: &str, service: &str, target: &str, body: &str) -> serde_json::Value {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect to moto");
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         X-Amz-Date: 20260101T000000Z\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send to moto");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read moto's answer");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "moto {target}: {resp}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("moto {target}: {e}: {body}"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Stats(Vec<f64>);

impl Stats {
    fn show(&self) -> String {
        if self.0.is_empty() {
            return "-".into();
        }
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        format!("{:7.2} {:7.2} {:7.2}", v[v.len() / 2], v[0], v[v.len() - 1])
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("WARDEN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let t = load_template();
    let bins = binaries(&t);
    if std::env::var_os("WARDEN_BOOTSTRAP_DIR").is_none() {
        println!("note: WARDEN_BOOTSTRAP_DIR is unset: measuring DEBUG builds (scripts/bench-coldstart.sh uses the release artifacts)");
    }

    let emulator = Emulator::new(Fixture::from_json(DEMO_FIXTURE).expect("demo fixture"))
        .start_local()
        .await
        .expect("start the emulator");
    let moto = MotoServer::start().expect("moto (scripts/tools.sh installs it)");
    let table = serde_json::json!({
        "TableName": MARKS_TABLE,
        "AttributeDefinitions": [{"AttributeName": "instance_id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "instance_id", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST"
    });
    moto_call(
        &moto.endpoint_url(),
        "dynamodb",
        "DynamoDB_20120810.CreateTable",
        &table.to_string(),
    );
    let queue = moto_call(
        &moto.endpoint_url(),
        "sqs",
        "AmazonSQS.CreateQueue",
        &serde_json::json!({ "QueueName": FAILURE_QUEUE }).to_string(),
    );
    let queue_url = queue["QueueUrl"].as_str().expect("QueueUrl").to_string();

    let r = Resolver::new(
        &t,
        &[
            ("FleetArns", DEMO_FLEETS),
            ("AuditStreamArn", SAMPLE_STREAM),
            ("Architecture", "x86_64"),
        ],
        &[
            ("FailureQueue", queue_url.as_str()),
            ("MarksTable", MARKS_TABLE),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let kinesis = std::fs::read_to_string(repo().join("events/kinesis-audit-batch.json")).ok();

    println!();
    println!(
        "{:<17} {:>9}  {:^23}  {:^23}  result",
        "function", "size", "init ms (med min max)", "1st invocation ms"
    );
    let mut failures = Vec::new();
    for (id, bin) in FUNCTIONS {
        let binary = &bins[id];
        let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
        let event = match bin {
            "audit-stream" => kinesis.clone(),
            _ => Some(SCHEDULED.to_string()),
        };
        let mut init = Stats(Vec::new());
        let mut first = Stats(Vec::new());
        let mut result = String::from("ok");
        for _ in 0..runs {
            let sentinel = Sentinel::new();
            let mut env: BTreeMap<String, String> = lambda_env(&t, id, &r, "");
            env.extend(sentinel.env().map(|(k, v)| (k.to_string(), v)));
            for k in ["WORKLINK", "WORKSPACES_INSTANCES"] {
                env.insert(format!("AWS_ENDPOINT_URL_{k}"), emulator.endpoint_url());
            }
            for k in ["DYNAMODB", "SQS"] {
                env.insert(format!("AWS_ENDPOINT_URL_{k}"), moto.endpoint_url());
            }
            env.extend(template_env(&t, id, &r));
            let mut p = lambda_process(binary, bin, &env).await;
            match p.init(Duration::from_secs(30)).await {
                Init::Ready(d) => init.0.push(ms(d)),
                other => {
                    result = format!("init failed: {other:?}");
                    break;
                }
            }
            let init_calls = sentinel.connections();
            if init_calls > 0 {
                result = format!("{init_calls} network connection(s) during init");
            }
            let Some(event) = &event else {
                result = "no events/kinesis-audit-batch.json: invocation not measured".into();
                continue;
            };
            match p
                .api
                .invoke(event.clone().into_bytes(), Duration::from_secs(60))
                .await
            {
                Ok(inv) => {
                    first.0.push(ms(inv.duration()));
                    if let Err(e) = inv.json() {
                        result = format!("invocation: {e}");
                    }
                }
                Err(e) => result = format!("invocation: {e}"),
            }
            let other_calls = sentinel.connections();
            if other_calls > 0 {
                result = format!("{other_calls} call(s) to an endpoint outside the emulator/moto");
            }
        }
        println!(
            "{:<17} {:>6.2} MB  {}  {}  {}",
            bin,
            size as f64 / 1e6,
            init.show(),
            first.show(),
            result
        );
        if result != "ok" {
            failures.push(format!("{bin}: {result}"));
        }
    }
    println!(
        "\n{runs} cold starts per function; binaries: {}",
        bins.values()
            .next()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    if !failures.is_empty() {
        eprintln!(
            "\nproblems (figures above may be incomplete):\n{}",
            failures.join("\n")
        );
        std::process::exit(1);
    }
}
