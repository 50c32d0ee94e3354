//! The sweep's configuration (environment variables, read once at cold start)
//! and the per-invocation overrides a manual invocation may carry.

use std::time::Duration;

use serde::Deserialize;

use warden_core::arn::{PortalArn, StreamArn};
use warden_core::env::{Env, EnvError};
use warden_core::overrides::{Invocation, ManualPayload};

/// Secure Browser only writes user access logs to Kinesis streams whose
/// name begins with this.
pub const ACCESS_LOG_STREAM_PREFIX: &str = "amazon-workspaces-web-";

/// Environment variable names, in one place for the docs and the SAM template.
pub mod vars {
    /// Policy file path (relative to `LAMBDA_TASK_ROOT`); unset = the
    /// policy compiled into warden-core ([`warden_core::shell`]).
    pub const POLICY_FILE: &str = warden_core::shell::POLICY_FILE_VAR;
    /// Attempts per SDK call (1 to 10, default 5).
    pub const MAX_ATTEMPTS: &str = warden_core::shell::MAX_ATTEMPTS_VAR;
    /// Plan everything as dry-run (default true).
    pub const DRY_RUN: &str = "WARDEN_DRY_RUN";
    /// Comma-separated portal ARNs to sweep (required: the role is scoped
    /// to them, so the sweep never lists the account's portals).
    pub const PORTAL_ARNS: &str = "WARDEN_PORTAL_ARNS";
    /// The Kinesis stream ARN every portal should log user access to.
    pub const ACCESS_LOG_STREAM_ARN: &str = "WARDEN_ACCESS_LOG_STREAM_ARN";
    /// Portals swept at once.
    pub const PORTAL_CONCURRENCY: &str = "WARDEN_PORTAL_CONCURRENCY";
    /// GetSession calls in flight per portal.
    pub const SESSION_CONCURRENCY: &str = "WARDEN_SESSION_CONCURRENCY";
    /// Actions executed at once.
    pub const ACTION_CONCURRENCY: &str = "WARDEN_ACTION_CONCURRENCY";
    /// Extra rounds for calls still throttled after the SDK's own retries.
    pub const RETRY_ROUNDS: &str = "WARDEN_RETRY_ROUNDS";
}

/// How a sweep runs. [`SweepConfig::default`] is what an environment with
/// no portal gives.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    /// Plan every action as dry-run (logged and reported, not executed).
    pub dry_run: bool,
    /// The portals swept, in the order given (duplicates dropped).
    pub portal_arns: Vec<String>,
    /// The stream every Active portal's user access logging should use.
    /// `None`: logging is not checked and `set-access-logging` is refused.
    pub access_log_stream: Option<String>,
    /// Portals gathered at once.
    pub portal_concurrency: usize,
    /// GetSession calls in flight per portal; at most
    /// `portal_concurrency * session_concurrency` overall.
    pub session_concurrency: usize,
    /// Actions executed at once.
    pub action_concurrency: usize,
    /// MaxResults for ListSessions (the service allows 1 to 100).
    pub page_size: i32,
    /// Extra rounds for a call or action still failing transiently
    /// (throttled) after the SDK's retries, while time is left.
    pub retry_rounds: u32,
    /// First pause between rounds (doubled each round, at most 2 s).
    pub retry_pause: Duration,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            dry_run: true,
            portal_arns: Vec::new(),
            access_log_stream: None,
            portal_concurrency: 4,
            session_concurrency: 16,
            action_concurrency: 8,
            page_size: 100,
            retry_rounds: 3,
            retry_pause: Duration::from_millis(200),
        }
    }
}

