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

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::encodings::SecondTimestamp;
use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use warden_core::aws::emf::Metrics;
use warden_core::event::FieldMap;

use crate::processor::{
    malformed_message, set_aside_validation, shard_of, ActionRunner, Decoded, InvocationInfo,
    MalformedRecord, StreamProcessor, FUNCTION_NAME,
};
use crate::record::{decode_record_into, BatchBudget, Limits};
use crate::sink::FailureSink;
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

// --- The batch decoded while the event is parsed (the Lambda binary) ---

/// What decoding a batch while its event is parsed needs: the policy's
/// field map and the decoding limits (built once, at cold start, with the
/// handler).
#[derive(Debug, Clone)]
pub struct Decoding {
    /// The compiled policy's field map (which paths are read, whether a
    /// rule reads `raw.` paths).
    pub fields: FieldMap,
    /// Events per record, inflated bytes per record and per batch.
    pub limits: Limits,
}

impl Decoding {
    /// What `processor` decodes with: its policy's field map, its limits.
    pub fn of<R: ActionRunner, S: FailureSink>(processor: &StreamProcessor<R, S>) -> Decoding {
        Decoding {
            fields: processor.policy().field_map().clone(),
            limits: processor.config().limits,
        }
    }
}

/// A Kinesis event as the Lambda binary reads it (issue #15): every
/// record's data decoded, into audit events, **while the event is
/// parsed**. `data` is read as the `&str` borrowed from the invocation
/// body, base64-decoded into one buffer reused for every record and
/// decoded into events at once, so the base64 text is never copied into
/// an owned `String` and nothing of a record but its sequence number (and,
/// for a malformed record, what its failure-sink message carries) outlives
/// its parse. The same stage 1 as [`StreamProcessor::process`]
/// (`decode_record_into`, the same limits, malformed reasons and
/// Validation set-aside); the processor then goes on from
/// [`Batch::into_decoded`].
///
/// It accepts and rejects what [`Envelope`] does (required `Records`,
/// `kinesis`, `kinesis.data`, `kinesis.approximateArrivalTimestamp`, read
/// by `aws_lambda_events`' own `SecondTimestamp`; duplicate fields
/// refused; a record or its `kinesis` given as a JSON array, which serde
/// reads by position, is refused). Invalid base64 fails the batch as a whole ([`InvalidData`])
/// after the malformed records before it are logged and before any action;
/// no record after it is decoded.
///
/// [`StreamProcessor::process`]: crate::StreamProcessor::process
#[derive(Debug)]
pub struct Batch {
    /// What stage 1 made of it (failure-sink messages not yet built: they
    /// name the invocation).
    decoded: Decoded,
    /// Per malformed record (same order as `decoded.malformed`): what its
    /// failure-sink message carries.
    malformed: Vec<MalformedData>,
    /// The first record whose data is not base64.
    invalid: Option<InvalidData>,
    /// Counted while decoding (`ValidationEvents`).
    metrics: Metrics,
    /// When its parse began (the decode stage's start).
    started: Instant,
}

/// A malformed record's fields for its failure-sink message.
#[derive(Debug)]
struct MalformedData {
    partition_key: String,
    arrival_ms: i64,
    data: Vec<u8>,
    stream_arn: String,
    region: String,
    invoke_identity_arn: String,
}

impl Batch {
    /// Records in the event.
    pub fn len(&self) -> usize {
        self.decoded.records
    }

    /// Whether the event had no record.
    pub fn is_empty(&self) -> bool {
        self.decoded.records == 0
    }

    /// When the event's parse (stage 1) began.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The rest of stage 1: each malformed record logged and turned into
    /// its failure-sink message (they name the invocation), the counts;
    /// or the batch's [`InvalidData`]. The same log lines, messages and
    /// metrics as [`StreamProcessor::process`](crate::StreamProcessor::process).
    pub fn into_decoded(self, inv: &InvocationInfo<'_>) -> Result<(Decoded, Metrics), InvalidData> {
        let Batch {
            mut decoded,
            malformed,
            invalid,
            mut metrics,
            ..
        } = self;
        for (m, data) in decoded.malformed.iter().zip(&malformed) {
            let id = &m.event_id;
            let info = RecordInfo {
                shard_id: shard_of(id),
                sequence_number: &m.sequence_number,
                partition_key: &data.partition_key,
                arrival_ms: data.arrival_ms,
                data: &data.data,
                stream_arn: &data.stream_arn,
                region: &data.region,
                invoke_identity_arn: &data.invoke_identity_arn,
            };
            decoded
                .messages
                .push(malformed_message(&info, id, &m.reason, inv));
        }
        if let Some(e) = invalid {
            return Err(e);
        }
        metrics.count("RecordsReceived", decoded.records as u64);
        metrics.count("RecordsMalformed", decoded.malformed.len() as u64);
        metrics.count("EventsDecoded", decoded.events.len() as u64);
        Ok((decoded, metrics))
    }
}

