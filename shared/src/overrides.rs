//! What an operator may override for a function or for one run, in one
//! place, so every refusal still comes from the planner:
//!
//! * cap overrides ([`CapOverride`]): audit-stream's `WARDEN_CAPS`
//!   ([`parse_caps`]) and instance-cleanup's manual `max_deletions`
//!   ([`lower_cap`]), applied to the compiled policy ([`apply_caps`]) before
//!   it plans;
//! * a scheduled function's payload ([`Invocation`]): an EventBridge
//!   scheduled event ([`ScheduledEvent`]) or a manual payload of overrides
//!   ([`ManualPayload`]); the two are different types, and a payload that
//!   looks scheduled but carries override fields is refused, naming them.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::env::EnvError;
use crate::policy::{ActionKind, Cap, Policy};

/// One cap override for an action kind (`None` kind: the policy's default
/// cap, for the kinds it does not cap itself).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CapOverride {
    /// `kind=N`: at most N actions of the kind per run (or batch).
    Max(u32),
    /// `kind=P%`: at most P percent of the targets examined.
    Percent(f64),
}

/// Cap overrides in the order they apply (`None` kind = `default`).
pub type CapOverrides = Vec<(Option<ActionKind>, CapOverride)>;

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> EnvError {
    EnvError::Invalid {
        name: name.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Parses the value of the variable `name` (audit-stream's `WARDEN_CAPS`):
/// `kind=N` or `kind=P%`, comma-separated; kind is an action name
/// (`sign-out-user`, `revoke-domain`, ...) or `default`. Errors name the
/// variable, the value and the item at fault.
pub fn parse_caps(name: &str, value: &str) -> Result<CapOverrides, EnvError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((kind, limit)) = item.split_once('=') else {
            return Err(invalid(
                name,
                value,
                format!("`{item}`: expected kind=N or kind=P%"),
            ));
        };
        let (kind, limit) = (kind.trim(), limit.trim());
        let kind = if kind == "default" {
            None
        } else {
            Some(ActionKind::from_name(kind).ok_or_else(|| {
                let names: Vec<_> = ActionKind::ALL.iter().map(|k| k.name()).collect();
                invalid(
                    name,
                    value,
                    format!(
                        "`{kind}` is not an action kind; use default or one of {}",
                        names.join(", ")
                    ),
                )
            })?)
        };
        let cap = if let Some(p) = limit.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| {
                invalid(
                    name,
                    value,
                    format!("`{item}`: `{limit}` is not a percentage"),
                )
            })?;
            if !(0.0..=100.0).contains(&p) {
                return Err(invalid(
                    name,
                    value,
                    format!("`{item}`: a percentage must be between 0 and 100"),
                ));
            }
            CapOverride::Percent(p)
        } else {
            CapOverride::Max(limit.parse().map_err(|_| {
                invalid(
                    name,
                    value,
                    format!("`{item}`: `{limit}` is not a whole number"),
                )
            })?)
        };
        out.push((kind, cap));
    }
    Ok(out)
}

/// Applies cap overrides to a compiled policy: each replaces the limit it
/// names (absolute or percentage) and keeps the other one. A kind the
/// policy caps itself keeps its own cap unless an override names the kind.
pub fn apply_caps(policy: &mut Policy, caps: &[(Option<ActionKind>, CapOverride)]) {
    for (kind, cap) in caps {
        let slot: &mut Cap = match kind {
            None => &mut policy.settings.default_cap,
            Some(k) => {
                let current = policy.settings.cap(*k);
                policy.settings.caps.entry(*k).or_insert(current)
            }
        };
        match cap {
            CapOverride::Max(n) => slot.max = Some(*n),
            CapOverride::Percent(p) => slot.max_percent = Some(*p),
        }
    }
}

