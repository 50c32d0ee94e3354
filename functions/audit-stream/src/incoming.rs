//! The Kinesis event parsed **as its body arrives** (issue #15): the
//! invocation loop ([`crate::runtime`]) hands each chunk of the body over
//! as it is received, and every record of `Records` is decoded as soon as
//! its JSON text is complete. The body is never held whole: a chunk is
//! dropped once read, and only a record cut by a chunk boundary is copied
//! (into one buffer, reused). The parse overlaps the transfer, and the
//! peak memory of a batch is its events, not its events plus its body.
//!
//! How: a small resumable scanner follows the event's top-level object
//! (`{ "Records": [ ... ], ... }`, keys in any order, other keys checked as
//! JSON and ignored) and finds where each element of `Records` ends (it
//! tracks strings, escapes and nesting only; `memchr` jumps through
//! strings, which are most of a record: its base64 `data`). Each element's
//! text then goes through the same serde seed as [`Batch::from_slice`]
//! ([`BatchBuilder::record`]): the same fields, decoding, limits,
//! malformed reasons and Validation set-aside, so the batch is the one
//! `Batch::from_slice` builds from the whole body. A body whose top level
//! is not an object (which `Batch::from_slice` reads by position or
//! refuses) is buffered and given to `Batch::from_slice` as it is.
//!
//! Errors name where: the record (`Records[12]`) and the byte of the body
//! where its text begins, with serde_json's message and its position
//! within the record; or the byte where the event's structure breaks.

use serde::de::IgnoredAny;

use crate::envelope::{Batch, BatchBuilder, Decoding};

/// Why the body is not a Kinesis event, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

/// Where the parse is in the event's top-level object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the first byte that is not whitespace.
    Start,
    /// After `{`: a key or `}`.
    KeyOrEnd,
    /// After a `,` of the top object: a key.
    Key,
    /// After a key: `:`.
    Colon { records: bool },
    /// After `:`: the value.
    Value { records: bool },
    /// After the value: `,` or `}`.
    AfterValue,
    /// After `[` of `Records`: an element or `]`.
    FirstElement,
    /// After a `,` of `Records`: an element.
    Element,
    /// After an element: `,` or `]`.
    AfterElement,
    /// Inside a token (key, value or element) the scanner follows.
    In(Token),
    /// After the top object's `}`: whitespace only.
    End,
}

/// What the token being scanned is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Key,
    Value { records: bool },
    Element,
}

/// A Kinesis event being received: feed it the body's chunks in order
/// ([`chunk`](Self::chunk)), then [`finish`](Self::finish).
pub struct IncomingBatch<'a> {
    decoding: &'a Decoding,
    builder: BatchBuilder<'a>,
    at: At,
    scan: Scan,
    /// The current token's text when it spans chunks (a key, a value other
    /// than `Records`' array, or an element cut by a chunk boundary).
    tok: Vec<u8>,
    /// Where the current token begins in the body.
    tok_at: usize,
    /// Bytes of the body before the current chunk.
    offset: usize,
    /// The last key read.
    key: String,
    /// Elements of `Records` read.
    index: usize,
    records_seen: bool,
    /// The first error: the rest of the body is read and ignored.
    error: Option<EventError>,
    /// The whole body, when its top level is not an object.
    whole: Option<Vec<u8>>,
}

