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
    pub source_id: String,
    /// The record's own id, when it has one.
    pub event_id: Option<String>,
    /// When it happened.
    pub time: Option<Timestamp>,
    /// The event type (`SignIn`, `VisitPage`, ...), as written.
    pub event_type: Option<String>,
    /// The user name.
    pub user: Option<String>,
    /// The fleet (or Secure Browser portal) ARN.
    pub fleet_arn: Option<String>,
    /// The device id.
    pub device_id: Option<String>,
    /// The client's IP address (unparseable addresses are `None`).
    pub source_ip: Option<IpAddr>,
    /// The URL visited.
    pub url: Option<String>,
    /// The URL's host (or an explicit host field), lowercased, without port.
    pub host: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// The whole record.
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
        FieldMap { paths }
    }
}

impl FieldMap {
    /// Put `paths` before the built-in spellings of `field`.
    pub fn prepend(&mut self, field: CoreField, paths: Vec<JsonPath>) {
        let slot = &mut self.paths[field.index()];
        let mut merged = paths;
        merged.append(slot);
        *slot = merged;
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
        let url = fields.text(CoreField::Url, &raw);
        let host = fields
            .text(CoreField::Host, &raw)
            .map(|h| normalize_host(&h))
            .or_else(|| url.as_deref().and_then(host_of_url))
            .filter(|h| !h.is_empty());
        Ok(AuditEvent {
            event_id: fields.text(CoreField::EventId, &raw),
            time: fields
                .find(CoreField::Time, &raw)
                .and_then(timestamp_from_json),
            event_type: fields.text(CoreField::EventType, &raw),
            user: fields.text(CoreField::User, &raw),
            fleet_arn: fields.text(CoreField::FleetArn, &raw),
            device_id: fields.text(CoreField::DeviceId, &raw),
            source_ip: fields
                .text(CoreField::SourceIp, &raw)
                .and_then(|s| parse_ip(&s)),
            user_agent: fields.text(CoreField::UserAgent, &raw),
            url,
            host,
            source_id,
            raw,
        })
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
    (!host.is_empty()).then_some(host)
}

fn normalize_host(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
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
        assert_eq!(e.source_id, "seq-1");
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
    fn hosts() {
        assert_eq!(host_of_url("http://u:p@[::1]:80/x").as_deref(), Some("::1"));
        assert_eq!(
            host_of_url("intranet.example.com/p").as_deref(),
            Some("intranet.example.com")
        );
        assert_eq!(host_of_url(""), None);
        assert_eq!(
            parse_ip("[2001:db8::1]:443"),
            Some("2001:db8::1".parse().unwrap())
        );
    }
}
