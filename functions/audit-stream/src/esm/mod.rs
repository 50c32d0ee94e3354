//! A local Kinesis event-source mapping: what Lambda does between a stream
//! and a function, for local development (`warden run audit-stream`),
//! backtesting (`warden replay`) and the end-to-end tests.
//!
//! * Reads every shard of a stream (ListShards, GetShardIterator at
//!   LATEST / TRIM_HORIZON / AT_TIMESTAMP, GetRecords), one loop per shard,
//!   shards side by side, records of a shard strictly in order.
//! * Builds batches exactly as Lambda delivers them ([`crate::wire`]): at most
//!   `batch_size` records and `max_payload_bytes` of JSON, gathered for at
//!   most `batching_window` when following the stream.
//! * Invokes the function through [`Invoke`]: in-process ([`InProcess`]) or
//!   the real binary under a local Runtime API (the caller adapts it).
//! * Honours `batchItemFailures`: checkpoints before the lowest reported
//!   record and retries from it (an identifier not in the batch fails the
//!   whole batch, as on Lambda).
//! * On a function error, bisects the batch (halves it until the bad record
//!   is alone; bisecting does not use up retries) when `bisect_on_error`.
//! * Sends records past `max_retry_attempts` to the failure sink
//!   (`RetryAttemptsExhausted`) and moves on; if the sink refuses them the
//!   mapping stops with an error rather than skip them.
//!
//! Checkpoints are kept in memory: a restarted mapping starts again from its
//! starting position. Resharding (child shards) is not followed.

mod binary;
pub use binary::BinaryFunction;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use serde::Serialize;

use crate::sink::{Condition, FailureContext, FailureMessage, FailureSink};
use crate::wire::{wire_size, RecordInfo, WireEvent};
use crate::{KinesisEvent, KinesisEventResponse};
use warden_core::aws::deadline::{classify, Deadline};

/// Lambda's payload limit for a synchronous invocation.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Where reading a shard starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// Only records written from now on.
    Latest,
    /// The oldest record the stream still holds.
    TrimHorizon,
    /// The first record that arrived at or after this time.
    AtTimestamp(jiff::Timestamp),
}

/// The mapping's settings (Lambda's names in brackets).
#[derive(Debug, Clone)]
pub struct EsmConfig {
    /// The stream.
    pub stream_name: String,
    /// At most this many records per invocation [BatchSize, default 100].
    pub batch_size: usize,
    /// When following, wait up to this long to fill a batch
    /// [MaximumBatchingWindowInSeconds, default 0].
    pub batching_window: Duration,
    /// At most this many bytes of event JSON (6 MiB, Lambda's limit).
    pub max_payload_bytes: usize,
    /// [StartingPosition].
    pub starting_position: StartingPosition,
    /// Failed invocations of a record before it goes to the failure sink;
    /// `None` retries until the stream drops it [MaximumRetryAttempts].
    pub max_retry_attempts: Option<u32>,
    /// Halve a batch after a function error [BisectBatchOnFunctionError].
    pub bisect_on_error: bool,
    /// Keep polling for new records (`true`) or stop once every shard is
    /// caught up (`false`: replay, tests).
    pub follow: bool,
    /// How often an idle shard is polled when following (Lambda: 1 s).
    pub poll_interval: Duration,
    /// Pause before re-invoking a failed batch.
    pub retry_delay: Duration,
    /// The function's timeout: the deadline each invocation is given.
    pub invoke_timeout: Duration,
    /// The function (named in failure-sink messages).
    pub function_arn: String,
    /// The mapping's execution role (`invokeIdentityArn`).
    pub invoke_identity_arn: String,
}

