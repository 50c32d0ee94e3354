//! The fields rules can test, per `on` kind, and reading them from a subject
//! without allocating.

use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::event::{AuditEvent, JsonPath};
use crate::resource::OnKind;
use crate::resource::{Instance, InstanceError, Portal, Resource, Session};

/// What a field holds; decides which operators apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string (user names, URLs, event types).
    Str,
    /// An IP address.
    Ip,
    /// A point in time.
    Time,
    /// A duration (ages).
    Duration,
    /// A number.
    Number,
    /// A boolean.
    Bool,
    /// A list of texts (any element may match).
    StrList,
    /// A raw JSON value: its type is known only per event.
    Dynamic,
}

impl FieldType {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            FieldType::Str => "a text field",
            FieldType::Ip => "an IP address field",
            FieldType::Time => "a time field",
            FieldType::Duration => "a duration field",
            FieldType::Number => "a number field",
            FieldType::Bool => "a boolean field",
            FieldType::StrList => "a list-of-text field",
            FieldType::Dynamic => "a raw JSON field",
        }
    }
}

/// Every known field, flat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldId {
    EvEventId,
    EvTime,
    EvEventType,
    EvUser,
    EvFleetArn,
    EvDeviceId,
    EvSourceIp,
    EvUrl,
    EvHost,
    EvUserAgent,
    EvAge,
    EvPortalArn,
    EvService,
    DevFleetArn,
    DevDeviceId,
    DevStatus,
    DevUser,
    DevManufacturer,
    DevModel,
    DevOs,
    DevOsVersion,
    DevPatchLevel,
    DevPatchLevelAge,
    DevFirstAccessed,
    DevLastAccessed,
    DevAge,
    DevIdle,
    DomFleetArn,
    DomDomain,
    DomDisplayName,
    DomStatus,
    DomCreated,
    DomAge,
    FlFleetArn,
    FlFleetName,
    FlDisplayName,
    FlCompanyCode,
    FlStatus,
    FlCreated,
    FlLastUpdated,
    FlAge,
    FlAuditStreamArn,
    InInstanceId,
    InState,
    InEc2InstanceId,
    InErrorCodes,
    InErrorMessages,
    InErrorCount,
    InMarked,
    InMarkAge,
    PoPortalArn,
    PoPortalId,
    PoDisplayName,
    PoStatus,
    PoAuthenticationType,
    PoCreated,
    PoAge,
    PoLoggingSettingsArn,
    PoLogStreamArn,
    PoIpAccessSettingsArn,
    SePortalArn,
    SeSessionId,
    SeUser,
    SeStatus,
    SeStartTime,
    SeEndTime,
    SeAge,
    SeClientIps,
}

use FieldId as F;
use FieldType as T;

