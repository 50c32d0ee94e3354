//! One Kinesis record's data -> audit events.
//!
//! The data bytes hold one JSON audit event, or several separated by white
//! space (NDJSON: one per line; a pretty-printed single object is accepted
//! too). Data starting with the gzip magic bytes (`1f 8b`) is inflated first
//! (multi-member gzip included, as CloudWatch Logs subscriptions write it).
//!
//! A record is decoded all or nothing: if any part of it is malformed, none of
//! its events is evaluated and the whole record goes to the failure sink with
//! the reason, so it can be repaired and replayed as one unit.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use serde_json::Value;

use warden_core::error::EventError;
use warden_core::event::{AuditEvent, FieldMap, Interner, Projected, ProjectionScope};

/// Records whose data is larger than this are malformed (Kinesis' own limit
/// for a data blob is 1 MiB, so only a misbehaving producer gets here).
pub const MAX_RECORD_BYTES: usize = warden_core::event::MAX_RECORD_BYTES;

/// Gzip data may inflate to at most this many bytes (a guard against
/// decompression bombs: 1 MiB of gzip can hold gigabytes of zeros).
pub const MAX_INFLATED_BYTES: usize = 16 * 1024 * 1024;

/// Default limit on the events of one record (`WARDEN_MAX_EVENTS_PER_RECORD`).
/// A producer writes a handful per record; 10,000 tiny events are ~20 KB of
/// gzip, so a record over it is a bomb, not a log batch.
pub const MAX_EVENTS_PER_RECORD: usize = 10_000;

/// Default limit on the bytes inflated from the gzip records of one batch
/// (`WARDEN_MAX_INFLATED_BYTES_PER_BATCH`): with the per-record limit it
/// bounds the decoded text a batch holds, whatever the records compress to.
pub const MAX_INFLATED_BYTES_PER_BATCH: usize = 64 * 1024 * 1024;

/// The decoding limits, per record and per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Events per record.
    pub max_events_per_record: usize,
    /// Bytes one gzip record may inflate to.
    pub max_inflated_per_record: usize,
    /// Bytes all gzip records of a batch may inflate to together.
    pub max_inflated_per_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events_per_record: MAX_EVENTS_PER_RECORD,
            max_inflated_per_record: MAX_INFLATED_BYTES,
            max_inflated_per_batch: MAX_INFLATED_BYTES_PER_BATCH,
        }
    }
}

/// One batch's decoding budget: the [`Limits`] and what the batch's records
/// have inflated so far, and the text its events share ([`Interner`]: a
/// fleet ARN, a user agent, a user is held once per batch, not per event).
/// Make one per batch and pass it to every [`decode_record_into`] of the
/// batch.
#[derive(Debug, Clone)]
pub struct BatchBudget {
    limits: Limits,
    inflated: usize,
    texts: Interner,
}

impl BatchBudget {
    /// A fresh budget.
    pub fn new(limits: Limits) -> Self {
        BatchBudget {
            limits,
            inflated: 0,
            texts: Interner::new(),
        }
    }

