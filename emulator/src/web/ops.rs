//! The operations, each a plain function of the state, the emulator clock and
//! the request input, returning the JSON output.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::model::{
    resource_arn, IpAccessSettings, IpRule, Portal, Session, SessionStatus, State,
    UserAccessLoggingSettings,
};
use super::validate as v;
use super::wire::{epoch, page_request, paginate, ApiError, Input};

/// Everything an operation gets besides the state.
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub input: &'a Input,
}

pub type OpFn = fn(&mut State, &Ctx) -> Result<Value, ApiError>;

const PORTAL: &str = "portal";
const SESSION: &str = "session";
const LOGGING: &str = "userAccessLoggingSettings";
const IP: &str = "ipAccessSettings";

fn check(name: &str, r: Result<(), String>) -> Result<(), ApiError> {
    r.map_err(|e| ApiError::field(name, e))
}

/// Inserts `value` under `key` when it is `Some`.
fn put(m: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        m.insert(key.to_string(), v);
    }
}

fn portal_arn_label(c: &Ctx) -> Result<String, ApiError> {
    let arn = c.input.label(0);
    check("portalArn", v::arn(arn))?;
    Ok(arn.to_string())
}

fn find_portal<'s>(st: &'s mut State, arn: &str) -> Result<&'s mut Portal, ApiError> {
    st.portal_mut(arn)
        .ok_or_else(|| ApiError::not_found(PORTAL, arn))
}

/// The portal named by the `{portalId}` label.
fn portal_by_id<'s>(st: &'s mut State, c: &Ctx) -> Result<&'s mut Portal, ApiError> {
    let id = c.input.label(0);
    check("portalId", v::id36(id))?;
    st.portal_by_id_mut(id)
        .ok_or_else(|| ApiError::not_found(PORTAL, id))
}

fn session_id_label<'c>(c: &'c Ctx) -> Result<&'c str, ApiError> {
    let id = c.input.label(1);
    check("sessionId", v::id36(id))?;
    Ok(id)
}

fn session_mut<'p>(portal: &'p mut Portal, id: &str) -> Result<&'p mut Session, ApiError> {
    portal
        .sessions
        .iter_mut()
        .find(|s| s.session_id == id)
        .ok_or_else(|| ApiError::not_found(SESSION, id))
}

fn tags_out(tags: &BTreeMap<String, String>) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}

/// The `tags` member (a list of `{Key, Value}`), checked.
fn tags_in(c: &Ctx) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(list) = c.input.opt_list("tags")? else {
        return Ok(BTreeMap::new());
    };
    if list.len() > 200 {
        return Err(ApiError::field("tags", "at most 200 tags"));
    }
    let mut out = BTreeMap::new();
    for (i, t) in list.iter().enumerate() {
        let key = t.get("Key").and_then(Value::as_str);
        let value = t.get("Value").and_then(Value::as_str);
        let (Some(key), Some(value)) = (key, value) else {
            return Err(ApiError::field(
                &format!("tags[{i}]"),
                "Key and Value are required strings",
            ));
        };
        check(&format!("tags[{i}].Key"), v::tag_key(key))?;
        check(&format!("tags[{i}].Value"), v::tag_value(key, value))?;
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

fn client_token<'c>(c: &'c Ctx) -> Result<Option<&'c str>, ApiError> {
    let t = c.input.opt_str("clientToken")?;
    if let Some(t) = t {
        check("clientToken", v::len_between(t, 1, 512))?;
    }
    Ok(t)
}

fn opt_checked<'c>(
    c: &'c Ctx,
    name: &str,
    rule: fn(&str) -> Result<(), String>,
) -> Result<Option<&'c str>, ApiError> {
    let s = c.input.opt_str(name)?;
    if let Some(s) = s {
        check(name, rule(s))?;
    }
    Ok(s)
}

// ---------------------------------------------------------------- portals