/// The override that caps `kind` at `max` for one run without ever raising
/// the policy's cap (a manual `max_deletions`): `Max(min(policy max, max))`.
/// `None` when the policy's own absolute cap is already that low.
pub fn lower_cap(
    policy: &Policy,
    kind: ActionKind,
    max: u32,
) -> Option<(Option<ActionKind>, CapOverride)> {
    match policy.settings.cap(kind).max {
        Some(current) if current <= max => None,
        _ => Some((Some(kind), CapOverride::Max(max))),
    }
}

/// The overrides a manual invocation of a scheduled function may carry.
/// Implemented by each function's payload type (`#[serde(deny_unknown_fields)]`
/// so an unknown key is an error naming it).
pub trait ManualPayload: DeserializeOwned + Default {
    /// The payload's field names (and their aliases): a scheduled event
    /// carrying any of them at its top level is refused.
    const FIELDS: &'static [&'static str];
    /// What a manual payload looks like, for error messages.
    const EXAMPLE: &'static str;
}

/// An EventBridge (CloudWatch Events) scheduled event, as Lambda delivers
/// it. `detail-type` and `source` are required (they are what tells it from
/// a manual payload); the rest is kept for the log. Envelope keys EventBridge
/// may add later (`replay-name`, ...) are accepted.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ScheduledEvent {
    /// `detail-type`, `Scheduled Event` for a schedule.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// `source`, `aws.events` for a schedule.
    pub source: String,
    /// The event id.
    #[serde(default)]
    pub id: Option<String>,
    /// The account.
    #[serde(default)]
    pub account: Option<String>,
    /// The region.
    #[serde(default)]
    pub region: Option<String>,
    /// When the schedule fired, as sent (RFC 3339).
    #[serde(default)]
    pub time: Option<String>,
    /// The rule(s) that fired.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The `detail` object (`{}` for a schedule; a rule's constant input
    /// may put something there).
    #[serde(default)]
    pub detail: Value,
}

/// What invoked a scheduled function: its schedule, or an operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation<M> {
    /// An EventBridge scheduled event: the configured behaviour.
    Scheduled(ScheduledEvent),
    /// A manual payload (`null` and `{}` are the empty one).
    Manual(M),
}

/// Why a payload was refused. The message names the fields at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PayloadError {}

impl<M: ManualPayload> Invocation<M> {
    /// Tells a scheduled event (it has `source` or `detail-type`) from a
    /// manual payload and reads it as that type. A scheduled-looking payload
    /// that also carries manual fields (`dry_run`, ...) is refused naming
    /// them: its overrides would otherwise be silently ignored.
    pub fn from_value(payload: &Value) -> Result<Invocation<M>, PayloadError> {
        match payload {
            Value::Null => Ok(Invocation::Manual(M::default())),
            Value::Object(m) if looks_scheduled(m) => {
                let overrides: Vec<&str> = M::FIELDS
                    .iter()
                    .copied()
                    .filter(|f| m.contains_key(*f))
                    .collect();
                if !overrides.is_empty() {
                    return Err(PayloadError(format!(
                        "payload refused, nothing done: it looks like a scheduled event (it has {}) but carries the manual override field{} {}; a scheduled event carries no overrides: send a manual payload without `source` / `detail-type`, {}",
                        scheduled_keys(m),
                        if overrides.len() == 1 { "" } else { "s" },
                        overrides
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        M::EXAMPLE
                    )));
                }
                serde_json::from_value(payload.clone())
                    .map(Invocation::Scheduled)
                    .map_err(|e| PayloadError(format!("scheduled event: {e}")))
            }
            Value::Object(_) => serde_json::from_value(payload.clone())
                .map(Invocation::Manual)
                .map_err(|e| {
                    PayloadError(format!(
                        "manual payload not understood: {e}; expected a scheduled event or {}",
                        M::EXAMPLE
                    ))
                }),
            other => Err(PayloadError(format!(
                "payload must be a JSON object (a scheduled event or manual overrides), found {}",
                match other {
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    Value::String(_) => "a string",
                    _ => "an array",
                }
            ))),
        }
    }
}