    /// Bytes inflated by the batch's records so far (a malformed record's
    /// inflated bytes count too: the work was done).
    pub fn inflated(&self) -> usize {
        self.inflated
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// The first two bytes of every gzip member (RFC 1952).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a record is malformed. The `Display` text is the reason given in logs
/// and in the failure sink; [`Malformed::code`] is a stable short form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The data (or, for gzip, the inflated data) is over the limit.
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// `record data`, `inflated data` or `event N`.
        what: String,
        /// Its size (for inflated data: at least this).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Starts with the gzip magic bytes but does not inflate.
    #[error("gzip data does not inflate: {reason}")]
    BadGzip {
        /// The inflater's message.
        reason: String,
    },
    /// More events in the record than the per-record limit.
    #[error("record holds more than {limit} events (the per-record limit); decoding stopped at event {index}")]
    TooManyEvents {
        /// The limit.
        limit: usize,
        /// The 1-based position of the event over the limit.
        index: usize,
    },
    /// The batch's gzip records inflated past the per-batch limit: this
    /// record was not decoded (or not completely).
    #[error("the batch's gzip records inflate to more than {limit} bytes (the per-batch limit; {used} bytes before this record)")]
    BatchInflatedLimit {
        /// The limit.
        limit: usize,
        /// Bytes inflated by the earlier records of the batch.
        used: usize,
    },
    /// Not UTF-8.
    #[error("{what} is not valid UTF-8 (first invalid byte at offset {offset})")]
    NotUtf8 {
        /// `record data` or `inflated data`.
        what: &'static str,
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// No JSON at all (empty or white space only).
    #[error("{what} holds no audit event (empty or white space only)")]
    Empty {
        /// `record data` or `inflated data`.
        what: &'static str,
    },
    /// Not JSON.
    #[error("event {index}: not valid JSON: {reason}")]
    NotJson {
        /// 1-based position of the event in the record.
        index: usize,
        /// The parser's message (with line and column in the data).
        reason: String,
    },
    /// JSON, but not an object.
    #[error("event {index}: expected a JSON object, found {found}")]
    NotObject {
        /// 1-based position of the event in the record.
        index: usize,
        /// What it was instead.
        found: &'static str,
    },
}

impl Malformed {
    /// A stable short code (`too-large`, `too-many-events`,
    /// `batch-inflated-limit`, `bad-gzip`, `not-utf8`, `empty`, `not-json`,
    /// `not-object`) for metrics and sink consumers.
    pub fn code(&self) -> &'static str {
        match self {
            Malformed::TooLarge { .. } => "too-large",
            Malformed::TooManyEvents { .. } => "too-many-events",
            Malformed::BatchInflatedLimit { .. } => "batch-inflated-limit",
            Malformed::BadGzip { .. } => "bad-gzip",
            Malformed::NotUtf8 { .. } => "not-utf8",
            Malformed::Empty { .. } => "empty",
            Malformed::NotJson { .. } => "not-json",
            Malformed::NotObject { .. } => "not-object",
        }
    }
}

/// Whether `data` is gzip (by its magic bytes).
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

/// Inflates gzip data, refusing more than `limit` bytes of output.
fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, Malformed> {
    let mut out = Vec::with_capacity((data.len() * 4).min(limit));
    let mut decoder = flate2::read::MultiGzDecoder::new(data).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| Malformed::BadGzip {
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(Malformed::TooLarge {
            what: "inflated data".into(),
            size: out.len(),
            limit,
        });
    }
    Ok(out)
}

/// Decodes one record's data into events appended to `out`, and returns how
/// many were appended. `source_id` names the record (the Lambda `eventID`,
/// `shardId-...:sequence`); a record holding several events gives them the
/// ids `source_id#1`, `source_id#2`, ... On error nothing is appended.
///
/// `budget` is the batch's: a gzip record inflates to at most the smaller of
/// the per-record limit and what is left of the per-batch one, and decoding
/// stops at the first event over the per-record event limit, so the work
/// (and memory) per record and per batch is bounded whatever the data.
pub fn decode_record_into(
    data: &[u8],
    source_id: &str,
    fields: &FieldMap,
    budget: &mut BatchBudget,
    out: &mut Vec<AuditEvent>,
) -> Result<usize, Malformed> {
    if data.len() > MAX_RECORD_BYTES {
        return Err(Malformed::TooLarge {
            what: "record data".into(),
            size: data.len(),
            limit: MAX_RECORD_BYTES,
        });
    }
    let (bytes, what): (Cow<'_, [u8]>, &'static str) = if is_gzip(data) {
        let limits = budget.limits;
        let used = budget.inflated;
        let left = limits.max_inflated_per_batch.saturating_sub(used);
        if left == 0 {
            return Err(Malformed::BatchInflatedLimit {
                limit: limits.max_inflated_per_batch,
                used,
            });
        }
        let limit = limits.max_inflated_per_record.min(left);
        let inflated = inflate(data, limit);
        budget.inflated = match &inflated {
            Ok(bytes) => used + bytes.len(),
            // Over the limit: the batch spent all of it.
            Err(Malformed::TooLarge { .. }) => used + limit,
            Err(_) => used,
        };
        match inflated {
            Ok(bytes) => (Cow::Owned(bytes), "inflated data"),
            Err(Malformed::TooLarge { .. }) if limit < limits.max_inflated_per_record => {
                return Err(Malformed::BatchInflatedLimit {
                    limit: limits.max_inflated_per_batch,
                    used,
                })
            }
            Err(e) => return Err(e),
        }
    } else {
        (Cow::Borrowed(data), "record data")
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| Malformed::NotUtf8 {
        what,
        offset: e.valid_up_to(),
    })?;
    let start = out.len();
    let max_events = budget.limits.max_events_per_record;
    let result = decode_text(
        text,
        source_id,
        fields,
        what,
        max_events,
        &mut budget.texts,
        out,
    );
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn decode_text(
    text: &str,
    source_id: &str,
    fields: &FieldMap,
    what: &'static str,
    max_events: usize,
    texts: &mut Interner,
    out: &mut Vec<AuditEvent>,
) -> Result<usize, Malformed> {
    let ctx = Ctx {
        source_id,
        fields,
        what,
        max_events,
    };
    if fields.reads_raw() {
        // A rule reads `raw.` paths: every event keeps its whole JSON.
        decode_stream::<Value>(text, &ctx, texts, out)
    } else {
        // Only the core fields' paths are read, in one pass that keeps
        // nothing else (validated exactly as the parse into `Value`).
        let _scope = ProjectionScope::enter(fields);
        decode_stream::<Projected<'_>>(text, &ctx, texts, out)
    }
}

/// What [`decode_stream`] reads a record's data with.
struct Ctx<'c> {
    source_id: &'c str,
    fields: &'c FieldMap,
    what: &'static str,
    max_events: usize,
}

/// One event of a record's data, as parsed: the whole JSON, or the
/// projection of the field map's paths.
trait Item<'a>: serde::Deserialize<'a> {
    fn into_event(
        self,
        source_id: Arc<str>,
        index: usize,
        fields: &FieldMap,
        texts: &mut Interner,
    ) -> Result<AuditEvent, Malformed>;
}

impl Item<'_> for Value {
    fn into_event(
        self,
        source_id: Arc<str>,
        index: usize,
        fields: &FieldMap,
        _texts: &mut Interner,
    ) -> Result<AuditEvent, Malformed> {
        match AuditEvent::from_json(self, &*source_id, fields) {
            Ok(ev) => Ok(ev),
            Err(EventError::NotObject { found, .. }) => Err(Malformed::NotObject { index, found }),
            Err(EventError::NotJson { reason, .. }) => Err(Malformed::NotJson { index, reason }),
            Err(EventError::TooLarge { size, limit, .. }) => Err(Malformed::TooLarge {
                what: format!("event {index}"),
                size,
                limit,
            }),
        }
    }
}

