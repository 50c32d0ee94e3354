//! The failure sink: where records that cannot be processed go, with the
//! reason, so nothing is dropped silently.
//!
//! Messages have the shape of a Lambda on-failure destination record for a
//! Kinesis source (`requestContext`, `responseContext`, `KinesisBatchInfo`,
//! `version`, `timestamp`) plus what Lambda leaves out: the `record` itself,
//! exactly as it was delivered (base64 `data` included), and the `reason`.
//! `requestContext.condition` says who sent it: `MalformedRecord` (the
//! function, for a record it could not decode) or `RetryAttemptsExhausted`
//! (the local event-source mapping, for a record past its retry limit).
//!
//! Delivery is at least once: a malformed record that Kinesis re-delivers
//! (because an earlier record of its batch failed) is sent again. Consumers
//! deduplicate by `KinesisBatchInfo.shardId` + `startSequenceNumber`.

use std::future::Future;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::wire::RecordInfo;
use warden_core::aws::deadline::{classify, run_bounded, Deadline, Ran};

/// Record data larger than this is cut in the message (SQS bodies are at
/// most 256 KiB and the data goes in as base64); the message then says
/// `dataTruncated` with the original size, and the record can still be read
/// from the stream by its sequence number while the stream retains it.
pub const MAX_SINK_DATA_BYTES: usize = 160 * 1024;

/// Who sends a record to the sink, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The function could not decode the record.
    MalformedRecord,
    /// The event-source mapping gave up on the record after its retries.
    RetryAttemptsExhausted,
}

impl Condition {
    /// The `requestContext.condition` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::MalformedRecord => "MalformedRecord",
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
        }
    }
}

/// The invocation a failure belongs to.
#[derive(Debug, Clone, Copy)]
pub struct FailureContext<'a> {
    /// Request id of the invocation (or of the last failed one).
    pub request_id: &'a str,
    /// The function.
    pub function_arn: &'a str,
    /// Why the record is sent: malformed, or past the retry limit or age.
    pub condition: Condition,
    /// How many times the record was delivered.
    pub invoke_count: u32,
    /// `Unhandled` / the error type when the function itself failed.
    pub function_error: Option<&'a str>,
    /// When, epoch milliseconds.
    pub now_ms: i64,
}

/// One message for the sink.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureMessage {
    /// The record's `eventID` (`shardId-...:sequence`), for logs.
    pub event_id: String,
    /// The JSON body.
    pub body: String,
}

impl FailureMessage {
    /// Builds the message for one record.
    pub fn new(
        record: &RecordInfo<'_>,
        reason_code: &str,
        reason: &str,
        ctx: &FailureContext<'_>,
    ) -> FailureMessage {
        let arrival = iso_ms(record.arrival_ms);
        let truncated = record.data.len() > MAX_SINK_DATA_BYTES;
        let mut body = json!({
            "version": "1.0",
            "timestamp": iso_ms(ctx.now_ms),
            "requestContext": {
                "requestId": ctx.request_id,
                "functionArn": ctx.function_arn,
                "condition": ctx.condition.as_str(),
                "approximateInvokeCount": ctx.invoke_count,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": ctx.function_error,
            },
            "KinesisBatchInfo": {
                "shardId": record.shard_id,
                "startSequenceNumber": record.sequence_number,
                "endSequenceNumber": record.sequence_number,
                "approximateArrivalOfFirstRecord": arrival,
                "approximateArrivalOfLastRecord": arrival,
                "batchSize": 1,
                "streamArn": record.stream_arn,
            },
            "reason": { "code": reason_code, "message": reason },
            "record": record.to_wire(MAX_SINK_DATA_BYTES),
        });
        if truncated {
            body["dataTruncated"] = json!({
                "originalBytes": record.data.len(),
                "keptBytes": MAX_SINK_DATA_BYTES,
            });
        }
        FailureMessage {
            event_id: record.event_id(),
            body: body.to_string(),
        }
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

fn iso_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_else(|_| ms.to_string())
}

/// Where failed records go.
pub trait FailureSink: Send + Sync {
    /// Sends every message; one result per message, in order. A message not
    /// sent (error, or no time left) is an `Err` with the reason.
    fn send_all(
        &self,
        messages: &[FailureMessage],
        deadline: Deadline,
    ) -> impl Future<Output = Vec<Result<(), String>>> + Send;
}

/// An SQS queue (Lambda's usual on-failure destination).
#[derive(Debug, Clone)]
pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    concurrency: usize,
}

impl SqsSink {
    /// Sends to `queue_url` with `client`, at most `concurrency` at a time.
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        concurrency: usize,
    ) -> Self {
        SqsSink {
            client,
            queue_url: queue_url.into(),
            concurrency: concurrency.max(1),
        }
    }

    /// The queue.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

