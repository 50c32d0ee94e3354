//! The sweep's configuration (environment variables, read once at cold start)
//! and the per-invocation overrides a manual invocation may carry.

use std::time::Duration;

use jiff::SignedDuration;
use serde::Deserialize;

use warden_core::arn::{FleetArn, StreamArn};
use warden_core::env::{Env, EnvError};
use warden_core::overrides::{Invocation, ManualPayload};
use warden_core::state::StateTable;

/// Every WorkLink audit stream's name must begin with this (a WorkLink rule:
/// the service only writes to Kinesis streams named so).
pub use warden_core::arn::WORKLINK_STREAM_PREFIX as STREAM_PREFIX;

/// Environment variable names, in one place for the docs and the SAM template.
pub mod vars {
    /// Policy file path (relative to `LAMBDA_TASK_ROOT`); unset = the
    /// policy compiled into warden-core ([`warden_core::shell`]).
    pub const POLICY_FILE: &str = warden_core::shell::POLICY_FILE_VAR;
    /// Attempts per SDK call (1 to 10, default 5; `AWS_MAX_ATTEMPTS` is the
    /// deprecated name).
    pub const MAX_ATTEMPTS: &str = warden_core::shell::MAX_ATTEMPTS_VAR;
    /// Plan everything as dry-run (default true).
    pub const DRY_RUN: &str = "WARDEN_DRY_RUN";
    /// The Kinesis stream ARN every fleet should send its audit events to.
    pub const AUDIT_STREAM_ARN: &str = "WARDEN_AUDIT_STREAM_ARN";
    /// Comma-separated fleet ARNs to limit the sweep to (empty = all).
    pub const FLEET_ARNS: &str = "WARDEN_FLEET_ARNS";
    /// Fleets swept at once.
    pub const FLEET_CONCURRENCY: &str = "WARDEN_FLEET_CONCURRENCY";
    /// DescribeDevice calls in flight per fleet.
    pub const DEVICE_CONCURRENCY: &str = "WARDEN_DEVICE_CONCURRENCY";
    /// Actions executed at once.
    pub const ACTION_CONCURRENCY: &str = "WARDEN_ACTION_CONCURRENCY";
    /// Age after which a domain still PENDING_VALIDATION / FAILED_* is a finding.
    pub const DOMAIN_STUCK_AFTER: &str = "WARDEN_DOMAIN_STUCK_AFTER";
    /// Whether SIGNED_OUT devices are described (and evaluated) too.
    pub const DESCRIBE_SIGNED_OUT: &str = "WARDEN_DESCRIBE_SIGNED_OUT";
    /// Extra rounds for calls still throttled after the SDK's own retries.
    pub const RETRY_ROUNDS: &str = "WARDEN_RETRY_ROUNDS";
    /// The state table (`memory:` for a local run): revocation provenance
    /// and the run lease.
    pub const STATE_TABLE: &str = warden_core::state::STATE_TABLE_VAR;
}