impl SweepConfig {
    /// Reads the `WARDEN_*` variables (see [`vars`]); every error names the
    /// variable, the value and what was expected. `WARDEN_PORTAL_ARNS` must
    /// name at least one portal.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, EnvError> {
        let d = SweepConfig::default();
        let mut portal_arns: Vec<String> = Vec::new();
        for arn in env.list(vars::PORTAL_ARNS) {
            check_portal_arn(&arn).map_err(|reason| EnvError::Invalid {
                name: vars::PORTAL_ARNS.into(),
                value: arn.clone(),
                reason,
            })?;
            if !portal_arns.contains(&arn) {
                portal_arns.push(arn);
            }
        }
        if portal_arns.is_empty() {
            return Err(EnvError::Missing {
                name: vars::PORTAL_ARNS.into(),
                expected: "comma-separated Secure Browser portal ARNs (arn:aws:workspaces-web:<region>:<account>:portal/<id>)".into(),
            });
        }
        let access_log_stream = match env.get(vars::ACCESS_LOG_STREAM_ARN) {
            None => None,
            Some(arn) => {
                check_access_log_stream_arn(&arn).map_err(|reason| EnvError::Invalid {
                    name: vars::ACCESS_LOG_STREAM_ARN.into(),
                    value: arn.clone(),
                    reason,
                })?;
                Some(arn)
            }
        };
        Ok(SweepConfig {
            dry_run: env.bool_or(vars::DRY_RUN, d.dry_run)?,
            portal_arns,
            access_log_stream,
            portal_concurrency: env.range_or(vars::PORTAL_CONCURRENCY, 4, 1, 64)? as usize,
            session_concurrency: env.range_or(vars::SESSION_CONCURRENCY, 16, 1, 256)? as usize,
            action_concurrency: env.range_or(vars::ACTION_CONCURRENCY, 8, 1, 64)? as usize,
            page_size: d.page_size,
            retry_rounds: env.range_or(vars::RETRY_ROUNDS, 3, 0, 10)? as u32,
            retry_pause: d.retry_pause,
        })
    }
}

/// Checks a Kinesis stream ARN Secure Browser can log user access to:
/// `arn:aws[-partition]:kinesis:<region>:<account>:stream/amazon-workspaces-web-<name>`.
pub fn check_access_log_stream_arn(arn: &str) -> Result<(), String> {
    let stream = StreamArn::parse(arn)?;
    if !stream.name.starts_with(ACCESS_LOG_STREAM_PREFIX) {
        return Err(format!(
            "stream name `{}` does not begin with `{ACCESS_LOG_STREAM_PREFIX}`; Secure Browser only sends user access logs to streams named `{ACCESS_LOG_STREAM_PREFIX}*`",
            stream.name
        ));
    }
    Ok(())
}

/// Checks the shape of a Secure Browser portal ARN (parsed by
/// [`warden_core::arn`]).
pub fn check_portal_arn(arn: &str) -> Result<(), String> {
    PortalArn::parse(arn).map(drop)
}

/// Overrides one invocation may carry: a manual invocation's payload, or the
/// `detail` of a scheduled event.
///
/// ```json
/// {"portal_arns": ["arn:aws:workspaces-web:us-east-1:123456789012:portal/<id>"], "dry_run": true}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// Only these of the configured portals (a portal not configured is
    /// refused: the role is scoped to the configured ones).
    #[serde(default, alias = "portalArns")]
    pub portal_arns: Option<Vec<String>>,
    /// Replaces `WARDEN_DRY_RUN` for this run. The policy's own `dry-run`
    /// settings still hold.
    #[serde(default, alias = "dryRun")]
    pub dry_run: Option<bool>,
}

impl ManualPayload for SweepRequest {
    const FIELDS: &'static [&'static str] = &["portal_arns", "portalArns", "dry_run", "dryRun"];
    const EXAMPLE: &'static str = "{\"portal_arns\": [...], \"dry_run\": true|false}";
}

impl SweepRequest {
    /// Reads overrides from a JSON payload; `null` and `{}` mean none.
    pub fn from_json(value: &serde_json::Value) -> Result<SweepRequest, String> {
        if value.is_null() {
            return Ok(SweepRequest::default());
        }
        let req: SweepRequest = serde_json::from_value(value.clone())
            .map_err(|e| format!("sweep overrides: {e} (expected {})", Self::EXAMPLE))?;
        req.check()?;
        Ok(req)
    }

    /// Checks what serde cannot: every portal ARN's shape.
    pub fn check(&self) -> Result<(), String> {
        if let Some(arns) = &self.portal_arns {
            for arn in arns {
                check_portal_arn(arn).map_err(|e| format!("sweep overrides: portal_arns: {e}"))?;
            }
        }
        Ok(())
    }