impl<'a> IncomingBatch<'a> {
    /// Bytes held for tokens cut by chunk boundaries (tests: the body is
    /// never held whole).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.tok.capacity() + self.whole.as_ref().map_or(0, Vec::capacity)
    }

    /// A batch to be received, decoded with `decoding`.
    pub fn new(decoding: &'a Decoding) -> IncomingBatch<'a> {
        IncomingBatch {
            decoding,
            builder: BatchBuilder::new(decoding),
            at: At::Start,
            scan: Scan::default(),
            tok: Vec::new(),
            tok_at: 0,
            offset: 0,
            key: String::new(),
            index: 0,
            records_seen: false,
            error: None,
            whole: None,
        }
    }

    /// The next chunk of the body.
    pub fn chunk(&mut self, data: &[u8]) {
        if self.error.is_none() {
            if let Some(whole) = &mut self.whole {
                whole.extend_from_slice(data);
            } else if let Err(e) = self.step(data) {
                self.error = Some(e);
            }
        }
        self.offset += data.len();
    }

    /// The batch, once the whole body was given; or why it is not a
    /// Kinesis event.
    pub fn finish(self) -> Result<Batch, EventError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Some(whole) = self.whole {
            return Batch::from_slice(&whole, self.decoding).map_err(|e| EventError(e.to_string()));
        }
        match self.at {
            At::End if self.records_seen => Ok(self.builder.finish()),
            At::End => Err(EventError("missing field `Records`".into())),
            At::Start => Err(EventError("the body is empty".into())),
            At::In(Token::Element) | At::Element | At::FirstElement | At::AfterElement => {
                Err(EventError(format!(
                    "the body ended inside Records[{}] (after {} bytes)",
                    self.index, self.offset
                )))
            }
            _ => Err(EventError(format!(
                "the body ended before the event did (after {} bytes)",
                self.offset
            ))),
        }
    }

    fn step(&mut self, data: &[u8]) -> Result<(), EventError> {
        let mut i = 0;
        while i < data.len() {
            if let At::In(token) = self.at {
                match self.scan.run(&data[i..]) {
                    None => {
                        self.tok.extend_from_slice(&data[i..]);
                        return Ok(());
                    }
                    Some(n) => {
                        let end = i + n;
                        let mut tok = std::mem::take(&mut self.tok);
                        let result = if tok.is_empty() {
                            self.complete(token, &data[i..end])
                        } else {
                            tok.extend_from_slice(&data[i..end]);
                            self.complete(token, &tok)
                        };
                        tok.clear();
                        self.tok = tok;
                        result?;
                        i = end;
                        continue;
                    }
                }
            }
            let b = data[i];
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
                continue;
            }
            let at = self.offset + i;
            let expected = |what: &str| EventError(format!("expected {what} at byte {at}"));
            match self.at {
                At::Start if b == b'{' => self.at = At::KeyOrEnd,
                At::Start => {
                    self.whole = Some(data[i..].to_vec());
                    return Ok(());
                }
                At::KeyOrEnd if b == b'}' => self.at = At::End,
                At::KeyOrEnd | At::Key if b == b'"' => {
                    self.begin(Token::Key, b, at);
                    continue;
                }
                At::KeyOrEnd => return Err(expected("a key or `}` in the event")),
                At::Key => return Err(expected("a key in the event")),
                At::Colon { records } if b == b':' => self.at = At::Value { records },
                At::Colon { .. } => return Err(expected("`:` after the key")),
                At::Value { records: true } if b == b'[' => {
                    if self.records_seen {
                        return Err(EventError("duplicate field `Records`".into()));
                    }
                    self.records_seen = true;
                    self.at = At::FirstElement;
                }
                At::Value { records } => {
                    if matches!(b, b',' | b'}' | b']') {
                        return Err(expected("a value"));
                    }
                    self.begin(Token::Value { records }, b, at);
                    continue;
                }
                At::AfterValue if b == b',' => self.at = At::Key,
                At::AfterValue if b == b'}' => self.at = At::End,
                At::AfterValue => return Err(expected("`,` or `}` in the event")),
                At::FirstElement if b == b']' => self.at = At::AfterValue,
                At::FirstElement | At::Element => {
                    if matches!(b, b',' | b']' | b'}') {
                        return Err(expected(&format!("Records[{}]", self.index)));
                    }
                    self.begin(Token::Element, b, at);
                    continue;
                }
                At::AfterElement if b == b',' => self.at = At::Element,
                At::AfterElement if b == b']' => self.at = At::AfterValue,
                At::AfterElement => {
                    return Err(expected(&format!(
                        "`,` or `]` after Records[{}]",
                        self.index - 1
                    )))
                }
                At::End => {
                    return Err(EventError(format!(
                        "trailing characters after the event at byte {at}"
                    )))
                }
                At::In(_) => unreachable!("tokens are scanned above"),
            }
            i += 1;
        }
        Ok(())
    }

    /// A token starts at body byte `at` with `first`.
    fn begin(&mut self, token: Token, first: u8, at: usize) {
        self.scan = Scan::new(first);
        self.tok_at = at;
        self.at = At::In(token);
    }

    /// A token's whole text.
    fn complete(&mut self, token: Token, text: &[u8]) -> Result<(), EventError> {
        let at = self.tok_at;
        match token {
            Token::Key => {
                self.key = serde_json::from_slice::<String>(text)
                    .map_err(|e| EventError(format!("the key at byte {at}: {e}")))?;
                self.at = At::Colon {
                    records: self.key == "Records",
                };
            }
            Token::Value { records: true } => {
                // Not an array: its error is `Batch::from_slice`'s.
                if self.records_seen {
                    return Err(EventError("duplicate field `Records`".into()));
                }
                self.records_seen = true;
                self.builder
                    .records(text)
                    .map_err(|e| EventError(format!("Records (at byte {at}): {e}")))?;
                self.at = At::AfterValue;
            }
            Token::Value { records: false } => {
                serde_json::from_slice::<IgnoredAny>(text).map_err(|e| {
                    EventError(format!("the event's `{}` (at byte {at}): {e}", self.key))
                })?;
                self.at = At::AfterValue;
            }
            Token::Element => {
                let index = self.index;
                self.builder
                    .record(text)
                    .map_err(|e| EventError(format!("Records[{index}] (at byte {at}): {e}")))?;
                self.index += 1;
                self.at = At::AfterElement;
            }
        }
        Ok(())
    }
}

