//! The local event-source mapping against moto's Kinesis: batches as Lambda
//! builds them, partial-batch responses honoured, bisection on function
//! errors, records past their retries to the sink, AT_TIMESTAMP, following.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_stream::{
    EsmConfig, EsmError, FunctionError, InProcess, KinesisEvent, KinesisEventResponse, LocalEsm,
    MemorySink, StartingPosition,
};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use common::clients;
use warden_core::aws::deadline::Deadline;
use warden_emulator::moto::MotoServer;

async fn stream(moto: &MotoServer, name: &str, shards: i32) -> aws_sdk_kinesis::Client {
    let k = clients(&moto.endpoint_url(), 3).await.kinesis;
    k.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .unwrap();
    k
}

/// Puts `n` records `{"n": i}` (partition key `pk-{i % keys}`), returns
/// their sequence numbers by `i`.
async fn put(k: &aws_sdk_kinesis::Client, name: &str, from: usize, n: usize) -> Vec<String> {
    let mut seqs = Vec::new();
    for chunk in (from..from + n).collect::<Vec<_>>().chunks(500) {
        let entries = chunk
            .iter()
            .map(|i| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(format!("{{\"n\":{i}}}")))
                    .partition_key(format!("pk-{}", i % 7))
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        let out = k
            .put_records()
            .stream_name(name)
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count(), Some(0));
        seqs.extend(
            out.records()
                .iter()
                .map(|r| r.sequence_number().unwrap().to_string()),
        );
    }
    seqs
}

fn n_of(rec: &audit_stream::KinesisEventRecord) -> u64 {
    serde_json::from_slice::<serde_json::Value>(&rec.kinesis.data).unwrap()["n"]
        .as_u64()
        .unwrap()
}

/// Every batch a fake function received, as the `n` of each record.
type Seen = Arc<Mutex<Vec<Vec<u64>>>>;

fn config(name: &str) -> EsmConfig {
    let mut c = EsmConfig::new(name);
    c.retry_delay = Duration::ZERO;
    c.invoke_timeout = Duration::from_secs(10);
    c
}

