//! The Kinesis event exactly as Lambda puts it on the wire, for the local
//! event-source mapping (which builds events) and the failure sink (which
//! carries records). `aws_lambda_events`' own `Serialize` writes
//! `approximateArrivalTimestamp` as a string; Lambda sends a number, so the
//! wire form is written here.

use base64::Engine as _;
use serde::Serialize;

/// `eventSource` of every Kinesis record.
pub const EVENT_SOURCE: &str = "aws:kinesis";
/// `eventName` of every Kinesis record.
pub const EVENT_NAME: &str = "aws:kinesis:record";

/// One record of a Kinesis event, borrowed from wherever it came from.
#[derive(Debug, Clone, Copy)]
pub struct RecordInfo<'a> {
    /// Shard id (`shardId-000000000000`).
    pub shard_id: &'a str,
    /// Sequence number.
    pub sequence_number: &'a str,
    /// Partition key.
    pub partition_key: &'a str,
    /// Approximate arrival time, epoch milliseconds.
    pub arrival_ms: i64,
    /// The data (not base64).
    pub data: &'a [u8],
    /// The stream's ARN.
    pub stream_arn: &'a str,
    /// The region.
    pub region: &'a str,
    /// The role Lambda reads the stream with.
    pub invoke_identity_arn: &'a str,
}

impl RecordInfo<'_> {
    /// `shardId-...:sequence`, Lambda's `eventID`.
    pub fn event_id(&self) -> String {
        format!("{}:{}", self.shard_id, self.sequence_number)
    }

    /// The record as Lambda delivers it, with `data` cut to at most
    /// `max_data` bytes (before base64).
    pub fn to_wire(&self, max_data: usize) -> WireRecord<'_> {
        let data = &self.data[..self.data.len().min(max_data)];
        WireRecord {
            kinesis: WireKinesis {
                kinesis_schema_version: "1.0",
                partition_key: self.partition_key,
                sequence_number: self.sequence_number,
                data: base64::engine::general_purpose::STANDARD.encode(data),
                approximate_arrival_timestamp: self.arrival_ms as f64 / 1000.0,
            },
            event_source: EVENT_SOURCE,
            event_version: "1.0",
            event_id: self.event_id(),
            event_name: EVENT_NAME,
            invoke_identity_arn: self.invoke_identity_arn,
            aws_region: self.region,
            event_source_arn: self.stream_arn,
        }
    }
}

/// `Records[i]` of a Kinesis event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRecord<'a> {
    /// The Kinesis part.
    pub kinesis: WireKinesis<'a>,
    /// `aws:kinesis`.
    pub event_source: &'static str,
    /// `1.0`.
    pub event_version: &'static str,
    /// `shardId-...:sequence`.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// `aws:kinesis:record`.
    pub event_name: &'static str,
    /// The mapping's execution role.
    pub invoke_identity_arn: &'a str,
    /// The region.
    pub aws_region: &'a str,
    /// The stream ARN.
    #[serde(rename = "eventSourceARN")]
    pub event_source_arn: &'a str,
}

/// `Records[i].kinesis`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireKinesis<'a> {
    /// `1.0`.
    pub kinesis_schema_version: &'static str,
    /// Partition key.
    pub partition_key: &'a str,
    /// Sequence number.
    pub sequence_number: &'a str,
    /// Base64 data.
    pub data: String,
    /// Epoch seconds with millisecond fraction, a JSON number.
    pub approximate_arrival_timestamp: f64,
}

/// A whole Kinesis event: `{"Records": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct WireEvent<'a> {
    /// The records, in shard order.
    #[serde(rename = "Records")]
    pub records: Vec<WireRecord<'a>>,
}

/// An upper bound of the bytes one record adds to an event's JSON, for the
/// batch payload limit: base64 data, the fields (a partition key may need
/// escaping), the fixed keys and the separator.
pub fn wire_size(info: &RecordInfo<'_>) -> usize {
    info.data.len().div_ceil(3) * 4
        + info.partition_key.len() * 6
        + info.sequence_number.len() * 2
        + info.shard_id.len()
        + info.stream_arn.len()
        + info.region.len()
        + info.invoke_identity_arn.len()
        + 320
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_lambdas_shape_and_parses_as_the_typed_event() {
        let info = RecordInfo {
            shard_id: "shardId-000000000001",
            sequence_number: "49590338271490256608559692538361571095921575989136588898",
            partition_key: "alice",
            arrival_ms: 1_545_084_650_987,
            data: b"{\"userName\":\"alice\"}",
            stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-test",
            region: "us-east-1",
            invoke_identity_arn: "arn:aws:iam::123456789012:role/lambda-role",
        };
        let event = WireEvent {
            records: vec![info.to_wire(usize::MAX)],
        };
        let json = serde_json::to_value(&event).unwrap();
        let rec = &json["Records"][0];
        assert_eq!(
            rec["eventID"],
            "shardId-000000000001:49590338271490256608559692538361571095921575989136588898"
        );
        assert_eq!(rec["eventName"], "aws:kinesis:record");
        assert_eq!(rec["eventSource"], "aws:kinesis");
        assert_eq!(rec["awsRegion"], "us-east-1");
        assert!(rec["eventSourceARN"]
            .as_str()
            .unwrap()
            .ends_with("/AmazonWorkLink-test"));
        assert_eq!(
            rec["kinesis"]["approximateArrivalTimestamp"],
            1545084650.987
        );
        assert_eq!(rec["kinesis"]["data"], "eyJ1c2VyTmFtZSI6ImFsaWNlIn0=");
        let bytes = serde_json::to_vec(&event).unwrap();
        let wrapper = r#"{"Records":[]}"#.len();
        assert!(
            wire_size(&info) >= bytes.len() - wrapper,
            "the estimate is an upper bound"
        );
        assert!(wire_size(&info) < bytes.len() + 100, "and a close one");

        let typed: aws_lambda_events::event::kinesis::KinesisEvent =
            serde_json::from_slice(&bytes).unwrap();
        let r = &typed.records[0];
        assert_eq!(r.kinesis.data.0, info.data);
        assert_eq!(r.kinesis.partition_key, "alice");
        assert_eq!(
            r.kinesis.approximate_arrival_timestamp.timestamp_millis(),
            1_545_084_650_987
        );
    }
}