/// How a sweep runs. [`SweepConfig::default`] is what an empty environment
/// gives.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    /// Plan every action as dry-run (logged and reported, not executed).
    pub dry_run: bool,
    /// The stream every ACTIVE fleet should use. `None`: taken from the
    /// policy's `set-audit-stream` action, if it has one.
    pub expected_audit_stream: Option<String>,
    /// Only these fleets (empty = every fleet ListFleets returns).
    pub fleet_arns: Vec<String>,
    /// Fleets gathered at once.
    pub fleet_concurrency: usize,
    /// DescribeDevice calls in flight per fleet; at most
    /// `fleet_concurrency * device_concurrency` overall.
    pub device_concurrency: usize,
    /// Actions executed at once.
    pub action_concurrency: usize,
    /// PENDING_VALIDATION / FAILED_* domains older than this are findings.
    pub domain_stuck_after: SignedDuration,
    /// Describe SIGNED_OUT devices too (the issue's default). `false` saves
    /// one call per signed-out device: their user has no session on them.
    pub describe_signed_out: bool,
    /// MaxResults for ListFleets / ListDevices / ListDomains (the service
    /// caps pages at 100).
    pub page_size: i32,
    /// Extra rounds for a call or action still failing transiently
    /// (throttled) after the SDK's retries, while time is left.
    pub retry_rounds: u32,
    /// First pause between rounds (doubled each round, at most 2 s).
    pub retry_pause: Duration,
    /// `WARDEN_STATE_TABLE`: where warden's revocations and the run lease
    /// live. Unset: only a policy without restore rules may run.
    pub state_table: Option<StateTable>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            dry_run: true,
            expected_audit_stream: None,
            fleet_arns: Vec::new(),
            fleet_concurrency: 4,
            device_concurrency: 16,
            action_concurrency: 8,
            domain_stuck_after: SignedDuration::from_hours(7 * 24),
            describe_signed_out: true,
            page_size: 100,
            retry_rounds: 3,
            retry_pause: Duration::from_millis(200),
            state_table: None,
        }
    }
}

impl SweepConfig {
    /// Reads the `WARDEN_*` variables (see [`vars`]); every error names the
    /// variable, the value and what was expected.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, EnvError> {
        let d = SweepConfig::default();
        let expected_audit_stream = match env.get(vars::AUDIT_STREAM_ARN) {
            None => None,
            Some(arn) => {
                check_stream_arn(&arn).map_err(|reason| EnvError::Invalid {
                    name: vars::AUDIT_STREAM_ARN.into(),
                    value: arn.clone(),
                    reason,
                })?;
                Some(arn)
            }
        };
        let fleet_arns = env.list(vars::FLEET_ARNS);
        for arn in &fleet_arns {
            check_fleet_arn(arn).map_err(|reason| EnvError::Invalid {
                name: vars::FLEET_ARNS.into(),
                value: arn.clone(),
                reason,
            })?;
        }
        let domain_stuck_after = match env.get(vars::DOMAIN_STUCK_AFTER) {
            None => d.domain_stuck_after,
            Some(v) => {
                let parsed =
                    warden_core::time::parse_duration(&v).map_err(|reason| EnvError::Invalid {
                        name: vars::DOMAIN_STUCK_AFTER.into(),
                        value: v.clone(),
                        reason,
                    })?;
                if parsed.is_negative() {
                    return Err(EnvError::Invalid {
                        name: vars::DOMAIN_STUCK_AFTER.into(),
                        value: v,
                        reason: "must not be negative".into(),
                    });
                }
                parsed
            }
        };
        Ok(SweepConfig {
            dry_run: env.bool_or(vars::DRY_RUN, d.dry_run)?,
            expected_audit_stream,
            fleet_arns,
            fleet_concurrency: env.range_or(vars::FLEET_CONCURRENCY, 4, 1, 64)? as usize,
            device_concurrency: env.range_or(vars::DEVICE_CONCURRENCY, 16, 1, 256)? as usize,
            action_concurrency: env.range_or(vars::ACTION_CONCURRENCY, 8, 1, 64)? as usize,
            domain_stuck_after,
            describe_signed_out: env.bool_or(vars::DESCRIBE_SIGNED_OUT, d.describe_signed_out)?,
            page_size: d.page_size,
            retry_rounds: env.range_or(vars::RETRY_ROUNDS, 3, 0, 10)? as u32,
            retry_pause: d.retry_pause,
            state_table: StateTable::from_env(env)?,
        })
    }
}

/// Checks a Kinesis stream ARN WorkLink can write to:
/// `arn:aws[-partition]:kinesis:<region>:<account>:stream/AmazonWorkLink-<name>`
/// (parsed by [`warden_core::arn`]).
pub fn check_stream_arn(arn: &str) -> Result<(), String> {
    StreamArn::parse_worklink_audit(arn).map(drop)
}

