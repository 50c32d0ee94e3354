//! REST-JSON plumbing for Secure Browser: typed errors, request input (path
//! labels, query string, JSON body), responses and pagination tokens.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::validate as v;

/// The modelled error shapes (plus the protocol's unknown-operation answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    AccessDenied,
    Conflict,
    InternalServer,
    ResourceNotFound,
    ServiceQuotaExceeded,
    Throttling,
    TooManyTags,
    Validation,
    UnknownOperation,
}

impl ErrorKind {
    /// The error code the SDK matches (`x-amzn-ErrorType`).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::AccessDenied => "AccessDeniedException",
            ErrorKind::Conflict => "ConflictException",
            ErrorKind::InternalServer => "InternalServerException",
            ErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ErrorKind::ServiceQuotaExceeded => "ServiceQuotaExceededException",
            ErrorKind::Throttling => "ThrottlingException",
            ErrorKind::TooManyTags => "TooManyTagsException",
            ErrorKind::Validation => "ValidationException",
            ErrorKind::UnknownOperation => "UnknownOperationException",
        }
    }

    /// The HTTP status the model gives each error shape.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::AccessDenied => StatusCode::FORBIDDEN,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::ResourceNotFound | ErrorKind::UnknownOperation => StatusCode::NOT_FOUND,
            ErrorKind::ServiceQuotaExceeded => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::Throttling => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::TooManyTags | ErrorKind::Validation => StatusCode::BAD_REQUEST,
        }
    }
}

/// One error answer: `message` plus the shape's own members.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// Extra members of the error shape (`resourceId`, `fieldList`, ...).
    pub members: Map<String, Value>,
}

impl ApiError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            members: Map::new(),
        }
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.members.insert(key.to_string(), value);
        self
    }

    /// A field failed its constraint: `reason: fieldValidationFailed` and a
    /// `fieldList` naming it.
    pub fn field(name: &str, problem: impl Into<String>) -> Self {
        let message = format!("1 validation error detected: {name}: {}", problem.into());
        ApiError::new(ErrorKind::Validation, message.clone())
            .with("reason", json!("fieldValidationFailed"))
            .with("fieldList", json!([{ "name": name, "message": message }]))
    }

    /// The request could not be read (body not JSON, bad percent-encoding).
    pub fn cannot_parse(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Validation, message).with("reason", json!("cannotParse"))
    }

    pub fn not_found(resource_type: &str, id: &str) -> Self {
        ApiError::new(
            ErrorKind::ResourceNotFound,
            format!("{resource_type} {id} does not exist"),
        )
        .with("resourceId", json!(id))
        .with("resourceType", json!(resource_type))
    }

    pub fn conflict(resource_type: &str, id: &str, message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Conflict, message)
            .with("resourceId", json!(id))
            .with("resourceType", json!(resource_type))
    }

    pub fn quota(resource_type: &str, message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::ServiceQuotaExceeded, message)
            .with("resourceType", json!(resource_type))
            .with("serviceCode", json!("workspaces-web"))
            .with("quotaCode", json!(format!("{resource_type}Count")))
    }

    pub fn too_many_tags(arn: &str, count: usize) -> Self {
        ApiError::new(
            ErrorKind::TooManyTags,
            format!(
                "{arn} would carry {count} tags; a resource may carry at most {}",
                v::MAX_TAGS
            ),
        )
        .with("resourceName", json!(arn))
    }

    pub fn access_denied(operation: &str) -> Self {
        ApiError::new(
            ErrorKind::AccessDenied,
            format!(
                "User is not authorized to perform: workspaces-web:{operation} \
                 (denied by the emulator fixture's access_denied rules)"
            ),
        )
    }

    pub fn throttling() -> Self {
        ApiError::new(
            ErrorKind::Throttling,
            "Rate exceeded (injected by the emulator)",
        )
        .with("serviceCode", json!("workspaces-web"))
    }

    pub fn internal() -> Self {
        ApiError::new(
            ErrorKind::InternalServer,
            "An internal error occurred (injected by the emulator)",
        )
    }

    pub fn unknown_operation(method: &str, path: &str) -> Self {
        ApiError::new(
            ErrorKind::UnknownOperation,
            format!("no WorkSpaces Secure Browser operation at {method} {path}"),
        )
    }

    pub fn response(&self, request_id: &str) -> Response {
        let mut body = self.members.clone();
        body.insert("message".into(), json!(self.message));
        let mut resp = (self.kind.status(), axum::Json(Value::Object(body))).into_response();
        let h = resp.headers_mut();
        h.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.kind.code()),
        );
        if let Ok(id) = HeaderValue::from_str(request_id) {
            h.insert("x-amzn-requestid", id);
        }
        resp
    }
}