/// The batch being parsed.
struct State<'a> {
    decoding: &'a Decoding,
    budget: BatchBudget,
    buf: Vec<u8>,
    id: String,
    batch: Batch,
}

/// The previous batch's records and events: the capacity the next one's
/// vectors start with. The record count is not known until the array
/// ends, and growing a 10,000-event vector by doubling holds the old and
/// the new buffer at once (peak RSS +2-4 MiB on the 10k bench); Lambda's
/// batches from one stream are of similar sizes. Capacity reserved and not
/// used is not touched, so costs no resident memory.
static RECORDS_HINT: AtomicUsize = AtomicUsize::new(0);
static EVENTS_HINT: AtomicUsize = AtomicUsize::new(0);

impl State<'_> {
    fn finish(self) -> Batch {
        let d = &self.batch.decoded;
        RECORDS_HINT.store(d.records, Ordering::Relaxed);
        EVENTS_HINT.store(d.events.len(), Ordering::Relaxed);
        self.batch
    }

    /// One record, once all of its fields are read.
    fn record(&mut self, r: RecordFields<'_>, k: KinesisFields<'_>) {
        let i = self.batch.decoded.records;
        let d = &mut self.batch.decoded;
        d.records += 1;
        self.id.clear();
        match r.event_id.as_deref() {
            Some(id) if !id.is_empty() => self.id.push_str(id),
            _ => {
                self.id.push_str("unknown-shard:");
                self.id.push_str(&k.sequence_number);
            }
        }
        let id = self.id.as_str();
        if self.batch.invalid.is_none() {
            match decode_base64(k.data.as_bytes(), &mut self.buf) {
                Err(e) => {
                    self.batch.invalid = Some(InvalidData {
                        index: i,
                        sequence_number: k.sequence_number.clone().into_owned(),
                        reason: e.to_string(),
                    })
                }
                Ok(()) => {
                    let first = d.events.len();
                    let fields = &self.decoding.fields;
                    match decode_record_into(&self.buf, id, fields, &mut self.budget, &mut d.events)
                    {
                        Ok(n) => {
                            let n = n - set_aside_validation(
                                &mut d.events,
                                first,
                                &mut self.batch.metrics,
                            );
                            d.event_record.extend(std::iter::repeat_n(i as u32, n));
                        }
                        Err(reason) => {
                            d.malformed.push(MalformedRecord {
                                index: i,
                                event_id: id.to_owned(),
                                sequence_number: k.sequence_number.clone().into_owned(),
                                reason,
                                sink_error: None,
                            });
                            let own = |s: Option<Cow<'_, str>>| {
                                s.map(Cow::into_owned).unwrap_or_default()
                            };
                            self.batch.malformed.push(MalformedData {
                                partition_key: k.partition_key.into_owned(),
                                arrival_ms: k.arrival_ms,
                                data: std::mem::take(&mut self.buf),
                                stream_arn: own(r.event_source_arn),
                                region: own(r.aws_region),
                                invoke_identity_arn: own(r.invoke_identity_arn),
                            });
                        }
                    }
                }
            }
        }
        let shard = shard_of(id);
        let shard = match d.shards.iter().position(|s| **s == *shard) {
            Some(p) => p,
            None => {
                d.shards.push(shard.into());
                d.shards.len() - 1
            }
        };
        d.seqs.push((shard as u32, Arc::from(&*k.sequence_number)));
    }
}

impl Batch {
    /// Parses a whole invocation body as a batch, decoded with
    /// `decoding` (no path tracking). The binary parses the body as it
    /// arrives instead ([`crate::incoming`]), element by element through
    /// the same seed ([`BatchBuilder`]); a body whose top level is not an
    /// object goes here.
    pub fn from_slice(body: &[u8], decoding: &Decoding) -> serde_json::Result<Batch> {
        let started = Instant::now();
        let mut de = serde_json::Deserializer::from_slice(body);
        let batch =
            de.deserialize_struct("Envelope", &["Records"], TopVisitor { decoding, started })?;
        de.end()?;
        Ok(batch)
    }
}