const EVENT_FIELDS: &[(&str, FieldId, FieldType)] = &[
    ("event_id", F::EvEventId, T::Str),
    ("time", F::EvTime, T::Time),
    ("event_type", F::EvEventType, T::Str),
    ("user", F::EvUser, T::Str),
    ("fleet_arn", F::EvFleetArn, T::Str),
    ("device_id", F::EvDeviceId, T::Str),
    ("source_ip", F::EvSourceIp, T::Ip),
    ("url", F::EvUrl, T::Str),
    ("host", F::EvHost, T::Str),
    ("domain", F::EvHost, T::Str),
    ("user_agent", F::EvUserAgent, T::Str),
    ("age", F::EvAge, T::Duration),
    ("portal_arn", F::EvPortalArn, T::Str),
    ("service", F::EvService, T::Str),
];
const DEVICE_FIELDS: &[(&str, FieldId, FieldType)] = &[
    ("fleet_arn", F::DevFleetArn, T::Str),
    ("device_id", F::DevDeviceId, T::Str),
    ("status", F::DevStatus, T::Str),
    ("user", F::DevUser, T::Str),
    ("manufacturer", F::DevManufacturer, T::Str),
    ("model", F::DevModel, T::Str),
    ("os", F::DevOs, T::Str),
    ("os_version", F::DevOsVersion, T::Str),
    ("patch_level", F::DevPatchLevel, T::Str),
    ("patch_level_age", F::DevPatchLevelAge, T::Duration),
    ("first_accessed", F::DevFirstAccessed, T::Time),
    ("last_accessed", F::DevLastAccessed, T::Time),
    ("age", F::DevAge, T::Duration),
    ("idle", F::DevIdle, T::Duration),
];
const DOMAIN_FIELDS: &[(&str, FieldId, FieldType)] = &[
    ("fleet_arn", F::DomFleetArn, T::Str),
    ("domain", F::DomDomain, T::Str),
    ("display_name", F::DomDisplayName, T::Str),
    ("status", F::DomStatus, T::Str),
    ("created", F::DomCreated, T::Time),
    ("age", F::DomAge, T::Duration),
];
const FLEET_FIELDS: &[(&str, FieldId, FieldType)] = &[
    ("fleet_arn", F::FlFleetArn, T::Str),
    ("fleet_name", F::FlFleetName, T::Str),
    ("display_name", F::FlDisplayName, T::Str),
    ("company_code", F::FlCompanyCode, T::Str),
    ("status", F::FlStatus, T::Str),
    ("created", F::FlCreated, T::Time),
    ("last_updated", F::FlLastUpdated, T::Time),
    ("age", F::FlAge, T::Duration),
    ("audit_stream_arn", F::FlAuditStreamArn, T::Str),
];
const INSTANCE_FIELDS: &[(&str, FieldId, FieldType)] = &[
    ("instance_id", F::InInstanceId, T::Str),
    ("state", F::InState, T::Str),
    ("ec2_instance_id", F::InEc2InstanceId, T::Str),
    ("error_codes", F::InErrorCodes, T::StrList),
    ("error_messages", F::InErrorMessages, T::StrList),
    ("error_count", F::InErrorCount, T::Number),
    ("marked", F::InMarked, T::Bool),
    ("mark_age", F::InMarkAge, T::Duration),
];

const PORTAL_FIELDS: &[(&str, FieldId, FieldType)] = &[
    ("portal_arn", F::PoPortalArn, T::Str),
    ("portal_id", F::PoPortalId, T::Str),
    ("display_name", F::PoDisplayName, T::Str),
    ("status", F::PoStatus, T::Str),
    ("authentication_type", F::PoAuthenticationType, T::Str),
    ("created", F::PoCreated, T::Time),
    ("age", F::PoAge, T::Duration),
    (
        "access_logging_settings_arn",
        F::PoLoggingSettingsArn,
        T::Str,
    ),
    ("access_log_stream_arn", F::PoLogStreamArn, T::Str),
    ("ip_access_settings_arn", F::PoIpAccessSettingsArn, T::Str),
];
/// `client_ips` is a list of addresses typed as an IP field: a test holds
/// when it holds for any address (so `not-in-cidr` holds when none is in
/// the networks).
const SESSION_FIELDS: &[(&str, FieldId, FieldType)] = &[
    ("portal_arn", F::SePortalArn, T::Str),
    ("session_id", F::SeSessionId, T::Str),
    ("user", F::SeUser, T::Str),
    ("status", F::SeStatus, T::Str),
    ("start_time", F::SeStartTime, T::Time),
    ("end_time", F::SeEndTime, T::Time),
    ("age", F::SeAge, T::Duration),
    ("client_ips", F::SeClientIps, T::Ip),
];

fn table(on: OnKind) -> &'static [(&'static str, FieldId, FieldType)] {
    match on {
        OnKind::AuditEvent => EVENT_FIELDS,
        OnKind::Device => DEVICE_FIELDS,
        OnKind::Domain => DOMAIN_FIELDS,
        OnKind::Fleet => FLEET_FIELDS,
        OnKind::Instance => INSTANCE_FIELDS,
        OnKind::Portal => PORTAL_FIELDS,
        OnKind::Session => SESSION_FIELDS,
    }
}

