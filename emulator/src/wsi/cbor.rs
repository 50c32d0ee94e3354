//! CBOR in and out: reading a request body into a map the operations can
//! query, building response maps, and turning request sub-documents into JSON
//! for the state (fixtures are JSON).

use base64::Engine as _;
use ciborium::Value;

use super::error::ApiError;

/// Reads a request body: one CBOR map with text keys and nothing after it. An
/// empty body is an empty map (an input with no members).
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Map(Vec::new()));
    }
    let mut rest = body;
    let value: Value = ciborium::from_reader(&mut rest)
        .map_err(|e| ApiError::cannot_parse(format!("request body is not valid CBOR: {e}")))?;
    if !rest.is_empty() {
        return Err(ApiError::cannot_parse(format!(
            "request body has {} trailing bytes after the CBOR map",
            rest.len()
        )));
    }
    match &value {
        Value::Map(entries) => {
            if let Some((k, _)) = entries.iter().find(|(k, _)| !k.is_text()) {
                return Err(ApiError::cannot_parse(format!(
                    "request map has a non-text key ({})",
                    type_name(k)
                )));
            }
        }
        other => {
            return Err(ApiError::cannot_parse(format!(
                "request body must be a CBOR map, got {}",
                type_name(other)
            )))
        }
    }
    Ok(value)
}

/// A short name of a CBOR value's type, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "integer",
        Value::Bytes(_) => "byte string",
        Value::Float(_) => "float",
        Value::Text(_) => "text string",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Tag(..) => "tagged value",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        _ => "unknown value",
    }
}

/// A read-only view of a CBOR map. Lookups treat `null` as absent (Smithy
/// clients may send explicit nulls for unset members).
#[derive(Debug, Clone, Copy)]
pub struct Obj<'a> {
    entries: &'a [(Value, Value)],
}

impl<'a> Obj<'a> {
    pub fn new(value: &'a Value) -> Option<Self> {
        value.as_map().map(|m| Obj { entries: m })
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_text)
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key)
            .and_then(Value::as_integer)
            .and_then(|i| i64::try_from(i).ok())
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    pub fn list(&self, key: &str) -> Option<&'a [Value]> {
        self.get(key).and_then(Value::as_array).map(Vec::as_slice)
    }

    pub fn obj(&self, key: &str) -> Option<Obj<'a>> {
        self.get(key).and_then(Obj::new)
    }

    /// A list of strings (non-strings skipped; the schema rejects them first).
    pub fn strs(&self, key: &str) -> Option<Vec<&'a str>> {
        self.list(key)
            .map(|l| l.iter().filter_map(Value::as_text).collect())
    }

    /// A required string. The schema already rejects a missing member; this
    /// is the belt to its braces.
    pub fn req_str(&self, key: &str) -> Result<&'a str, ApiError> {
        self.str(key)
            .ok_or_else(|| ApiError::field(key, "member is required"))
    }
}

/// Builds a CBOR map for a response.
#[derive(Debug, Default)]
pub struct Out {
    entries: Vec<(Value, Value)>,
}

impl Out {
    pub fn new() -> Self {
        Out::default()
    }

    pub fn value(mut self, key: &str, v: Value) -> Self {
        self.entries.push((Value::Text(key.to_string()), v));
        self
    }

    pub fn str(self, key: &str, v: &str) -> Self {
        self.value(key, Value::Text(v.to_string()))
    }

    pub fn opt_str(self, key: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.str(key, v),
            None => self,
        }
    }

    pub fn opt_int(self, key: &str, v: Option<i64>) -> Self {
        match v {
            Some(v) => self.value(key, Value::Integer(v.into())),
            None => self,
        }
    }

    pub fn build(self) -> Value {
        Value::Map(self.entries)
    }
}

/// Encodes a value. Encoding into a `Vec` cannot fail for the values built
/// here; should it ever, the caller gets an empty map rather than a panic.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut buf = Vec::new();
    if ciborium::into_writer(v, &mut buf).is_err() {
        buf = vec![0xa0];
    }
    buf
}

/// Converts a request sub-document to JSON for storage in the state: maps
/// with text keys become objects, byte strings base64, epoch-seconds
/// timestamps (tag 1) RFC 3339 strings, non-finite floats null.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Integer(i) => {
            let i = i128::from(*i);
            if let Ok(n) = i64::try_from(i) {
                J::from(n)
            } else if let Ok(n) = u64::try_from(i) {
                J::from(n)
            } else {
                J::String(i.to_string())
            }
        }
        Value::Bytes(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Text(s) => J::String(s.clone()),
        Value::Bool(b) => J::Bool(*b),
        Value::Null => J::Null,
        Value::Tag(1, inner) => match epoch_seconds(inner) {
            Some(ts) => J::String(ts.to_string()),
            None => to_json(inner),
        },
        Value::Tag(_, inner) => to_json(inner),
        Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::Text(s) => s.clone(),
                        other => to_json(other).to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        _ => J::Null,
    }
}

/// The instant of a CBOR epoch-seconds value (integer or float).
pub fn epoch_seconds(v: &Value) -> Option<jiff::Timestamp> {
    match v {
        Value::Integer(i) => i64::try_from(*i)
            .ok()
            .and_then(|s| jiff::Timestamp::from_second(s).ok()),
        Value::Float(f) if f.is_finite() => {
            let nanos = (*f * 1e9).round();
            if nanos.abs() > 9.0e27 {
                return None;
            }
            jiff::Timestamp::from_nanosecond(nanos as i128).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_parse_error_not_a_panic() {
        for body in [
            &[0xff][..],
            &[0x1f],
            &[0xbf, 0x61],
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x9f; 4096],
            &[0x83, 0x01],
            b"{\"json\": true}",
        ] {
            assert!(parse_body(body).is_err(), "{body:?}");
        }
        assert!(parse_body(&[0x01]).is_err(), "not a map");
        assert!(parse_body(&[0xa0, 0x00]).is_err(), "trailing bytes");
        assert!(parse_body(&[0xa1, 0x01, 0x02]).is_err(), "int key");
        assert_eq!(parse_body(&[]).unwrap(), Value::Map(vec![]));
        assert_eq!(parse_body(&[0xbf, 0xff]).unwrap(), Value::Map(vec![]));
    }

    #[test]
    fn timestamps_become_rfc3339() {
        let v = Value::Tag(1, Box::new(Value::Float(1_700_000_000.5)));
        assert_eq!(to_json(&v), serde_json::json!("2023-11-14T22:13:20.5Z"));
    }
}
