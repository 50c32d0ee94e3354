//! Field checks from the API reference (lengths, patterns), written by hand:
//! each returns a message that the caller prefixes with the field name.

use std::collections::BTreeMap;

pub fn len_between(s: &str, min: usize, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n < min {
        Err(format!("must be at least {min} characters long, got {n}"))
    } else if n > max {
        Err(format!("must be at most {max} characters long, got {n}"))
    } else {
        Ok(())
    }
}

pub fn max_len(s: &str, max: usize) -> Result<(), String> {
    len_between(s, 0, max)
}

/// `^[a-z0-9](?:[a-z0-9\-]{0,46}[a-z0-9])?$`
pub fn fleet_name(s: &str) -> Result<(), String> {
    len_between(s, 1, 48)?;
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = s.chars().all(|c| ok_char(c) || c == '-')
        && s.chars().next().is_some_and(ok_char)
        && s.chars().last().is_some_and(ok_char);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} must be lowercase letters, digits and hyphens, starting and ending with a letter or digit"
        ))
    }
}

/// `^[a-zA-Z0-9]?((?!-)([A-Za-z0-9-]*[A-Za-z0-9])\.)+[a-zA-Z0-9]+$`: dot
/// separated labels of letters, digits and hyphens, not starting or ending
/// with a hyphen; the last label has no hyphen; at least two labels.
pub fn domain_name(s: &str) -> Result<(), String> {
    len_between(s, 1, 64)?;
    let labels: Vec<&str> = s.split('.').collect();
    let bad = || Err(format!("{s:?} is not a valid fully qualified domain name"));
    if labels.len() < 2 {
        return bad();
    }
    let (last, rest) = match labels.split_last() {
        Some(x) => x,
        None => return bad(),
    };
    if last.is_empty() || !last.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return bad();
    }
    for label in rest {
        let ok = !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return bad();
        }
    }
    Ok(())
}

/// `^<prefix>-([0-9a-f]{8}|[0-9a-f]{17})$`
pub fn aws_id(s: &str, prefix: &str) -> Result<(), String> {
    let hex = s.strip_prefix(prefix).and_then(|r| r.strip_prefix('-'));
    match hex {
        Some(h)
            if (h.len() == 8 || h.len() == 17)
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{s:?} must be {prefix}- followed by 8 or 17 lowercase hex digits"
        )),
    }
}

fn arn_char(c: char, slash: bool) -> bool {
    c.is_alphanumeric() || c == '_' || "+=,.@-".contains(c) || (slash && c == '/')
}

/// `arn:[\w+=/,.@-]+:[\w+=/,.@-]+:[\w+=/,.@-]*:[0-9]+:[\w+=,.@-]+(/[\w+=/,.@-]+)*`
pub fn arn(s: &str) -> Result<(), String> {
    let bad = || Err(format!("{s:?} is not a valid ARN"));
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return bad();
    };
    let word = |p: &str, allow_empty: bool| {
        (allow_empty || !p.is_empty()) && p.chars().all(|c| arn_char(c, true))
    };
    if *prefix != "arn"
        || !word(partition, false)
        || !word(service, false)
        || !word(region, true)
        || account.is_empty()
        || !account.bytes().all(|b| b.is_ascii_digit())
    {
        return bad();
    }
    let mut segs = resource.split('/');
    let first_ok = segs
        .next()
        .is_some_and(|f| !f.is_empty() && f.chars().all(|c| arn_char(c, false)));
    let rest_ok = segs.all(|seg| !seg.is_empty() && seg.chars().all(|c| arn_char(c, true)));
    if first_ok && rest_ok {
        Ok(())
    } else {
        bad()
    }
}

/// A Kinesis data stream ARN whose stream name begins with `AmazonWorkLink-`
/// (what WorkLink requires of an audit stream).
pub fn audit_stream_arn(s: &str) -> Result<(), String> {
    arn(s)?;
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let ok = parts.get(2) == Some(&"kinesis")
        && parts
            .get(5)
            .and_then(|r| r.strip_prefix("stream/"))
            .is_some_and(|name| name.starts_with("AmazonWorkLink-") && !name.contains('/'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} must be a Kinesis data stream ARN whose stream name begins with AmazonWorkLink-"
        ))
    }
}

/// Strips one line ending (`\r?\n`) from the front of `s`.
fn newline(s: &str) -> Option<&str> {
    s.strip_prefix("\r\n").or_else(|| s.strip_prefix('\n'))
}

/// Parses one PEM certificate block from the front of `s` up to and including
/// `-----END CERTIFICATE-----`, returning what follows.
fn pem_block(s: &str) -> Option<&str> {
    let mut rest = newline(s.strip_prefix("-----BEGIN CERTIFICATE-----")?)?;
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'/' || b == b'+';
    loop {
        let end = rest.find('\n')?;
        let line = rest[..end].strip_suffix('\r').unwrap_or(&rest[..end]);
        let after = &rest[end + 1..];
        let body = line.trim_end_matches('=');
        let pad = line.len() - body.len();
        if line.len() == 64 && line.bytes().all(b64) {
            rest = after;
            continue;
        }
        // The last line: 1..=64 base64 characters, then up to two `=`.
        if (1..=64).contains(&body.len()) && body.bytes().all(b64) && pad <= 2 {
            return after.strip_prefix("-----END CERTIFICATE-----");
        }
        return None;
    }
}