impl FailureSink for SqsSink {
    async fn send_all(
        &self,
        messages: &[FailureMessage],
        deadline: Deadline,
    ) -> Vec<Result<(), String>> {
        let ran = run_bounded(
            messages.iter().collect(),
            self.concurrency,
            deadline,
            |m| async move {
                let sent = self
                    .client
                    .send_message()
                    .queue_url(&self.queue_url)
                    .message_body(&m.body)
                    .send();
                match deadline.bound(sent).await {
                    Some(r) => r.map(|_| ()).map_err(|e| {
                        format!("SQS SendMessage to {}: {}", self.queue_url, classify(&e))
                    }),
                    // Reported as a batch item failure: the record comes
                    // back, and a duplicate in the queue is harmless.
                    None => Err(format!(
                        "SQS SendMessage to {}: no answer before the invocation's time ran out",
                        self.queue_url
                    )),
                }
            },
        )
        .await;
        ran.into_iter()
            .map(|r| match r {
                Ran::Done(r) => r,
                Ran::NotStarted => Err("not sent: too little time left in the invocation".into()),
            })
            .collect()
    }
}

/// Keeps messages in memory (tests, `warden replay`), or refuses them all
/// when told to fail.
#[derive(Debug, Default)]
pub struct MemorySink {
    messages: Mutex<Vec<FailureMessage>>,
    failing: std::sync::atomic::AtomicBool,
}

impl MemorySink {
    /// An empty sink that accepts everything.
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// Refuse (`true`) or accept (`false`) every message from now on.
    pub fn set_failing(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    /// The messages accepted so far.
    pub fn messages(&self) -> Vec<FailureMessage> {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl FailureSink for MemorySink {
    async fn send_all(
        &self,
        messages: &[FailureMessage],
        _deadline: Deadline,
    ) -> Vec<Result<(), String>> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return messages
                .iter()
                .map(|_| Err("memory sink set to fail".to_string()))
                .collect();
        }
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(messages.iter().cloned());
        messages.iter().map(|_| Ok(())).collect()
    }
}

impl<T: FailureSink> FailureSink for std::sync::Arc<T> {
    fn send_all(
        &self,
        messages: &[FailureMessage],
        deadline: Deadline,
    ) -> impl Future<Output = Vec<Result<(), String>>> + Send {
        (**self).send_all(messages, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(data: &[u8]) -> RecordInfo<'_> {
        RecordInfo {
            shard_id: "shardId-000000000000",
            sequence_number: "4959",
            partition_key: "pk",
            arrival_ms: 1_795_428_000_123,
            data,
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-test",
            region: "us-east-1",
            invoke_identity_arn: "arn:aws:iam::123456789012:role/r",
        }
    }

    fn ctx() -> FailureContext<'static> {
        FailureContext {
            request_id: "req-1",
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
            condition: Condition::MalformedRecord,
            invoke_count: 1,
            function_error: None,
            now_ms: 1_795_428_001_000,
        }
    }

    #[test]
    fn message_carries_the_record_and_the_reason() {
        let m = FailureMessage::new(
            &info(b"{oops"),
            "not-json",
            "event 1: not valid JSON",
            &ctx(),
        );
        assert_eq!(m.event_id, "shardId-000000000000:4959");
        let v = m.json();
        assert_eq!(v["requestContext"]["condition"], "MalformedRecord");
        assert_eq!(v["KinesisBatchInfo"]["shardId"], "shardId-000000000000");
        assert_eq!(v["KinesisBatchInfo"]["startSequenceNumber"], "4959");
        assert_eq!(
            v["KinesisBatchInfo"]["approximateArrivalOfFirstRecord"],
            "2026-11-23T10:00:00.123Z"
        );
        assert_eq!(v["reason"]["code"], "not-json");
        assert_eq!(v["record"]["kinesis"]["data"], "e29vcHM=");
        assert_eq!(v["record"]["kinesis"]["partitionKey"], "pk");
        assert!(v.get("dataTruncated").is_none());
    }

    #[test]
    fn huge_data_is_cut_and_says_so() {
        let data = vec![b'x'; MAX_SINK_DATA_BYTES + 10];
        let m = FailureMessage::new(&info(&data), "too-large", "big", &ctx());
        assert!(
            m.body.len() < 256 * 1024,
            "fits an SQS message: {}",
            m.body.len()
        );
        let v = m.json();
        assert_eq!(
            v["dataTruncated"]["originalBytes"],
            MAX_SINK_DATA_BYTES + 10
        );
    }
}
