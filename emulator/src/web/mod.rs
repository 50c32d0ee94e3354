//! Amazon WorkSpaces Secure Browser (`workspaces-web`), REST-JSON, as
//! `aws-sdk-workspacesweb` and boto3 speak it.
//!
//! # Wire protocol
//!
//! Paths, methods and members follow the API model (2020-07-08): e.g.
//! `GET /portals`, `GET /portals/{portalArn+}`, `GET /portals/{portalId}/sessions`,
//! `DELETE /portals/{portalId}/sessions/{sessionId}`,
//! `PUT /portals/{portalArn+}/userAccessLoggingSettings?userAccessLoggingSettingsArn=`,
//! `POST /userAccessLoggingSettings`, `PATCH /ipAccessSettings/{ipAccessSettingsArn+}`,
//! `GET|POST|DELETE /tags/{resourceArn+}`. ARN labels are greedy (their `/`
//! stay literal, `:` arrives as `%3A`). Answers are JSON with timestamps in
//! epoch seconds. Errors carry the code in `x-amzn-ErrorType`, `message` and
//! the shape's members in the body, with the model's status: 400
//! `ValidationException` (`reason`, `fieldList`) and `TooManyTagsException`,
//! 402 `ServiceQuotaExceededException`, 403 `AccessDeniedException`, 404
//! `ResourceNotFoundException` (`resourceId`, `resourceType`), 409
//! `ConflictException`, 429 `ThrottlingException`, 500
//! `InternalServerException`; 404 `UnknownOperationException` for a path
//! and method the service lacks.
//!
//! The emulator routes `/portals...`, `/userAccessLoggingSettings...` and
//! `/ipAccessSettings...` here; `/tags/{arn}` comes here when the request is
//! signed for `workspaces-web` or the ARN is a `workspaces-web` ARN (WorkLink
//! has `/tags/{arn}` too).
//!
//! # Behaviour worth knowing
//!
//! * Portals and sessions come from the fixture (there is no CreatePortal).
//!   The portal id is the last part of the portal ARN; the session calls take
//!   it, and both ids must be 36 characters of `[a-zA-Z0-9-]`.
//! * `ListSessions` filters by `username`, `sessionId` and `status`, sorts by
//!   start time (`sortBy`, ascending by default; ties by session id) and
//!   pages with opaque tokens bound to the operation, portal and filters (a
//!   foreign or garbled token is a `ValidationException` on `nextToken`).
//!   The cursor is the last item's sort key, so expiring sessions between
//!   pages of `status=Active` skips nothing. Other lists are in ARN order.
//!   Default page 50, at most 100 whatever `maxResults` says.
//! * `ExpireSession` ends an `Active` session (status `Terminated`, end time
//!   the emulator clock); an already ended one succeeds unchanged. Unknown
//!   portal or session: `ResourceNotFoundException`.
//! * User access logging settings need a Kinesis stream ARN whose stream
//!   name begins with `amazon-workspaces-web-`. Associating settings with a
//!   portal replaces any earlier ones and shows in `GetPortal` /
//!   `ListPortals` and in the settings' `associatedPortalArns`;
//!   disassociating from a portal that has none is a `ConflictException`, as
//!   is deleting settings a portal still uses. IP access settings alike.
//! * Create calls honour `clientToken`: a repeated token answers with the
//!   first ARN. `limits` caps how many settings exist
//!   (`ServiceQuotaExceededException`).
//! * Tags: at most 50 per resource (`TooManyTagsException`, nothing
//!   changed); `UntagResource` ignores absent keys.
//! * `access_denied` rules in the state answer `AccessDeniedException` for
//!   the operations and resources they name (a portal by ARN or id).
//!
//! Each call runs fault injection ([`Shared::inject`]: `ThrottlingException`
//! or `InternalServerException`) and is recorded in the call log with its
//! key parameters under their wire names (`portalArn`, `portalId`,
//! `sessionId`, `username`, `status`, `sortBy`, `maxResults`, `nextToken:
//! true` when sent, settings ARNs, `kinesisStreamArn`, `tags` as a map,
//! `tagKeys`, `resourceArn`).
//!
//! # Fixture section (`"workspaces_web"`)
//!
//! ```json
//! {
//!   "portals": [{"arn": "arn:aws:workspaces-web:us-east-1:123456789012:portal/<36 chars>",
//!                "display_name": "Call centre", "status": "Active",
//!                "creation_date": "2026-11-01T00:00:00Z",
//!                "user_access_logging_settings_arn": "...", "ip_access_settings_arn": "...",
//!                "tags": {"team": "euc"},
//!                "sessions": [{"session_id": "<36 chars>", "username": "jdoe",
//!                              "status": "Active", "start_time": "2026-11-25T08:00:00Z",
//!                              "end_time": null, "client_ip_addresses": ["203.0.113.7"]}]}],
//!   "user_access_logging_settings": [{"arn": "...:userAccessLoggingSettings/<36 chars>",
//!                                     "kinesis_stream_arn": "arn:aws:kinesis:...:stream/amazon-workspaces-web-x"}],
//!   "ip_access_settings": [{"arn": "...:ipAccessSettings/<36 chars>",
//!                           "ip_rules": [{"ip_range": "10.0.0.0/8"}]}],
//!   "access_denied": [{"operations": ["ExpireSession"], "resources": ["<portal id or ARN>"]}],
//!   "limits": {"max_user_access_logging_settings": 50, "max_ip_access_settings": 50},
//!   "region": "us-east-1", "account_id": "123456789012"
//! }
//! ```
//!
//! Unknown fields are errors; errors name the JSON path of the bad value.