impl EsmConfig {
    /// Lambda's defaults for `stream_name`, except: retries limited to 3 (a
    /// local run should not block on a poison record forever) and bisect on.
    pub fn new(stream_name: impl Into<String>) -> Self {
        EsmConfig {
            stream_name: stream_name.into(),
            batch_size: 100,
            batching_window: Duration::ZERO,
            max_payload_bytes: MAX_PAYLOAD_BYTES,
            starting_position: StartingPosition::TrimHorizon,
            max_retry_attempts: Some(3),
            bisect_on_error: true,
            follow: false,
            poll_interval: Duration::from_secs(1),
            retry_delay: Duration::from_millis(100),
            invoke_timeout: Duration::from_secs(60),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream".into(),
            invoke_identity_arn: "arn:aws:iam::123456789012:role/audit-stream-local".into(),
        }
    }
}

/// The function failed as a whole (Lambda's `functionError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct FunctionError {
    /// `errorType`.
    pub error_type: String,
    /// `errorMessage`.
    pub message: String,
}

/// A function that takes a Kinesis event (the JSON payload, exactly as
/// Lambda sends it) and answers with the partial-batch response.
pub trait Invoke: Send + Sync {
    /// One invocation; `timeout` is the function's deadline from now.
    fn invoke(
        &self,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<KinesisEventResponse, FunctionError>> + Send;
}

/// The handler called in this process: the payload is parsed into the typed
/// event exactly as `lambda_runtime` does (a parse error is a function
/// error), then `f(event, deadline)` runs.
pub struct InProcess<F>(pub F);

impl<F, Fut> Invoke for InProcess<F>
where
    F: Fn(KinesisEvent, Deadline) -> Fut + Send + Sync,
    Fut: Future<Output = Result<KinesisEventResponse, FunctionError>> + Send,
{
    async fn invoke(
        &self,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<KinesisEventResponse, FunctionError> {
        let event: KinesisEvent = serde_json::from_slice(&payload).map_err(|e| FunctionError {
            error_type: "Runtime.UnmarshalError".into(),
            message: e.to_string(),
        })?;
        drop(payload);
        (self.0)(
            event,
            Deadline::after(timeout, warden_core::aws::executor::REPORT_RESERVE),
        )
        .await
    }
}

/// Why the mapping stopped early.
#[derive(Debug, thiserror::Error)]
pub enum EsmError {
    /// A Kinesis call failed (after the SDK's retries).
    #[error("stream {stream}{}: Kinesis {operation} failed: {message}", shard.as_ref().map(|s| format!(", shard {s}")).unwrap_or_default())]
    Kinesis {
        /// The stream.
        stream: String,
        /// The shard, when per shard.
        shard: Option<String>,
        /// The operation.
        operation: &'static str,
        /// The error.
        message: String,
    },
    /// Records past their retries could not be sent to the failure sink; they
    /// were not skipped.
    #[error("stream {stream}, shard {shard}: record {record} is past its retries and the failure sink refused it ({message}); stopping rather than skipping it")]
    Sink {
        /// The stream.
        stream: String,
        /// The shard.
        shard: String,
        /// The record (`shardId-...:sequence`).
        record: String,
        /// The sink's error.
        message: String,
    },
}

/// What happened on one shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShardReport {
    /// The shard.
    pub shard_id: String,
    /// Records read from the stream.
    pub records_read: usize,
    /// Records checkpointed after the function handled them.
    pub records_processed: usize,
    /// Records sent to the failure sink after their retries.
    pub records_to_sink: Vec<String>,
    /// Batches handed to the function (retries and bisections included).
    pub invocations: usize,
    /// Invocations answered with `batchItemFailures`.
    pub partial_failures: usize,
    /// Invocations that failed as a whole.
    pub function_errors: usize,
    /// Batches halved after a function error.
    pub bisections: usize,
    /// The last checkpointed sequence number.
    pub checkpoint: Option<String>,
}

/// What the mapping did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EsmReport {
    /// The stream's ARN.
    pub stream_arn: String,
    /// Per shard.
    pub shards: Vec<ShardReport>,
}