impl<'a> Item<'a> for Projected<'a> {
    fn into_event(
        self,
        source_id: Arc<str>,
        index: usize,
        _fields: &FieldMap,
        texts: &mut Interner,
    ) -> Result<AuditEvent, Malformed> {
        if let Some(found) = self.not_object() {
            return Err(Malformed::NotObject { index, found });
        }
        self.into_event(source_id, texts)
            .ok_or(Malformed::NotObject { index, found: "?" })
    }
}

fn decode_stream<'a, T: Item<'a>>(
    text: &'a str,
    ctx: &Ctx<'_>,
    texts: &mut Interner,
    out: &mut Vec<AuditEvent>,
) -> Result<usize, Malformed> {
    let Ctx {
        source_id,
        fields,
        what,
        max_events,
    } = *ctx;
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<T>();
    let mut index = 0usize;
    let mut last_end = 0usize;
    let mut first: Option<T> = None;
    let mut push = |item: T, id: Arc<str>, index: usize| -> Result<(), Malformed> {
        out.push(item.into_event(id, index, fields, texts)?);
        Ok(())
    };
    loop {
        let next = stream.next();
        let Some(item) = next else { break };
        index += 1;
        if index > max_events {
            return Err(Malformed::TooManyEvents {
                limit: max_events,
                index,
            });
        }
        let value = item.map_err(|e| Malformed::NotJson {
            index,
            reason: e.to_string(),
        })?;
        let end = stream.byte_offset();
        let size = end - last_end;
        last_end = end;
        if size > MAX_RECORD_BYTES {
            return Err(Malformed::TooLarge {
                what: format!("event {index}"),
                size,
                limit: MAX_RECORD_BYTES,
            });
        }
        // The first event's id depends on whether a second one follows, so
        // it is built once the second arrives (or the data ends).
        match index {
            1 => first = Some(value),
            2 => {
                if let Some(v) = first.take() {
                    push(v, format!("{source_id}#1").into(), 1)?;
                }
                push(value, format!("{source_id}#2").into(), 2)?;
            }
            n => push(value, format!("{source_id}#{n}").into(), n)?,
        }
    }
    match (index, first) {
        (0, _) => Err(Malformed::Empty { what }),
        (1, Some(v)) => {
            push(v, Arc::from(source_id), 1)?;
            Ok(1)
        }
        (n, _) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn decode(data: &[u8]) -> Result<Vec<AuditEvent>, Malformed> {
        let mut out = Vec::new();
        let n = decode_record_into(
            data,
            "shardId-000000000000:42",
            &FieldMap::default(),
            &mut BatchBudget::new(Limits::default()),
            &mut out,
        )?;
        assert_eq!(n, out.len());
        Ok(out)
    }

    #[test]
    fn a_batch_shares_the_text_its_events_repeat() {
        let mut budget = BatchBudget::new(Limits::default());
        let mut out = Vec::new();
        let fields = FieldMap::default();
        for (i, user) in ["alice", "bob", "alice"].iter().enumerate() {
            let data = format!(
                r#"{{"eventType":"VisitPage","userName":"{user}","fleetArn":"arn:aws:worklink::1:fleet/f","deviceId":"d-{user}","userAgent":"UA","details":{{"url":"https://Wiki.Example.com/{i}"}},"eventId":"e-{i}"}}"#
            );
            decode_record_into(
                data.as_bytes(),
                &format!("s:{i}"),
                &fields,
                &mut budget,
                &mut out,
            )
            .unwrap();
        }
        let shared = |f: fn(&AuditEvent) -> &Option<Arc<str>>, a: usize, b: usize| {
            Arc::ptr_eq(f(&out[a]).as_ref().unwrap(), f(&out[b]).as_ref().unwrap())
        };
        assert!(shared(|e| &e.fleet_arn, 0, 1) && shared(|e| &e.fleet_arn, 1, 2));
        assert!(shared(|e| &e.event_type, 0, 2) && shared(|e| &e.user_agent, 0, 1));
        assert!(shared(|e| &e.host, 0, 1) && shared(|e| &e.user, 0, 2));
        assert!(shared(|e| &e.device_id, 0, 2) && !shared(|e| &e.device_id, 0, 1));
        assert!(!shared(|e| &e.url, 0, 2) && !shared(|e| &e.event_id, 0, 2));
        assert_eq!(out[1].host.as_deref(), Some("wiki.example.com"));
        // The same events as decoded one by one, each in its own batch.
        for (i, e) in out.iter().enumerate() {
            let data = format!(
                r#"{{"eventType":"VisitPage","userName":"{}","fleetArn":"arn:aws:worklink::1:fleet/f","deviceId":"d-{}","userAgent":"UA","details":{{"url":"https://Wiki.Example.com/{i}"}},"eventId":"e-{i}"}}"#,
                e.user.as_deref().unwrap(),
                e.user.as_deref().unwrap()
            );
            let mut alone = Vec::new();
            let mut own = BatchBudget::new(Limits::default());
            decode_record_into(
                data.as_bytes(),
                &format!("s:{i}"),
                &fields,
                &mut own,
                &mut alone,
            )
            .unwrap();
            assert_eq!(alone, std::slice::from_ref(e));
        }
    }

    #[test]
    fn one_event_keeps_the_record_id() {
        let evs = decode(br#"{"eventType":"SignIn","userName":"alice"}"#).unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(&*evs[0].source_id, "shardId-000000000000:42");
        assert_eq!(evs[0].user.as_deref(), Some("alice"));
        // Trailing newline, pretty-printed: still one event.
        let evs = decode(b"{\n  \"userName\": \"bob\"\n}\n").unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(&*evs[0].source_id, "shardId-000000000000:42");
    }

    #[test]
    fn ndjson_events_are_numbered() {
        let evs = decode(b"{\"userName\":\"a\"}\n\n{\"userName\":\"b\"}\r\n{\"userName\":\"c\"}")
            .unwrap();
        let ids: Vec<_> = evs.iter().map(|e| &*e.source_id).collect();
        assert_eq!(
            ids,
            [
                "shardId-000000000000:42#1",
                "shardId-000000000000:42#2",
                "shardId-000000000000:42#3"
            ]
        );
        assert_eq!(evs[2].user.as_deref(), Some("c"));
    }

    #[test]
    fn gzip_is_detected_and_inflated() {
        let evs = decode(&gzip(b"{\"userName\":\"a\"}\n{\"userName\":\"b\"}\n")).unwrap();
        assert_eq!(evs.len(), 2);
        // Two gzip members back to back.
        let mut two = gzip(b"{\"userName\":\"a\"}\n");
        two.extend(gzip(b"{\"userName\":\"b\"}\n"));
        assert_eq!(decode(&two).unwrap().len(), 2);
    }

    #[test]
    fn malformed_records() {
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (b"{".to_vec(), "not-json", "event 1: not valid JSON"),
            (b"[1,2]".to_vec(), "not-object", "found an array"),
            (b"\"hi\"".to_vec(), "not-object", "found a string"),
            (
                b"  \n ".to_vec(),
                "empty",
                "record data holds no audit event",
            ),
            (b"".to_vec(), "empty", "holds no audit event"),
            (
                b"{\"userName\":\"a\xff\"}".to_vec(),
                "not-utf8",
                "offset 14",
            ),
            (
                b"{\"userName\":\"a\"}\n{\"userName\":".to_vec(),
                "not-json",
                "event 2: not valid JSON",
            ),
            (
                b"{\"userName\":\"a\"}\n7\n".to_vec(),
                "not-object",
                "event 2: expected a JSON object, found a number",
            ),
            (
                vec![0x1f, 0x8b, 1, 2, 3],
                "bad-gzip",
                "gzip data does not inflate",
            ),
            (
                gzip(b"{\"a\":1}\n\xc3\x28"),
                "not-utf8",
                "inflated data is not valid UTF-8",
            ),
            (
                vec![b' '; MAX_RECORD_BYTES + 1],
                "too-large",
                "record data is 1048577 bytes, over the 1048576-byte limit",
            ),
        ];
        for (data, code, text) in cases {
            let err = decode(&data).expect_err(&String::from_utf8_lossy(&data));
            assert_eq!(err.code(), code, "{err}");
            assert!(err.to_string().contains(text), "{err} should say {text:?}");
        }
    }

    #[test]
    fn nothing_is_appended_from_a_malformed_record() {
        let mut out = Vec::new();
        let fields = FieldMap::default();
        let mut budget = BatchBudget::new(Limits::default());
        decode_record_into(
            b"{\"userName\":\"x\"}",
            "s:1",
            &fields,
            &mut budget,
            &mut out,
        )
        .unwrap();
        let err = decode_record_into(
            b"{\"a\":1}\n{\"b\":2}\n[3]",
            "s:2",
            &fields,
            &mut budget,
            &mut out,
        )
        .unwrap_err();
        assert_eq!(err.code(), "not-object");
        assert_eq!(out.len(), 1, "the good events of a bad record are not kept");
    }

    #[test]
    fn decompression_bombs_are_refused() {
        let zeros = vec![b' '; 64 * 1024];
        let mut data = b"{\"a\":1}".to_vec();
        data.extend_from_slice(&zeros);
        let err = decode_record_into(
            &gzip(&data),
            "s:1",
            &FieldMap::default(),
            &mut BatchBudget::new(Limits {
                max_inflated_per_record: 32 * 1024,
                ..Limits::default()
            }),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "too-large");
        assert!(err.to_string().contains("inflated data"), "{err}");
    }

    #[test]
    fn events_per_record_are_limited() {
        let limits = Limits {
            max_events_per_record: 3,
            ..Limits::default()
        };
        let fields = FieldMap::default();
        let mut out = Vec::new();
        let n = decode_record_into(
            b"{}\n{}\n{}\n",
            "s:1",
            &fields,
            &mut BatchBudget::new(limits),
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 3, "exactly the limit is fine");
        for data in [b"{}\n{}\n{}\n{}".to_vec(), gzip(b"{}\n{}\n{}\n{}\n{}")] {
            let err = decode_record_into(
                &data,
                "s:2",
                &fields,
                &mut BatchBudget::new(limits),
                &mut out,
            )
            .unwrap_err();
            assert_eq!(err.code(), "too-many-events", "{err}");
            assert_eq!(
                err.to_string(),
                "record holds more than 3 events (the per-record limit); \
                 decoding stopped at event 4"
            );
        }
        assert_eq!(out.len(), 3, "nothing kept from the records over the limit");
    }

    #[test]
    fn inflated_bytes_per_batch_are_limited() {
        // Each record inflates to 1,000 bytes; the batch may inflate 2,500.
        let mut data = b"{\"a\":1}".to_vec();
        data.resize(1000, b' ');
        let record = gzip(&data);
        let mut budget = BatchBudget::new(Limits {
            max_inflated_per_batch: 2500,
            ..Limits::default()
        });
        let fields = FieldMap::default();
        let mut out = Vec::new();
        for id in ["s:1", "s:2"] {
            decode_record_into(&record, id, &fields, &mut budget, &mut out).unwrap();
        }
        assert_eq!(budget.inflated(), 2000);
        // The third would take the batch to 3,000: refused, the budget spent.
        let err = decode_record_into(&record, "s:3", &fields, &mut budget, &mut out).unwrap_err();
        assert_eq!(err.code(), "batch-inflated-limit", "{err}");
        assert!(
            err.to_string().contains("2000 bytes before this record"),
            "{err}"
        );
        assert_eq!(budget.inflated(), 2500);
        let err = decode_record_into(&record, "s:4", &fields, &mut budget, &mut out).unwrap_err();
        assert_eq!(err.code(), "batch-inflated-limit", "{err}");
        // Plain records do not inflate and are not limited by it.
        decode_record_into(&data, "s:5", &fields, &mut budget, &mut out).unwrap();
        assert_eq!(out.len(), 3);
    }
    /// The projected decode (the default: no rule reads `raw.` paths) and
    /// the whole-`Value` decode (a rule does) agree on every core field and
    /// on every malformed record's reason, word for word.
    #[test]
    fn projected_decode_agrees_with_the_value_decode() {
        let mut remapped = FieldMap::default();
        remapped.prepend(
            warden_core::CoreField::User,
            vec![
                warden_core::JsonPath::parse("actor.names.1").unwrap(),
                warden_core::JsonPath::parse("actor").unwrap(),
            ],
        );
        let cases: Vec<&[u8]> = vec![
            br#"{"timestamp":"1665179084578","eventType":"VisitPage","details":{"title":"x","url":"https://Wiki.Corp.Example.com:8443/a?b"},"portalArn":"arn:aws:workspaces-web:us-east-1:123456789012:portal/abc","userName":"alice"}"#,
            br#"{"eventType":7,"userName":{"x":1},"sourceIp":"not-an-ip","time":true,"extra":[1,2]}"#,
            br#"{"userName":"a","userName":"b","details":{"url":"http://x/"},"details":{"title":"t"}}"#,
            br#"{"userName":null,"username":"fallback","time":1700000000.5,"eventId":12345678901234567890}"#,
            br#"{"user":"\u00e9t\u00e9","host":"EXAMPLE.com.","ip":"10.1.2.3:443","time":"2026-11-23T10:00:00Z"}"#,
            br#"{"actor":{"names":["x","bob"]},"userName":"fallback"}"#,
            br#"{"actor":"plain","eventType":"","details":{"userName":"d"}}"#,
            br#"{"actor":{"names":"no"},"eventType":-1.5e3,"url":"intranet.example.com/p"}"#,
            b"{\"userName\":\"a\"}\n{\"userName\":\"b\",\"sourceIp\":\"[2001:db8::1]:443\"}\n",
            br#"{"a":1e400}"#,
            br#"{"a":"\ud800"}"#,
            br#"{"a":"\x"}"#,
            br#"{"a":[1,2,}"#,
            br#"{"a":1}{"b":2}"#,
            b"{\"a\":1} 7",
            b"[1,{\"a\":1}]",
            b"null",
            b"true false",
            b"\"s\"",
            b"{\"a\":\"\x01\"}",
            b"{\"a\" 1}",
            b"{\"a\":tru}",
        ];
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let mut all: Vec<Vec<u8>> = cases.iter().map(|c| c.to_vec()).collect();
        all.push(deep.into_bytes());
        for fields in [FieldMap::default(), remapped] {
            let mut whole = fields.clone();
            whole.set_reads_raw(true);
            for data in &all {
                let run = |f: &FieldMap| {
                    let mut out = Vec::new();
                    let r = decode_record_into(
                        data,
                        "s:1",
                        f,
                        &mut BatchBudget::new(Limits::default()),
                        &mut out,
                    );
                    (r.map_err(|e| e.to_string()), out)
                };
                let (rp, mut projected) = run(&fields);
                let (rv, values) = run(&whole);
                let label = String::from_utf8_lossy(data);
                assert_eq!(rp, rv, "{label}");
                assert!(projected.iter().all(|e| e.raw.is_null()), "{label}");
                assert!(values.iter().all(|e| e.raw.is_object()), "{label}");
                for (p, v) in projected.iter_mut().zip(&values) {
                    p.raw = v.raw.clone();
                }
                assert_eq!(projected, values, "{label}");
            }
        }
    }
}
