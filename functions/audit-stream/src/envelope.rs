//! The Kinesis event as the Lambda binary reads it (issue #15): a compact
//! envelope of only the fields the processor and the failure sink use,
//! deserialized straight from the invocation body by `lambda_runtime`.
//! `data` stays the base64 text until its record is decoded, into one
//! buffer reused for every record; the typed
//! [`KinesisEvent`](crate::KinesisEvent) decodes it at parse time through
//! a temporary `String` into a `Vec` per record and keeps four more
//! strings per record that nothing here reads. The records are consumed
//! one by one, so each one's strings are freed as it is decoded.
//!
//! A borrowed envelope (`Cow<str>` fields over a `Box<RawValue>` copy of the
//! body) was measured too: 5-10% faster on 100 records, but the copy of the
//! body is held until the last record is decoded, +8 MiB peak RSS on a
//! 10.7 MiB event (docs/audit-stream.md, "Performance").
//!
//! It accepts what the typed event accepts for these fields: `Records`,
//! `kinesis`, `kinesis.data` and `kinesis.approximateArrivalTimestamp` are
//! required, the rest default to empty; the timestamp is read by
//! `aws_lambda_events`' own type, so the failure sink carries the same
//! value. Invalid base64, which fails the typed event as a whole, fails
//! the batch as a whole here too ([`InvalidData`]), before any action.

use aws_lambda_events::encodings::SecondTimestamp;
use base64::Engine as _;
use serde::Deserialize;

use crate::wire::RecordInfo;

/// A Kinesis event, only what audit-stream reads.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// The records, in order.
    #[serde(rename = "Records")]
    pub records: Vec<EnvelopeRecord>,
}

/// One record of the event.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeRecord {
    /// `shardId-...:sequence`.
    #[serde(rename = "eventID", default)]
    pub event_id: Option<String>,
    /// The stream's ARN.
    #[serde(rename = "eventSourceARN", default)]
    pub event_source_arn: Option<String>,
    /// The region.
    #[serde(default)]
    pub aws_region: Option<String>,
    /// The role Lambda reads the stream with.
    #[serde(default)]
    pub invoke_identity_arn: Option<String>,
    /// The Kinesis part.
    pub kinesis: EnvelopeKinesis,
}

/// The `kinesis` object of a record.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeKinesis {
    /// Approximate arrival time (`aws_lambda_events`' reading of it).
    pub approximate_arrival_timestamp: SecondTimestamp,
    /// The data, base64 as on the wire.
    pub data: String,
    /// Partition key.
    #[serde(default)]
    pub partition_key: String,
    /// Sequence number.
    #[serde(default)]
    pub sequence_number: String,
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

impl EnvelopeRecord {
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
