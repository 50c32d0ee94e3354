//! The Kinesis event as the Lambda binary reads it: a compact envelope
//! borrowed from the invocation body (issue #15). Only the fields the
//! processor and the failure sink use are read; `data` stays base64 text
//! until its record is decoded, into one buffer reused for every record,
//! so the batch is never held a second time as decoded bytes and no
//! field is copied into its own `String` (the typed
//! [`KinesisEvent`](crate::KinesisEvent) allocates five to seven per record).
//!
//! It accepts what the typed event accepts for these fields: `Records`,
//! `kinesis`, `kinesis.data` and `kinesis.approximateArrivalTimestamp` are
//! required, the rest default to empty; the timestamp is read by
//! `aws_lambda_events`' own type, so the failure sink carries the same
//! value. Invalid base64, which fails the typed event as a whole, fails
//! the batch as a whole here too ([`InvalidData`]), before any action.

use std::borrow::Cow;

use aws_lambda_events::encodings::SecondTimestamp;
use base64::Engine as _;
use serde::Deserialize;

use crate::wire::RecordInfo;

/// A Kinesis event, borrowed.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    /// The records, in order.
    #[serde(rename = "Records", borrow)]
    pub records: Vec<EnvelopeRecord<'a>>,
}

/// One record of the event, borrowed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeRecord<'a> {
    /// `shardId-...:sequence`.
    #[serde(rename = "eventID", borrow, default)]
    pub event_id: Option<Cow<'a, str>>,
    /// The stream's ARN.
    #[serde(rename = "eventSourceARN", borrow, default)]
    pub event_source_arn: Option<Cow<'a, str>>,
    /// The region.
    #[serde(borrow, default)]
    pub aws_region: Option<Cow<'a, str>>,
    /// The role Lambda reads the stream with.
    #[serde(borrow, default)]
    pub invoke_identity_arn: Option<Cow<'a, str>>,
    /// The Kinesis part.
    #[serde(borrow)]
    pub kinesis: EnvelopeKinesis<'a>,
}

/// The `kinesis` object of a record, borrowed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeKinesis<'a> {
    /// Approximate arrival time (`aws_lambda_events`' reading of it).
    pub approximate_arrival_timestamp: SecondTimestamp,
    /// The data, base64 as on the wire.
    #[serde(borrow)]
    pub data: Cow<'a, str>,
    /// Partition key.
    #[serde(borrow, default)]
    pub partition_key: Cow<'a, str>,
    /// Sequence number.
    #[serde(borrow, default)]
    pub sequence_number: Cow<'a, str>,
}

/// A record whose `data` is not base64: the whole event is rejected, as
/// the typed event's deserialization rejects it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "Records[{index}].kinesis.data (sequence number {sequence_number}) is not base64: {reason}"
)]
pub struct InvalidData {
    /// Position in the batch.
    pub index: usize,
    /// The record's sequence number.
    pub sequence_number: String,
    /// The base64 error.
    pub reason: String,
}

impl EnvelopeRecord<'_> {
    /// Decodes `data` into `buf` (cleared first): the buffer is reused
    /// from record to record.
    pub fn decode_data(&self, buf: &mut Vec<u8>) -> Result<(), base64::DecodeError> {
        buf.clear();
        base64::engine::general_purpose::STANDARD.decode_vec(self.kinesis.data.as_bytes(), buf)
    }

    /// The record as the sink's wire format wants it, with its decoded data.
    pub fn info<'b>(&'b self, shard_id: &'b str, data: &'b [u8]) -> RecordInfo<'b> {
        RecordInfo {
            shard_id,
            sequence_number: &self.kinesis.sequence_number,
            partition_key: &self.kinesis.partition_key,
            arrival_ms: self
                .kinesis
                .approximate_arrival_timestamp
                .timestamp_millis(),
            data,
            stream_arn: self.event_source_arn.as_deref().unwrap_or_default(),
            region: self.aws_region.as_deref().unwrap_or_default(),
            invoke_identity_arn: self.invoke_identity_arn.as_deref().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KinesisEvent;

    const EVENT: &str = r#"{"Records": [
        {"eventID": "shardId-000000000003:4959", "eventSourceARN": "arn:aws:kinesis:us-east-1:1:stream/s",
         "awsRegion": "us-east-1", "invokeIdentityArn": "arn:aws:iam::1:role/r", "eventSource": "aws:kinesis",
         "kinesis": {"data": "aGVsbG8=", "partitionKey": "al\u0069ce", "sequenceNumber": "4959",
                     "approximateArrivalTimestamp": 1700000000.123, "kinesisSchemaVersion": "1.0"}},
        {"kinesis": {"data": "", "approximateArrivalTimestamp": 1700000001}}
    ]}"#;

    #[test]
    fn reads_what_the_typed_event_reads() {
        let env: Envelope = serde_json::from_str(EVENT).unwrap();
        let typed: KinesisEvent = serde_json::from_str(EVENT).unwrap();
        assert_eq!(env.records.len(), typed.records.len());
        let mut buf = vec![1, 2, 3];
        for (e, t) in env.records.iter().zip(&typed.records) {
            e.decode_data(&mut buf).unwrap();
            assert_eq!(buf, t.kinesis.data.0);
            let a = e.info("shard", &buf);
            let b = crate::processor::record_info(t, "shard:x");
            assert_eq!(
                (
                    a.sequence_number,
                    a.partition_key,
                    a.arrival_ms,
                    a.stream_arn
                ),
                (
                    b.sequence_number,
                    b.partition_key,
                    b.arrival_ms,
                    b.stream_arn
                )
            );
            assert_eq!(
                (a.region, a.invoke_identity_arn),
                (b.region, b.invoke_identity_arn)
            );
            assert_eq!(e.event_id.as_deref(), t.event_id.as_deref());
        }
        // Borrowed from the body, not copied (the escaped key is the exception).
        assert!(matches!(env.records[0].kinesis.data, Cow::Borrowed(_)));
        assert!(matches!(
            env.records[0].kinesis.partition_key,
            Cow::Owned(_)
        ));
    }

    #[test]
    fn rejects_what_the_typed_event_rejects() {
        for bad in [
            r#"{"Records": [{"kinesis": {"data": "aGk="}}]}"#,
            r#"{"Records": [{"kinesis": {"approximateArrivalTimestamp": 1}}]}"#,
            r#"{"Records": [{"eventID": "x"}]}"#,
            r#"{"records": []}"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<KinesisEvent>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<Envelope>(bad).is_err(), "{bad}");
        }
        let bad =
            r#"{"Records": [{"kinesis": {"data": "%%%", "approximateArrivalTimestamp": 1}}]}"#;
        assert!(serde_json::from_str::<KinesisEvent>(bad).is_err());
        let env: Envelope = serde_json::from_str(bad).unwrap();
        assert!(env.records[0].decode_data(&mut Vec::new()).is_err());
    }
}