impl EsmReport {
    /// Records read, over every shard.
    pub fn records_read(&self) -> usize {
        self.shards.iter().map(|s| s.records_read).sum()
    }
    /// Records processed, over every shard.
    pub fn records_processed(&self) -> usize {
        self.shards.iter().map(|s| s.records_processed).sum()
    }
    /// Records sent to the sink after their retries, over every shard.
    pub fn records_to_sink(&self) -> usize {
        self.shards.iter().map(|s| s.records_to_sink.len()).sum()
    }
    /// Invocations, over every shard.
    pub fn invocations(&self) -> usize {
        self.shards.iter().map(|s| s.invocations).sum()
    }
}

/// The local event-source mapping.
pub struct LocalEsm<I, S> {
    kinesis: aws_sdk_kinesis::Client,
    invoker: I,
    sink: S,
    config: EsmConfig,
    positioned: tokio::sync::watch::Sender<usize>,
}

struct Shard<'a> {
    id: String,
    stream_arn: &'a str,
    region: &'a str,
}

/// The lowest record of the batch named in the response, `None` when the
/// batch succeeded. An identifier that is empty or not in the batch fails
/// the whole batch (index 0), as Lambda does.
pub fn failed_index(response: &KinesisEventResponse, sequence_numbers: &[&str]) -> Option<usize> {
    let mut lowest: Option<usize> = None;
    for f in &response.batch_item_failures {
        let found = f
            .item_identifier
            .as_deref()
            .filter(|id| !id.is_empty())
            .and_then(|id| sequence_numbers.iter().position(|s| *s == id));
        match found {
            Some(i) => lowest = Some(lowest.map_or(i, |l| l.min(i))),
            None => return Some(0),
        }
    }
    lowest
}

fn arrival_ms(r: &Record) -> i64 {
    r.approximate_arrival_timestamp()
        .and_then(|t| t.to_millis().ok())
        .unwrap_or(0)
}

impl<I: Invoke, S: FailureSink> LocalEsm<I, S> {
    /// A mapping from the stream in `config` to `invoker`, with `sink` as
    /// its on-failure destination.
    pub fn new(kinesis: aws_sdk_kinesis::Client, invoker: I, sink: S, config: EsmConfig) -> Self {
        LocalEsm {
            kinesis,
            invoker,
            sink,
            config,
            positioned: tokio::sync::watch::Sender::new(0),
        }
    }

    /// How many shards hold their first iterator (at the starting
    /// position): from then on a record put to that shard will be read,
    /// which is what a caller following from LATEST waits for.
    pub fn positioned(&self) -> tokio::sync::watch::Receiver<usize> {
        self.positioned.subscribe()
    }

    /// The invoker.
    pub fn invoker(&self) -> &I {
        &self.invoker
    }

    fn kinesis_error(
        &self,
        shard: Option<&str>,
        operation: &'static str,
        message: String,
    ) -> EsmError {
        EsmError::Kinesis {
            stream: self.config.stream_name.clone(),
            shard: shard.map(str::to_owned),
            operation,
            message,
        }
    }

