//! Audit events: a typed core read tolerantly from the spellings audit records
//! use, plus the raw JSON for rules that reach into any field.
//!
//! WorkLink's audit record schema is not published in full, so the decoder
//! looks for each core field under several spellings (camelCase, PascalCase,
//! snake_case, and inside `details`), and also accepts the documented shape
//! of its successor's access logs (WorkSpaces Secure Browser: `timestamp` as
//! an epoch-ms string, `eventType`, a `details` object, `portalArn`,
//! `userName`). A policy may put its own paths first (`fields:` in the file).
//! Unknown fields are never an error; a missing or oddly typed core field is
//! `None`.

use std::net::IpAddr;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::Value;

use crate::error::EventError;
use crate::time::timestamp_from_json;

/// Records larger than this are refused (Kinesis records are at most 1 MiB).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// One decoded audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Where it came from: the Kinesis sequence number, or `file:N`.
    pub source_id: Arc<str>,
    /// The record's own id, when it has one.
    pub event_id: Option<Arc<str>>,
    /// When it happened.
    pub time: Option<Timestamp>,
    /// The event type (`SignIn`, `VisitPage`, ...), as written.
    pub event_type: Option<Arc<str>>,
    /// The user name.
    pub user: Option<Arc<str>>,
    /// The fleet (or Secure Browser portal) ARN.
    pub fleet_arn: Option<Arc<str>>,
    /// The device id.
    pub device_id: Option<Arc<str>>,
    /// The client's IP address (unparseable addresses are `None`).
    pub source_ip: Option<IpAddr>,
    /// The URL visited.
    pub url: Option<Arc<str>>,
    /// The URL's host (or an explicit host field), lowercased, without port.
    pub host: Option<Arc<str>>,
    /// The client's user agent.
    pub user_agent: Option<Arc<str>>,
    /// The whole record. `Value::Null` when the event was decoded through a
    /// [`Projected`] (audit-stream's records) with a field map whose policy
    /// reads no `raw.` path (see [`FieldMap::reads_raw`]).
    pub raw: Value,
}

/// The typed core fields of an [`AuditEvent`] that a policy can remap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreField {
    /// `event_id`
    EventId,
    /// `time`
    Time,
    /// `event_type`
    EventType,
    /// `user`
    User,
    /// `fleet_arn`
    FleetArn,
    /// `device_id`
    DeviceId,
    /// `source_ip`
    SourceIp,
    /// `url`
    Url,
    /// `host`
    Host,
    /// `user_agent`
    UserAgent,
}

impl CoreField {
    /// All core fields.
    pub const ALL: [CoreField; 10] = [
        CoreField::EventId,
        CoreField::Time,
        CoreField::EventType,
        CoreField::User,
        CoreField::FleetArn,
        CoreField::DeviceId,
        CoreField::SourceIp,
        CoreField::Url,
        CoreField::Host,
        CoreField::UserAgent,
    ];

