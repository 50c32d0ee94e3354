//! WorkSpaces Instances over awsJson1_0, the service's second protocol (the
//! one boto3 and the AWS CLI pick): `POST /` with
//! `X-Amz-Target: EUCMIFrontendAPIService.<Operation>` and
//! `Content-Type: application/x-amz-json-1.0`.
//!
//! Only the codec differs from the CBOR path: the JSON body is turned into
//! the CBOR value the shared handler (`wsi::serve`) checks and runs, and
//! the CBOR answer back into JSON. Timestamps travel as epoch seconds (JSON
//! numbers) both ways; errors are JSON with `__type`
//! (`com.amazonaws.workspacesinstances#<Code>`), `Message` and the shape's
//! members, at the same HTTP status as over CBOR (400 for an unknown target).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ciborium::Value;
use serde_json::Value as J;

use super::error::ApiError;
use super::{serve, Codec};
use crate::{EmuRequest, Shared};

/// The `X-Amz-Target` prefix of the service's operations.
pub const TARGET_PREFIX: &str = "EUCMIFrontendAPIService.";
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

fn target(req: &EmuRequest) -> Option<&str> {
    req.headers.get("x-amz-target")?.to_str().ok()
}

/// Whether a request is a WorkSpaces Instances awsJson1_0 call: `POST /`
/// with the service's target prefix.
pub fn claims(req: &EmuRequest) -> bool {
    req.method == axum::http::Method::POST
        && req.path() == "/"
        && target(req).is_some_and(|t| t.starts_with(TARGET_PREFIX))
}

pub async fn handle(shared: &Shared, req: EmuRequest) -> Response {
    let name: String = target(&req)
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or_default()
        .chars()
        .take(128)
        .collect();
    serve(shared, &name, parse_body(&req.body), Codec::Json).await
}

/// Reads a request body: one JSON object (empty body = `{}`), converted to
/// the CBOR value the schema and operations read.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Map(Vec::new()));
    }
    match serde_json::from_slice::<J>(body) {
        Ok(v @ J::Object(_)) => Ok(from_json(&v)),
        Ok(_) => Err(ApiError::cannot_parse("request body must be a JSON object")),
        Err(e) => Err(ApiError::cannot_parse(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

/// JSON to CBOR: integers stay integers (epoch-second timestamps included,
/// which the schema accepts untagged), other numbers become floats.
fn from_json(v: &J) -> Value {
    match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Integer(i.into()),
            (None, Some(u)) => Value::Integer(u.into()),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::Text(s.clone()),
        J::Array(items) => Value::Array(items.iter().map(from_json).collect()),
        J::Object(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (Value::Text(k.clone()), from_json(v)))
                .collect(),
        ),
    }
}

/// CBOR to awsJson: timestamps (tag 1) as epoch-second numbers, blobs as
/// base64, everything else as itself.
fn to_json(v: &Value) -> J {
    match v {
        Value::Tag(1, inner) => to_json(inner),
        Value::Tag(_, inner) => to_json(inner),
        Value::Integer(i) => {
            let i = i128::from(*i);
            i64::try_from(i)
                .map(J::from)
                .unwrap_or_else(|_| J::String(i.to_string()))
        }
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Bytes(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Text(s) => J::String(s.clone()),
        Value::Bool(b) => J::Bool(*b),
        Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .filter_map(|(k, v)| Some((k.as_text()?.to_string(), to_json(v))))
                .collect(),
        ),
        _ => J::Null,
    }
}

/// The HTTP answer for a CBOR output or error body, in JSON.
pub(super) fn response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, to_json(body).to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(parse_body(b"").unwrap(), Value::Map(vec![]));
        assert!(parse_body(b"[1]").is_err());
        assert!(parse_body(b"{").is_err());
        let v = parse_body(br#"{"MaxResults": 5, "T": 1.5, "L": ["a"]}"#).unwrap();
        assert_eq!(
            to_json(&v),
            serde_json::json!({"MaxResults": 5, "T": 1.5, "L": ["a"]})
        );
        let ts = Value::Tag(1, Box::new(Value::Integer(1_700_000_000.into())));
        assert_eq!(to_json(&ts), serde_json::json!(1_700_000_000));
    }
}