pub fn ok_response(body: Value, request_id: &str) -> Response {
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    if let Ok(id) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", id);
    }
    resp
}

/// A timestamp as REST-JSON sends it by default: epoch seconds.
pub fn epoch(t: Timestamp) -> Value {
    match t.subsec_nanosecond() {
        0 => json!(t.as_second()),
        _ => json!(t.as_millisecond() as f64 / 1000.0),
    }
}

/// `%XX` decoding of a path segment or query component.
pub fn percent_decode(s: &str) -> Result<String, ApiError> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hi = bytes.next().and_then(|c| (c as char).to_digit(16));
        let lo = bytes.next().and_then(|c| (c as char).to_digit(16));
        match (hi, lo) {
            (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
            _ => return Err(ApiError::cannot_parse(format!("bad %-encoding in {s:?}"))),
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::cannot_parse(format!("{s:?} is not UTF-8")))
}

/// Everything a request carries besides its route: decoded path labels, the
/// query string (name -> values, decoded; `+` is a space as boto3 and the
/// Rust SDK both percent-encode spaces) and the JSON body.
#[derive(Debug, Default)]
pub struct Input {
    pub labels: Vec<String>,
    pub query: BTreeMap<String, Vec<String>>,
    pub body: Map<String, Value>,
}

impl Input {
    pub fn parse(labels: Vec<String>, query: Option<&str>, body: &[u8]) -> Result<Self, ApiError> {
        let mut q: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for kv in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (k, val) = kv.split_once('=').unwrap_or((kv, ""));
            q.entry(percent_decode(k)?)
                .or_default()
                .push(percent_decode(&val.replace('+', " "))?);
        }
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(ApiError::cannot_parse("request body must be a JSON object")),
                Err(e) => {
                    return Err(ApiError::cannot_parse(format!(
                        "request body is not valid JSON: {e}"
                    )))
                }
            }
        };
        Ok(Input {
            labels,
            query: q,
            body,
        })
    }

    pub fn label(&self, i: usize) -> &str {
        self.labels.get(i).map_or("", String::as_str)
    }

    /// One query parameter; sent twice is a validation error.
    pub fn query_one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.query.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one)),
            Some(_) => Err(ApiError::field(name, "must be given at most once")),
        }
    }

    pub fn query_all(&self, name: &str) -> &[String] {
        self.query.get(name).map_or(&[], Vec::as_slice)
    }

    fn raw(&self, name: &str) -> Option<&Value> {
        self.body.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::field(name, "must be a string")),
        }
    }

    pub fn req_str(&self, name: &str) -> Result<&str, ApiError> {
        self.opt_str(name)?
            .ok_or_else(|| ApiError::field(name, "member is required"))
    }

    pub fn opt_list(&self, name: &str) -> Result<Option<&[Value]>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(ApiError::field(name, "must be a list")),
        }
    }

    pub fn opt_str_map(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, val)| match val {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(ApiError::field(&format!("{name}.{k}"), "must be a string")),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(ApiError::field(name, "must be a map of strings")),
        }
    }
}

/// Default page size; the model sets no upper bound on `maxResults`, the
/// emulator answers at most [`MAX_PAGE_SIZE`] items a page whatever it says.
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 100;

/// One page request: the size and the cursor from the token, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: usize,
    pub after: Option<String>,
}