fn portal_summary(p: &Portal) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("portalArn".into(), json!(p.arn));
    m.insert("rendererType".into(), json!("AppStream"));
    m.insert("browserType".into(), json!("Chrome"));
    m.insert("portalStatus".into(), json!(p.status.as_str()));
    m.insert(
        "portalEndpoint".into(),
        json!(format!("{}.workspaces-web.com", p.id())),
    );
    m.insert(
        "authenticationType".into(),
        json!(p.authentication_type.as_deref().unwrap_or("Standard")),
    );
    m.insert("instanceType".into(), json!("standard.regular"));
    put(
        &mut m,
        "displayName",
        p.display_name.as_ref().map(|d| json!(d)),
    );
    put(&mut m, "creationDate", p.creation_date.map(epoch));
    put(
        &mut m,
        "userAccessLoggingSettingsArn",
        p.user_access_logging_settings_arn
            .as_ref()
            .map(|a| json!(a)),
    );
    put(
        &mut m,
        "ipAccessSettingsArn",
        p.ip_access_settings_arn.as_ref().map(|a| json!(a)),
    );
    m
}

pub fn list_portals(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let req = page_request(c.input, "ListPortals", "")?;
    let mut portals: Vec<&Portal> = st.portals.iter().collect();
    portals.sort_by(|a, b| a.arn.cmp(&b.arn));
    let (page, next) = paginate(
        &portals,
        &req,
        |p, cur| p.arn.as_str() > cur,
        |p| p.arn.clone(),
        "ListPortals",
        "",
    );
    let list: Vec<Value> = page
        .iter()
        .map(|p| Value::Object(portal_summary(p)))
        .collect();
    Ok(json!({ "portals": list, "nextToken": next }))
}

pub fn get_portal(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let arn = portal_arn_label(c)?;
    let p = find_portal(st, &arn)?;
    Ok(json!({ "portal": portal_summary(p) }))
}

// ---------------------------------------------------------------- sessions

fn session_summary(portal_arn: &str, s: &Session) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("portalArn".into(), json!(portal_arn));
    m.insert("sessionId".into(), json!(s.session_id));
    m.insert("username".into(), json!(s.username));
    m.insert("status".into(), json!(s.status.as_str()));
    m.insert("startTime".into(), epoch(s.start_time));
    put(&mut m, "endTime", s.end_time.map(epoch));
    m
}

/// A session's place in start-time order: nanoseconds, then the id.
fn sort_key(s: &Session) -> String {
    format!("{:+040}|{}", s.start_time.as_nanosecond(), s.session_id)
}

pub fn list_sessions(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let q = c.input;
    let username = q.query_one("username")?;
    if let Some(u) = username {
        check("username", v::username(u))?;
    }
    let session_id = q.query_one("sessionId")?;
    if let Some(s) = session_id {
        check("sessionId", v::id36(s))?;
    }
    let status = match q.query_one("status")? {
        None => None,
        Some(s) => Some(SessionStatus::parse(s).ok_or_else(|| {
            ApiError::field(
                "status",
                format!("{s:?} is not one of [Active, Terminated]"),
            )
        })?),
    };
    let descending = match q.query_one("sortBy")? {
        None | Some("StartTimeAscending") => false,
        Some("StartTimeDescending") => true,
        Some(s) => {
            return Err(ApiError::field(
                "sortBy",
                format!("{s:?} is not one of [StartTimeAscending, StartTimeDescending]"),
            ))
        }
    };
    let portal = portal_by_id(st, c)?;
    let scope = format!(
        "{}|{}|{}|{}|{descending}",
        portal.id(),
        username.unwrap_or("\u{0}"),
        session_id.unwrap_or(""),
        status.map_or("", SessionStatus::as_str),
    );
    let req = page_request(q, "ListSessions", &scope)?;
    let mut sessions: Vec<(String, &Session)> = portal
        .sessions
        .iter()
        .filter(|s| username.is_none_or(|u| s.username == u))
        .filter(|s| session_id.is_none_or(|id| s.session_id == id))
        .filter(|s| status.is_none_or(|st| s.status == st))
        .map(|s| (sort_key(s), s))
        .collect();
    sessions.sort_by(|a, b| a.0.cmp(&b.0));
    if descending {
        sessions.reverse();
    }
    let (page, next) = paginate(
        &sessions,
        &req,
        |(key, _), cur| {
            if descending {
                key.as_str() < cur
            } else {
                key.as_str() > cur
            }
        },
        |(key, _)| key.clone(),
        "ListSessions",
        &scope,
    );
    let list: Vec<Value> = page
        .iter()
        .map(|(_, s)| Value::Object(session_summary(&portal.arn, s)))
        .collect();
    Ok(json!({ "sessions": list, "nextToken": next }))
}