/// What a scanned token is, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    /// An object or an array: ends at its matching close.
    #[default]
    Container,
    /// A string: ends at its closing quote.
    Str,
    /// A number or a literal (or garbage): ends before `,`, `]`, `}` or
    /// whitespace.
    Bare,
}

/// Finds where a JSON token ends, over as many chunks as it takes. It
/// does not validate (serde_json does, on the token's text); it follows
/// strings, escapes and nesting, so that a valid token's end is exact.
#[derive(Debug, Default)]
struct Scan {
    kind: Kind,
    started: bool,
    depth: u32,
    in_str: bool,
    esc: bool,
}

impl Scan {
    fn new(first: u8) -> Scan {
        let kind = match first {
            b'{' | b'[' => Kind::Container,
            b'"' => Kind::Str,
            _ => Kind::Bare,
        };
        Scan {
            kind,
            ..Scan::default()
        }
    }

    /// Follows the token through `b` (its first byte included the first
    /// time): the length of `b` it takes up to its end, if it ends in `b`.
    fn run(&mut self, b: &[u8]) -> Option<usize> {
        let mut i = 0;
        if !self.started {
            self.started = true;
            match self.kind {
                Kind::Container => {
                    self.depth = 1;
                    i = 1;
                }
                Kind::Str => {
                    self.in_str = true;
                    i = 1;
                }
                Kind::Bare => {}
            }
        }
        loop {
            if i >= b.len() {
                return None;
            }
            if self.in_str {
                if self.esc {
                    self.esc = false;
                    i += 1;
                    continue;
                }
                let j = i + memchr::memchr2(b'"', b'\\', &b[i..])?;
                i = j + 1;
                if b[j] == b'\\' {
                    self.esc = true;
                } else {
                    self.in_str = false;
                    if self.kind == Kind::Str {
                        return Some(i);
                    }
                }
                continue;
            }
            match self.kind {
                Kind::Bare => {
                    let j = b[i..].iter().position(|c| {
                        matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                    })?;
                    return Some(i + j);
                }
                Kind::Str => unreachable!("a string token is in its string until it ends"),
                Kind::Container => {
                    let mut j = i;
                    loop {
                        if j >= b.len() {
                            return None;
                        }
                        match b[j] {
                            b'"' => {
                                self.in_str = true;
                                i = j + 1;
                                break;
                            }
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    return Some(j + 1);
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                }
            }
        }
    }
}

impl crate::runtime::Receive for IncomingBatch<'_> {
    fn chunk(&mut self, data: &[u8]) {
        IncomingBatch::chunk(self, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::tests::{b64, inv, mixed_event, processor};
    use crate::processor::BatchReport;

    /// The body fed in chunks of the given sizes (cycled), then finished.
    fn receive(d: &Decoding, body: &[u8], sizes: &[usize]) -> Result<Batch, EventError> {
        let mut incoming = IncomingBatch::new(d);
        let mut rest = body;
        for &n in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, after) = rest.split_at(n.min(rest.len()));
            incoming.chunk(chunk);
            rest = after;
        }
        incoming.finish()
    }

    /// Ways to cut a body: every size from 1 to 9, a few larger ones,
    /// uneven cycles, pseudo-random cuts, and whole.
    fn cuts(len: usize) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = (1..=9).map(|n| vec![n]).collect();
        out.extend([vec![64], vec![1000], vec![3, 500, 1, 17], vec![len.max(1)]]);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..4 {
            let sizes = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    1 + (x % 700) as usize
                })
                .collect();
            out.push(sizes);
        }
        out
    }

    async fn report(
        body: Result<Batch, String>,
    ) -> (
        Result<BatchReport, String>,
        Vec<crate::sink::FailureMessage>,
    ) {
        let p = processor();
        let r = match body {
            Ok(batch) => p
                .process_batch(batch, &inv())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        (r, p.sink().messages())
    }

    fn same(a: &BatchReport, b: &BatchReport) {
        assert_eq!(a.response, b.response);
        assert_eq!((a.records, a.events), (b.records, b.events));
        assert_eq!(a.events_matched, b.events_matched);
        assert_eq!(a.malformed, b.malformed);
        assert_eq!(a.failure, b.failure);
        assert_eq!(format!("{:?}", a.plan), format!("{:?}", b.plan));
        assert_eq!(a.metrics.to_emf(1), b.metrics.to_emf(1));
    }

    #[tokio::test]
    async fn a_batch_received_in_any_cut_is_the_one_parsed_whole() {
        let p = processor();
        let d = Decoding::of(&p);
        let mixed = mixed_event();
        // The same event pretty-printed, with a key before `Records`, an
        // escaped `Records` key, and strings holding brackets and quotes.
        let value: serde_json::Value = serde_json::from_str(&mixed).unwrap();
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let before = format!(
            r#"{{ "note": "}}]\"[{{", "n": [1, 2.5e3, true, null],
               "Rec\u006frds" : {} }}"#,
            serde_json::to_string(&value["Records"]).unwrap()
        );
        for body in [mixed.clone(), pretty, before] {
            let (whole, whole_sink) =
                report(Batch::from_slice(body.as_bytes(), &d).map_err(|e| e.to_string())).await;
            let whole = whole.unwrap();
            assert_eq!(whole.records, 9, "{body}");
            assert!(!whole.plan.actions.is_empty());
            for sizes in cuts(body.len()) {
                let got = receive(&d, body.as_bytes(), &sizes).map_err(|e| e.to_string());
                let (got, sink) = report(got).await;
                let got = got.unwrap_or_else(|e| panic!("{sizes:?}: {e}"));
                same(&got, &whole);
                assert_eq!(sink, whole_sink, "{sizes:?}");
            }
        }
    }

    #[test]
    fn it_refuses_what_the_whole_parse_refuses_and_names_where() {
        let p = processor();
        let d = Decoding::of(&p);
        let record = |data: &str| {
            format!(
                r#"{{"eventID": "s:1", "kinesis": {{"sequenceNumber": "1", "data": "{data}", "approximateArrivalTimestamp": 1}}}}"#
            )
        };
        let ok = record("e30=");
        let cases: Vec<(String, &str)> = vec![
            (
                r#"{"Records": [{"kinesis": {"data": "aGk="}}]}"#.into(),
                "Records[0] (at byte 13): missing field `approximateArrivalTimestamp`",
            ),
            (
                format!(r#"{{"Records": [{ok}, {{"eventID": "x"}}]}}"#),
                "Records[1] (at byte 119): missing field `kinesis`",
            ),
            (r#"{"records": []}"#.into(), "missing field `Records`"),
            (
                r#"{"Records": {}}"#.into(),
                "Records (at byte 12): invalid type: map, expected a sequence",
            ),
            (
                r#"{"Records": null}"#.into(),
                "Records (at byte 12): invalid type: null, expected a sequence",
            ),
            (
                r#"{"Records": [], "Records": []}"#.into(),
                "duplicate field `Records`",
            ),
            (
                r#"{"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": 1}]}"#
                    .into(),
                "Records[0] (at byte 13): ",
            ),
            (
                r#"{"Records": []} x"#.into(),
                "trailing characters after the event at byte 16",
            ),
            (
                format!(r#"{{"Records": [{ok},]}}"#),
                "expected Records[1] at byte 118",
            ),
            (
                format!(r#"{{"Records": [{ok} {ok}]}}"#),
                "expected `,` or `]` after Records[0] at byte 118",
            ),
            (
                r#"{"Records": [], }"#.into(),
                "expected a key in the event at byte 16",
            ),
            (
                r#"{"Records" []}"#.into(),
                "expected `:` after the key at byte 11",
            ),
            (
                r#"{"Records": [], "x": tru}"#.into(),
                "the event's `x` (at byte 21): ",
            ),
            (
                r#"{"Records": [1"#.into(),
                "the body ended inside Records[0]",
            ),
            (
                format!(r#"{{"Records": [{ok}"#),
                "the body ended inside Records[1]",
            ),
            (
                r#"{"Records": [], "#.into(),
                "the body ended before the event did",
            ),
            ("".into(), "the body is empty"),
            ("  \n ".into(), "the body is empty"),
            (
                "[]".into(),
                "invalid length 0, expected struct Envelope with 1 element",
            ),
            (
                "7".into(),
                "invalid type: integer `7`, expected struct Envelope",
            ),
        ];
        for (body, expected) in &cases {
            let whole = Batch::from_slice(body.as_bytes(), &d);
            assert!(whole.is_err(), "the whole parse accepts {body}");
            for sizes in cuts(body.len()) {
                let e = receive(&d, body.as_bytes(), &sizes)
                    .map(|_| ())
                    .expect_err(body);
                assert!(
                    e.0.starts_with(expected),
                    "{body} cut {sizes:?}: {e} (expected {expected})"
                );
            }
        }
        // Text that is not UTF-8: serde_json's own error, located.
        let mut bad = br#"{"Records": [{"eventID": "s:\xff"}]}"#.to_vec();
        let at = bad.iter().position(|b| *b == b'\\').unwrap();
        bad.splice(at..at + 4, [0xff]);
        let e = receive(&d, &bad, &[7]).map(|_| ()).unwrap_err();
        assert!(
            e.0.starts_with("Records[0] (at byte 13): invalid unicode code point"),
            "{e}"
        );
        assert!(Batch::from_slice(&bad, &d).is_err());
        // Invalid base64 is the batch's error, after the parse, as whole.
        let bad = format!(r#"{{"Records": [{ok}, {}]}}"#, record("%%%"));
        let batch = receive(&d, bad.as_bytes(), &[5]).unwrap();
        let whole = Batch::from_slice(bad.as_bytes(), &d).unwrap();
        assert_eq!(
            batch.into_decoded(&inv()).map(|_| ()).unwrap_err(),
            whole.into_decoded(&inv()).map(|_| ()).unwrap_err()
        );
    }

    #[test]
    fn the_body_is_never_held_whole() {
        let p = processor();
        let d = Decoding::of(&p);
        let data = b64(br#"{"eventType":"SignIn","userName":"u","sourceIp":"198.51.100.7"}"#);
        let records: Vec<String> = (0..4000)
            .map(|i| {
                format!(
                    r#"{{"eventID": "shardId-000000000000:{i}", "kinesis": {{"sequenceNumber": "{i}", "data": "{data}", "approximateArrivalTimestamp": 1700000000}}}}"#
                )
            })
            .collect();
        let largest = records.iter().map(String::len).max().unwrap();
        let body = format!(r#"{{"Records": [{}]}}"#, records.join(","));
        assert!(body.len() > 500_000);
        let mut incoming = IncomingBatch::new(&d);
        let mut most = 0;
        for chunk in body.as_bytes().chunks(16_384) {
            incoming.chunk(chunk);
            most = most.max(incoming.held());
        }
        // Only a record cut by a chunk boundary is copied.
        assert!(
            most <= 2 * largest,
            "held {most} bytes of a {} byte body",
            body.len()
        );
        assert_eq!(incoming.finish().unwrap().len(), 4000);
    }
}