/// The field names valid for `on` (for suggestions and docs). Audit events
/// also take `raw.<path>`; instances `tag.<key>`.
pub fn field_names(on: OnKind) -> impl Iterator<Item = &'static str> {
    table(on).iter().map(|(n, _, _)| *n)
}

/// A resolved field reference.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    Known(FieldId),
    /// `raw.<path>` into an audit event's JSON.
    Raw(JsonPath),
    /// `tag.<key>` of an instance.
    Tag(String),
}

/// Resolve a field name for `on`. Errors carry an optional suggestion.
pub(crate) fn resolve(
    on: OnKind,
    name: &str,
) -> Result<(Field, FieldType), (String, Option<&'static str>)> {
    if let Some((_, id, ty)) = table(on).iter().find(|(n, _, _)| *n == name) {
        return Ok((Field::Known(*id), *ty));
    }
    if on == OnKind::AuditEvent {
        if let Some(path) = name.strip_prefix("raw.") {
            let p = JsonPath::parse(path).map_err(|e| (e, None))?;
            return Ok((Field::Raw(p), FieldType::Dynamic));
        }
    }
    if on == OnKind::Instance {
        if let Some(key) = name.strip_prefix("tag.") {
            if key.is_empty() {
                return Err(("`tag.` needs a tag key, e.g. `tag.owner`".into(), None));
            }
            return Ok((Field::Tag(key.to_owned()), FieldType::Str));
        }
    }
    let extra = match on {
        OnKind::AuditEvent => ", or `raw.<path>` into the record's JSON",
        OnKind::Instance => ", or `tag.<key>`",
        _ => "",
    };
    let suggestion = crate::suggest::nearest(name, field_names(on));
    Err((
        format!(
            "unknown field `{name}` for `on: {}`; valid fields: {}{extra}",
            on.name(),
            field_names(on).collect::<Vec<_>>().join(", ")
        ),
        suggestion,
    ))
}

/// What a condition is evaluated against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    Event(&'a AuditEvent),
    Resource(&'a Resource),
}

/// Evaluation environment shared by all conditions of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'a> {
    pub now: Timestamp,
    pub cleanup_tag: &'a str,
}

