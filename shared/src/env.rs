//! Typed configuration from environment variables, parsed once at cold start.
//!
//! Every error names the variable, the value found and what was expected, so
//! a misconfigured function fails its init with a message an operator can
//! act on. Lookups go through a closure so tests pass a map instead of
//! mutating the process environment.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A configuration variable that is missing or unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A required variable is unset or empty.
    #[error("environment variable {name} is required ({expected})")]
    Missing {
        /// The variable.
        name: String,
        /// What it should hold.
        expected: String,
    },
    /// A variable's value cannot be used.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: String,
        /// The value found.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

/// Reads variables through `lookup` (normally [`std::env::var`]).
#[derive(Debug)]
pub struct Env<F> {
    lookup: F,
}

/// An environment holding exactly `pairs` (tests: no process environment
/// mutated, nothing inherited).
pub fn from_pairs(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Env::new(move |k: &str| map.get(k).cloned())
}

/// The process environment.
pub fn process() -> Env<impl Fn(&str) -> Option<String>> {
    Env::new(|k: &str| std::env::var(k).ok())
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Reads through `lookup`.
    pub fn new(lookup: F) -> Self {
        Env { lookup }
    }

    /// The value, with surrounding white space removed; empty counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The value, or an error saying what it should hold.
    pub fn required(&self, name: &str, expected: &str) -> Result<String, EnvError> {
        self.get(name).ok_or_else(|| EnvError::Missing {
            name: name.into(),
            expected: expected.into(),
        })
    }

    /// Parses a value with `FromStr`, or returns `default` when unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, EnvError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| EnvError::Invalid {
                name: name.into(),
                value: v,
                reason: e.to_string(),
            }),
        }
    }

    /// A boolean: `true/false`, `1/0`, `yes/no`, `on/off` (any case).
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, EnvError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(EnvError::Invalid {
                    name: name.into(),
                    value: v,
                    reason: "expected true or false".into(),
                }),
            },
        }
    }

    /// An integer within `[min, max]`.
    pub fn range_or(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, EnvError> {
        let v = self.parse_or(name, default)?;
        if v < min || v > max {
            return Err(EnvError::Invalid {
                name: name.into(),
                value: v.to_string(),
                reason: format!("must be between {min} and {max}"),
            });
        }
        Ok(v)
    }

    /// A non-negative duration in the project's one duration grammar
    /// ([`crate::time::parse_duration`]): `24h`, `90s`, `1h30m`, `1d 2h`,
    /// ISO 8601 `PT24H`, ...
    pub fn duration_or(&self, name: &str, default: Duration) -> Result<Duration, EnvError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => {
                let d = crate::time::parse_duration(&v).map_err(|reason| EnvError::Invalid {
                    name: name.into(),
                    value: v.clone(),
                    reason,
                })?;
                Duration::try_from(d).map_err(|_| EnvError::Invalid {
                    name: name.into(),
                    value: v,
                    reason: "must not be negative".into(),
                })
            }
        }
    }

    /// A comma-separated list; empty items are dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::from_pairs as env;
    use super::*;

    #[test]
    fn parses_and_defaults() {
        let e = env(&[
            ("DRY", "No"),
            ("N", " 12 "),
            ("GRACE", "24h"),
            ("LIST", "a, b,,c"),
            ("EMPTY", "  "),
        ]);
        assert!(!e.bool_or("DRY", true).unwrap());
        assert!(e.bool_or("UNSET", true).unwrap());
        assert_eq!(e.range_or("N", 8, 1, 64).unwrap(), 12);
        assert_eq!(e.range_or("UNSET", 8, 1, 64).unwrap(), 8);
        assert_eq!(
            e.duration_or("GRACE", Duration::ZERO).unwrap(),
            Duration::from_secs(86_400)
        );
        assert_eq!(e.list("LIST"), ["a", "b", "c"]);
        assert!(e.list("EMPTY").is_empty());
        assert_eq!(e.get("EMPTY"), None);
    }

    #[test]
    fn errors_name_variable_value_and_expectation() {
        let e = env(&[("DRY", "maybe"), ("N", "100"), ("X", "abc"), ("D", "-5s")]);
        let err = e.bool_or("DRY", true).unwrap_err().to_string();
        assert!(
            err.contains("DRY") && err.contains("maybe") && err.contains("true or false"),
            "{err}"
        );
        let err = e.range_or("N", 8, 1, 64).unwrap_err().to_string();
        assert!(
            err.contains("N=\"100\"") && err.contains("between 1 and 64"),
            "{err}"
        );
        let err = e.parse_or::<u32>("X", 1).unwrap_err().to_string();
        assert!(err.contains("X=\"abc\""), "{err}");
        let err = e.duration_or("D", Duration::ZERO).unwrap_err().to_string();
        assert!(err.contains("negative"), "{err}");
        let err = e
            .required("FLEET_ARN", "the fleet to act on")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment variable FLEET_ARN is required (the fleet to act on)"
        );
    }
}