/// One PEM certificate (length 1..8192), optionally followed by a newline.
pub fn certificate(s: &str) -> Result<(), String> {
    len_between(s, 1, 8192)?;
    match pem_block(s) {
        Some(rest) if rest.is_empty() || newline(rest) == Some("") => Ok(()),
        _ => Err("must be one PEM-encoded certificate (-----BEGIN CERTIFICATE----- ...)".into()),
    }
}

/// One or more PEM certificates separated by newlines.
pub fn certificate_chain(s: &str, max: usize) -> Result<(), String> {
    len_between(s, 1, max)?;
    let bad = || Err("must be a chain of PEM-encoded certificates".to_string());
    let mut rest = s;
    loop {
        let Some(after) = pem_block(rest) else {
            return bad();
        };
        if after.is_empty() {
            return Ok(());
        }
        match newline(after) {
            Some("") => return Ok(()),
            Some(next) => rest = next,
            None => return bad(),
        }
    }
}

/// Tag key: 1..128 of `[a-zA-Z+-=._:/]`, not starting with `aws:`.
pub fn tag_key(k: &str) -> Result<(), String> {
    len_between(k, 1, 128)?;
    if k.starts_with("aws:") {
        return Err(format!("tag key {k:?} must not start with aws:"));
    }
    let ok = k
        .chars()
        .all(|c| c.is_ascii_alphabetic() || ('+'..='=').contains(&c) || "._:/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag key {k:?} contains characters outside [a-zA-Z+-=._:/]"
        ))
    }
}

pub fn tags(tags: &BTreeMap<String, String>) -> Result<(), String> {
    if tags.len() > 50 {
        return Err(format!("at most 50 tags, got {}", tags.len()));
    }
    for (k, v) in tags {
        tag_key(k)?;
        max_len(v, 256).map_err(|e| format!("value of tag {k:?} {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGVGb3JUZXN0aW5nT25seTAKBggqhkjO\nPQQDAjAVMRMwEQYDVQQDDApkZW1vLXJvb3QwHhcNMjQ=\n-----END CERTIFICATE-----\n";

    #[test]
    fn domain_names() {
        for ok in ["a.com", "intranet.example.com", "x-1.b2.io", "1.2.3.4"] {
            assert!(domain_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "com",
            "-a.com",
            "a-.com",
            "a..com",
            "a.c-m",
            "a.com.",
            "a_b.com",
            &format!("{}.com", "a".repeat(61)),
        ] {
            assert!(domain_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fleet_names() {
        assert!(fleet_name("a").is_ok());
        assert!(fleet_name("corp-fleet-1").is_ok());
        assert!(fleet_name(&"a".repeat(48)).is_ok());
        for bad in ["", "-a", "a-", "Corp", "a_b", &"a".repeat(49)] {
            assert!(fleet_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_and_arns() {
        assert!(aws_id("sg-0123abcd", "sg").is_ok());
        assert!(aws_id("subnet-0123456789abcdef0", "subnet").is_ok());
        assert!(aws_id("vpc-0123ABCD", "vpc").is_err());
        assert!(aws_id("sg-0123abc", "sg").is_err());
        assert!(aws_id("vpc-0123abcd", "sg").is_err());
        assert!(arn("arn:aws:acm:us-east-1:123456789012:certificate/abc-123").is_ok());
        assert!(arn("arn:aws:acm::123456789012:certificate").is_ok());
        assert!(arn("arn:aws:acm:us-east-1:12x:certificate/a").is_err());
        assert!(arn("arn:aws:acm:us-east-1:123456789012:certificate//a").is_err());
        assert!(arn("nope").is_err());
        assert!(
            audit_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-x")
                .is_ok()
        );
        assert!(audit_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/other").is_err());
        assert!(audit_stream_arn("arn:aws:sqs:us-east-1:123456789012:AmazonWorkLink-x").is_err());
    }

    #[test]
    fn certificates() {
        assert!(certificate(CERT).is_ok());
        assert!(certificate(CERT.trim_end()).is_ok());
        assert!(certificate(&CERT.replace('\n', "\r\n")).is_ok());
        assert!(certificate(&format!("{CERT}{CERT}")).is_err());
        assert!(certificate("hello").is_err());
        assert!(certificate(&CERT.replace("MIIB", "MI!B")).is_err());
        assert!(certificate_chain(&format!("{CERT}{CERT}"), 32768).is_ok());
        assert!(certificate_chain(CERT.trim_end(), 32768).is_ok());
        assert!(certificate_chain(&format!("{CERT}x"), 32768).is_err());
    }

    #[test]
    fn tag_rules() {
        assert!(tag_key("team").is_ok());
        assert!(tag_key("cost-center/2024:a.b_c").is_ok());
        assert!(tag_key("aws:reserved").is_err());
        assert!(tag_key("has space").is_err());
        assert!(tag_key("").is_err());
    }
}
