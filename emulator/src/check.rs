//! Helpers for the services' fixture checks: a field check's message gets
//! the JSON path of the item in front (`worklink.fleets[0] (...).name: ...`).

/// Prefixes a failed check of field `name` with the item's path `at`.
pub(crate) fn field(at: &str, name: &str, r: Result<(), String>) -> Result<(), String> {
    r.map_err(|e| format!("{at}.{name}: {e}"))
}

/// Runs `check` on an optional field when it is set.
pub(crate) fn opt_field(
    at: &str,
    name: &str,
    value: &Option<String>,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    value
        .as_deref()
        .map_or(Ok(()), |s| field(at, name, check(s)))
}
