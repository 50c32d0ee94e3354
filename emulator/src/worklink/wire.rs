//! REST-JSON plumbing: errors, request bodies, responses, pagination tokens.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::validate as v;

/// An error answer: the code goes in `x-amzn-ErrorType` and `__type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            code: "InvalidRequestException",
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            code: "ResourceNotFoundException",
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        ApiError {
            code: "ResourceAlreadyExistsException",
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            code: "UnauthorizedException",
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }
    pub fn throttled() -> Self {
        ApiError {
            code: "TooManyRequestsException",
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "Rate exceeded (injected by the emulator)".into(),
        }
    }
    pub fn internal() -> Self {
        ApiError {
            code: "InternalServerErrorException",
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "The service is temporarily unavailable (injected by the emulator)".into(),
        }
    }
    pub fn unknown_operation(method: &str, path: &str) -> Self {
        ApiError {
            code: "UnknownOperationException",
            status: StatusCode::NOT_FOUND,
            message: format!("no WorkLink operation at {method} {path}"),
        }
    }
}

fn with_headers(mut resp: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

pub fn error_response(e: &ApiError, request_id: &str) -> Response {
    let body = json!({ "__type": e.code, "Message": e.message });
    let mut resp = (e.status, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(e.code));
    with_headers(resp, request_id)
}

pub fn ok_response(body: Value, request_id: &str) -> Response {
    with_headers(
        (StatusCode::OK, axum::Json(body)).into_response(),
        request_id,
    )
}

/// A timestamp as REST-JSON sends it: epoch seconds, fractional if needed.
pub fn epoch(t: Timestamp) -> Value {
    let nanos = t.subsec_nanosecond();
    if nanos == 0 {
        json!(t.as_second())
    } else {
        json!(t.as_second() as f64 + f64::from(nanos) / 1e9)
    }
}

/// A parsed JSON request body; getters check type and name the field.
pub struct Body {
    obj: Map<String, Value>,
}

impl Body {
    pub fn parse(bytes: &[u8]) -> Result<Body, ApiError> {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Body { obj: Map::new() });
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(obj)) => Ok(Body { obj }),
            Ok(other) => Err(ApiError::invalid(format!(
                "request body must be a JSON object, got {}",
                kind(&other)
            ))),
            Err(e) => Err(ApiError::invalid(format!(
                "request body is not valid JSON: {e}"
            ))),
        }
    }

    pub fn empty() -> Body {
        Body { obj: Map::new() }
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ApiError::invalid(format!(
                "{name} must be a string, got {}",
                kind(other)
            ))),
        }
    }

    pub fn req_str(&self, name: &str) -> Result<&str, ApiError> {
        self.opt_str(name)?
            .ok_or_else(|| ApiError::invalid(format!("{name} is required")))
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(ApiError::invalid(format!(
                "{name} must be a boolean, got {}",
                kind(other)
            ))),
        }
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::invalid(format!("{name} must be an integer, got {n}"))),
            Some(other) => Err(ApiError::invalid(format!(
                "{name} must be an integer, got {}",
                kind(other)
            ))),
        }
    }

    pub fn req_str_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match self.raw(name) {
            None => Err(ApiError::invalid(format!("{name} is required"))),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, it)| match it {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ApiError::invalid(format!(
                        "{name}[{i}] must be a string, got {}",
                        kind(other)
                    ))),
                })
                .collect(),
            Some(other) => Err(ApiError::invalid(format!(
                "{name} must be a list of strings, got {}",
                kind(other)
            ))),
        }
    }

    pub fn opt_str_map(
        &self,
        name: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(ApiError::invalid(format!(
                        "{name}.{k} must be a string, got {}",
                        kind(other)
                    ))),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(other) => Err(ApiError::invalid(format!(
                "{name} must be a map of strings, got {}",
                kind(other)
            ))),
        }
    }

    /// The key parameters worth logging: short scalar or list fields, not
    /// certificates or SAML documents.
    pub fn log_params(&self) -> Map<String, Value> {
        const KEYS: &[&str] = &[
            "FleetArn",
            "FleetName",
            "DisplayName",
            "OptimizeForEndUserLocation",
            "Username",
            "DeviceId",
            "DomainName",
            "AcmCertificateArn",
            "WebsiteCaId",
            "AuthorizationProviderId",
            "AuthorizationProviderType",
            "AuditStreamArn",
            "VpcId",
            "SubnetIds",
            "SecurityGroupIds",
            "IdentityProviderType",
            "MaxResults",
            "NextToken",
            "Tags",
        ];
        KEYS.iter()
            .filter_map(|k| self.obj.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Turns a validator's complaint into an InvalidRequestException naming the field.
pub fn check(name: &str, r: Result<(), String>) -> Result<(), ApiError> {
    r.map_err(|e| ApiError::invalid(format!("{name}: {e}")))
}

/// FleetArn: required, length 20..2048.
pub fn fleet_arn_field(body: &Body) -> Result<&str, ApiError> {
    let arn = body.req_str("FleetArn")?;
    check("FleetArn", v::len_between(arn, 20, 2048))?;
    Ok(arn)
}

/// Default page size when MaxResults is absent.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page the emulator returns, whatever MaxResults says (the API
/// reference sets no maximum; a service may return fewer than asked).
pub const MAX_PAGE_SIZE: usize = 100;

/// A page request: size and the key to resume after.
pub struct PageRequest {
    pub size: usize,
    pub after: Option<String>,
}

/// Reads MaxResults and NextToken. A token is only valid for the operation
/// (and fleet) that issued it.
pub fn page_request(body: &Body, op: &str, scope: &str) -> Result<PageRequest, ApiError> {
    let size = match body.opt_int("MaxResults")? {
        None => DEFAULT_PAGE_SIZE,
        Some(n) if n < 1 => {
            return Err(ApiError::invalid(format!(
                "MaxResults must be at least 1, got {n}"
            )))
        }
        Some(n) => usize::try_from(n)
            .unwrap_or(MAX_PAGE_SIZE)
            .min(MAX_PAGE_SIZE),
    };
    let after = match body.opt_str("NextToken")? {
        None => None,
        Some(t) => Some(decode_token(t, op, scope)?),
    };
    Ok(PageRequest { size, after })
}

fn decode_token(token: &str, op: &str, scope: &str) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::invalid(format!("NextToken is not valid: {why}"));
    check("NextToken", v::len_between(token, 1, 4096))?;
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(bad("must match [\\w-]+"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad("not a token this service issued"))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|_| bad("not a token this service issued"))?;
    let field = |k: &str| value.get(k).and_then(Value::as_str);
    match (field("op"), field("scope"), field("after")) {
        (Some(o), Some(s), Some(a)) if o == op && s == scope => Ok(a.to_string()),
        (Some(_), Some(_), Some(_)) => Err(bad("it was issued for a different request")),
        _ => Err(bad("not a token this service issued")),
    }
}

pub fn encode_token(op: &str, scope: &str, after: &str) -> String {
    let v = json!({ "op": op, "scope": scope, "after": after });
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Cuts one page out of `items`, which must be sorted by `key`. Returns the
/// page and the token for the next one.
pub fn paginate<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> &str,
    req: &PageRequest,
    op: &str,
    scope: &str,
) -> (&'a [T], Option<String>) {
    let start = match &req.after {
        Some(after) => items.partition_point(|it| key(it) <= after.as_str()),
        None => 0,
    };
    let end = start.saturating_add(req.size).min(items.len());
    let page = &items[start..end];
    let next = match page.last() {
        Some(last) if end < items.len() => Some(encode_token(op, scope, key(last))),
        _ => None,
    };
    (page, next)
}

/// `%XX` decoding of a URI path segment or query component (`+` is kept).
pub fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ApiError::invalid(format!("bad percent-encoding in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::invalid(format!("{s:?} is not UTF-8")))
}

/// Values of a repeated query parameter, decoded.
pub fn query_values(query: Option<&str>, name: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for kv in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if percent_decode(k)? == name {
            out.push(percent_decode(v)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_scoped() {
        let t = encode_token("ListDevices", "arn:x", "dev-3");
        let body = |t: &str| Body::parse(json!({ "NextToken": t }).to_string().as_bytes());
        let b = body(&t).unwrap();
        let p = page_request(&b, "ListDevices", "arn:x").unwrap();
        assert_eq!(p.after.as_deref(), Some("dev-3"));
        assert_eq!(p.size, DEFAULT_PAGE_SIZE);
        assert!(page_request(&b, "ListDomains", "arn:x").is_err());
        assert!(page_request(&b, "ListDevices", "arn:y").is_err());
        let garbled = body("zzzz").unwrap();
        assert!(page_request(&garbled, "ListDevices", "arn:x").is_err());
    }

    #[test]
    fn pages() {
        let items = ["a", "b", "c", "d", "e"];
        let mut req = PageRequest {
            size: 2,
            after: None,
        };
        let mut seen = Vec::new();
        loop {
            let (page, next) = paginate(&items, |s| s, &req, "Op", "");
            seen.extend(page.iter().copied());
            match next {
                Some(t) => {
                    let b = Body::parse(json!({ "NextToken": t }).to_string().as_bytes()).unwrap();
                    req.after = page_request(&b, "Op", "").unwrap().after;
                }
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn percent() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Aworklink%3A%3A1%3Afleet%2Fa").unwrap(),
            "arn:aws:worklink::1:fleet/a"
        );
        assert!(percent_decode("%zz").is_err());
        assert_eq!(
            query_values(Some("tagKeys=a&tagKeys=b%2Fc&x=1"), "tagKeys").unwrap(),
            vec!["a", "b/c"]
        );
    }

    #[test]
    fn bodies() {
        assert!(Body::parse(b"").is_ok());
        assert!(Body::parse(b"{").is_err());
        assert!(Body::parse(b"[1]").is_err());
        let b = Body::parse(br#"{"FleetArn": 5, "MaxResults": 1.5}"#).unwrap();
        assert!(b
            .req_str("FleetArn")
            .unwrap_err()
            .message
            .contains("FleetArn"));
        assert!(b
            .opt_int("MaxResults")
            .unwrap_err()
            .message
            .contains("MaxResults"));
    }
}