pub fn get_session(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let portal = portal_by_id(st, c)?;
    let arn = portal.arn.clone();
    let id = session_id_label(c)?;
    let s = session_mut(portal, id)?;
    let mut m = session_summary(&arn, s);
    if !s.client_ip_addresses.is_empty() {
        m.insert("clientIpAddresses".into(), json!(s.client_ip_addresses));
    }
    Ok(json!({ "session": m }))
}

/// Ends an active session (its end time is the emulator clock). Expiring a
/// session that has already ended succeeds and changes nothing.
pub fn expire_session(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let portal = portal_by_id(st, c)?;
    let id = session_id_label(c)?;
    let s = session_mut(portal, id)?;
    if s.status == SessionStatus::Active {
        s.status = SessionStatus::Terminated;
        s.end_time = Some(c.now);
    }
    Ok(json!({}))
}

// ------------------------------------------------------------- settings

/// What differs between the two kinds of settings a portal points at (user
/// access logging, IP access); the create/delete/associate rules are shared.
struct Kind {
    /// The ARN resource type and `resourceType` of errors.
    name: &'static str,
    /// The member that carries the ARN (path label, query, output).
    arn_member: &'static str,
    /// Words for messages.
    what: &'static str,
    /// The portal's reference to settings of this kind.
    slot: fn(&mut Portal) -> &mut Option<String>,
    get: fn(&Portal) -> Option<&String>,
    exists: fn(&State, &str) -> bool,
    count: fn(&State) -> usize,
    limit: fn(&State) -> usize,
    remove: fn(&mut State, &str),
}

const LOGGING_KIND: Kind = Kind {
    name: LOGGING,
    arn_member: "userAccessLoggingSettingsArn",
    what: "user access logging settings",
    slot: |p| &mut p.user_access_logging_settings_arn,
    get: |p| p.user_access_logging_settings_arn.as_ref(),
    exists: |st, arn| st.user_access_logging_settings.iter().any(|s| s.arn == arn),
    count: |st| st.user_access_logging_settings.len(),
    limit: |st| st.limits.max_user_access_logging_settings,
    remove: |st, arn| st.user_access_logging_settings.retain(|s| s.arn != arn),
};

const IP_KIND: Kind = Kind {
    name: IP,
    arn_member: "ipAccessSettingsArn",
    what: "IP access settings",
    slot: |p| &mut p.ip_access_settings_arn,
    get: |p| p.ip_access_settings_arn.as_ref(),
    exists: |st, arn| st.ip_access_settings.iter().any(|s| s.arn == arn),
    count: |st| st.ip_access_settings.len(),
    limit: |st| st.limits.max_ip_access_settings,
    remove: |st, arn| st.ip_access_settings.retain(|s| s.arn != arn),
};

impl Kind {
    /// The settings ARN from the path label, checked.
    fn arn_label(&self, c: &Ctx) -> Result<String, ApiError> {
        let arn = c.input.label(0);
        check(self.arn_member, v::arn(arn))?;
        Ok(arn.to_string())
    }

    fn not_found(&self, arn: &str) -> ApiError {
        ApiError::not_found(self.name, arn)
    }

    /// The portals that use settings `arn` (`associatedPortalArns`).
    fn portals_using(&self, st: &State, arn: &str) -> Vec<String> {
        st.portals_with(arn, self.get)
    }

    /// The start of a create: the ARN a repeated `clientToken` made, or
    /// ServiceQuotaExceededException when the account is full.
    fn create_check(&self, st: &State, c: &Ctx) -> Result<Option<String>, ApiError> {
        let replayed = client_token(c)?
            .and_then(|t| st.client_tokens.get(&format!("{}|{t}", self.name)))
            .cloned();
        if replayed.is_none() && (self.count)(st) >= (self.limit)(st) {
            return Err(ApiError::quota(
                self.name,
                format!("the account already has {} {}", (self.count)(st), self.what),
            ));
        }
        Ok(replayed)
    }

    /// A fresh ARN of this kind, remembered under the request's `clientToken`.
    fn new_arn(&self, st: &mut State, c: &Ctx) -> String {
        let id = st.new_id();
        let arn = resource_arn(&st.region, &st.account_id, self.name, &id);
        if let Ok(Some(t)) = client_token(c) {
            st.client_tokens
                .insert(format!("{}|{t}", self.name), arn.clone());
        }
        arn
    }