    /// Runs until every shard is caught up (`follow: false`), or until `stop`
    /// turns true (`follow: true`).
    pub async fn run(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<EsmReport, EsmError> {
        let name = &self.config.stream_name;
        let summary = self
            .kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(|e| {
                self.kinesis_error(None, "DescribeStreamSummary", classify(&e).to_string())
            })?;
        let stream_arn = summary
            .stream_description_summary()
            .map(|s| s.stream_arn().to_owned())
            .unwrap_or_default();
        let mut shard_ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self.kinesis.list_shards();
            req = match &token {
                Some(t) => req.next_token(t),
                None => req.stream_name(name),
            };
            let out = req
                .send()
                .await
                .map_err(|e| self.kinesis_error(None, "ListShards", classify(&e).to_string()))?;
            shard_ids.extend(out.shards().iter().map(|s| s.shard_id().to_owned()));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let region = self
            .kinesis
            .config()
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_default();
        tracing::info!(stream = %name, stream_arn = %stream_arn, shards = shard_ids.len(), "event-source mapping started");
        let loops = shard_ids.into_iter().map(|id| {
            let shard = Shard {
                id,
                stream_arn: &stream_arn,
                region: &region,
            };
            let stop = stop.clone();
            async move { self.run_shard(shard, stop).await }
        });
        // The first shard that fails stops the others.
        let shards = futures::future::try_join_all(loops).await?;
        Ok(EsmReport {
            stream_arn: stream_arn.clone(),
            shards,
        })
    }

    async fn iterator(&self, shard: &str, after: Option<&str>) -> Result<Option<String>, EsmError> {
        let mut req = self
            .kinesis
            .get_shard_iterator()
            .stream_name(&self.config.stream_name)
            .shard_id(shard);
        req = match (after, self.config.starting_position) {
            (Some(seq), _) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            (None, StartingPosition::Latest) => req.shard_iterator_type(ShardIteratorType::Latest),
            (None, StartingPosition::TrimHorizon) => {
                req.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            (None, StartingPosition::AtTimestamp(t)) => req
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_smithy_types::DateTime::from_millis(t.as_millisecond())),
        };
        let out = req.send().await.map_err(|e| {
            self.kinesis_error(Some(shard), "GetShardIterator", classify(&e).to_string())
        })?;
        Ok(out.shard_iterator().map(str::to_owned))
    }

    async fn run_shard(
        &self,
        shard: Shard<'_>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<ShardReport, EsmError> {
        let cfg = &self.config;
        let mut report = ShardReport {
            shard_id: shard.id.clone(),
            ..ShardReport::default()
        };
        let mut iterator = self.iterator(&shard.id, None).await?;
        self.positioned.send_modify(|n| *n += 1);
        let mut last_read: Option<String> = None;
        let mut pending: VecDeque<Record> = VecDeque::new();
        let mut caught_up = false;
        let mut retries: HashMap<String, u32> = HashMap::new();
        // Bisection: the sizes of the batches still owed to a split batch,
        // the next one on top. Empty: full batches.
        let mut segments: Vec<usize> = Vec::new();
        let mut window_start: Option<Instant> = None;

        loop {
            if *stop.borrow() {
                break;
            }
            let limit = segments
                .last()
                .copied()
                .unwrap_or(cfg.batch_size)
                .clamp(1, cfg.batch_size.max(1));
            // Read until a batch is full or the shard has nothing more now.
            while pending.len() < limit && !caught_up {
                let Some(it) = iterator.clone() else { break };
                match self
                    .kinesis
                    .get_records()
                    .shard_iterator(it)
                    .limit(10_000)
                    .send()
                    .await
                {
                    Ok(out) => {
                        iterator = out.next_shard_iterator().map(str::to_owned);
                        let n = out.records().len();
                        report.records_read += n;
                        if let Some(r) = out.records().last() {
                            last_read = Some(r.sequence_number().to_owned());
                        }
                        pending.extend(out.records().iter().cloned());
                        caught_up = n == 0 && out.millis_behind_latest().unwrap_or(0) == 0;
                        if n == 0 && !caught_up {
                            // Behind but an empty page: Kinesis allows 5
                            // GetRecords per second and shard.
                            self.idle(&mut stop, Duration::from_millis(200)).await;
                        }
                    }
                    Err(e) => {
                        let failure = classify(&e);
                        if failure.code == "ExpiredIteratorException" {
                            iterator = self.iterator(&shard.id, last_read.as_deref()).await?;
                            continue;
                        }
                        return Err(self.kinesis_error(
                            Some(&shard.id),
                            "GetRecords",
                            failure.to_string(),
                        ));
                    }
                }
            }

            if pending.is_empty() {
                if iterator.is_none() || !cfg.follow {
                    break;
                }
                self.idle(&mut stop, cfg.poll_interval).await;
                caught_up = false;
                continue;
            }
            // Following: give a short batch the batching window to fill.
            if cfg.follow && pending.len() < limit && !cfg.batching_window.is_zero() {
                let started = *window_start.get_or_insert_with(Instant::now);
                let waited = started.elapsed();
                if waited < cfg.batching_window {
                    let left = cfg.batching_window - waited;
                    self.idle(&mut stop, left.min(cfg.poll_interval)).await;
                    caught_up = false;
                    continue;
                }
            }
            window_start = None;

            // The batch: at most `limit` records and the payload limit.
            let mut n = 0;
            let mut bytes = 16;
            let infos: Vec<RecordInfo<'_>> = pending
                .iter()
                .take(limit)
                .map(|r| self.info(&shard, r))
                .take_while(|info| {
                    bytes += wire_size(info);
                    n += 1;
                    n == 1 || bytes <= cfg.max_payload_bytes
                })
                .collect();
            let n = infos.len();
            let payload = serde_json::to_vec(&WireEvent {
                records: infos.iter().map(|i| i.to_wire(usize::MAX)).collect(),
            })
            .unwrap_or_default();
            let seqs: Vec<&str> = infos.iter().map(|i| i.sequence_number).collect();
            report.invocations += 1;
            let result = self.invoker.invoke(payload, cfg.invoke_timeout).await;
            let first = seqs[0].to_owned();
            let last = seqs[n - 1].to_owned();
            let outcome = match &result {
                Ok(resp) => match failed_index(resp, &seqs) {
                    None => Ok(n),
                    Some(i) => Err((i, None)),
                },
                Err(fe) => Err((0, Some(fe.clone()))),
            };
            drop(infos);
            match outcome {
                Ok(n) => {
                    tracing::debug!(shard = %shard.id, records = n, first = %first, last = %last, "batch done");
                    self.checkpoint(&mut pending, n, &mut report, &mut retries, &mut segments);
                }
                Err((i, None)) => {
                    report.partial_failures += 1;
                    self.checkpoint(&mut pending, i, &mut report, &mut retries, &mut segments);
                    let seq = pending
                        .front()
                        .map(|r| r.sequence_number().to_owned())
                        .unwrap_or_default();
                    let count = retries.entry(seq.clone()).or_insert(0);
                    *count += 1;
                    let count = *count;
                    tracing::warn!(shard = %shard.id, sequence_number = %seq, attempt = count, "batch item failure: retrying from this record");
                    if cfg.max_retry_attempts.is_some_and(|m| count > m) {
                        self.give_up(
                            &shard,
                            &mut pending,
                            1,
                            count,
                            None,
                            &mut report,
                            &mut retries,
                            &mut segments,
                        )
                        .await?;
                    } else {
                        self.idle(&mut stop, cfg.retry_delay).await;
                    }
                }
                Err((_, Some(fe))) => {
                    report.function_errors += 1;
                    if cfg.bisect_on_error && n > 1 {
                        report.bisections += 1;
                        // This batch is replaced by its two halves, first
                        // half next.
                        match segments.last_mut() {
                            Some(top) if *top > n => *top -= n,
                            Some(_) => {
                                segments.pop();
                            }
                            None => {}
                        }
                        segments.push(n - n / 2);
                        segments.push(n / 2);
                        tracing::warn!(shard = %shard.id, first = %first, records = n, error = %fe, "function error: bisecting the batch");
                    } else {
                        let count = retries.entry(first.clone()).or_insert(0);
                        *count += 1;
                        let count = *count;
                        tracing::warn!(shard = %shard.id, first = %first, records = n, attempt = count, error = %fe, "function error: retrying the batch");
                        if cfg.max_retry_attempts.is_some_and(|m| count > m) {
                            self.give_up(
                                &shard,
                                &mut pending,
                                n,
                                count,
                                Some(&fe),
                                &mut report,
                                &mut retries,
                                &mut segments,
                            )
                            .await?;
                        } else {
                            self.idle(&mut stop, cfg.retry_delay).await;
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    fn info<'a>(&'a self, shard: &'a Shard<'a>, r: &'a Record) -> RecordInfo<'a> {
        RecordInfo {
            shard_id: &shard.id,
            sequence_number: r.sequence_number(),
            partition_key: r.partition_key().unwrap_or_default(),
            arrival_ms: arrival_ms(r),
            data: r.data().as_ref(),
            stream_arn: shard.stream_arn,
            region: shard.region,
            invoke_identity_arn: &self.config.invoke_identity_arn,
        }
    }

    /// Drops the first `k` pending records: the function is done with them.
    fn checkpoint(
        &self,
        pending: &mut VecDeque<Record>,
        k: usize,
        report: &mut ShardReport,
        retries: &mut HashMap<String, u32>,
        segments: &mut Vec<usize>,
    ) {
        for r in pending.drain(..k.min(pending.len())) {
            retries.remove(r.sequence_number());
            report.checkpoint = Some(r.sequence_number().to_owned());
            report.records_processed += 1;
        }
        let mut k = k;
        while k > 0 {
            match segments.last_mut() {
                Some(top) if *top > k => {
                    *top -= k;
                    k = 0;
                }
                Some(top) => {
                    k -= *top;
                    segments.pop();
                }
                None => break,
            }
        }
    }

    /// Sends the first `k` pending records to the failure sink and moves past
    /// them; stops the mapping if the sink refuses.
    #[allow(clippy::too_many_arguments)]
    async fn give_up(
        &self,
        shard: &Shard<'_>,
        pending: &mut VecDeque<Record>,
        k: usize,
        attempts: u32,
        error: Option<&FunctionError>,
        report: &mut ShardReport,
        retries: &mut HashMap<String, u32>,
        segments: &mut Vec<usize>,
    ) -> Result<(), EsmError> {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let reason = match error {
            Some(fe) => {
                format!("the function failed {attempts} times on this batch; last error {fe}")
            }
            None => format!("reported as a batch item failure {attempts} times"),
        };
        let messages: Vec<FailureMessage> = pending
            .iter()
            .take(k)
            .map(|r| {
                FailureMessage::new(
                    &self.info(shard, r),
                    "retry-attempts-exhausted",
                    &reason,
                    &FailureContext {
                        request_id: "local-event-source-mapping",
                        function_arn: &self.config.function_arn,
                        condition: Condition::RetryAttemptsExhausted,
                        invoke_count: attempts,
                        function_error: error.map(|e| e.error_type.as_str()),
                        now_ms,
                    },
                )
            })
            .collect();
        let results = self.sink.send_all(&messages, Deadline::none()).await;
        for (m, r) in messages.iter().zip(results) {
            if let Err(message) = r {
                return Err(EsmError::Sink {
                    stream: self.config.stream_name.clone(),
                    shard: shard.id.clone(),
                    record: m.event_id.clone(),
                    message,
                });
            }
            tracing::error!(event_id = %m.event_id, reason = %reason, "record past its retries: sent to the failure sink");
            report.records_to_sink.push(m.event_id.clone());
        }
        let before = report.records_processed;
        self.checkpoint(pending, k, report, retries, segments);
        report.records_processed = before;
        Ok(())
    }

    async fn idle(&self, stop: &mut tokio::sync::watch::Receiver<bool>, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::streams::KinesisEventResponse;

    #[test]
    fn the_lowest_reported_record_fails() {
        let seqs = ["1", "2", "3", "4"];
        let mut r = KinesisEventResponse::default();
        assert_eq!(failed_index(&r, &seqs), None);
        r.add_failure("3");
        r.add_failure("2");
        assert_eq!(failed_index(&r, &seqs), Some(1));
        r.add_failure("99");
        assert_eq!(failed_index(&r, &seqs), Some(0), "unknown id: whole batch");
        let mut r = KinesisEventResponse::default();
        r.add_failure("");
        assert_eq!(failed_index(&r, &seqs), Some(0), "empty id: whole batch");
    }
}