    /// The field's name in policies.
    pub fn name(self) -> &'static str {
        match self {
            CoreField::EventId => "event_id",
            CoreField::Time => "time",
            CoreField::EventType => "event_type",
            CoreField::User => "user",
            CoreField::FleetArn => "fleet_arn",
            CoreField::DeviceId => "device_id",
            CoreField::SourceIp => "source_ip",
            CoreField::Url => "url",
            CoreField::Host => "host",
            CoreField::UserAgent => "user_agent",
        }
    }

    /// Look a field up by its policy name.
    pub fn from_name(name: &str) -> Option<CoreField> {
        CoreField::ALL.into_iter().find(|f| f.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }

    fn default_spellings(self) -> &'static [&'static str] {
        match self {
            CoreField::EventId => &["eventId", "EventId", "event_id", "id", "Id"],
            CoreField::Time => &[
                "time",
                "timestamp",
                "eventTime",
                "Time",
                "Timestamp",
                "EventTime",
                "event_time",
            ],
            CoreField::EventType => &[
                "eventType",
                "EventType",
                "event_type",
                "eventName",
                "EventName",
                "type",
                "Type",
                "action",
                "Action",
            ],
            CoreField::User => &[
                "userName",
                "username",
                "Username",
                "UserName",
                "user_name",
                "user",
                "User",
                "details.userName",
                "details.username",
            ],
            CoreField::FleetArn => &[
                "fleetArn",
                "FleetArn",
                "fleet_arn",
                "portalArn",
                "PortalArn",
                "details.fleetArn",
            ],
            CoreField::DeviceId => &["deviceId", "DeviceId", "device_id", "details.deviceId"],
            CoreField::SourceIp => &[
                "sourceIp",
                "sourceIpAddress",
                "sourceIPAddress",
                "SourceIp",
                "SourceIpAddress",
                "source_ip",
                "clientIp",
                "ClientIp",
                "ipAddress",
                "ip",
                "details.sourceIp",
                "details.clientIp",
                "details.ipAddress",
            ],
            CoreField::Url => &[
                "url",
                "Url",
                "URL",
                "requestUrl",
                "websiteUrl",
                "details.url",
                "details.URL",
            ],
            CoreField::Host => &[
                "host",
                "hostname",
                "Host",
                "domain",
                "Domain",
                "details.hostname",
                "details.host",
            ],
            CoreField::UserAgent => &["userAgent", "UserAgent", "user_agent", "details.userAgent"],
        }
    }
}

/// A path into JSON: `details.url`, `a.b.0.c` (numeric segments index arrays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<String>,
}