/// Checks the shape of a WorkLink fleet ARN
/// (`arn:aws:worklink::<account>:fleet/<name>`, parsed by [`warden_core::arn`]).
pub fn check_fleet_arn(arn: &str) -> Result<(), String> {
    FleetArn::parse(arn).map(drop)
}

/// Overrides one invocation may carry: a manual invocation's payload, or the
/// `detail` of a scheduled event.
///
/// ```json
/// {"fleet_arns": ["arn:aws:worklink::123456789012:fleet/corp"], "dry_run": true}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// Only these fleets (replaces `WARDEN_FLEET_ARNS` for this run).
    #[serde(default, alias = "fleetArns")]
    pub fleet_arns: Option<Vec<String>>,
    /// Replaces `WARDEN_DRY_RUN` for this run. The policy's own `dry-run`
    /// settings still hold.
    #[serde(default, alias = "dryRun")]
    pub dry_run: Option<bool>,
}

impl ManualPayload for SweepRequest {
    const FIELDS: &'static [&'static str] = &["fleet_arns", "fleetArns", "dry_run", "dryRun"];
    const EXAMPLE: &'static str = "{\"fleet_arns\": [...], \"dry_run\": true|false}";
}

impl SweepRequest {
    /// Reads overrides from a JSON payload; `null` and `{}` mean none. The
    /// error names the payload's problem (unknown field, wrong type, bad ARN).
    pub fn from_json(value: &serde_json::Value) -> Result<SweepRequest, String> {
        if value.is_null() {
            return Ok(SweepRequest::default());
        }
        let req: SweepRequest = serde_json::from_value(value.clone())
            .map_err(|e| format!("sweep overrides: {e} (expected {})", Self::EXAMPLE))?;
        req.check()?;
        Ok(req)
    }

    /// Checks what serde cannot: every fleet ARN's shape.
    pub fn check(&self) -> Result<(), String> {
        if let Some(arns) = &self.fleet_arns {
            for arn in arns {
                check_fleet_arn(arn).map_err(|e| format!("sweep overrides: fleet_arns: {e}"))?;
            }
        }
        Ok(())
    }