fn looks_scheduled(m: &Map<String, Value>) -> bool {
    m.contains_key("detail-type") || m.contains_key("source")
}

fn scheduled_keys(m: &Map<String, Value>) -> String {
    ["source", "detail-type"]
        .iter()
        .filter(|k| m.contains_key(**k))
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(" and ")
}

impl<'de, M: ManualPayload> Deserialize<'de> for Invocation<M> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Invocation::from_value(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Manual {
        #[serde(default)]
        dry_run: Option<bool>,
        #[serde(default)]
        max_deletions: Option<u32>,
    }

    impl ManualPayload for Manual {
        const FIELDS: &'static [&'static str] = &["dry_run", "max_deletions"];
        const EXAMPLE: &'static str = "{\"dry_run\": true}";
    }

    const POLICY: &str = r#"
caps:
  delete-instance: { max: 5 }
rules:
  - name: r
    on: instance
    where: { state: ERROR_ALLOCATING }
    actions: [delete-instance]
"#;

    #[test]
    fn scheduled_and_manual_payloads_are_different_types() {
        let scheduled: Value =
            serde_json::from_str(include_str!("../../events/scheduled-event.json")).unwrap();
        match Invocation::<Manual>::from_value(&scheduled).unwrap() {
            Invocation::Scheduled(ev) => {
                assert_eq!(ev.detail_type, "Scheduled Event");
                assert_eq!(ev.source, "aws.events");
                assert_eq!(ev.resources.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Invocation::<Manual>::from_value(&json!({"dry_run": true})).unwrap(),
            Invocation::Manual(Manual {
                dry_run: Some(true),
                max_deletions: None
            })
        );
        assert_eq!(
            Invocation::<Manual>::from_value(&Value::Null).unwrap(),
            Invocation::Manual(Manual::default())
        );
        // Through serde too (what a typed LambdaEvent would do).
        let typed: Invocation<Manual> = serde_json::from_value(json!({})).unwrap();
        assert_eq!(typed, Invocation::Manual(Manual::default()));
    }

    #[test]
    fn a_scheduled_looking_payload_with_overrides_is_refused_naming_them() {
        let e = Invocation::<Manual>::from_value(
            &json!({"source": "ops", "detail-type": "Scheduled Event", "dry_run": true, "max_deletions": 2}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`dry_run`, `max_deletions`") && e.contains("nothing done"),
            "{e}"
        );
        let e = Invocation::<Manual>::from_value(&json!({"source": "ops", "dry_run": false}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`source`") && e.contains("`dry_run`"), "{e}");
        // Unknown keys of a manual payload stay an error naming them.
        let e = Invocation::<Manual>::from_value(&json!({"dryrun": true}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `dryrun`"), "{e}");
        let e = Invocation::<Manual>::from_value(&json!({"detail-type": "Scheduled Event"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("scheduled event:") && e.contains("source"),
            "{e}"
        );
        assert!(Invocation::<Manual>::from_value(&json!([1])).is_err());
    }

    #[test]
    fn caps_parse_apply_and_only_lower() {
        let caps = parse_caps("WARDEN_CAPS", "delete-instance=3, default=20%").unwrap();
        assert_eq!(
            caps,
            vec![
                (Some(ActionKind::DeleteInstance), CapOverride::Max(3)),
                (None, CapOverride::Percent(20.0)),
            ]
        );
        let e = parse_caps("X_CAPS", "nope=1").unwrap_err().to_string();
        assert!(e.contains("X_CAPS") && e.contains("`nope`"), "{e}");

        let mut policy = Policy::from_yaml_str(POLICY, "p.yaml").unwrap();
        assert_eq!(lower_cap(&policy, ActionKind::DeleteInstance, 9), None);
        let lower = lower_cap(&policy, ActionKind::DeleteInstance, 2).unwrap();
        apply_caps(&mut policy, &[lower]);
        assert_eq!(policy.settings.cap(ActionKind::DeleteInstance).max, Some(2));
    }
}