mod model;
mod ops;
mod validate;
mod wire;

use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Map, Value};

pub use model::{
    resource_arn, AccessDenyRule, IpAccessSettings, IpRule, Limits, Portal, PortalStatus, Session,
    SessionStatus, State, UserAccessLoggingSettings, DEFAULT_ACCOUNT_ID, DEFAULT_REGION,
};
pub use validate::STREAM_PREFIX;
pub use wire::{ApiError, ErrorKind, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

use crate::log::Call;
use crate::wsi::request_id;
use crate::{EmuRequest, Injected, Service, Shared};
use ops::{Ctx, OpFn};
use wire::Input;

/// Every operation the emulator serves, by API name.
pub const OPERATIONS: &[&str] = &[
    "AssociateIpAccessSettings",
    "AssociateUserAccessLoggingSettings",
    "CreateIpAccessSettings",
    "CreateUserAccessLoggingSettings",
    "DeleteIpAccessSettings",
    "DeleteUserAccessLoggingSettings",
    "DisassociateIpAccessSettings",
    "DisassociateUserAccessLoggingSettings",
    "ExpireSession",
    "GetIpAccessSettings",
    "GetPortal",
    "GetSession",
    "GetUserAccessLoggingSettings",
    "ListIpAccessSettings",
    "ListPortals",
    "ListSessions",
    "ListTagsForResource",
    "ListUserAccessLoggingSettings",
    "TagResource",
    "UntagResource",
    "UpdateIpAccessSettings",
    "UpdateUserAccessLoggingSettings",
];

/// The path prefixes only Secure Browser uses.
const PREFIXES: &[&str] = &[
    "/portals",
    "/userAccessLoggingSettings",
    "/ipAccessSettings",
];

/// Whether a request belongs to Secure Browser (see the module docs).
pub fn claims(req: &EmuRequest) -> bool {
    let path = req.path();
    let under = |p: &str| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if PREFIXES.iter().any(|p| under(p)) {
        return true;
    }
    if !under("/tags") {
        return false;
    }
    let signed_for_web = req
        .headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|a| a.contains("/workspaces-web/aws4_request"));
    signed_for_web || path.contains("%3Aworkspaces-web%3A") || path.contains(":workspaces-web:")
}

/// A matched route: the operation and its path labels, still encoded.
struct Route {
    name: &'static str,
    op: OpFn,
    /// Names of the labels, for the call log.
    label_names: &'static [&'static str],
    labels: Vec<String>,
}