    /// Settings still associated with a portal cannot be deleted
    /// (ConflictException); unknown settings delete as a no-op, the operation
    /// being idempotent and modelling no ResourceNotFoundException.
    fn delete(&self, st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
        let arn = self.arn_label(c)?;
        if let Some(p) = self.portals_using(st, &arn).first() {
            return Err(ApiError::conflict(
                self.name,
                &arn,
                format!("{arn} is associated with portal {p}; disassociate it first"),
            ));
        }
        (self.remove)(st, &arn);
        Ok(json!({}))
    }

    /// Points the portal at the settings named in the query string,
    /// replacing any earlier ones.
    fn associate(&self, st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
        let portal_arn = portal_arn_label(c)?;
        let arn = c
            .input
            .query_one(self.arn_member)?
            .ok_or_else(|| ApiError::field(self.arn_member, "member is required"))?
            .to_string();
        check(self.arn_member, v::arn(&arn))?;
        find_portal(st, &portal_arn)?;
        if !(self.exists)(st, &arn) {
            return Err(self.not_found(&arn));
        }
        *(self.slot)(find_portal(st, &portal_arn)?) = Some(arn.clone());
        Ok(json!({ "portalArn": portal_arn, self.arn_member: arn }))
    }

    /// Clears the portal's settings of this kind; a portal without any is a
    /// ConflictException (nothing to disassociate).
    fn disassociate(&self, st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
        let portal_arn = portal_arn_label(c)?;
        let p = find_portal(st, &portal_arn)?;
        if (self.slot)(p).take().is_none() {
            return Err(ApiError::conflict(
                PORTAL,
                &portal_arn,
                format!("portal {portal_arn} has no {}", self.what),
            ));
        }
        Ok(json!({}))
    }
}

/// One page of `items` in ARN order, for the settings lists.
fn list_by_arn<T>(
    items: &[T],
    arn: fn(&T) -> &str,
    c: &Ctx,
    op: &str,
    out: impl Fn(&T) -> Value,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let req = page_request(c.input, op, "")?;
    let mut all: Vec<&T> = items.iter().collect();
    all.sort_by(|a, b| arn(a).cmp(arn(b)));
    let (page, next) = paginate(
        &all,
        &req,
        |s, cur| arn(s) > cur,
        |s| arn(s).to_string(),
        op,
        "",
    );
    Ok((page.iter().map(|s| out(s)).collect(), next))
}

// ------------------------------------------------- user access logging

fn find_logging<'s>(
    st: &'s mut State,
    arn: &str,
) -> Result<&'s mut UserAccessLoggingSettings, ApiError> {
    st.user_access_logging_settings
        .iter_mut()
        .find(|s| s.arn == arn)
        .ok_or_else(|| LOGGING_KIND.not_found(arn))
}

fn logging_out(st: &State, s: &UserAccessLoggingSettings) -> Value {
    json!({
        "userAccessLoggingSettingsArn": s.arn,
        "kinesisStreamArn": s.kinesis_stream_arn,
        "associatedPortalArns": LOGGING_KIND.portals_using(st, &s.arn),
    })
}

pub fn create_user_access_logging_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let stream = c.input.req_str("kinesisStreamArn")?;
    check("kinesisStreamArn", v::kinesis_stream_arn(stream))?;
    let tags = tags_in(c)?;
    if let Some(arn) = LOGGING_KIND.create_check(st, c)? {
        return Ok(json!({ "userAccessLoggingSettingsArn": arn }));
    }
    let arn = LOGGING_KIND.new_arn(st, c);
    st.user_access_logging_settings
        .push(UserAccessLoggingSettings {
            arn: arn.clone(),
            kinesis_stream_arn: stream.to_string(),
            tags,
        });
    Ok(json!({ "userAccessLoggingSettingsArn": arn }))
}

pub fn get_user_access_logging_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let arn = LOGGING_KIND.arn_label(c)?;
    let s = find_logging(st, &arn)?.clone();
    Ok(json!({ "userAccessLoggingSettings": logging_out(st, &s) }))
}

pub fn list_user_access_logging_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let (list, next) = list_by_arn(
        &st.user_access_logging_settings,
        |s| &s.arn,
        c,
        "ListUserAccessLoggingSettings",
        |s| json!({ "userAccessLoggingSettingsArn": s.arn, "kinesisStreamArn": s.kinesis_stream_arn }),
    )?;
    Ok(json!({ "userAccessLoggingSettings": list, "nextToken": next }))
}