impl JsonPath {
    /// Parse a dotted path. Empty segments are refused.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        if text.is_empty() {
            return Err("empty field path".into());
        }
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!("`{text}`: empty segment in field path"));
        }
        Ok(JsonPath {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Follow the path. No allocation.
    pub fn get<'a>(&self, mut v: &'a Value) -> Option<&'a Value> {
        for seg in &self.segments {
            v = match v {
                Value::Object(map) => map.get(seg.as_str())?,
                Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }
}

/// Where the decoder looks for each core field, first match wins.
#[derive(Debug, Clone)]
pub struct FieldMap {
    paths: Vec<Vec<JsonPath>>,
    /// Whether the events decoded with this map need [`AuditEvent::raw`]
    /// (a policy sets it when a rule reads a `raw.` path).
    reads_raw: bool,
    /// The paths as a trie for [`Projected`]'s one-pass
    /// parse, built on first use (once per cold start).
    projection: std::sync::OnceLock<std::sync::Arc<Projection>>,
}

impl Default for FieldMap {
    fn default() -> Self {
        let paths = CoreField::ALL
            .iter()
            .map(|f| {
                f.default_spellings()
                    .iter()
                    .filter_map(|s| JsonPath::parse(s).ok())
                    .collect()
            })
            .collect();
        FieldMap {
            paths,
            reads_raw: false,
            projection: std::sync::OnceLock::new(),
        }
    }
}

impl FieldMap {
    /// Put `paths` before the built-in spellings of `field`.
    pub fn prepend(&mut self, field: CoreField, paths: Vec<JsonPath>) {
        let slot = &mut self.paths[field.index()];
        let mut merged = paths;
        merged.append(slot);
        *slot = merged;
        self.projection = std::sync::OnceLock::new();
    }

    /// Whether events decoded with this map must carry the whole record in
    /// [`AuditEvent::raw`] (some rule reads a `raw.` path). Off by default:
    /// a [`Projected`] decode (audit-stream's records) then reads only the core fields'
    /// paths and leaves `raw` null. [`AuditEvent::decode_with`] and
    /// [`AuditEvent::from_json`] always keep it.
    pub fn reads_raw(&self) -> bool {
        self.reads_raw
    }

    /// Sets [`FieldMap::reads_raw`].
    pub fn set_reads_raw(&mut self, reads_raw: bool) {
        self.reads_raw = reads_raw;
    }

    /// The projection of this map (built once, then shared).
    pub(crate) fn projection(&self) -> &Projection {
        self.projection
            .get_or_init(|| std::sync::Arc::new(Projection::new(self)))
    }

    /// The spellings tried for `field`, in order.
    pub fn paths(&self, field: CoreField) -> &[JsonPath] {
        &self.paths[field.index()]
    }

    fn find<'a>(&self, field: CoreField, raw: &'a Value) -> Option<&'a Value> {
        self.paths(field)
            .iter()
            .filter_map(|p| p.get(raw))
            .find(|v| !v.is_null())
    }

    fn text(&self, field: CoreField, raw: &Value) -> Option<String> {
        match self.find(field, raw)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

impl AuditEvent {
    /// Decode one record (a Kinesis record's data) with the built-in spellings.
    pub fn decode(bytes: &[u8], source_id: impl Into<String>) -> Result<AuditEvent, EventError> {
        Self::decode_with(bytes, source_id, &FieldMap::default())
    }

    /// Decode one record, looking for core fields where `fields` says.
    pub fn decode_with(
        bytes: &[u8],
        source_id: impl Into<String>,
        fields: &FieldMap,
    ) -> Result<AuditEvent, EventError> {
        let source_id = source_id.into();
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(EventError::TooLarge {
                source_id,
                size: bytes.len(),
                limit: MAX_RECORD_BYTES,
            });
        }
        let raw: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                return Err(EventError::NotJson {
                    source_id,
                    reason: e.to_string(),
                })
            }
        };
        Self::from_json(raw, source_id, fields)
    }

    /// Build an event from already-parsed JSON.
    pub fn from_json(
        raw: Value,
        source_id: impl Into<String>,
        fields: &FieldMap,
    ) -> Result<AuditEvent, EventError> {
        let source_id = source_id.into();
        let found = match &raw {
            Value::Object(_) => None,
            Value::Null => Some("null"),
            Value::Bool(_) => Some("a boolean"),
            Value::Number(_) => Some("a number"),
            Value::String(_) => Some("a string"),
            Value::Array(_) => Some("an array"),
        };
        if let Some(found) = found {
            return Err(EventError::NotObject { source_id, found });
        }
        let text = |f: CoreField| fields.text(f, &raw).map(Arc::from);
        let url = text(CoreField::Url);
        let host = fields
            .text(CoreField::Host, &raw)
            .map(|h| normalize_host(&h).into_owned())
            .or_else(|| url.as_deref().and_then(host_of_url))
            .filter(|h| !h.is_empty())
            .map(Arc::from);
        Ok(AuditEvent {
            event_id: text(CoreField::EventId),
            time: fields
                .find(CoreField::Time, &raw)
                .and_then(timestamp_from_json),
            event_type: text(CoreField::EventType),
            user: text(CoreField::User),
            fleet_arn: text(CoreField::FleetArn),
            device_id: text(CoreField::DeviceId),
            source_ip: fields
                .text(CoreField::SourceIp, &raw)
                .and_then(|s| parse_ip(&s)),
            user_agent: text(CoreField::UserAgent),
            url,
            host,
            source_id: source_id.into(),
            raw,
        })
    }
}

/// The paths of a [`FieldMap`] as a trie, so one pass over a record's JSON
/// captures every core field's candidates and skips everything else without
/// allocating (validated exactly as a parse into [`Value`] would: the same
/// parser calls, so the same errors at the same positions).
#[derive(Debug)]
pub(crate) struct Projection {
    /// Node 0 is the root (the record object).
    nodes: Vec<Node>,
    /// Number of capture slots (distinct paths).
    slots: usize,
    /// Per core field, the slots of its paths, in the map's order.
    fields: Vec<Vec<u32>>,
}