    /// The overrides of one invocation: a scheduled event's (its `detail`),
    /// or a manual payload's. A scheduled event carrying override fields at
    /// its top level is refused, naming them; so is an unknown field.
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

    const P1: &str =
        "arn:aws:workspaces-web:us-east-1:123456789012:portal/11111111-2222-3333-4444-555555555555";
    const P2: &str =
        "arn:aws:workspaces-web:us-east-1:123456789012:portal/66666666-7777-8888-9999-000000000000";

    #[test]
    fn portals_are_required_and_the_rest_defaults_safely() {
        let e = SweepConfig::from_env(&env(&[])).unwrap_err().to_string();
        assert!(e.contains("WARDEN_PORTAL_ARNS"), "{e}");
        let c = SweepConfig::from_env(&env(&[("WARDEN_PORTAL_ARNS", P1)])).unwrap();
        assert_eq!(
            c,
            SweepConfig {
                portal_arns: vec![P1.into()],
                ..SweepConfig::default()
            }
        );
        assert!(c.dry_run, "dry-run unless told otherwise");
    }

    #[test]
    fn every_variable_is_read() {
        let list = format!("{P1}, {P2},{P1}");
        let c = SweepConfig::from_env(&env(&[
            ("WARDEN_DRY_RUN", "false"),
            ("WARDEN_PORTAL_ARNS", &list),
            (
                "WARDEN_ACCESS_LOG_STREAM_ARN",
                "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-audit",
            ),
            ("WARDEN_PORTAL_CONCURRENCY", "2"),
            ("WARDEN_SESSION_CONCURRENCY", "32"),
            ("WARDEN_ACTION_CONCURRENCY", "3"),
            ("WARDEN_RETRY_ROUNDS", "0"),
        ]))
        .unwrap();
        assert!(!c.dry_run);
        assert_eq!(c.portal_arns, vec![P1.to_owned(), P2.to_owned()]);
        assert!(c
            .access_log_stream
            .unwrap()
            .ends_with("amazon-workspaces-web-audit"));
        assert_eq!(
            (
                c.portal_concurrency,
                c.session_concurrency,
                c.action_concurrency,
                c.retry_rounds
            ),
            (2, 32, 3, 0)
        );
    }

    #[test]
    fn errors_name_the_variable_and_the_rule() {
        let err =
            |pairs: &[(&str, &str)]| SweepConfig::from_env(&env(pairs)).unwrap_err().to_string();
        let e = err(&[
            ("WARDEN_PORTAL_ARNS", P1),
            (
                "WARDEN_ACCESS_LOG_STREAM_ARN",
                "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-x",
            ),
        ]);
        assert!(
            e.contains("WARDEN_ACCESS_LOG_STREAM_ARN") && e.contains("amazon-workspaces-web-"),
            "{e}"
        );
        let e = err(&[(
            "WARDEN_PORTAL_ARNS",
            "arn:aws:worklink::123456789012:fleet/a",
        )]);
        assert!(
            e.contains("WARDEN_PORTAL_ARNS") && e.contains("portal ARN"),
            "{e}"
        );
        let e = err(&[
            ("WARDEN_PORTAL_ARNS", P1),
            ("WARDEN_SESSION_CONCURRENCY", "0"),
        ]);
        assert!(e.contains("between 1 and 256"), "{e}");
    }

    #[test]
    fn overrides_parse_and_refuse_unknown_fields() {
        let r =
            SweepRequest::from_json(&serde_json::json!({"portal_arns": [P1], "dry_run": false}))
                .unwrap();
        assert_eq!(r.dry_run, Some(false));
        assert_eq!(r.portal_arns.unwrap(), vec![P1.to_owned()]);
        assert_eq!(
            SweepRequest::from_payload(&serde_json::json!({})).unwrap(),
            SweepRequest::default()
        );
        let e = SweepRequest::from_json(&serde_json::json!({"portals": []})).unwrap_err();
        assert!(e.contains("unknown field `portals`"), "{e}");
        let e = SweepRequest::from_json(&serde_json::json!({"portal_arns": ["x"]})).unwrap_err();
        assert!(e.contains("portal_arns") && e.contains("`x`"), "{e}");
    }
}