pub fn update_user_access_logging_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let arn = LOGGING_KIND.arn_label(c)?;
    let stream = opt_checked(c, "kinesisStreamArn", v::kinesis_stream_arn)?;
    client_token(c)?;
    let s = find_logging(st, &arn)?;
    if let Some(stream) = stream {
        s.kinesis_stream_arn = stream.to_string();
    }
    let s = s.clone();
    Ok(json!({ "userAccessLoggingSettings": logging_out(st, &s) }))
}

pub fn delete_user_access_logging_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    LOGGING_KIND.delete(st, c)
}

pub fn associate_user_access_logging_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    LOGGING_KIND.associate(st, c)
}

pub fn disassociate_user_access_logging_settings(
    st: &mut State,
    c: &Ctx,
) -> Result<Value, ApiError> {
    LOGGING_KIND.disassociate(st, c)
}

// ------------------------------------------------------ ip access settings

fn find_ip<'s>(st: &'s mut State, arn: &str) -> Result<&'s mut IpAccessSettings, ApiError> {
    st.ip_access_settings
        .iter_mut()
        .find(|s| s.arn == arn)
        .ok_or_else(|| IP_KIND.not_found(arn))
}

fn ip_summary(s: &IpAccessSettings) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ipAccessSettingsArn".into(), json!(s.arn));
    put(
        &mut m,
        "displayName",
        s.display_name.as_ref().map(|d| json!(d)),
    );
    put(
        &mut m,
        "description",
        s.description.as_ref().map(|d| json!(d)),
    );
    put(&mut m, "creationDate", s.creation_date.map(epoch));
    m
}

fn ip_out(st: &State, s: &IpAccessSettings) -> Value {
    let mut m = ip_summary(s);
    let rules: Vec<Value> = s
        .ip_rules
        .iter()
        .map(|r| {
            let mut o = Map::new();
            o.insert("ipRange".into(), json!(r.ip_range));
            put(
                &mut o,
                "description",
                r.description.as_ref().map(|d| json!(d)),
            );
            Value::Object(o)
        })
        .collect();
    m.insert("ipRules".into(), Value::Array(rules));
    m.insert(
        "associatedPortalArns".into(),
        json!(IP_KIND.portals_using(st, &s.arn)),
    );
    put(
        &mut m,
        "customerManagedKey",
        s.customer_managed_key.as_ref().map(|k| json!(k)),
    );
    Value::Object(m)
}

/// `ipRules`: 1..100 of `{ipRange, description?}`.
fn ip_rules_in(c: &Ctx) -> Result<Option<Vec<IpRule>>, ApiError> {
    let Some(list) = c.input.opt_list("ipRules")? else {
        return Ok(None);
    };
    if list.is_empty() || list.len() > 100 {
        return Err(ApiError::field(
            "ipRules",
            format!("must hold 1 to 100 rules, got {}", list.len()),
        ));
    }
    let mut rules = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let Some(range) = r.get("ipRange").and_then(Value::as_str) else {
            return Err(ApiError::field(
                &format!("ipRules[{i}].ipRange"),
                "member is required",
            ));
        };
        check(&format!("ipRules[{i}].ipRange"), v::ip_range(range))?;
        let description = match r.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) => {
                check(&format!("ipRules[{i}].description"), v::description(d))?;
                Some(d.clone())
            }
            Some(_) => {
                return Err(ApiError::field(
                    &format!("ipRules[{i}].description"),
                    "must be a string",
                ))
            }
        };
        rules.push(IpRule {
            ip_range: range.to_string(),
            description,
        });
    }
    Ok(Some(rules))
}

pub fn create_ip_access_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let display = opt_checked(c, "displayName", v::display_name)?;
    let description = opt_checked(c, "description", v::description)?;
    let key = opt_checked(c, "customerManagedKey", v::key_arn)?;
    c.input.opt_str_map("additionalEncryptionContext")?;
    let rules = ip_rules_in(c)?.ok_or_else(|| ApiError::field("ipRules", "member is required"))?;
    let tags = tags_in(c)?;
    if let Some(arn) = IP_KIND.create_check(st, c)? {
        return Ok(json!({ "ipAccessSettingsArn": arn }));
    }
    let arn = IP_KIND.new_arn(st, c);
    st.ip_access_settings.push(IpAccessSettings {
        arn: arn.clone(),
        display_name: display.map(str::to_string),
        description: description.map(str::to_string),
        ip_rules: rules,
        creation_date: Some(c.now),
        customer_managed_key: key.map(str::to_string),
        tags,
    });
    Ok(json!({ "ipAccessSettingsArn": arn }))
}