#[derive(Debug, Default)]
struct Node {
    /// Object keys -> child node.
    keys: rustc_hash::FxHashMap<Box<str>, u32>,
    /// Array indexes -> child node (segments that parse as `usize`).
    indexes: Vec<(usize, u32)>,
    /// The slot of the path ending here.
    slot: Option<u32>,
    /// The slots of this node's subtree: cleared when its key repeats
    /// (the last occurrence of a key wins, as in a `Value` map).
    span: (u32, u32),
}

/// What a projected path held.
#[derive(Debug, Clone)]
enum Captured<'a> {
    Str(std::borrow::Cow<'a, str>),
    Num(serde_json::Number),
    /// A boolean, an object or an array: present, but no text.
    Other,
}

impl Projection {
    fn new(map: &FieldMap) -> Projection {
        let mut nodes = vec![Node::default()];
        let mut by_text: Vec<(String, u32)> = Vec::new();
        let mut fields = Vec::with_capacity(map.paths.len());
        for paths in &map.paths {
            let mut slots = Vec::with_capacity(paths.len());
            for path in paths {
                let mut at = 0u32;
                for seg in &path.segments {
                    let next = match nodes[at as usize].keys.get(seg.as_str()) {
                        Some(&n) => n,
                        None => {
                            let n = nodes.len() as u32;
                            nodes.push(Node::default());
                            let node = &mut nodes[at as usize];
                            node.keys.insert(seg.as_str().into(), n);
                            if let Ok(i) = seg.parse::<usize>() {
                                node.indexes.push((i, n));
                            }
                            n
                        }
                    };
                    at = next;
                }
                let slot = match by_text.iter().find(|(t, _)| *t == path.text) {
                    Some(&(_, s)) => s,
                    None => {
                        let s = by_text.len() as u32;
                        by_text.push((path.text.clone(), s));
                        s
                    }
                };
                nodes[at as usize].slot = Some(slot);
                slots.push(slot);
            }
            fields.push(slots);
        }
        // Renumber the slots depth first, so every subtree's are contiguous.
        let mut renum = vec![u32::MAX; by_text.len()];
        let mut next = 0u32;
        fn walk(nodes: &mut [Node], at: u32, renum: &mut [u32], next: &mut u32) {
            let start = *next;
            if let Some(s) = nodes[at as usize].slot {
                renum[s as usize] = *next;
                nodes[at as usize].slot = Some(*next);
                *next += 1;
            }
            let mut children: Vec<u32> = nodes[at as usize].keys.values().copied().collect();
            children.sort_unstable();
            for c in children {
                walk(nodes, c, renum, next);
            }
            nodes[at as usize].span = (start, *next);
        }
        walk(&mut nodes, 0, &mut renum, &mut next);
        for slots in &mut fields {
            for s in slots.iter_mut() {
                *s = renum[*s as usize];
            }
        }
        Projection {
            nodes,
            slots: next as usize,
            fields,
        }
    }
}

thread_local! {
    /// The projection [`Projected`]'s `Deserialize` reads (serde's stream
    /// deserializer takes a type, not a seed). Set by [`ProjectionScope`].
    static CURRENT: std::cell::RefCell<Option<std::sync::Arc<Projection>>> =
        const { std::cell::RefCell::new(None) };
}

/// Makes `map`'s projection the current one for [`Projected`] on this
/// thread, until dropped.
pub struct ProjectionScope {
    previous: Option<std::sync::Arc<Projection>>,
}

impl ProjectionScope {
    /// Enters `map`'s projection.
    pub fn enter(map: &FieldMap) -> ProjectionScope {
        map.projection();
        let proj = map.projection.get().cloned();
        ProjectionScope {
            previous: CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), proj)),
        }
    }
}

impl Drop for ProjectionScope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// One JSON value read through the current projection (see
/// [`ProjectionScope`]): a record object's captured core-field candidates,
/// or what it was instead of an object. Deserializing it validates the
/// whole value exactly as deserializing a [`Value`] does.
#[derive(Debug)]
pub struct Projected<'a> {
    kind: Result<Vec<Option<Captured<'a>>>, &'static str>,
    proj: Option<std::sync::Arc<Projection>>,
}

