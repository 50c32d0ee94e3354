//! Duration and timestamp helpers shared by the event decoder and the policy
//! language. Time zones, timestamps and durations are `jiff` types.

use jiff::{SignedDuration, Timestamp};

/// Parse a duration. This is the one duration grammar of the project, used
/// by the policy language (`within`, `grace`, age conditions), by the
/// environment reader (`env::Env::duration_or`) and by the functions' and
/// the CLI's own duration settings. It accepts:
///
/// * the compact form: one or more `<integer><unit>` groups, optionally
///   separated by spaces, units `ms`, `s`, `m`, `h`, `d` (24 h), `w` (7 d):
///   `90s`, `10m`, `24h`, `30d`, `1h30m`, `1d 2h`; a bare `0` is zero;
/// * anything else `jiff` reads as a [`SignedDuration`]: its friendly form
///   (`2 hours 30 minutes`, `1.5h`, `-5s`) and ISO 8601 (`PT24H`); jiff
///   itself refuses days and weeks there, the compact form has them.
///
/// The compact form is tried first. Compact text whose number is too large
/// is an error, not handed to the second reader; other text that neither
/// reads is reported with the compact form's message.
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    match parse_compact(text) {
        Ok(d) => Ok(d),
        Err(Compact::TooLarge(msg)) => Err(msg),
        Err(Compact::Unreadable(msg)) => text.trim().parse::<SignedDuration>().map_err(|_| msg),
    }
}

/// Why text is not a compact duration.
enum Compact {
    /// Not in the compact shape; another reader may still read it.
    Unreadable(String),
    /// In the compact shape, but out of range.
    TooLarge(String),
}

/// The compact form of [`parse_duration`].
fn parse_compact(text: &str) -> Result<SignedDuration, Compact> {
    let s = text.trim();
    if s == "0" {
        return Ok(SignedDuration::ZERO);
    }
    if s.is_empty() {
        return Err(Compact::Unreadable(
            "empty duration; expected e.g. `10m`, `24h`, `30d`".into(),
        ));
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0; // milliseconds
    while i < bytes.len() {
        if i > 0 {
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(Compact::Unreadable(format!(
                "`{text}` is not a duration; expected e.g. `10m`, `24h`, `30d`, `1h30m`"
            )));
        }
        let n: i64 = s[start..i]
            .parse()
            .map_err(|_| Compact::TooLarge(format!("`{text}`: number too large")))?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_ms: i64 = match &s[ustart..i] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => {
                return Err(Compact::Unreadable(format!(
                    "`{text}`: missing unit after {n}; use ms, s, m, h, d or w"
                )))
            }
            other => {
                return Err(Compact::Unreadable(format!(
                    "`{text}`: unknown unit `{other}`; use ms, s, m, h, d or w"
                )))
            }
        };
        total = n
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| Compact::TooLarge(format!("`{text}`: duration too large")))?;
    }
    Ok(SignedDuration::from_millis(total))
}

/// Format a duration compactly (`1d2h`, `10m`, `45s`, `250ms`).
pub fn format_duration(d: SignedDuration) -> String {
    let mut ms = d.as_millis();
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in [
        ("d", 86_400_000i128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{}", ms / size, unit));
            ms %= size;
        }
    }
    out
}

/// A number as epoch seconds, milliseconds, microseconds or nanoseconds,
/// chosen by magnitude (values of 10^11 and more are taken as milliseconds,
/// which is any time after 1973; epoch seconds reach 10^11 only in year 5138).
pub fn timestamp_from_epoch(n: f64) -> Option<Timestamp> {
    if !n.is_finite() {
        return None;
    }
    let a = n.abs();
    let nanos = if a >= 1e17 {
        n
    } else if a >= 1e14 {
        n * 1e3
    } else if a >= 1e11 {
        n * 1e6
    } else {
        n * 1e9
    };
    if !nanos.is_finite() || nanos.abs() > 9.0e18 {
        return None;
    }
    Timestamp::from_nanosecond(nanos as i128).ok()
}

/// An integer as epoch seconds/ms/us/ns (same magnitude rule as
/// [`timestamp_from_epoch`]), exactly.
pub fn timestamp_from_epoch_int(n: i64) -> Option<Timestamp> {
    let a = n.unsigned_abs();
    let nanos = i128::from(n)
        * if a >= 100_000_000_000_000_000 {
            1
        } else if a >= 100_000_000_000_000 {
            1_000
        } else if a >= 100_000_000_000 {
            1_000_000
        } else {
            1_000_000_000
        };
    Timestamp::from_nanosecond(nanos).ok()
}