fn route(method: &Method, path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let m = method.clone();
    let r = |name, op: OpFn, label_names, labels: Vec<String>| {
        Some(Route {
            name,
            op,
            label_names,
            labels,
        })
    };
    let rest = |from: usize| vec![segs[from..].join("/")];
    const ARN: &[&str] = &["portalArn"];
    match (segs[0], segs.len()) {
        ("portals", 1) if m == Method::GET => r("ListPortals", ops::list_portals, &[], vec![]),
        ("portals", n) if n >= 2 && !segs[1].starts_with("arn") => {
            let labels: Vec<String> = segs[1..].iter().map(|s| s.to_string()).collect();
            let ids: &[&str] = &["portalId", "sessionId"];
            match (segs.get(2), n, &m) {
                (Some(&"sessions"), 3, &Method::GET) => r(
                    "ListSessions",
                    ops::list_sessions,
                    &ids[..1],
                    vec![labels[0].clone()],
                ),
                (Some(&"sessions"), 4, &Method::GET) => r(
                    "GetSession",
                    ops::get_session,
                    ids,
                    vec![labels[0].clone(), labels[2].clone()],
                ),
                (Some(&"sessions"), 4, &Method::DELETE) => r(
                    "ExpireSession",
                    ops::expire_session,
                    ids,
                    vec![labels[0].clone(), labels[2].clone()],
                ),
                _ => None,
            }
        }
        ("portals", n) if n >= 2 => {
            let last = segs[n - 1];
            let arn = vec![segs[1..n - 1].join("/")];
            match (last, m) {
                ("userAccessLoggingSettings", Method::PUT) => r(
                    "AssociateUserAccessLoggingSettings",
                    ops::associate_user_access_logging_settings,
                    ARN,
                    arn,
                ),
                ("userAccessLoggingSettings", Method::DELETE) => r(
                    "DisassociateUserAccessLoggingSettings",
                    ops::disassociate_user_access_logging_settings,
                    ARN,
                    arn,
                ),
                ("ipAccessSettings", Method::PUT) => r(
                    "AssociateIpAccessSettings",
                    ops::associate_ip_access_settings,
                    ARN,
                    arn,
                ),
                ("ipAccessSettings", Method::DELETE) => r(
                    "DisassociateIpAccessSettings",
                    ops::disassociate_ip_access_settings,
                    ARN,
                    arn,
                ),
                (_, Method::GET) => r("GetPortal", ops::get_portal, ARN, rest(1)),
                _ => None,
            }
        }
        ("userAccessLoggingSettings", 1) => match m {
            Method::POST => r(
                "CreateUserAccessLoggingSettings",
                ops::create_user_access_logging_settings,
                &[],
                vec![],
            ),
            Method::GET => r(
                "ListUserAccessLoggingSettings",
                ops::list_user_access_logging_settings,
                &[],
                vec![],
            ),
            _ => None,
        },
        ("userAccessLoggingSettings", _) => {
            const L: &[&str] = &["userAccessLoggingSettingsArn"];
            match m {
                Method::GET => r(
                    "GetUserAccessLoggingSettings",
                    ops::get_user_access_logging_settings,
                    L,
                    rest(1),
                ),
                Method::PATCH => r(
                    "UpdateUserAccessLoggingSettings",
                    ops::update_user_access_logging_settings,
                    L,
                    rest(1),
                ),
                Method::DELETE => r(
                    "DeleteUserAccessLoggingSettings",
                    ops::delete_user_access_logging_settings,
                    L,
                    rest(1),
                ),
                _ => None,
            }
        }
        ("ipAccessSettings", 1) => match m {
            Method::POST => r(
                "CreateIpAccessSettings",
                ops::create_ip_access_settings,
                &[],
                vec![],
            ),
            Method::GET => r(
                "ListIpAccessSettings",
                ops::list_ip_access_settings,
                &[],
                vec![],
            ),
            _ => None,
        },
        ("ipAccessSettings", _) => {
            const L: &[&str] = &["ipAccessSettingsArn"];
            match m {
                Method::GET => r(
                    "GetIpAccessSettings",
                    ops::get_ip_access_settings,
                    L,
                    rest(1),
                ),
                Method::PATCH => r(
                    "UpdateIpAccessSettings",
                    ops::update_ip_access_settings,
                    L,
                    rest(1),
                ),
                Method::DELETE => r(
                    "DeleteIpAccessSettings",
                    ops::delete_ip_access_settings,
                    L,
                    rest(1),
                ),
                _ => None,
            }
        }
        ("tags", n) if n >= 2 => {
            const L: &[&str] = &["resourceArn"];
            match m {
                Method::GET => r(
                    "ListTagsForResource",
                    ops::list_tags_for_resource,
                    L,
                    rest(1),
                ),
                Method::POST => r("TagResource", ops::tag_resource, L, rest(1)),
                Method::DELETE => r("UntagResource", ops::untag_resource, L, rest(1)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The key request parameters for the call log, under their wire names.
fn log_params(route: &Route, input: Option<&Input>) -> Value {
    let mut m = Map::new();
    let Some(input) = input else {
        for (name, raw) in route.label_names.iter().zip(&route.labels) {
            m.insert((*name).into(), json!(raw));
        }
        return Value::Object(m);
    };
    for (name, value) in route.label_names.iter().zip(&input.labels) {
        m.insert((*name).into(), json!(value));
    }
    for key in [
        "username",
        "sessionId",
        "status",
        "sortBy",
        "userAccessLoggingSettingsArn",
        "ipAccessSettingsArn",
    ] {
        if let Ok(Some(v)) = input.query_one(key) {
            m.insert(key.into(), json!(v));
        }
    }
    if let Ok(Some(n)) = input.query_one("maxResults") {
        m.insert(
            "maxResults".into(),
            n.parse::<i64>().map_or_else(|_| json!(n), |n| json!(n)),
        );
    }
    if input.query.contains_key("nextToken") {
        m.insert("nextToken".into(), json!(true));
    }
    if input.query.contains_key("tagKeys") {
        m.insert("tagKeys".into(), json!(input.query_all("tagKeys")));
    }
    for key in ["kinesisStreamArn", "displayName"] {
        if let Some(v) = input.body.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    if let Some(Value::Array(tags)) = input.body.get("tags") {
        let map: Map<String, Value> = tags
            .iter()
            .filter_map(|t| {
                Some((
                    t.get("Key")?.as_str()?.to_string(),
                    t.get("Value").cloned().unwrap_or(Value::Null),
                ))
            })
            .collect();
        m.insert("tags".into(), Value::Object(map));
    }
    Value::Object(m)
}

/// Drops `null` members of an output (the SDKs read absence, not null).
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

pub async fn handle(shared: &Shared, req: EmuRequest) -> Response {
    let rid = request_id();
    let Some(route) = route(&req.method, req.path()) else {
        let err = ApiError::unknown_operation(req.method.as_str(), req.path());
        shared.record(Call {
            service: Service::WorkspacesWeb,
            operation: "UnknownOperation".into(),
            params: json!({ "method": req.method.as_str(), "path": req.path() }),
            status: err.kind.status().as_u16(),
            error: Some(err.kind.code().to_string()),
            injected: false,
        });
        return err.response(&rid);
    };
    let input = route
        .labels
        .iter()
        .map(|l| wire::percent_decode(l))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|labels| Input::parse(labels, req.query(), &req.body));
    let params = log_params(&route, input.as_ref().ok());
    let injected = shared.inject(Service::WorkspacesWeb, route.name).await;
    let outcome = match injected {
        Some(Injected::Throttle) => Err(ApiError::throttling()),
        Some(Injected::ServerError) => Err(ApiError::internal()),
        None => input.and_then(|input| run(shared, &route, &input)),
    };
    let (status, error) = match &outcome {
        Ok(_) => (200, None),
        Err(e) => (e.kind.status().as_u16(), Some(e.kind.code().to_string())),
    };
    shared.record(Call {
        service: Service::WorkspacesWeb,
        operation: route.name.to_string(),
        params,
        status,
        error,
        injected: injected.is_some(),
    });
    match outcome {
        Ok(body) => wire::ok_response(without_nulls(body), &rid),
        Err(e) => {
            tracing::debug!(operation = route.name, code = e.kind.code(), message = %e.message, "workspaces-web error");
            e.response(&rid)
        }
    }
}

fn run(shared: &Shared, route: &Route, input: &Input) -> Result<Value, ApiError> {
    let now = shared.clock.now();
    let mut st = shared.web();
    if !st.access_denied.is_empty() {
        let mut named: Vec<String> = input.labels.clone();
        for key in ["userAccessLoggingSettingsArn", "ipAccessSettingsArn"] {
            if let Ok(Some(a)) = input.query_one(key) {
                named.push(a.to_string());
            }
        }
        let portals: Vec<String> = st
            .portals
            .iter()
            .filter(|p| named.iter().any(|n| *n == p.arn || n == p.id()))
            .flat_map(|p| [p.arn.clone(), p.id().to_string()])
            .collect();
        named.extend(portals);
        if st
            .access_denied
            .iter()
            .any(|r| r.denies(route.name, &named))
        {
            return Err(ApiError::access_denied(route.name));
        }
    }
    (route.op)(&mut st, &Ctx { now, input })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn%3Aaws%3Aworkspaces-web%3Aus-east-1%3A123456789012%3Aportal/0a1b2c3d-0000-4000-8000-000000000001";
    const ID: &str = "0a1b2c3d-0000-4000-8000-000000000001";

    fn name(method: Method, path: &str) -> Option<&'static str> {
        route(&method, path).map(|r| r.name)
    }

    #[test]
    fn routes() {
        assert_eq!(name(Method::GET, "/portals"), Some("ListPortals"));
        assert_eq!(
            name(Method::GET, &format!("/portals/{ARN}")),
            Some("GetPortal")
        );
        assert_eq!(
            name(
                Method::PUT,
                &format!("/portals/{ARN}/userAccessLoggingSettings")
            ),
            Some("AssociateUserAccessLoggingSettings")
        );
        assert_eq!(
            name(Method::DELETE, &format!("/portals/{ARN}/ipAccessSettings")),
            Some("DisassociateIpAccessSettings")
        );
        assert_eq!(
            name(Method::GET, &format!("/portals/{ID}/sessions")),
            Some("ListSessions")
        );
        assert_eq!(
            name(Method::DELETE, &format!("/portals/{ID}/sessions/{ID}")),
            Some("ExpireSession")
        );
        assert_eq!(name(Method::POST, "/portals"), None);
        assert_eq!(name(Method::POST, &format!("/portals/{ID}/sessions")), None);
        assert_eq!(
            name(Method::PATCH, "/ipAccessSettings/arn%3Ax/y"),
            Some("UpdateIpAccessSettings")
        );
        assert_eq!(
            name(Method::DELETE, &format!("/tags/{ARN}")),
            Some("UntagResource")
        );
        let route = route(&Method::GET, &format!("/portals/{ARN}")).unwrap();
        assert_eq!(route.labels, [ARN.to_string()]);
    }

    #[test]
    fn every_operation_has_a_route() {
        let paths = [
            (Method::GET, "/portals".to_string()),
            (Method::GET, format!("/portals/{ARN}")),
            (Method::GET, format!("/portals/{ID}/sessions")),
            (Method::GET, format!("/portals/{ID}/sessions/{ID}")),
            (Method::DELETE, format!("/portals/{ID}/sessions/{ID}")),
            (
                Method::PUT,
                format!("/portals/{ARN}/userAccessLoggingSettings"),
            ),
            (
                Method::DELETE,
                format!("/portals/{ARN}/userAccessLoggingSettings"),
            ),
            (Method::PUT, format!("/portals/{ARN}/ipAccessSettings")),
            (Method::DELETE, format!("/portals/{ARN}/ipAccessSettings")),
            (Method::POST, "/userAccessLoggingSettings".into()),
            (Method::GET, "/userAccessLoggingSettings".into()),
            (Method::GET, "/userAccessLoggingSettings/a".into()),
            (Method::PATCH, "/userAccessLoggingSettings/a".into()),
            (Method::DELETE, "/userAccessLoggingSettings/a".into()),
            (Method::POST, "/ipAccessSettings".into()),
            (Method::GET, "/ipAccessSettings".into()),
            (Method::GET, "/ipAccessSettings/a".into()),
            (Method::PATCH, "/ipAccessSettings/a".into()),
            (Method::DELETE, "/ipAccessSettings/a".into()),
            (Method::GET, "/tags/a".into()),
            (Method::POST, "/tags/a".into()),
            (Method::DELETE, "/tags/a".into()),
        ];
        let mut routed: Vec<&str> = paths
            .iter()
            .map(|(m, p)| name(m.clone(), p).unwrap_or_else(|| panic!("{m} {p}")))
            .collect();
        routed.sort_unstable();
        assert_eq!(routed, OPERATIONS);
    }
}