impl<'de> serde::Deserialize<'de> for Projected<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let proj = CURRENT.with(|c| c.borrow().clone());
        let Some(p) = proj else {
            return Err(serde::de::Error::custom(
                "internal: no projection entered (ProjectionScope)",
            ));
        };
        let mut slots = vec![None; p.slots];
        let found = d.deserialize_any(Top {
            proj: &p,
            slots: &mut slots,
        })?;
        Ok(Projected {
            kind: match found {
                None => Ok(slots),
                Some(f) => Err(f),
            },
            proj: Some(p),
        })
    }
}

/// The record's top level: an object is walked from the root node; anything
/// else is consumed and named (`Some("a number")`).
struct Top<'p, 's, 'a> {
    proj: &'p Projection,
    slots: &'s mut [Option<Captured<'a>>],
}

impl<'de> serde::de::Visitor<'de> for Top<'_, '_, 'de> {
    type Value = Option<&'static str>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        walk_map(self.proj, 0, self.slots, map)?;
        Ok(None)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Some("an array"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some("null"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Some("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Some("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Some("a string"))
    }
}

fn walk_map<'de, A: serde::de::MapAccess<'de>>(
    proj: &Projection,
    at: u32,
    slots: &mut [Option<Captured<'de>>],
    mut map: A,
) -> Result<(), A::Error> {
    let node = &proj.nodes[at as usize];
    while let Some(child) = map.next_key_seed(Key(&node.keys))? {
        match child {
            Some(c) => map.next_value_seed(At {
                proj,
                at: c,
                slots: &mut *slots,
            })?,
            None => {
                map.next_value::<Skip>()?;
            }
        }
    }
    Ok(())
}

/// A map key looked up among a node's children, without allocating.
struct Key<'n>(&'n rustc_hash::FxHashMap<Box<str>, u32>);

impl<'de> serde::de::DeserializeSeed<'de> for Key<'_> {
    type Value = Option<u32>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key<'_> {
    type Value = Option<u32>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, k: &str) -> Result<Self::Value, E> {
        Ok(if self.0.is_empty() {
            None
        } else {
            self.0.get(k).copied()
        })
    }
}

/// The value at a trie node: captured if a path ends here, walked if paths
/// go on (the node's earlier captures are cleared first: last key wins).
struct At<'p, 's, 'a> {
    proj: &'p Projection,
    at: u32,
    slots: &'s mut [Option<Captured<'a>>],
}