/// A field's value, borrowed from the subject.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Missing,
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Ip(IpAddr),
    Time(Timestamp),
    Dur(SignedDuration),
    ErrCodes(&'a [InstanceError]),
    ErrMsgs(&'a [InstanceError]),
    JsonList(&'a [Value]),
    /// A list of addresses (a session's `client_ips`); an empty list is
    /// [`Val::Missing`].
    IpList(&'a [IpAddr]),
    /// A JSON object: only `exists` applies.
    JsonObject,
}

impl<'a> Val<'a> {
    fn opt_str<S: std::ops::Deref<Target = str>>(s: &'a Option<S>) -> Val<'a> {
        s.as_deref().map_or(Val::Missing, Val::Str)
    }
    fn opt_time(t: Option<Timestamp>) -> Val<'a> {
        t.map_or(Val::Missing, Val::Time)
    }
    fn age(now: Timestamp, t: Option<Timestamp>) -> Val<'a> {
        t.map_or(Val::Missing, |t| Val::Dur(now.duration_since(t)))
    }

    /// A raw JSON value as a field value.
    pub(crate) fn from_json(v: Option<&'a Value>) -> Val<'a> {
        match v {
            None | Some(Value::Null) => Val::Missing,
            Some(Value::String(s)) => Val::Str(s),
            Some(Value::Number(n)) => n.as_f64().map_or(Val::Missing, Val::Num),
            Some(Value::Bool(b)) => Val::Bool(*b),
            Some(Value::Array(a)) => Val::JsonList(a),
            Some(Value::Object(_)) => Val::JsonObject,
        }
    }

    pub(crate) fn is_missing(&self) -> bool {
        matches!(self, Val::Missing)
    }

    /// Human-readable rendering for `explain`.
    pub(crate) fn render(&self) -> String {
        match self {
            Val::Missing => "absent".into(),
            Val::Str(s) => format!("{s:?}"),
            Val::Num(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Ip(ip) => ip.to_string(),
            Val::Time(t) => t.to_string(),
            Val::Dur(d) => crate::time::format_duration(*d),
            Val::ErrCodes(e) => format!(
                "{:?}",
                e.iter()
                    .filter_map(|e| e.code.as_deref())
                    .collect::<Vec<_>>()
            ),
            Val::ErrMsgs(e) => format!(
                "{:?}",
                e.iter()
                    .filter_map(|e| e.message.as_deref())
                    .collect::<Vec<_>>()
            ),
            Val::JsonList(a) => serde_json::to_string(a).unwrap_or_default(),
            Val::IpList(a) => format!(
                "[{}]",
                a.iter()
                    .map(|ip| ip.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Val::JsonObject => "an object".into(),
        }
    }
}

/// A device's patch level (`2024-03-05` or RFC 3339) as a time.
fn patch_time(p: &Option<String>) -> Option<Timestamp> {
    let p = p.as_deref()?.trim();
    if let Ok(date) = p.parse::<jiff::civil::Date>() {
        return jiff::tz::TimeZone::UTC
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .ok();
    }
    crate::time::parse_timestamp(p)
}

fn instance_field<'a>(id: FieldId, i: &'a Instance, env: &Env<'_>) -> Val<'a> {
    match id {
        F::InInstanceId => Val::Str(&i.instance_id),
        F::InState => Val::opt_str(&i.state),
        F::InEc2InstanceId => Val::opt_str(&i.ec2_instance_id),
        F::InErrorCodes => Val::ErrCodes(&i.errors),
        F::InErrorMessages => Val::ErrMsgs(&i.errors),
        F::InErrorCount => Val::Num(i.errors.len() as f64),
        F::InMarked => Val::Bool(i.cleanup_marked_at(env.cleanup_tag).is_some()),
        F::InMarkAge => Val::age(env.now, i.cleanup_marked_at(env.cleanup_tag)),
        _ => Val::Missing,
    }
}

fn portal_field<'a>(id: FieldId, p: &'a Portal, env: &Env<'_>) -> Val<'a> {
    match id {
        F::PoPortalArn => Val::Str(&p.portal_arn),
        F::PoPortalId => Val::Str(p.portal_id()),
        F::PoDisplayName => Val::opt_str(&p.display_name),
        F::PoStatus => Val::opt_str(&p.status),
        F::PoAuthenticationType => Val::opt_str(&p.authentication_type),
        F::PoCreated => Val::opt_time(p.created),
        F::PoAge => Val::age(env.now, p.created),
        F::PoLoggingSettingsArn => Val::opt_str(&p.access_logging_settings_arn),
        F::PoLogStreamArn => Val::opt_str(&p.access_log_stream_arn),
        F::PoIpAccessSettingsArn => Val::opt_str(&p.ip_access_settings_arn),
        _ => Val::Missing,
    }
}

fn session_field<'a>(id: FieldId, s: &'a Session, env: &Env<'_>) -> Val<'a> {
    match id {
        F::SePortalArn => Val::Str(&s.portal_arn),
        F::SeSessionId => Val::Str(&s.session_id),
        F::SeUser => Val::opt_str(&s.user),
        F::SeStatus => Val::opt_str(&s.status),
        F::SeStartTime => Val::opt_time(s.start_time),
        F::SeEndTime => Val::opt_time(s.end_time),
        F::SeAge => Val::age(env.now, s.start_time),
        F::SeClientIps if s.client_ips.is_empty() => Val::Missing,
        F::SeClientIps => Val::IpList(&s.client_ips),
        _ => Val::Missing,
    }
}

/// The event's portal when it comes from a WorkSpaces Secure Browser access
/// log (its `portalArn`, read into the fleet ARN, names a `workspaces-web`
/// portal).
fn secure_browser_portal(e: &AuditEvent) -> Option<&str> {
    e.fleet_arn
        .as_deref()
        .filter(|a| crate::arn::PortalArn::is_portal(a))
}

impl Field {
    /// Read the field. Never allocates.
    #[inline]
    pub(crate) fn get<'a>(&self, subject: Subject<'a>, env: &Env<'_>) -> Val<'a> {
        match (self, subject) {
            (Field::Known(id), Subject::Event(e)) => match id {
                F::EvEventId => Val::opt_str(&e.event_id),
                F::EvTime => Val::opt_time(e.time),
                F::EvEventType => Val::opt_str(&e.event_type),
                F::EvUser => Val::opt_str(&e.user),
                F::EvFleetArn => Val::opt_str(&e.fleet_arn),
                F::EvDeviceId => Val::opt_str(&e.device_id),
                F::EvSourceIp => e.source_ip.map_or(Val::Missing, Val::Ip),
                F::EvUrl => Val::opt_str(&e.url),
                F::EvHost => Val::opt_str(&e.host),
                F::EvUserAgent => Val::opt_str(&e.user_agent),
                F::EvAge => Val::age(env.now, e.time),
                F::EvPortalArn => match secure_browser_portal(e) {
                    Some(p) => Val::Str(p),
                    None => Val::Missing,
                },
                F::EvService => Val::Str(if secure_browser_portal(e).is_some() {
                    "workspaces-web"
                } else {
                    "worklink"
                }),
                _ => Val::Missing,
            },
            (Field::Raw(path), Subject::Event(e)) => Val::from_json(path.get(&e.raw)),
            (Field::Known(id), Subject::Resource(r)) => match r {
                Resource::Device(d) => match id {
                    F::DevFleetArn => Val::Str(&d.fleet_arn),
                    F::DevDeviceId => Val::Str(&d.device_id),
                    F::DevStatus => Val::opt_str(&d.status),
                    F::DevUser => Val::opt_str(&d.user),
                    F::DevManufacturer => Val::opt_str(&d.manufacturer),
                    F::DevModel => Val::opt_str(&d.model),
                    F::DevOs => Val::opt_str(&d.os),
                    F::DevOsVersion => Val::opt_str(&d.os_version),
                    F::DevPatchLevel => Val::opt_str(&d.patch_level),
                    F::DevPatchLevelAge => Val::age(env.now, patch_time(&d.patch_level)),
                    F::DevFirstAccessed => Val::opt_time(d.first_accessed),
                    F::DevLastAccessed => Val::opt_time(d.last_accessed),
                    F::DevAge => Val::age(env.now, d.first_accessed),
                    F::DevIdle => Val::age(env.now, d.last_accessed),
                    _ => Val::Missing,
                },
                Resource::Domain(d) => match id {
                    F::DomFleetArn => Val::Str(&d.fleet_arn),
                    F::DomDomain => Val::Str(&d.domain),
                    F::DomDisplayName => Val::opt_str(&d.display_name),
                    F::DomStatus => Val::opt_str(&d.status),
                    F::DomCreated => Val::opt_time(d.created),
                    F::DomAge => Val::age(env.now, d.created),
                    _ => Val::Missing,
                },
                Resource::Fleet(f) => match id {
                    F::FlFleetArn => Val::Str(&f.fleet_arn),
                    F::FlFleetName => Val::opt_str(&f.fleet_name),
                    F::FlDisplayName => Val::opt_str(&f.display_name),
                    F::FlCompanyCode => Val::opt_str(&f.company_code),
                    F::FlStatus => Val::opt_str(&f.status),
                    F::FlCreated => Val::opt_time(f.created),
                    F::FlLastUpdated => Val::opt_time(f.last_updated),
                    F::FlAge => Val::age(env.now, f.created),
                    F::FlAuditStreamArn => Val::opt_str(&f.audit_stream_arn),
                    _ => Val::Missing,
                },
                Resource::Instance(i) => instance_field(*id, i, env),
                Resource::Portal(p) => portal_field(*id, p, env),
                Resource::Session(x) => session_field(*id, x, env),
            },
            (Field::Tag(key), Subject::Resource(Resource::Instance(i))) => {
                i.tags.get(key).map_or(Val::Missing, |v| Val::Str(v))
            }
            _ => Val::Missing,
        }
    }
}
