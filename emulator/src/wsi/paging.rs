//! Opaque pagination tokens.
//!
//! A token is base64url (no padding) of `wsi1|<operation>|<filter>|<cursor>`.
//! The cursor is the last id returned (instances, in id order) or the index
//! of the next item (the static catalogues). The filter is part of the token,
//! so a token is only good for the request shape that produced it; anything
//! else (garbled, another operation's, another filter's) is a
//! `ValidationException` on `NextToken`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::error::ApiError;

/// Page size when the request has no `MaxResults`: the largest allowed.
pub const DEFAULT_PAGE_SIZE: usize = 25;

pub fn encode(operation: &str, filter: &str, cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("wsi1|{operation}|{filter}|{cursor}"))
}

/// The cursor inside `token`, if it was made for this operation and filter.
pub fn decode(token: &str, operation: &str, filter: &str) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::validation("NextToken", format!("Invalid NextToken: {why}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad("not a token this service issued"))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not a token this service issued"))?;
    let mut parts = text.splitn(4, '|');
    let (Some("wsi1"), Some(op), Some(f), Some(cursor)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a token this service issued"));
    };
    if op != operation {
        return Err(bad(&format!("issued by {op}, not {operation}")));
    }
    if f != filter {
        return Err(bad("issued for a request with different filters"));
    }
    Ok(cursor.to_string())
}

/// The cursor of an index-based list.
pub fn decode_index(token: &str, operation: &str, filter: &str) -> Result<usize, ApiError> {
    decode(token, operation, filter)?
        .parse()
        .map_err(|_| ApiError::validation("NextToken", "Invalid NextToken: bad cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let t = encode("ListRegions", "", "5");
        assert_eq!(decode_index(&t, "ListRegions", "").unwrap(), 5);
        assert!(decode(&t, "ListInstanceTypes", "").is_err());
        assert!(decode(&t, "ListRegions", "x").is_err());
        assert!(decode("garbage!!", "ListRegions", "").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("hello"), "ListRegions", "").is_err());
        let err = decode_index(&encode("ListRegions", "", "x"), "ListRegions", "").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("NextToken"));
    }
}