impl<'de> serde::de::DeserializeSeed<'de> for At<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let (a, b) = self.proj.nodes[self.at as usize].span;
        for s in &mut self.slots[a as usize..b as usize] {
            *s = None;
        }
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for At<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        if let Some(s) = self.proj.nodes[self.at as usize].slot {
            self.slots[s as usize] = Some(Captured::Other);
        }
        walk_map(self.proj, self.at, self.slots, map)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let node = &self.proj.nodes[self.at as usize];
        if let Some(s) = node.slot {
            self.slots[s as usize] = Some(Captured::Other);
        }
        let mut i = 0usize;
        loop {
            let child = node
                .indexes
                .iter()
                .filter(|(n, _)| *n == i)
                .map(|(_, c)| *c)
                .next_back();
            let more = match child {
                Some(c) => seq
                    .next_element_seed(At {
                        proj: self.proj,
                        at: c,
                        slots: &mut *self.slots,
                    })?
                    .is_some(),
                None => seq.next_element::<Skip>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.capture(Captured::Other);
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.capture(Captured::Num(v.into()));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.capture(Captured::Num(v.into()));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // As `Value` does: a non-finite float (never from JSON text) is null.
        if let Some(n) = serde_json::Number::from_f64(v) {
            self.capture(Captured::Num(n));
        }
        Ok(())
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.capture(Captured::Str(std::borrow::Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if self.proj.nodes[self.at as usize].slot.is_some() {
            self.capture(Captured::Str(std::borrow::Cow::Owned(v.to_owned())));
        }
        Ok(())
    }
}

impl<'a> At<'_, '_, 'a> {
    fn capture(self, c: Captured<'a>) {
        if let Some(s) = self.proj.nodes[self.at as usize].slot {
            self.slots[s as usize] = Some(c);
        }
    }
}

/// Any JSON value, consumed through the same parser calls as a [`Value`]
/// (numbers range-checked, strings' escapes and surrogates validated, the
/// nesting limit applied), kept nowhere. (`IgnoredAny` would take serde_json's
/// faster skipping path, which accepts what a `Value` parse refuses.)
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> serde::de::Visitor<'de> for Skip {
    type Value = Skip;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key_seed(Key(&EMPTY_KEYS))?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
}

static EMPTY_KEYS: std::sync::LazyLock<rustc_hash::FxHashMap<Box<str>, u32>> =
    std::sync::LazyLock::new(Default::default);

impl Projected<'_> {
    /// What the value was instead of a JSON object, if it was not one
    /// (`"a number"`, `"an array"`, ...: [`EventError::NotObject`]'s words).
    pub fn not_object(&self) -> Option<&'static str> {
        self.kind.as_ref().err().copied()
    }

    /// The event, as [`AuditEvent::from_json`] builds it from the whole
    /// record, but with `raw` null. `None` if the value was not an object.
    /// The fields that repeat from event to event (type, user, fleet,
    /// device, user agent, host) are taken from `texts`, the batch's.
    pub fn into_event(self, source_id: Arc<str>, texts: &mut Interner) -> Option<AuditEvent> {
        let slots = self.kind.ok()?;
        let proj = self.proj?;
        let find = |f: CoreField| -> Option<&Captured<'_>> {
            proj.fields[f.index()]
                .iter()
                .find_map(|&s| slots[s as usize].as_ref())
        };
        // Borrowed where the capture is (a host is normalised and an
        // address parsed from it without an owned copy first).
        let view = |f: CoreField| -> Option<std::borrow::Cow<'_, str>> {
            match find(f)? {
                Captured::Str(s) if !s.is_empty() => Some(std::borrow::Cow::Borrowed(&**s)),
                Captured::Num(n) => Some(std::borrow::Cow::Owned(n.to_string())),
                _ => None,
            }
        };
        let own = |f: CoreField| view(f).map(|v| Arc::<str>::from(&*v));
        let url = own(CoreField::Url);
        let host = match view(CoreField::Host) {
            Some(h) => texts.host(&h),
            None => url.as_deref().and_then(|u| texts.host(host_in_url(u))),
        };
        let mut shared = |f: CoreField| view(f).map(|v| texts.text(&v));
        let event_type = shared(CoreField::EventType);
        let user = shared(CoreField::User);
        let fleet_arn = shared(CoreField::FleetArn);
        let device_id = shared(CoreField::DeviceId);
        let user_agent = shared(CoreField::UserAgent);
        let time = match find(CoreField::Time) {
            Some(Captured::Str(s)) => crate::time::parse_timestamp(s),
            Some(Captured::Num(n)) => timestamp_from_json(&Value::Number(n.clone())),
            _ => None,
        };
        Some(AuditEvent {
            event_id: own(CoreField::EventId),
            time,
            event_type,
            user,
            fleet_arn,
            device_id,
            source_ip: view(CoreField::SourceIp).and_then(|s| parse_ip(&s)),
            user_agent,
            url,
            host,
            source_id,
            raw: Value::Null,
        })
    }
}

/// Text shared between the events of one batch: a fleet's ARN, an event
/// type, a user, a user agent or a host is held once, and each event that
/// carries it holds a reference ([`Projected::into_event`]). Bounded: past
/// [`Interner::MAX_TEXTS`] distinct texts, a new one is the event's own.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    texts: rustc_hash::FxHashSet<Arc<str>>,
}