/// A [`Batch`] built one record at a time, from each record's JSON text
/// (the invocation loop's parse of the event as its body arrives,
/// [`crate::incoming`]). Each record goes through the same seed as in
/// [`Batch::from_slice`]: the same decoding, limits, malformed reasons and
/// errors, the position in an error being within the record's text.
pub struct BatchBuilder<'a> {
    state: State<'a>,
}

impl<'a> BatchBuilder<'a> {
    /// An empty batch, decoded with `decoding`; its parse starts now.
    pub fn new(decoding: &'a Decoding) -> BatchBuilder<'a> {
        let top = TopVisitor {
            decoding,
            started: Instant::now(),
        };
        BatchBuilder { state: top.state() }
    }

    /// One element of `Records`, its whole JSON text.
    pub fn record(&mut self, json: &[u8]) -> serde_json::Result<()> {
        let mut de = serde_json::Deserializer::from_slice(json);
        Record(&mut self.state).deserialize(&mut de)?;
        de.end()
    }

    /// The whole value of `Records` (when it is not read element by
    /// element: its error is [`Batch::from_slice`]'s).
    pub fn records(&mut self, json: &[u8]) -> serde_json::Result<()> {
        let mut de = serde_json::Deserializer::from_slice(json);
        Records(&mut self.state).deserialize(&mut de)?;
        de.end()
    }

    /// Records read so far.
    pub fn len(&self) -> usize {
        self.state.batch.decoded.records
    }

    /// Whether no record was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch.
    pub fn finish(self) -> Batch {
        self.state.finish()
    }
}

/// A struct's field name -> its position in `names` (None: not one of
/// them, ignored), matched without allocating.
struct FieldName(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for FieldName {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| *n == v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| n.as_bytes() == v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(usize::try_from(v).ok().filter(|i| *i < self.0.len()))
    }
}

/// Base64 `data` decoded into `buf` (cleared first) by base64-simd, which
/// refuses exactly what the base64 crate's `STANDARD` engine refuses, the
/// engine `aws_lambda_events`' typed event decodes with (padding required
/// and canonical, no trailing bits; test
/// `simd_base64_refuses_what_the_base64_crate_refuses`). A refusal is
/// decoded again by the base64 crate, for its message.
fn decode_base64(src: &[u8], buf: &mut Vec<u8>) -> Result<(), base64::DecodeError> {
    buf.clear();
    if base64_simd::STANDARD.decode_append(src, buf).is_ok() {
        return Ok(());
    }
    buf.clear();
    base64::engine::general_purpose::STANDARD.decode_vec(src, buf)
}

/// A JSON string, borrowed from the body when it has no escapes.
struct Str;

impl<'de> DeserializeSeed<'de> for Str {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Str {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// `Option<String>`, borrowed: null is `None`.
struct OptStr;

impl<'de> DeserializeSeed<'de> for OptStr {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptStr {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Str.deserialize(d).map(Some)
    }
}

/// `approximateArrivalTimestamp` as epoch milliseconds, read by
/// `aws_lambda_events`' own [`SecondTimestamp`] (the same value, the same
/// errors as the typed event), without its buffering of the token.
struct Arrival;

/// `SecondTimestamp`'s error for a value that is neither a string nor a
/// number (its untagged helper's).
const NOT_A_TIMESTAMP: &str = "data did not match any variant of untagged enum StringOrNumber";

impl Arrival {
    /// The value as epoch milliseconds, or `SecondTimestamp`'s message.
    fn from<'a>(d: impl Deserializer<'a, Error = de::value::Error>) -> Result<i64, String> {
        SecondTimestamp::deserialize(Newtype(d))
            .map(|t| t.timestamp_millis())
            .map_err(|e| e.to_string())
    }

