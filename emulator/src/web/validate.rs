//! Field checks from the API model (lengths, patterns), written by hand. Each
//! returns a message that the caller prefixes with the field name. Patterns
//! are matched against the whole value, as the service does.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// The stream-name prefix Secure Browser requires of a user access logging
/// stream.
pub const STREAM_PREFIX: &str = "amazon-workspaces-web-";

pub fn len_between(s: &str, min: usize, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n < min || n > max {
        Err(format!("length {n} is outside {min}..={max}"))
    } else {
        Ok(())
    }
}

/// PortalId and SessionId: exactly 36 of `[a-zA-Z0-9-]`.
pub fn id36(s: &str) -> Result<(), String> {
    len_between(s, 36, 36)?;
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err(format!("{s:?} does not match [a-zA-Z0-9\\-]+"))
    }
}

pub fn username(s: &str) -> Result<(), String> {
    len_between(s, 0, 256)
}

/// DisplayName: 1..64, `.+`.
pub fn display_name(s: &str) -> Result<(), String> {
    len_between(s, 1, 64)?;
    no_newline(s)
}

/// Description: 1..256, `.+`.
pub fn description(s: &str) -> Result<(), String> {
    len_between(s, 1, 256)?;
    no_newline(s)
}

fn no_newline(s: &str) -> Result<(), String> {
    if s.contains(['\n', '\r']) {
        Err("must not contain line breaks (pattern .+)".into())
    } else {
        Ok(())
    }
}

fn word(s: &str, extra: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || extra.contains(c))
}

fn alnum_dash(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The five fields before the resource part of an ARN, checked against
/// `arn:[\w+=/,.@-]+:<service>:[a-zA-Z0-9-]*:[a-zA-Z0-9]{1,12}:`; returns
/// (service, resource).
fn arn_head(s: &str) -> Result<(&str, &str), String> {
    let bad = || format!("{s:?} is not a valid ARN");
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(bad());
    };
    let ok = *prefix == "arn"
        && word(partition, "+=/,.@-")
        && !service.is_empty()
        && alnum_dash(service)
        && alnum_dash(region)
        && (1..=12).contains(&account.len())
        && account.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok((service, resource))
    } else {
        Err(bad())
    }
}

/// The model's `ARN`: 20..2048,
/// `arn:[\w+=\/,.@-]+:[a-zA-Z0-9\-]+:[a-zA-Z0-9\-]*:[a-zA-Z0-9]{1,12}:[a-zA-Z]+(\/[a-fA-F0-9\-]{36})+`.
pub fn arn(s: &str) -> Result<(), String> {
    len_between(s, 20, 2048)?;
    let (_, resource) = arn_head(s)?;
    let mut parts = resource.split('/');
    let kind_ok = parts
        .next()
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphabetic()));
    let mut ids = 0;
    let ids_ok = parts.all(|id| {
        ids += 1;
        id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    });
    if kind_ok && ids_ok && ids > 0 {
        Ok(())
    } else {
        Err(format!(
            "{s:?} does not match arn:...:<type>/<36 hex digits and hyphens>"
        ))
    }
}

/// A Secure Browser ARN of one resource type, e.g.
/// `arn:aws:workspaces-web:us-east-1:123456789012:portal/<36 chars>`.
pub fn settings_arn(s: &str, kind: &str) -> Result<(), String> {
    arn(s)?;
    let (service, resource) = arn_head(s)?;
    let ok = service == "workspaces-web"
        && resource
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|id| !id.contains('/'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} must look like arn:aws:workspaces-web:<region>:<account>:{kind}/<id>"
        ))
    }
}

/// `KinesisStreamArn` (20..2048, `arn:...:kinesis:<region>:<account>:stream/.+`)
/// whose stream name begins with `amazon-workspaces-web-`.
pub fn kinesis_stream_arn(s: &str) -> Result<(), String> {
    len_between(s, 20, 2048)?;
    let (service, resource) = arn_head(s)?;
    let name = resource
        .strip_prefix("stream/")
        .filter(|_| service == "kinesis");
    match name {
        Some(n) if n.starts_with(STREAM_PREFIX) => Ok(()),
        Some(n) => Err(format!(
            "the stream name {n:?} must begin with {STREAM_PREFIX}"
        )),
        None => Err(format!("{s:?} is not a Kinesis data stream ARN")),
    }
}

/// `keyArn`: `arn:...:kms:<region>:<account>:key/[a-zA-Z0-9-]+`.
pub fn key_arn(s: &str) -> Result<(), String> {
    len_between(s, 20, 2048)?;
    let (service, resource) = arn_head(s)?;
    let ok = service == "kms"
        && resource
            .strip_prefix("key/")
            .is_some_and(|k| !k.is_empty() && alnum_dash(k));
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a KMS key ARN"))
    }
}