pub fn get_ip_access_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let arn = IP_KIND.arn_label(c)?;
    let s = find_ip(st, &arn)?.clone();
    Ok(json!({ "ipAccessSettings": ip_out(st, &s) }))
}

pub fn list_ip_access_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let (list, next) = list_by_arn(
        &st.ip_access_settings,
        |s| &s.arn,
        c,
        "ListIpAccessSettings",
        |s| Value::Object(ip_summary(s)),
    )?;
    Ok(json!({ "ipAccessSettings": list, "nextToken": next }))
}

pub fn update_ip_access_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let arn = IP_KIND.arn_label(c)?;
    let display = opt_checked(c, "displayName", v::display_name)?;
    let description = opt_checked(c, "description", v::description)?;
    let rules = ip_rules_in(c)?;
    client_token(c)?;
    let s = find_ip(st, &arn)?;
    if let Some(d) = display {
        s.display_name = Some(d.to_string());
    }
    if let Some(d) = description {
        s.description = Some(d.to_string());
    }
    if let Some(r) = rules {
        s.ip_rules = r;
    }
    let s = s.clone();
    Ok(json!({ "ipAccessSettings": ip_out(st, &s) }))
}

pub fn delete_ip_access_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    IP_KIND.delete(st, c)
}

pub fn associate_ip_access_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    IP_KIND.associate(st, c)
}

pub fn disassociate_ip_access_settings(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    IP_KIND.disassociate(st, c)
}

// ---------------------------------------------------------------- tags

/// The tags of the resource named by the `{resourceArn}` label: a portal,
/// user access logging settings or IP access settings.
fn tags_of<'s>(
    st: &'s mut State,
    c: &Ctx,
) -> Result<(String, &'s mut BTreeMap<String, String>), ApiError> {
    let arn = c.input.label(0).to_string();
    check("resourceArn", v::arn(&arn))?;
    let tags = if let Some(p) = st.portals.iter_mut().find(|p| p.arn == arn) {
        &mut p.tags
    } else if let Some(s) = st
        .user_access_logging_settings
        .iter_mut()
        .find(|s| s.arn == arn)
    {
        &mut s.tags
    } else if let Some(s) = st.ip_access_settings.iter_mut().find(|s| s.arn == arn) {
        &mut s.tags
    } else {
        return Err(ApiError::not_found("resource", &arn));
    };
    Ok((arn, tags))
}

pub fn list_tags_for_resource(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let (_, tags) = tags_of(st, c)?;
    Ok(json!({ "tags": tags_out(tags) }))
}

/// Merges tags (a repeated key overwrites); more than 50 on the resource is
/// TooManyTagsException and changes nothing.
pub fn tag_resource(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    if c.input.opt_list("tags")?.is_none() {
        return Err(ApiError::field("tags", "member is required"));
    }
    let new = tags_in(c)?;
    client_token(c)?;
    let (arn, tags) = tags_of(st, c)?;
    let mut merged = tags.clone();
    merged.extend(new);
    if merged.len() > v::MAX_TAGS {
        return Err(ApiError::too_many_tags(&arn, merged.len()));
    }
    *tags = merged;
    Ok(json!({}))
}

/// Removes the `tagKeys` given; absent keys are ignored.
pub fn untag_resource(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let keys = c.input.query_all("tagKeys").to_vec();
    if keys.is_empty() {
        return Err(ApiError::field("tagKeys", "member is required"));
    }
    if keys.len() > 200 {
        return Err(ApiError::field("tagKeys", "at most 200 keys"));
    }
    for (i, k) in keys.iter().enumerate() {
        check(&format!("tagKeys[{i}]"), v::tag_key(k))?;
    }
    let (_, tags) = tags_of(st, c)?;
    for k in &keys {
        tags.remove(k);
    }
    Ok(json!({}))
}
