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

use serde_json::Value;

use warden_core::error::EventError;
use warden_core::event::{AuditEvent, FieldMap};

/// Records whose data is larger than this are malformed (Kinesis' own limit
/// for a data blob is 1 MiB, so only a misbehaving producer gets here).
pub const MAX_RECORD_BYTES: usize = warden_core::event::MAX_RECORD_BYTES;

/// Gzip data may inflate to at most this many bytes (a guard against
/// decompression bombs: 1 MiB of gzip can hold gigabytes of zeros).
pub const MAX_INFLATED_BYTES: usize = 16 * 1024 * 1024;

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
    /// A stable short code (`too-large`, `bad-gzip`, `not-utf8`, `empty`,
    /// `not-json`, `not-object`) for metrics and sink consumers.
    pub fn code(&self) -> &'static str {
        match self {
            Malformed::TooLarge { .. } => "too-large",
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
pub fn decode_record_into(
    data: &[u8],
    source_id: &str,
    fields: &FieldMap,
    max_inflated: usize,
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
        (Cow::Owned(inflate(data, max_inflated)?), "inflated data")
    } else {
        (Cow::Borrowed(data), "record data")
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| Malformed::NotUtf8 {
        what,
        offset: e.valid_up_to(),
    })?;
    let start = out.len();
    let result = decode_text(text, source_id, fields, what, out);
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
    out: &mut Vec<AuditEvent>,
) -> Result<usize, Malformed> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut index = 0usize;
    let mut last_end = 0usize;
    let mut first: Option<Value> = None;
    loop {
        let next = stream.next();
        let Some(item) = next else { break };
        index += 1;
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
                    push(v, format!("{source_id}#1"), 1, fields, out)?;
                }
                push(value, format!("{source_id}#2"), 2, fields, out)?;
            }
            n => push(value, format!("{source_id}#{n}"), n, fields, out)?,
        }
    }
    match (index, first) {
        (0, _) => Err(Malformed::Empty { what }),
        (1, Some(v)) => {
            push(v, source_id.to_owned(), 1, fields, out)?;
            Ok(1)
        }
        (n, _) => Ok(n),
    }
}

fn push(
    raw: Value,
    source_id: String,
    index: usize,
    fields: &FieldMap,
    out: &mut Vec<AuditEvent>,
) -> Result<(), Malformed> {
    match AuditEvent::from_json(raw, source_id, fields) {
        Ok(ev) => {
            out.push(ev);
            Ok(())
        }
        Err(EventError::NotObject { found, .. }) => Err(Malformed::NotObject { index, found }),
        Err(EventError::NotJson { reason, .. }) => Err(Malformed::NotJson { index, reason }),
        Err(EventError::TooLarge { size, limit, .. }) => Err(Malformed::TooLarge {
            what: format!("event {index}"),
            size,
            limit,
        }),
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
            MAX_INFLATED_BYTES,
            &mut out,
        )?;
        assert_eq!(n, out.len());
        Ok(out)
    }

    #[test]
    fn one_event_keeps_the_record_id() {
        let evs = decode(br#"{"eventType":"SignIn","userName":"alice"}"#).unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].source_id, "shardId-000000000000:42");
        assert_eq!(evs[0].user.as_deref(), Some("alice"));
        // Trailing newline, pretty-printed: still one event.
        let evs = decode(b"{\n  \"userName\": \"bob\"\n}\n").unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].source_id, "shardId-000000000000:42");
    }

    #[test]
    fn ndjson_events_are_numbered() {
        let evs = decode(b"{\"userName\":\"a\"}\n\n{\"userName\":\"b\"}\r\n{\"userName\":\"c\"}")
            .unwrap();
        let ids: Vec<_> = evs.iter().map(|e| e.source_id.as_str()).collect();
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
        decode_record_into(b"{\"userName\":\"x\"}", "s:1", &fields, 1024, &mut out).unwrap();
        let err = decode_record_into(b"{\"a\":1}\n{\"b\":2}\n[3]", "s:2", &fields, 1024, &mut out)
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
            32 * 1024,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "too-large");
        assert!(err.to_string().contains("inflated data"), "{err}");
    }
}