/// `IpAddress`: an IPv4 or IPv6 address, at most 15 characters as the model
/// bounds it (longer IPv6 forms are therefore rejected, as the service does).
pub fn ip_address(s: &str) -> Result<(), String> {
    len_between(s, 1, 15)?;
    s.parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("{s:?} is not an IP address"))
}

/// `IpRange`: an IPv4 or IPv6 address or CIDR block.
pub fn ip_range(s: &str) -> Result<(), String> {
    let bad = || format!("{s:?} is not an IP address or CIDR range");
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match bits {
        None => Ok(()),
        Some(b) if !b.is_empty() && b.len() <= 3 && b.bytes().all(|c| c.is_ascii_digit()) => {
            match b.parse::<u32>() {
                Ok(n) if n <= max => Ok(()),
                _ => Err(bad()),
            }
        }
        Some(_) => Err(bad()),
    }
}

/// TagKey: 1..128 of `[\p{L}\p{Z}\p{N}_.:/=+\-@]`.
pub fn tag_key(k: &str) -> Result<(), String> {
    len_between(k, 1, 128).map_err(|e| format!("tag key {k:?}: {e}"))?;
    if k.chars().all(crate::wsi::tag_char) {
        Ok(())
    } else {
        Err(format!(
            "tag key {k:?} does not match [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*"
        ))
    }
}

/// TagValue: 0..256 of the same characters.
pub fn tag_value(k: &str, v: &str) -> Result<(), String> {
    len_between(v, 0, 256).map_err(|e| format!("value of tag {k:?}: {e}"))?;
    if v.chars().all(crate::wsi::tag_char) {
        Ok(())
    } else {
        Err(format!(
            "value of tag {k:?} does not match [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*"
        ))
    }
}

/// Most tags one resource may carry (TooManyTagsException beyond).
pub const MAX_TAGS: usize = 50;

pub fn tag_map(tags: &BTreeMap<String, String>) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags, got {}", tags.len()));
    }
    for (k, v) in tags {
        tag_key(k)?;
        tag_value(k, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTAL: &str =
        "arn:aws:workspaces-web:us-east-1:123456789012:portal/0a1b2c3d-0000-4000-8000-000000000001";

    #[test]
    fn arns() {
        assert!(arn(PORTAL).is_ok());
        assert!(settings_arn(PORTAL, "portal").is_ok());
        assert!(settings_arn(PORTAL, "ipAccessSettings").is_err());
        assert!(arn("arn:aws:workspaces-web:us-east-1:123456789012:portal/xyz").is_err());
        assert!(arn(&PORTAL.replace("portal/0a", "portal/0g")).is_err());
        assert!(arn("not an arn at all, really").is_err());
        assert!(kinesis_stream_arn(
            "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-x"
        )
        .is_ok());
        let err =
            kinesis_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/other").unwrap_err();
        assert!(err.contains(STREAM_PREFIX), "{err}");
        assert!(
            kinesis_stream_arn("arn:aws:sqs:us-east-1:123456789012:amazon-workspaces-web-x")
                .is_err()
        );
        assert!(key_arn("arn:aws:kms:us-east-1:123456789012:key/abc-123").is_ok());
        assert!(key_arn("arn:aws:kms:us-east-1:123456789012:alias/abc").is_err());
    }

    #[test]
    fn ids_and_addresses() {
        assert!(id36("0a1b2c3d-0000-4000-8000-000000000001").is_ok());
        assert!(id36("0a1b2c3d-0000-4000-8000-00000000001").is_err());
        assert!(id36("0a1b2c3d_0000-4000-8000-000000000001").is_err());
        assert!(ip_address("203.0.113.7").is_ok());
        assert!(ip_address("2001:db8::1").is_ok());
        assert!(ip_address("203.0.113.256").is_err());
        assert!(ip_range("10.0.0.0/8").is_ok());
        assert!(ip_range("2001:db8::/32").is_ok());
        assert!(ip_range("10.0.0.0/33").is_err());
        assert!(ip_range("10.0.0.0/").is_err());
        assert!(ip_range("ten").is_err());
    }

    #[test]
    fn tags() {
        assert!(tag_key("team").is_ok());
        assert!(tag_key("").is_err());
        assert!(tag_key("bad*key").is_err());
        assert!(tag_value("k", "").is_ok());
        assert!(tag_value("k", "tab\there").is_err());
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(tag_map(&many).is_err());
    }
}