impl Interner {
    /// Distinct texts held at most.
    pub const MAX_TEXTS: usize = 4096;

    /// An empty interner for one batch.
    pub fn new() -> Interner {
        Interner::default()
    }

    /// Distinct texts held.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether it holds no text.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// `s`, shared with every earlier text equal to it.
    pub fn text(&mut self, s: &str) -> Arc<str> {
        if let Some(t) = self.texts.get(s) {
            return t.clone();
        }
        let t = Arc::<str>::from(s);
        if self.texts.len() < Self::MAX_TEXTS {
            self.texts.insert(t.clone());
        }
        t
    }

    /// A host as [`normalize_host`] writes it, shared; `None` when empty.
    fn host(&mut self, h: &str) -> Option<Arc<str>> {
        let h = normalize_host(h);
        (!h.is_empty()).then(|| self.text(&h))
    }
}

/// An IP address, also accepting `1.2.3.4:port` and `[::1]:port`.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = s.rsplit_once(':')?;
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4);
    }
    None
}

/// The host of a URL, lowercased, without userinfo or port. A URL without a
/// scheme (`intranet.example.com/path`) is read as host + path.
pub fn host_of_url(url: &str) -> Option<String> {
    let host = normalize_host(host_in_url(url));
    (!host.is_empty()).then(|| host.into_owned())
}

/// The host of a URL as written (see [`host_of_url`]), not normalised.
///
/// Read for every event with a URL, so it works on bytes: every delimiter
/// it looks for is ASCII, so each index it cuts at is a char boundary.
fn host_in_url(url: &str) -> &str {
    let b = url.as_bytes();
    // After the first `://`, if any.
    let mut after_scheme = url;
    let mut from = 0;
    while let Some(i) = memchr::memchr(b':', &b[from..]) {
        let i = from + i;
        if b[i + 1..].starts_with(b"//") {
            after_scheme = &url[i + 3..];
            break;
        }
        from = i + 1;
    }
    let end = after_scheme
        .bytes()
        .position(|c| matches!(c, b'/' | b'?' | b'#'))
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..end];
    let authority = match memchr::memrchr(b'@', authority.as_bytes()) {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    if let Some(rest) = authority.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        let end = memchr::memchr(b':', authority.as_bytes()).unwrap_or(authority.len());
        &authority[..end]
    }
}