    /// The overrides of one invocation: a scheduled event's (its `detail`,
    /// `{}` for a plain schedule: none), or a manual payload's. A scheduled
    /// event carrying override fields at its top level is refused, naming
    /// them (they would be ignored); so is an unknown field.
    pub fn from_payload(payload: &serde_json::Value) -> Result<SweepRequest, String> {
        match Invocation::<SweepRequest>::from_value(payload).map_err(|e| e.to_string())? {
            Invocation::Scheduled(event) => match &event.detail {
                serde_json::Value::Object(m) if m.is_empty() => Ok(SweepRequest::default()),
                detail => SweepRequest::from_json(detail)
                    .map_err(|e| format!("scheduled event detail: {e}")),
            },
            Invocation::Manual(req) => {
                req.check()?;
                Ok(req)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use warden_core::env::from_pairs as env;

    #[test]
    fn empty_environment_gives_the_safe_defaults() {
        let c = SweepConfig::from_env(&env(&[])).unwrap();
        assert_eq!(c, SweepConfig::default());
        assert!(c.dry_run, "dry-run unless told otherwise");
    }

    #[test]
    fn every_variable_is_read() {
        let c = SweepConfig::from_env(&env(&[
            ("WARDEN_DRY_RUN", "false"),
            (
                "WARDEN_AUDIT_STREAM_ARN",
                "arn:aws:kinesis:eu-west-1:123456789012:stream/AmazonWorkLink-x",
            ),
            (
                "WARDEN_FLEET_ARNS",
                "arn:aws:worklink::123456789012:fleet/a, arn:aws:worklink::123456789012:fleet/b",
            ),
            ("WARDEN_FLEET_CONCURRENCY", "10"),
            ("WARDEN_DEVICE_CONCURRENCY", "32"),
            ("WARDEN_ACTION_CONCURRENCY", "2"),
            ("WARDEN_DOMAIN_STUCK_AFTER", "30d"),
            ("WARDEN_DESCRIBE_SIGNED_OUT", "no"),
            ("WARDEN_RETRY_ROUNDS", "0"),
        ]))
        .unwrap();
        assert!(!c.dry_run);
        assert_eq!(
            c.expected_audit_stream.as_deref(),
            Some("arn:aws:kinesis:eu-west-1:123456789012:stream/AmazonWorkLink-x")
        );
        assert_eq!(c.fleet_arns.len(), 2);
        assert_eq!(
            (
                c.fleet_concurrency,
                c.device_concurrency,
                c.action_concurrency
            ),
            (10, 32, 2)
        );
        assert_eq!(c.domain_stuck_after, SignedDuration::from_hours(720));
        assert!(!c.describe_signed_out);
        assert_eq!(c.retry_rounds, 0);
    }

    #[test]
    fn errors_name_the_variable_and_the_rule() {
        let err =
            |pairs: &[(&str, &str)]| SweepConfig::from_env(&env(pairs)).unwrap_err().to_string();
        let e = err(&[(
            "WARDEN_AUDIT_STREAM_ARN",
            "arn:aws:kinesis:us-east-1:123456789012:stream/audit",
        )]);
        assert!(
            e.contains("WARDEN_AUDIT_STREAM_ARN") && e.contains("AmazonWorkLink-"),
            "{e}"
        );
        let e = err(&[("WARDEN_FLEET_ARNS", "corp")]);
        assert!(
            e.contains("WARDEN_FLEET_ARNS") && e.contains("fleet ARN"),
            "{e}"
        );
        let e = err(&[("WARDEN_DEVICE_CONCURRENCY", "0")]);
        assert!(e.contains("between 1 and 256"), "{e}");
        let e = err(&[("WARDEN_DOMAIN_STUCK_AFTER", "a week")]);
        assert!(e.contains("WARDEN_DOMAIN_STUCK_AFTER"), "{e}");
        let e = err(&[("WARDEN_DRY_RUN", "perhaps")]);
        assert!(e.contains("WARDEN_DRY_RUN"), "{e}");
    }

    #[test]
    fn stream_arns_are_checked() {
        assert!(
            check_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-a")
                .is_ok()
        );
        assert!(check_stream_arn(
            "arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:stream/AmazonWorkLink-a"
        )
        .is_ok());
        for bad in [
            "arn:aws:kinesis:us-east-1:123456789012:stream/audit",
            "arn:aws:kinesis:us-east-1:123456789012:stream/amazonworklink-a",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/AmazonWorkLink-a",
            "AmazonWorkLink-a",
            "",
        ] {
            assert!(check_stream_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overrides_parse_and_refuse_unknown_fields() {
        let r = SweepRequest::from_json(&serde_json::json!({
            "fleet_arns": ["arn:aws:worklink::123456789012:fleet/a"],
            "dry_run": false
        }))
        .unwrap();
        assert_eq!(r.dry_run, Some(false));
        assert_eq!(r.fleet_arns.unwrap().len(), 1);
        assert_eq!(
            SweepRequest::from_json(&serde_json::json!({})).unwrap(),
            SweepRequest::default()
        );
        assert_eq!(
            SweepRequest::from_json(&serde_json::Value::Null).unwrap(),
            SweepRequest::default()
        );
        let e = SweepRequest::from_json(&serde_json::json!({"fleets": []})).unwrap_err();
        assert!(e.contains("unknown field `fleets`"), "{e}");
        let e = SweepRequest::from_json(&serde_json::json!({"dry_run": "yes"})).unwrap_err();
        assert!(e.contains("dry_run") || e.contains("boolean"), "{e}");
        let e = SweepRequest::from_json(&serde_json::json!({"fleet_arns": ["corp"]})).unwrap_err();
        assert!(e.contains("fleet_arns") && e.contains("corp"), "{e}");
    }
}