    /// A number as `SecondTimestamp` reads it, without allocating, when
    /// it reads it plainly; else `SecondTimestamp` itself.
    fn number(v: f64) -> Result<i64, String> {
        match plain_millis(v) {
            Some(ms) => Ok(ms),
            None => Self::from(de::value::F64Deserializer::<de::value::Error>::new(v)),
        }
    }
}

/// `SecondTimestamp`'s reading of a number (it writes the `f64` in its
/// shortest decimal form and reads the digits on each side of the point,
/// so `.25` is 25 ms, as written), without its allocations, for the forms
/// it reads plainly: `<digits>` or `<digits>.<at most 3 digits>`, at most
/// 11 digits of seconds (within chrono's range). `None` for anything else
/// (negative, exponent, more digits), which `SecondTimestamp` then reads.
///
/// Without writing the digits: below 1e11 an `f64`'s spacing is under
/// 2e-5 s, so at most one decimal with three fraction digits reads back as
/// `v`. If `round(v * 1000) / 1000` (one correctly rounded division) is `v`,
/// that decimal is `v`'s shortest form, trailing zeros dropped; if not, the
/// shortest form has more than three fraction digits.
fn plain_millis(v: f64) -> Option<i64> {
    if v.is_sign_negative() || v.is_nan() || v >= 1e11 {
        return None;
    }
    let ms = (v * 1000.0).round() as i64;
    if ms as f64 / 1000.0 != v {
        return None;
    }
    let mut frac = ms % 1000;
    while frac != 0 && frac % 10 == 0 {
        frac /= 10;
    }
    Some(ms / 1000 * 1000 + frac)
}

/// A value deserializer that also reads as a newtype struct (as
/// serde_json's does), for [`SecondTimestamp`].
struct Newtype<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Newtype<D> {
    type Error = D::Error;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(v)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, D::Error> {
        v.visit_newtype_struct(self.0)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> DeserializeSeed<'de> for Arrival {
    type Value = i64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        // Like the untagged helper, the value is read whole first and a
        // wrong one refused after it (so serde_json places the error at
        // the same position).
        d.deserialize_any(self)?.map_err(de::Error::custom)
    }
}

type Read = Result<i64, String>;

impl<'de> Visitor<'de> for Arrival {
    type Value = Read;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a timestamp (epoch seconds, a number or a string)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Read, E> {
        // Its helper parses a string as an `f64`, then reads the number.
        Ok(match v.parse::<f64>() {
            Ok(n) => Self::number(n),
            Err(_) => Self::from(de::value::StrDeserializer::<de::value::Error>::new(v)),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Read, E> {
        Ok(Self::number(v))
    }
    // Integers are read as `f64` by its helper too.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Read, E> {
        Ok(Self::number(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Read, E> {
        Ok(Self::number(v as f64))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Read, E> {
        Ok(Err(NOT_A_TIMESTAMP.into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Read, E> {
        Ok(Err(NOT_A_TIMESTAMP.into()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err(NOT_A_TIMESTAMP.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Read, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(NOT_A_TIMESTAMP.into()))
    }
}

struct TopVisitor<'a> {
    decoding: &'a Decoding,
    started: Instant,
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = Batch;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Envelope")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Batch, A::Error> {
        let mut state: Option<State<'_>> = None;
        while let Some(key) = map.next_key_seed(FieldName(&["Records"]))? {
            match key {
                Some(_) => {
                    if state.is_some() {
                        return Err(de::Error::duplicate_field("Records"));
                    }
                    let mut st = self.state();
                    map.next_value_seed(Records(&mut st))?;
                    state = Some(st);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let st = state.ok_or_else(|| de::Error::missing_field("Records"))?;
        Ok(st.finish())
    }
    /// `[records]`: serde's derived structs read a sequence by position
    /// (so [`Envelope`] does); the same here, with its message.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch, A::Error> {
        let mut st = self.state();
        match seq.next_element_seed(Records(&mut st))? {
            Some(()) => Ok(st.finish()),
            None => Err(de::Error::invalid_length(
                0,
                &"struct Envelope with 1 element",
            )),
        }
    }
}

impl<'a> TopVisitor<'a> {
    fn state(&self) -> State<'a> {
        State {
            decoding: self.decoding,
            budget: BatchBudget::new(self.decoding.limits),
            buf: Vec::new(),
            id: String::new(),
            batch: Batch {
                decoded: Decoded {
                    events: Vec::with_capacity(EVENTS_HINT.load(Ordering::Relaxed)),
                    event_record: Vec::with_capacity(EVENTS_HINT.load(Ordering::Relaxed)),
                    seqs: Vec::with_capacity(RECORDS_HINT.load(Ordering::Relaxed)),
                    ..Decoded::default()
                },
                malformed: Vec::new(),
                invalid: None,
                metrics: Metrics::new(FUNCTION_NAME),
                started: self.started,
            },
        }
    }
}

struct Records<'s, 'a>(&'s mut State<'a>);

impl<'de> DeserializeSeed<'de> for Records<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Record(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct Record<'s, 'a>(&'s mut State<'a>);

/// A record's own fields, as read.
struct RecordFields<'de> {
    event_id: Option<Cow<'de, str>>,
    event_source_arn: Option<Cow<'de, str>>,
    aws_region: Option<Cow<'de, str>>,
    invoke_identity_arn: Option<Cow<'de, str>>,
}

/// Its `kinesis` object's.
struct KinesisFields<'de> {
    arrival_ms: i64,
    data: Cow<'de, str>,
    partition_key: Cow<'de, str>,
    sequence_number: Cow<'de, str>,
}

const RECORD_FIELDS: &[&str] = &[
    "eventID",
    "eventSourceARN",
    "awsRegion",
    "invokeIdentityArn",
    "kinesis",
];
const KINESIS_FIELDS: &[&str] = &[
    "approximateArrivalTimestamp",
    "data",
    "partitionKey",
    "sequenceNumber",
];

impl<'de> DeserializeSeed<'de> for Record<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("EnvelopeRecord", RECORD_FIELDS, self)
    }
}

impl<'de> Visitor<'de> for Record<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct EnvelopeRecord")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut strs: [Option<Option<Cow<'de, str>>>; 4] = [None, None, None, None];
        let mut kinesis: Option<KinesisFields<'de>> = None;
        while let Some(key) = map.next_key_seed(FieldName(RECORD_FIELDS))? {
            match key {
                Some(4) => {
                    if kinesis.is_some() {
                        return Err(de::Error::duplicate_field("kinesis"));
                    }
                    kinesis = Some(map.next_value_seed(Kinesis)?);
                }
                Some(i) => {
                    if strs[i].is_some() {
                        return Err(de::Error::duplicate_field(RECORD_FIELDS[i]));
                    }
                    strs[i] = Some(map.next_value_seed(OptStr)?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kinesis = kinesis.ok_or_else(|| de::Error::missing_field("kinesis"))?;
        let [event_id, event_source_arn, aws_region, invoke_identity_arn] =
            strs.map(Option::flatten);
        self.0.record(
            RecordFields {
                event_id,
                event_source_arn,
                aws_region,
                invoke_identity_arn,
            },
            kinesis,
        );
        Ok(())
    }
}

struct Kinesis;

impl<'de> DeserializeSeed<'de> for Kinesis {
    type Value = KinesisFields<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_struct("EnvelopeKinesis", KINESIS_FIELDS, self)
    }
}

impl<'de> Visitor<'de> for Kinesis {
    type Value = KinesisFields<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct EnvelopeKinesis")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut arrival: Option<i64> = None;
        let mut strs: [Option<Cow<'de, str>>; 3] = [None, None, None];
        while let Some(key) = map.next_key_seed(FieldName(KINESIS_FIELDS))? {
            match key {
                Some(0) => {
                    if arrival.is_some() {
                        return Err(de::Error::duplicate_field(KINESIS_FIELDS[0]));
                    }
                    arrival = Some(map.next_value_seed(Arrival)?);
                }
                Some(i) => {
                    if strs[i - 1].is_some() {
                        return Err(de::Error::duplicate_field(KINESIS_FIELDS[i]));
                    }
                    strs[i - 1] = Some(map.next_value_seed(Str)?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let arrival_ms = arrival.ok_or_else(|| de::Error::missing_field(KINESIS_FIELDS[0]))?;
        let [data, partition_key, sequence_number] = strs;
        let data = data.ok_or_else(|| de::Error::missing_field(KINESIS_FIELDS[1]))?;
        Ok(KinesisFields {
            arrival_ms,
            data,
            partition_key: partition_key.unwrap_or_default(),
            sequence_number: sequence_number.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::KinesisEvent;

    use std::sync::Arc as StdArc;

    use crate::processor::{InvocationInfo, ProcessorConfig, StreamProcessor, StubRunner};
    use crate::sink::MemorySink;
    use warden_core::aws::deadline::Deadline;

    pub(crate) fn processor() -> StreamProcessor<StubRunner, MemorySink> {
        let policy = warden_core::shell::default_policy().unwrap();
        StreamProcessor::new(
            StdArc::new(policy),
            StubRunner,
            MemorySink::new(),
            ProcessorConfig {
                default_fleet_arn: Some("arn:aws:worklink::123456789012:fleet/corp".into()),
                ..ProcessorConfig::default()
            },
        )
    }

    pub(crate) fn inv() -> InvocationInfo<'static> {
        InvocationInfo {
            request_id: "req-1",
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            deadline: Deadline::none(),
        }
    }

    pub(crate) fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// A batch of every kind of record: plain, NDJSON, gzip, malformed
    /// (not JSON, not an object, empty), a Secure Browser validation event,
    /// no eventID, escaped strings, string and integer timestamps, unknown
    /// fields, fields in another order.
    pub(crate) fn mixed_event() -> String {
        let out = r#"{"eventType":"SignIn","userName":"mallory","sourceIp":"203.0.113.9","fleetArn":"arn:aws:worklink::123456789012:fleet/corp"}"#;
        let data: Vec<Vec<u8>> = vec![
            out.as_bytes().to_vec(),
            b"{\"userName\":\"a\"}\n{\"userName\":\"b\",\"eventType\":\"VisitPage\",\"details\":{\"url\":\"https://x.example.com/\"}}\n".to_vec(),
            gzip(out.as_bytes()),
            b"not json {".to_vec(),
            b"[1]".to_vec(),
            b"  ".to_vec(),
            br#"{"eventType":"Validation","details":{"operation":"x"},"portalArn":"arn:aws:workspaces-web:us-east-1:123456789012:portal/p"}"#.to_vec(),
            br#"{"eventType":"SignIn","userName":"former.employee@example.com"}"#.to_vec(),
        ];
        let mut recs: Vec<String> = data
            .iter()
            .enumerate()
            .map(|(i, d)| {
                format!(
                    r#"{{"kinesis": {{"kinesisSchemaVersion": "1.0", "partitionKey": "pk\u0069-{i}", "sequenceNumber": "49{i:054}",
                        "data": "{}", "approximateArrivalTimestamp": {}}},
                      "eventSource": "aws:kinesis", "eventID": "shardId-000000000002:49{i:054}",
                      "invokeIdentityArn": "arn:aws:iam::1:role/r", "awsRegion": "us-east-1",
                      "eventSourceARN": "arn:aws:kinesis:us-east-1:1:stream/s", "extra": [1, {{"a": null}}]}}"#,
                    b64(d),
                    match i % 3 {
                        0 => "1795433400.25".to_string(),
                        1 => "\"1795433401.5\"".to_string(),
                        _ => "1795433402".to_string(),
                    }
                )
            })
            .collect();
        // No eventID, fields in another order, escaped region.
        recs.push(format!(
            r#"{{"awsRegion": "us-\u0065ast-1", "kinesis": {{"data": "{}", "sequenceNumber": "77", "approximateArrivalTimestamp": 1795433403}}}}"#,
            b64(b"{\"a\":")
        ));
        format!(
            r#"{{"Records": [{}], "other": {{"Records": 1}}}}"#,
            recs.join(",")
        )
    }

    fn batch(p: &StreamProcessor<StubRunner, MemorySink>, json: &str) -> Result<Batch, String> {
        Batch::from_slice(json.as_bytes(), &Decoding::of(p)).map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn the_batch_decoded_at_parse_time_reports_what_the_envelope_does() {
        let json = mixed_event();
        let (a, b) = (processor(), processor());
        let envelope: Envelope = serde_json::from_str(&json).unwrap();
        let before = a.process_envelope(envelope, &inv()).await.unwrap();
        let parsed = batch(&b, &json).unwrap();
        assert_eq!(parsed.len(), 9);
        let after = b.process_batch(parsed, &inv()).await.unwrap();
        assert_eq!(after.response, before.response);
        assert_eq!(
            (after.records, after.events),
            (before.records, before.events)
        );
        assert_eq!(after.events_matched, before.events_matched);
        assert_eq!(after.malformed, before.malformed);
        assert_eq!(
            after
                .malformed
                .iter()
                .map(|m| m.reason.code())
                .collect::<Vec<_>>(),
            ["not-json", "not-object", "empty", "not-json"]
        );
        assert_eq!(after.failure, before.failure);
        assert_eq!(format!("{:?}", after.plan), format!("{:?}", before.plan));
        assert!(!after.plan.actions.is_empty(), "{:?}", after.plan);
        assert_eq!(after.metrics.to_emf(1), before.metrics.to_emf(1));
        assert_eq!(after.metrics.get("ValidationEvents"), 1.0);
        assert_eq!(b.sink().messages(), a.sink().messages());
        assert_eq!(b.sink().messages().len(), 4);
    }

    #[tokio::test]
    async fn invalid_base64_fails_the_batch_as_the_envelope_does() {
        let json = r#"{"Records": [
            {"eventID": "s:1", "kinesis": {"sequenceNumber": "1", "data": "bm90IGpzb24=", "approximateArrivalTimestamp": 1}},
            {"eventID": "s:2", "kinesis": {"sequenceNumber": "2", "data": "%%%", "approximateArrivalTimestamp": 1}},
            {"eventID": "s:3", "kinesis": {"sequenceNumber": "3", "data": "e30=", "approximateArrivalTimestamp": 1}}]}"#;
        let (a, b) = (processor(), processor());
        let envelope: Envelope = serde_json::from_str(json).unwrap();
        let before = a.process_envelope(envelope, &inv()).await.unwrap_err();
        let after = b
            .process_batch(batch(&b, json).unwrap(), &inv())
            .await
            .unwrap_err();
        assert_eq!(after, before);
        assert_eq!(after.index, 1);
        assert!(a.sink().messages().is_empty() && b.sink().messages().is_empty());
    }

    #[test]
    fn the_batch_rejects_what_the_envelope_rejects_with_the_same_message() {
        let p = processor();
        for bad in [
            r#"{"Records": [{"kinesis": {"data": "aGk="}}]}"#,
            r#"{"Records": [{"kinesis": {"approximateArrivalTimestamp": 1}}]}"#,
            r#"{"Records": [{"eventID": "x"}]}"#,
            r#"{"records": []}"#,
            r#"[]"#,
            r#"{"Records": {}}"#,
            r#"{"Records": [], "Records": []}"#,
            r#"{"Records": [{"kinesis": {"data": "", "data": "", "approximateArrivalTimestamp": 1}}]}"#,
            r#"{"Records": [{"eventID": "a", "eventID": "b", "kinesis": {"data": "", "approximateArrivalTimestamp": 1}}]}"#,
            r#"{"Records": [{"kinesis": {"data": 5, "approximateArrivalTimestamp": 1}}]}"#,
            r#"{"Records": [{"kinesis": {"data": null, "approximateArrivalTimestamp": 1}}]}"#,
            r#"{"Records": [{"kinesis": {"data": "", "partitionKey": null, "approximateArrivalTimestamp": 1}}]}"#,
            r#"{"Records": [{"eventID": 7, "kinesis": {"data": "", "approximateArrivalTimestamp": 1}}]}"#,
            r#"{"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": true}}]}"#,
            r#"{"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": null}}]}"#,
            r#"{"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": "soon"}}]}"#,
            r#"{"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": -1}}]}"#,
            r#"{"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": 1e300}}]}"#,
            r#"{"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": [1]}}]}"#,
            r#"{"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": 1}]}"#,
            r#"{"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": 1}}]} x"#,
        ] {
            let envelope = serde_json::from_str::<Envelope>(bad)
                .map(|_| ())
                .map_err(|e| e.to_string());
            let parsed = batch(&p, bad).map(|_| ());
            assert!(envelope.is_err(), "{bad}");
            assert_eq!(parsed, envelope, "{bad}");
        }
        // Accepted alike: null optional fields, a string timestamp.
        let ok = r#"{"Records": [{"eventID": null, "awsRegion": null, "kinesis": {"data": "e30=", "approximateArrivalTimestamp": "1700000000.123"}}]}"#;
        assert!(serde_json::from_str::<Envelope>(ok).is_ok());
        assert!(batch(&p, ok).is_ok());
    }

    #[test]
    fn simd_base64_refuses_what_the_base64_crate_refuses() {
        let standard = &base64::engine::general_purpose::STANDARD;
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n.\x80";
        let mut cases: Vec<Vec<u8>> = [
            "", "=", "==", "===", "====", "A", "AA", "AA=", "AA==", "AAA=", "AB==", "AAB=", "QQ==",
            "QR==", "QUI=", "QUJ=", "QUJD", "QUJD====", "QU=D", "Q===", "QUJDRA", "QUJDRA=",
            "QUJDRA==", " QUJD", "QUJD\n", "QUJD-_==", "////", "++++",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for len in 0..300 {
            // Valid encodings of every length (the SIMD paths take 32 bytes
            // at a time), then one byte of each altered.
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let good = standard.encode(&data).into_bytes();
            for i in 0..8 {
                let mut bad = good.clone();
                if !bad.is_empty() {
                    let at = next() as usize % bad.len();
                    // Any byte of the alphabet, or one that is never inside
                    // standard base64.
                    let from: &[u8] = if i % 2 == 0 {
                        alphabet
                    } else {
                        &alphabet[64..]
                    };
                    bad[at] = from[next() as usize % from.len()];
                }
                cases.push(bad);
            }
            let mut cut = good.clone();
            cut.truncate(good.len().saturating_sub(1 + next() as usize % 3));
            cases.push(cut);
            cases.push(good);
        }
        let (mut refused, mut accepted) = (0, 0);
        let mut buf = Vec::new();
        for case in &cases {
            let simd = base64_simd::STANDARD.decode_to_vec(case).ok();
            let scalar = standard.decode(case).ok();
            assert_eq!(simd, scalar, "{:?}", String::from_utf8_lossy(case));
            let ours = decode_base64(case, &mut buf).map(|()| buf.clone());
            assert_eq!(
                ours,
                standard.decode(case),
                "{:?}",
                String::from_utf8_lossy(case)
            );
            if scalar.is_some() {
                accepted += 1
            } else {
                refused += 1
            }
        }
        assert!(
            refused > 1000 && accepted > 300,
            "{refused} refused, {accepted} accepted"
        );
    }

    /// The digits as `SecondTimestamp` writes them, read back: what
    /// `plain_millis` computes without writing them.
    fn plain_millis_by_text(v: f64) -> Option<i64> {
        let text = v.to_string();
        let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 11 || frac.len() > 3 || !digits(whole) || !digits(frac)
        {
            return None;
        }
        let frac: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        Some(whole.parse::<i64>().ok()? * 1000 + frac)
    }

    #[test]
    fn plain_millis_reads_the_shortest_digits() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut values = vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
            1e11,
            1e11 - 1e-4,
        ];
        for _ in 0..200_000 {
            let r = next();
            let ms = (r >> 20) % 200_000_000_000_000;
            let v = ms as f64 / 1000.0;
            values.push(v);
            // A neighbour a few units in the last place away, and values
            // with fewer fraction digits.
            values.push(f64::from_bits(
                v.to_bits().wrapping_add(r % 5).wrapping_sub(2),
            ));
            values.push((ms / 10) as f64 / 100.0);
            values.push((ms / 100) as f64 / 10.0);
            // Any bit pattern.
            values.push(f64::from_bits(r));
        }
        for v in values {
            assert_eq!(
                plain_millis(v),
                plain_millis_by_text(v),
                "{v:?} ({:#x})",
                v.to_bits()
            );
        }
    }

    #[test]
    fn arrival_times_are_read_as_second_timestamp_reads_them() {
        let mut cases: Vec<String> = [
            "1795433400.25",
            "1700000000.123",
            "1700000000.1234",
            "0.05",
            "0",
            "1",
            "-1",
            "1e10",
            "1.5e11",
            "123456789012.5",
            "99999999999.999",
            "1.0000001",
            "1e300",
            "-0.5",
            "18446744073709551615",
            "-9223372036854775808",
            "\"1700000000.5\"",
            "\"1e3\"",
            "\"NaN\"",
            "\"inf\"",
            "\" 1\"",
            "\"-2\"",
            "\"\"",
            "5e-324",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(format!("{}", (x % 2_000_000_000_000) as f64 / 1000.0));
            cases.push(format!("{}.{}", x % 100_000_000_000, x % 1000));
        }
        for text in [
            "-0",
            "-0.0",
            "0.0005",
            "0.9995",
            "0.001",
            "0.01",
            "0.1",
            "0.5",
            "0.999",
            "99999999999.9995",
            "99999999999.999",
            "99999999999",
            "100000000000",
            "100000000000.5",
            "1700000000.1005",
            "1700000000.0005",
            "1700000000.001",
            "1700000000.010",
            "1700000000.100",
            "4503599627.370496",
            "9007199254740993",
        ] {
            cases.push(text.to_string());
        }
        for text in &cases {
            let typed = serde_json::from_str::<SecondTimestamp>(text)
                .map(|t| t.timestamp_millis())
                .map_err(|e| e.to_string());
            let ours = Arrival
                .deserialize(&mut serde_json::Deserializer::from_str(text))
                .map_err(|e| e.to_string());
            assert_eq!(ours, typed, "{text}");
        }
    }

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