/// A timestamp written as RFC 3339 (`2026-11-23T12:00:00Z`) or as epoch
/// seconds / milliseconds in a string (`"1665179071723"`).
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let s = text.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let b = s.as_bytes();
    let numeric = b
        .iter()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || *c == b'.' || (i == 0 && *c == b'-'));
    if numeric {
        if let Ok(i) = s.parse::<i64>() {
            return timestamp_from_epoch_int(i);
        }
        return s.parse::<f64>().ok().and_then(timestamp_from_epoch);
    }
    s.parse::<Timestamp>().ok()
}

/// A JSON value as a timestamp (string or number), if it is one.
pub fn timestamp_from_json(v: &serde_json::Value) -> Option<Timestamp> {
    match v {
        serde_json::Value::String(s) => parse_timestamp(s),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => timestamp_from_epoch_int(i),
            None => n.as_f64().and_then(timestamp_from_epoch),
        },
        _ => None,
    }
}

/// `HH:MM` (24 h) to minutes after midnight.
pub fn parse_time_of_day(text: &str) -> Result<u16, String> {
    let err = || format!("`{text}` is not a time of day; expected `HH:MM` (24 h), e.g. `19:30`");
    let (h, m) = text.trim().split_once(':').ok_or_else(err)?;
    let h: u16 = h.parse().map_err(|_| err())?;
    let m: u16 = m.parse().map_err(|_| err())?;
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(err());
    }
    Ok(h * 60 + m)
}

/// Weekday names (`mon`, `monday`, case-insensitive) to 0 = Monday .. 6.
pub fn parse_weekday(text: &str) -> Result<u8, String> {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let t = text.trim().to_ascii_lowercase();
    for (i, d) in DAYS.iter().enumerate() {
        if t.len() >= 3 && d.starts_with(&t) {
            return Ok(i as u8);
        }
    }
    Err(format!(
        "`{text}` is not a weekday; use mon, tue, wed, thu, fri, sat, sun"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("10m").unwrap(),
            SignedDuration::from_mins(10)
        );
        assert_eq!(
            parse_duration("30d").unwrap(),
            SignedDuration::from_hours(720)
        );
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            SignedDuration::from_mins(90)
        );
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10y")
            .unwrap_err()
            .contains("unknown unit `y`"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("9999999999999d").is_err());
        assert_eq!(format_duration(SignedDuration::from_mins(90)), "1h30m");
    }

    #[test]
    fn one_grammar_reads_what_both_old_readers_read() {
        let h = SignedDuration::from_hours;
        // What the environment reader (jiff's parser) accepted.
        assert_eq!(parse_duration("PT24H").unwrap(), h(24));
        assert_eq!(parse_duration("1hour").unwrap(), h(1));
        assert_eq!(
            parse_duration("2 hours 30 minutes").unwrap(),
            SignedDuration::from_mins(150)
        );
        assert_eq!(
            parse_duration("-5s").unwrap(),
            SignedDuration::from_secs(-5)
        );
        // What the policy reader accepted, with the same values.
        assert_eq!(parse_duration("1w").unwrap(), h(168));
        assert_eq!(
            parse_duration("250ms").unwrap(),
            SignedDuration::from_millis(250)
        );
        assert_eq!(parse_duration(" 0 ").unwrap(), SignedDuration::ZERO);
        // Days with spaces: what env.rs documented but jiff never read.
        assert_eq!(parse_duration("1d 2h").unwrap(), h(26));
        // Where both readers agree, the values agree too.
        for text in ["90s", "10m", "24h", "1h30m", "1h 30m", "250ms"] {
            let jiff: SignedDuration = text.parse().unwrap();
            assert_eq!(parse_duration(text).unwrap(), jiff, "{text}");
        }
        // Neither reads these; the message is the compact form's.
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration("10").unwrap_err().contains("missing unit"));
    }

    #[test]
    fn timestamps_in_three_shapes() {
        let want: Timestamp = "2022-10-07T21:44:31.723Z".parse().unwrap();
        assert_eq!(parse_timestamp("1665179071723"), Some(want));
        assert_eq!(
            parse_timestamp("1665179071"),
            Some("2022-10-07T21:44:31Z".parse().unwrap())
        );
        assert_eq!(parse_timestamp("2022-10-07T21:44:31.723Z"), Some(want));
        assert_eq!(
            timestamp_from_json(&serde_json::json!(1665179071723u64)),
            Some(want)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(timestamp_from_epoch(f64::NAN), None);
        assert_eq!(timestamp_from_epoch(1e300), None);
    }

    #[test]
    fn clock_and_days() {
        assert_eq!(parse_time_of_day("19:30").unwrap(), 19 * 60 + 30);
        assert!(parse_time_of_day("25:00").is_err());
        assert_eq!(parse_weekday("Sat").unwrap(), 5);
        assert!(parse_weekday("sa").is_err());
    }
}