/// Reads `maxResults` and `nextToken` from the query string. The token must
/// have been issued for this operation and this `scope` (the portal and
/// filters), else it is a `ValidationException` on `nextToken`.
pub fn page_request(input: &Input, op: &str, scope: &str) -> Result<PageRequest, ApiError> {
    let size = match input.query_one("maxResults")? {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => usize::try_from(n)
                .unwrap_or(MAX_PAGE_SIZE)
                .min(MAX_PAGE_SIZE),
            Ok(n) => return Err(ApiError::field("maxResults", format!("{n} is below 1"))),
            Err(_) => {
                return Err(ApiError::field(
                    "maxResults",
                    format!("{s:?} is not an integer"),
                ))
            }
        },
    };
    let after = match input.query_one("nextToken")? {
        None => None,
        Some(t) => {
            if v::len_between(t, 1, 2048).is_err() || t.chars().any(char::is_whitespace) {
                return Err(ApiError::field(
                    "nextToken",
                    "must be 1..2048 non-space characters",
                ));
            }
            Some(decode_token(t, op, scope)?)
        }
    };
    Ok(PageRequest { size, after })
}

/// A token is base64url of `web1\n<operation>\n<scope>\n<cursor>`.
pub fn encode_token(op: &str, scope: &str, cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("web1\n{op}\n{scope}\n{cursor}"))
}

fn decode_token(token: &str, op: &str, scope: &str) -> Result<String, ApiError> {
    let invalid = |why: &str| ApiError::field("nextToken", format!("invalid token: {why}"));
    let text = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| invalid("not a token this service issued"))?;
    let parts: Vec<&str> = text.splitn(4, '\n').collect();
    match parts.as_slice() {
        ["web1", o, s, cursor] if *o == op && *s == scope => Ok(cursor.to_string()),
        ["web1", o, _, _] if *o != op => Err(invalid(&format!("issued by {o}, not {op}"))),
        ["web1", _, _, _] => Err(invalid("issued for another portal or other filters")),
        _ => Err(invalid("not a token this service issued")),
    }
}

/// Cuts one page out of `items`, already in list order, where `past(item,
/// cursor)` says the item comes after the cursor. Returns the page and the
/// token for the next one (`cursor_of` the page's last item).
pub fn paginate<'a, T>(
    items: &'a [T],
    req: &PageRequest,
    past: impl Fn(&T, &str) -> bool,
    cursor_of: impl Fn(&T) -> String,
    op: &str,
    scope: &str,
) -> (&'a [T], Option<String>) {
    let start = match &req.after {
        Some(c) => items.partition_point(|it| !past(it, c)),
        None => 0,
    };
    let end = start.saturating_add(req.size).min(items.len());
    let page = &items[start..end];
    let next = match page.last() {
        Some(last) if end < items.len() => Some(encode_token(op, scope, &cursor_of(last))),
        _ => None,
    };
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(query: &str) -> Input {
        Input::parse(Vec::new(), Some(query), b"").unwrap()
    }

    #[test]
    fn tokens_are_bound_to_operation_and_scope() {
        let t = encode_token("ListSessions", "p1", "c");
        let q = format!("nextToken={t}&maxResults=2");
        let p = page_request(&input(&q), "ListSessions", "p1").unwrap();
        assert_eq!(p.after.as_deref(), Some("c"));
        assert_eq!(p.size, 2);
        assert!(page_request(&input(&q), "ListPortals", "p1").is_err());
        assert!(page_request(&input(&q), "ListSessions", "p2").is_err());
        assert!(page_request(&input("nextToken=zz%21"), "ListSessions", "p1").is_err());
        assert!(page_request(&input("maxResults=0"), "ListSessions", "").is_err());
        assert_eq!(
            page_request(&input("maxResults=5000"), "X", "")
                .unwrap()
                .size,
            MAX_PAGE_SIZE
        );
    }

    #[test]
    fn pages_cover_every_item_once() {
        let items = ["a", "b", "c", "d", "e"];
        let mut req = PageRequest {
            size: 2,
            after: None,
        };
        let mut seen = Vec::new();
        loop {
            let (page, next) =
                paginate(&items, &req, |it, c| *it > c, |it| it.to_string(), "Op", "");
            seen.extend(page.iter().copied());
            let Some(t) = next else { break };
            req.after = Some(decode_token(&t, "Op", "").unwrap());
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn query_decoding() {
        let i = input("tagKeys=a&tagKeys=b%2Fc&username=j+doe%40x");
        assert_eq!(i.query_all("tagKeys"), ["a", "b/c"]);
        assert_eq!(i.query_one("username").unwrap(), Some("j doe@x"));
        assert!(i.query_one("tagKeys").is_err());
        assert!(percent_decode("%zz").is_err());
        assert!(Input::parse(Vec::new(), None, b"[1]").is_err());
    }
}