#[tokio::test]
async fn batches_are_built_as_lambda_delivers_them() {
    let moto = MotoServer::start().unwrap();
    let k = stream(&moto, "AmazonWorkLink-batches", 1).await;
    put(&k, "AmazonWorkLink-batches", 0, 250).await;
    let events: Arc<Mutex<Vec<KinesisEvent>>> = Arc::default();
    let ev = events.clone();
    let invoker = InProcess(move |event: KinesisEvent, _d: Deadline| {
        ev.lock().unwrap().push(event);
        async { Ok(KinesisEventResponse::default()) }
    });
    let esm = LocalEsm::new(
        k,
        invoker,
        MemorySink::new(),
        config("AmazonWorkLink-batches"),
    );
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let report = esm.run(rx).await.unwrap();

    assert_eq!(report.records_read(), 250);
    assert_eq!(report.records_processed(), 250);
    assert!(report
        .stream_arn
        .ends_with(":stream/AmazonWorkLink-batches"));
    let events = events.lock().unwrap().clone();
    let sizes: Vec<_> = events.iter().map(|e| e.records.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let all: Vec<u64> = events
        .iter()
        .flat_map(|e| e.records.iter().map(n_of))
        .collect();
    assert_eq!(all, (0..250).collect::<Vec<_>>(), "in order, each once");
    let r = &events[0].records[0];
    assert_eq!(r.event_source.as_deref(), Some("aws:kinesis"));
    assert_eq!(r.event_name.as_deref(), Some("aws:kinesis:record"));
    assert_eq!(r.event_version.as_deref(), Some("1.0"));
    assert_eq!(r.aws_region.as_deref(), Some("us-east-1"));
    assert_eq!(
        r.event_source_arn.as_deref(),
        Some(report.stream_arn.as_str())
    );
    assert_eq!(
        r.event_id.as_deref().unwrap(),
        format!("shardId-000000000000:{}", r.kinesis.sequence_number)
    );
    assert_eq!(r.kinesis.partition_key, "pk-0");
    let arrival = r.kinesis.approximate_arrival_timestamp.timestamp();
    let now = jiff::Timestamp::now().as_second();
    assert!(
        (now - 600..=now + 5).contains(&arrival),
        "{arrival} vs {now}"
    );

    // The payload limit splits batches too.
    let events2: Arc<Mutex<Vec<usize>>> = Arc::default();
    let ev = events2.clone();
    let invoker = InProcess(move |event: KinesisEvent, _d: Deadline| {
        ev.lock().unwrap().push(event.records.len());
        async { Ok(KinesisEventResponse::default()) }
    });
    let mut c = config("AmazonWorkLink-batches");
    c.max_payload_bytes = 4_000;
    let esm = LocalEsm::new(esm_client(&moto).await, invoker, MemorySink::new(), c);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    esm.run(rx).await.unwrap();
    let sizes = events2.lock().unwrap().clone();
    assert_eq!(sizes.iter().sum::<usize>(), 250);
    assert!(sizes.iter().all(|s| (1..=10).contains(s)), "{sizes:?}");
}

async fn esm_client(moto: &MotoServer) -> aws_sdk_kinesis::Client {
    clients(&moto.endpoint_url(), 3).await.kinesis
}

#[tokio::test]
async fn partial_failures_checkpoint_before_the_failed_record_and_retry_from_it() {
    let moto = MotoServer::start().unwrap();
    let name = "AmazonWorkLink-partial";
    let k = stream(&moto, name, 1).await;
    put(&k, name, 0, 30).await;

    // Fails record 12 on its first delivery, and record 25 forever.
    let seen: Seen = Arc::default();
    let failed_12 = Arc::new(Mutex::new(false));
    let (s, f12) = (seen.clone(), failed_12.clone());
    let invoker = InProcess(move |event: KinesisEvent, _d: Deadline| {
        let ns: Vec<u64> = event.records.iter().map(n_of).collect();
        s.lock().unwrap().push(ns.clone());
        let mut resp = KinesisEventResponse::default();
        for (r, n) in event.records.iter().zip(&ns) {
            let first_time = *n == 12 && !std::mem::replace(&mut *f12.lock().unwrap(), true);
            if first_time || *n == 25 {
                resp.add_failure(r.kinesis.sequence_number.clone());
                // Report later failures too: the lowest one counts.
            }
        }
        async move { Ok(resp) }
    });
    let sink = Arc::new(MemorySink::new());
    let mut c = config(name);
    c.batch_size = 10;
    c.max_retry_attempts = Some(2);
    let esm = LocalEsm::new(k, invoker, sink.clone(), c);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let report = esm.run(rx).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], (0..10).collect::<Vec<_>>());
    assert_eq!(seen[1], (10..20).collect::<Vec<_>>());
    // 10 and 11 were checkpointed; the retry starts at 12.
    assert_eq!(seen[2], (12..22).collect::<Vec<_>>());
    assert_eq!(seen[3], (22..30).collect::<Vec<_>>());
    // 25 fails: retried twice from 25, then sent to the sink.
    assert_eq!(seen[4], (25..30).collect::<Vec<_>>());
    assert_eq!(seen[5], (25..30).collect::<Vec<_>>());
    assert_eq!(seen[6], (26..30).collect::<Vec<_>>());
    assert_eq!(seen.len(), 7);

    let shard = &report.shards[0];
    assert_eq!(shard.partial_failures, 4);
    assert_eq!(shard.records_processed, 29);
    assert_eq!(shard.records_to_sink.len(), 1);
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let body = messages[0].json();
    assert_eq!(
        body["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(body["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(body["reason"]["code"], "retry-attempts-exhausted");
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .decode(body["record"]["kinesis"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, b"{\"n\":25}");
}

#[tokio::test]
async fn function_errors_bisect_down_to_the_bad_record() {
    let moto = MotoServer::start().unwrap();
    let name = "AmazonWorkLink-bisect";
    let k = stream(&moto, name, 1).await;
    put(&k, name, 0, 16).await;

    // The function crashes on any batch holding record 5.
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let invoker = InProcess(move |event: KinesisEvent, _d: Deadline| {
        let ns: Vec<u64> = event.records.iter().map(n_of).collect();
        s.lock().unwrap().push(ns.clone());
        async move {
            if ns.contains(&5) {
                Err(FunctionError {
                    error_type: "Runtime.ExitError".into(),
                    message: "poison".into(),
                })
            } else {
                Ok(KinesisEventResponse::default())
            }
        }
    });
    let sink = Arc::new(MemorySink::new());
    let mut c = config(name);
    c.batch_size = 16;
    c.max_retry_attempts = Some(1);
    let esm = LocalEsm::new(k, invoker, sink.clone(), c);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let report = esm.run(rx).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let r = |a: u64, b: u64| (a..b).collect::<Vec<_>>();
    assert_eq!(
        seen,
        [
            r(0, 16), // error: halve
            r(0, 8),  // error: halve
            r(0, 4),  // ok
            r(4, 8),  // error: halve
            r(4, 6),  // error: halve
            r(4, 5),  // ok
            r(5, 6),  // error, alone: retry 1
            r(5, 6),  // error: past 1 retry -> sink
            r(6, 8),  // the rest of that half
            r(8, 16), // the other half of the first split
        ]
    );
    let shard = &report.shards[0];
    assert_eq!(shard.bisections, 4);
    assert_eq!(shard.invocations, 10);
    assert_eq!(shard.function_errors, 6);
    assert_eq!(shard.records_processed, 15);
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let body = messages[0].json();
    assert_eq!(
        body["responseContext"]["functionError"],
        "Runtime.ExitError"
    );
    assert!(body["reason"]["message"]
        .as_str()
        .unwrap()
        .contains("poison"));
}

#[tokio::test]
async fn a_sink_that_refuses_stops_the_mapping_instead_of_skipping() {
    let moto = MotoServer::start().unwrap();
    let name = "AmazonWorkLink-stuck";
    let k = stream(&moto, name, 1).await;
    put(&k, name, 0, 3).await;
    let invoker = InProcess(|_e: KinesisEvent, _d: Deadline| async {
        Err(FunctionError {
            error_type: "Unhandled".into(),
            message: "always".into(),
        })
    });
    let sink = Arc::new(MemorySink::new());
    sink.set_failing(true);
    let mut c = config(name);
    c.max_retry_attempts = Some(0);
    let esm = LocalEsm::new(k, invoker, sink, c);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let err = esm.run(rx).await.unwrap_err();
    assert!(matches!(err, EsmError::Sink { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("AmazonWorkLink-stuck") && text.contains("shardId-000000000000"),
        "{text}"
    );
}

#[tokio::test]
async fn at_timestamp_replays_from_a_time_and_every_shard_is_read() {
    let moto = MotoServer::start().unwrap();
    let name = "AmazonWorkLink-replay";
    let k = stream(&moto, name, 2).await;
    put(&k, name, 0, 40).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mid = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    put(&k, name, 40, 60).await;

    let seen: Arc<Mutex<BTreeMap<String, Vec<u64>>>> = Arc::default();
    let s = seen.clone();
    let invoker = InProcess(move |event: KinesisEvent, _d: Deadline| {
        for r in &event.records {
            let shard = r
                .event_id
                .as_deref()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_string();
            s.lock().unwrap().entry(shard).or_default().push(n_of(r));
        }
        async { Ok(KinesisEventResponse::default()) }
    });
    let mut c = config(name);
    c.starting_position = StartingPosition::AtTimestamp(mid);
    let esm = LocalEsm::new(k, invoker, MemorySink::new(), c);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let report = esm.run(rx).await.unwrap();
    assert_eq!(report.shards.len(), 2);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "both shards delivered: {seen:?}");
    let mut all: Vec<u64> = seen.values().flatten().copied().collect();
    for ns in seen.values() {
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "in order per shard");
    }
    all.sort();
    assert_eq!(all, (40..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn following_picks_up_new_records_until_stopped() {
    let moto = MotoServer::start().unwrap();
    let name = "AmazonWorkLink-live";
    let k = stream(&moto, name, 1).await;
    put(&k, name, 0, 5).await; // before LATEST: not delivered

    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let invoker = InProcess(move |event: KinesisEvent, _d: Deadline| {
        for r in &event.records {
            let _ = seen_tx.send(n_of(r));
        }
        async { Ok(KinesisEventResponse::default()) }
    });
    let mut c = config(name);
    c.follow = true;
    c.starting_position = StartingPosition::Latest;
    c.poll_interval = Duration::from_millis(20);
    c.batching_window = Duration::from_millis(50);
    let esm = LocalEsm::new(esm_client(&moto).await, invoker, MemorySink::new(), c);
    let mut positioned = esm.positioned();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(async move { esm.run(rx).await });

    // Once the mapping holds its LATEST iterator, new records flow through.
    tokio::time::timeout(Duration::from_secs(20), positioned.wait_for(|n| *n == 1))
        .await
        .expect("the shard is positioned at LATEST")
        .unwrap();
    put(&k, name, 5, 12).await;
    let mut got = Vec::new();
    while got.len() < 12 {
        let n = tokio::time::timeout(Duration::from_secs(20), seen_rx.recv())
            .await
            .expect("records arrive while following")
            .unwrap();
        got.push(n);
    }
    assert_eq!(got, (5..17).collect::<Vec<_>>());
    stop.send(true).unwrap();
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.records_processed(), 12);
}