/// A host trimmed, without trailing dots, lowercased: borrowed when it
/// already is.
fn normalize_host(h: &str) -> std::borrow::Cow<'_, str> {
    let h = h.trim().trim_end_matches('.');
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(h.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_secure_browser_shape() {
        let rec = br#"{"timestamp":"1665179084578","eventType":"VisitPage","details":{"title":"x","url":"https://Wiki.Corp.Example.com:8443/a?b"},"portalArn":"arn:aws:workspaces-web:us-east-1:123456789012:portal/abc","userName":"alice"}"#;
        let e = AuditEvent::decode(rec, "seq-1").unwrap();
        assert_eq!(e.event_type.as_deref(), Some("VisitPage"));
        assert_eq!(e.user.as_deref(), Some("alice"));
        assert_eq!(e.host.as_deref(), Some("wiki.corp.example.com"));
        assert!(e.fleet_arn.as_deref().unwrap().contains("portal/abc"));
        assert_eq!(
            e.time,
            Some("2022-10-07T21:44:44.578Z".parse::<Timestamp>().unwrap())
        );
        assert_eq!(&*e.source_id, "seq-1");
    }

    #[test]
    fn tolerant_of_missing_and_odd_fields() {
        let e = AuditEvent::decode(
            br#"{"eventType":7,"userName":{"x":1},"sourceIp":"not-an-ip","time":true,"extra":[1,2]}"#,
            "s",
        )
        .unwrap();
        assert_eq!(e.event_type.as_deref(), Some("7"));
        assert_eq!(e.user, None);
        assert_eq!(e.source_ip, None);
        assert_eq!(e.time, None);
        assert!(matches!(
            AuditEvent::decode(b"[1]", "s"),
            Err(EventError::NotObject { .. })
        ));
        let err = AuditEvent::decode(b"{", "shard-0:42").unwrap_err();
        assert!(err.to_string().contains("shard-0:42"), "{err}");
    }

    #[test]
    fn policy_paths_come_first() {
        let mut map = FieldMap::default();
        map.prepend(
            CoreField::User,
            vec![JsonPath::parse("actor.name").unwrap()],
        );
        let e = AuditEvent::decode_with(
            br#"{"userName":"fallback","actor":{"name":"bob"},"ip":"10.1.2.3:443","time":1700000000}"#,
            "s",
            &map,
        )
        .unwrap();
        assert_eq!(e.user.as_deref(), Some("bob"));
        assert_eq!(e.source_ip, Some("10.1.2.3".parse().unwrap()));
        assert_eq!(e.time, Some(Timestamp::from_second(1_700_000_000).unwrap()));
    }

    #[test]
    fn an_interner_shares_equal_texts_up_to_its_bound() {
        let mut texts = Interner::new();
        let a = texts.text("arn:aws:worklink::123456789012:fleet/corp");
        let b = texts.text("arn:aws:worklink::123456789012:fleet/corp");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(texts.len(), 1);
        for i in 0..Interner::MAX_TEXTS + 10 {
            assert_eq!(&*texts.text(&format!("user-{i}")), format!("user-{i}"));
        }
        assert_eq!(texts.len(), Interner::MAX_TEXTS);
        // Past the bound a text is still right, only not shared.
        let late = format!("user-{}", Interner::MAX_TEXTS + 5);
        assert!(!Arc::ptr_eq(&texts.text(&late), &texts.text(&late)));
        // Hosts as normalize_host writes them, empty ones dropped.
        for h in [
            "Wiki.Corp.Example.com",
            "wiki.corp.example.com.",
            " a.B ",
            "...",
            "",
            " ",
            "\u{e4}.EXAMPLE",
            "\u{c4}.example",
            "x..",
            "[::1]",
        ] {
            let expected = Some(normalize_host(h)).filter(|n| !n.is_empty());
            assert_eq!(texts.host(h).as_deref(), expected.as_deref(), "{h:?}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of_url("http://u:p@[::1]:80/x").as_deref(), Some("::1"));
        assert_eq!(
            host_of_url("intranet.example.com/p").as_deref(),
            Some("intranet.example.com")
        );
        assert_eq!(host_of_url(""), None);
        // The byte-level reading agrees with the plain string one it
        // replaced, on every delimiter and where each may appear.
        fn by_str(url: &str) -> Option<String> {
            let after_scheme = match url.find("://") {
                Some(i) => &url[i + 3..],
                None => url,
            };
            let authority = after_scheme
                .split(['/', '?', '#'])
                .next()
                .unwrap_or_default();
            let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = if let Some(rest) = authority.strip_prefix('[') {
                rest.split_once(']').map_or(rest, |(h, _)| h)
            } else {
                authority.split(':').next().unwrap_or_default()
            };
            let host = normalize_host(host);
            (!host.is_empty()).then(|| host.into_owned())
        }
        let parts = [
            "",
            "https",
            "://",
            ":",
            "//",
            "/",
            "?",
            "#",
            "@",
            "[",
            "]",
            "u:p@",
            "Wiki.Corp.",
            "Ex\u{e4}mple.com",
            ":8443",
            "[::1]",
            " h ",
            ".",
            "a:b",
            "\u{1f600}",
        ];
        let mut n = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in ["", "/p?q#f", "x", "@y", ":1"] {
                        let url = format!("{a}{b}{c}{d}");
                        assert_eq!(host_of_url(&url), by_str(&url), "{url:?}");
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 20 * 20 * 20 * 5);
        assert_eq!(
            parse_ip("[2001:db8::1]:443"),
            Some("2001:db8::1".parse().unwrap())
        );
    }
}
