//! audit-stream's configuration: the environment, read and validated once at
//! cold start (errors name the variable), and the `WARDEN_CAPS` overrides.

use std::time::Duration;

use warden_core::aws::executor::REPORT_RESERVE;
use warden_core::aws::notify::NotifySettings;
use warden_core::env::{Env, EnvError};
use warden_core::policy::{ActionKind, Policy};
use warden_core::shell::{CommonSettings, PolicyLoadError};

pub use warden_core::overrides::{apply_caps, CapOverride};
pub use warden_core::shell::PolicySource;

use crate::processor::{Budget, ProcessorConfig};

/// The variable of the budgets.
pub const BUDGETS_VAR: &str = "WARDEN_BUDGETS";

/// Parses `WARDEN_BUDGETS`: `kind=MAX/PERIOD`, comma-separated
/// (`sign-out-user=10/1h,revoke-domain=2/1h`); the period is a duration
/// (`30m`, `1h`, `1d`).
pub fn parse_budgets(value: &str) -> Result<Vec<Budget>, EnvError> {
    let mut out: Vec<Budget> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = |why: String| invalid(BUDGETS_VAR, value, format!("`{item}`: {why}"));
        let (kind, rest) = item
            .split_once('=')
            .ok_or_else(|| bad("expected kind=MAX/PERIOD (e.g. sign-out-user=10/1h)".into()))?;
        let kind = ActionKind::from_name(kind.trim()).ok_or_else(|| {
            let names: Vec<_> = ActionKind::ALL.iter().map(|k| k.name()).collect();
            bad(format!(
                "`{}` is not an action kind; use one of {}",
                kind.trim(),
                names.join(", ")
            ))
        })?;
        let (max, per) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected MAX/PERIOD after `=` (e.g. 10/1h)".into()))?;
        let max: u32 = max
            .trim()
            .parse()
            .map_err(|_| bad(format!("`{}` is not a whole number", max.trim())))?;
        let per = warden_core::time::parse_duration(per.trim())
            .map_err(|e| bad(format!("period: {e}")))?;
        if !per.is_positive() {
            return Err(bad("the period must be positive".into()));
        }
        if out.iter().any(|b| b.kind == kind) {
            return Err(bad(format!("{} has two budgets", kind.name())));
        }
        out.push(Budget { kind, max, per });
    }
    Ok(out)
}
use crate::record::{Limits, MAX_EVENTS_PER_RECORD, MAX_INFLATED_BYTES_PER_BATCH};

pub use warden_core::state::{StateTable, STATE_TABLE_VAR};

/// The variable of the per-record event limit.
pub const MAX_EVENTS_VAR: &str = "WARDEN_MAX_EVENTS_PER_RECORD";
/// The variable of the per-batch inflated-bytes limit.
pub const MAX_INFLATED_BATCH_VAR: &str = "WARDEN_MAX_INFLATED_BYTES_PER_BATCH";

/// Parses a byte size: a whole number of bytes, or with a `KiB`, `MiB` or
/// `GiB` suffix (`64MiB`), between 1 MiB and 1 GiB.
fn parse_size(name: &str, value: &str) -> Result<usize, EnvError> {
    let v = value.trim();
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        None => (v, 1u64),
        Some(at) => {
            let unit = match v[at..].trim() {
                "KiB" => 1u64 << 10,
                "MiB" => 1 << 20,
                "GiB" => 1 << 30,
                other => {
                    return Err(invalid(
                        name,
                        value,
                        format!(
                        "unknown unit `{other}`: expected bytes, or a number with KiB, MiB or GiB"
                    ),
                    ))
                }
            };
            (&v[..at], unit)
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        invalid(
            name,
            value,
            "expected a whole number of bytes, or with KiB, MiB or GiB (e.g. 64MiB)",
        )
    })?;
    let bytes = n.saturating_mul(unit);
    if !(1 << 20..=1 << 30).contains(&bytes) {
        return Err(invalid(name, value, "expected between 1MiB and 1GiB"));
    }
    Ok(bytes as usize)
}

/// The variable of the cap overrides.
pub const CAPS_VAR: &str = "WARDEN_CAPS";

/// The function's configuration, read once at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `WARDEN_POLICY_FILE`.
    pub policy: PolicySource,
    /// `WARDEN_DEFAULT_FLEET_ARN`.
    pub default_fleet_arn: Option<String>,
    /// `WARDEN_DRY_RUN` (default true: nothing is executed until it is set false).
    pub dry_run: bool,
    /// `WARDEN_CONCURRENCY` (default 8).
    pub concurrency: usize,
    /// `WARDEN_CAPS`, in order (`None` kind = `default`).
    pub caps: Vec<(Option<ActionKind>, CapOverride)>,
    /// `WARDEN_FAILURE_QUEUE_URL`.
    pub failure_queue_url: String,
    /// `WARDEN_DEADLINE_RESERVE` (default 1.5 s).
    pub deadline_reserve: Duration,
    /// `WARDEN_MAX_ATTEMPTS` (default 5; the deprecated `AWS_MAX_ATTEMPTS`
    /// still works, with a warning), the SDK's attempts per call.
    pub max_attempts: u32,
    /// `WARDEN_STATE_TABLE` (unset: only a policy without threshold rules
    /// may run, see [`Config::load_policy`]).
    pub state_table: Option<StateTable>,
    /// `WARDEN_BUDGETS`: budgets per action kind across invocations
    /// (`sign-out-user=10/1h,revoke-domain=2/1h`); need the state table.
    pub budgets: Vec<Budget>,
    /// `WARDEN_NOTIFY_TOPIC_ARN` / `WARDEN_NOTIFY_DRY_RUN`: the optional
    /// SNS topic announcing executed actions and refusals.
    pub notify: NotifySettings,
    /// `WARDEN_MAX_EVENTS_PER_RECORD` (default 10,000) and
    /// `WARDEN_MAX_INFLATED_BYTES_PER_BATCH` (default 64 MiB).
    pub limits: Limits,
}

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is missing or invalid.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The policy does not load (the message names the file and line).
    #[error(transparent)]
    Policy(#[from] PolicyLoadError),
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> EnvError {
    EnvError::Invalid {
        name: name.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Parses `WARDEN_CAPS`: `kind=N` or `kind=P%`, comma-separated; kind is an
/// action name (`sign-out-user`, `revoke-domain`, ...) or `default`
/// ([`warden_core::overrides::parse_caps`], which instance-cleanup's
/// `max_deletions` shares).
pub fn parse_caps(value: &str) -> Result<Vec<(Option<ActionKind>, CapOverride)>, EnvError> {
    warden_core::overrides::parse_caps(CAPS_VAR, value)
}

impl Config {
    /// Reads and validates every variable.
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Config, EnvError> {
        let common = CommonSettings::from_env(env)?;
        let default_fleet_arn = match env.get("WARDEN_DEFAULT_FLEET_ARN") {
            None => None,
            Some(arn) => {
                if let Err(reason) = warden_core::arn::FleetArn::parse(&arn) {
                    return Err(invalid("WARDEN_DEFAULT_FLEET_ARN", &arn, reason));
                }
                Some(arn)
            }
        };
        let failure_queue_url = env.required(
            "WARDEN_FAILURE_QUEUE_URL",
            "the SQS queue URL that receives malformed records",
        )?;
        if !failure_queue_url.starts_with("https://") && !failure_queue_url.starts_with("http://") {
            return Err(invalid(
                "WARDEN_FAILURE_QUEUE_URL",
                &failure_queue_url,
                "expected an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
            ));
        }
        Ok(Config {
            policy: common.policy,
            default_fleet_arn,
            dry_run: env.bool_or("WARDEN_DRY_RUN", true)?,
            concurrency: env.range_or("WARDEN_CONCURRENCY", 8, 1, 64)? as usize,
            caps: match env.get(CAPS_VAR) {
                None => Vec::new(),
                Some(v) => parse_caps(&v)?,
            },
            failure_queue_url,
            deadline_reserve: env.duration_or("WARDEN_DEADLINE_RESERVE", REPORT_RESERVE)?,
            max_attempts: common.max_attempts,
            state_table: match env.get(STATE_TABLE_VAR) {
                None => None,
                Some(v) => Some(StateTable::parse(&v)?),
            },
            budgets: match env.get(BUDGETS_VAR) {
                None => Vec::new(),
                Some(v) => parse_budgets(&v)?,
            },
            notify: NotifySettings::from_env(env)?,
            limits: Limits {
                max_events_per_record: env.range_or(
                    MAX_EVENTS_VAR,
                    MAX_EVENTS_PER_RECORD as u64,
                    1,
                    1_000_000,
                )? as usize,
                max_inflated_per_batch: match env.get(MAX_INFLATED_BATCH_VAR) {
                    None => MAX_INFLATED_BYTES_PER_BATCH,
                    Some(v) => parse_size(MAX_INFLATED_BATCH_VAR, &v)?,
                },
                ..Limits::default()
            },
        })
    }

    /// Loads and compiles the policy, then applies the `WARDEN_CAPS`
    /// overrides. A policy with a threshold rule needs `WARDEN_STATE_TABLE`
    /// (windows are counted across invocations in the state store): without
    /// it this refuses, naming the variable and the rules.
    pub fn load_policy(&self) -> Result<Policy, ConfigError> {
        let mut policy = self.policy.load()?;
        apply_caps(&mut policy, &self.caps);
        if self.state_table.is_none() && !self.budgets.is_empty() {
            return Err(EnvError::Missing {
                name: STATE_TABLE_VAR.into(),
                expected: format!(
                    "the DynamoDB state table, or `memory:` for a local run; {BUDGETS_VAR} counts across invocations"
                ),
            }
            .into());
        }
        if self.state_table.is_none() {
            let rules: Vec<&str> = policy
                .rules
                .iter()
                .filter(|r| r.threshold.is_some())
                .map(|r| r.name.as_str())
                .collect();
            if !rules.is_empty() {
                return Err(EnvError::Missing {
                    name: STATE_TABLE_VAR.into(),
                    expected: format!(
                        "the DynamoDB state table, or `memory:` for a local run; \
                         the threshold rule(s) {} of {} count across invocations",
                        rules.join(", "),
                        policy.source
                    ),
                }
                .into());
            }
        }
        if self.state_table.is_none() && !policy.settings.budgets.is_empty() {
            return Err(StateTable::missing(format!(
                "the `budgets:` of {} count across invocations",
                policy.source
            ))
            .into());
        }
        Ok(policy)
    }

    /// The pipeline's settings.
    pub fn processor_config(&self) -> ProcessorConfig {
        ProcessorConfig {
            default_fleet_arn: self.default_fleet_arn.clone(),
            dry_run: self.dry_run,
            limits: self.limits,
            budgets: self.budgets.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::shell::DEFAULT_POLICY;

    use warden_core::env::from_pairs as env;

    const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/warden-failures";

    #[test]
    fn defaults_are_safe() {
        let c = Config::from_env(&env(&[
            ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
            ("WARDEN_STATE_TABLE", "memory:"),
        ]))
        .unwrap();
        assert_eq!(c.state_table, Some(StateTable::Memory));
        assert_eq!(c.policy, PolicySource::Embedded);
        assert!(c.dry_run, "dry-run unless told otherwise");
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.deadline_reserve, REPORT_RESERVE);
        assert_eq!(c.max_attempts, 5);
        assert!(c.caps.is_empty());
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.limits.max_events_per_record, 10_000);
        assert_eq!(c.limits.max_inflated_per_batch, 64 << 20);
        assert_eq!(c.processor_config().limits, c.limits);
        let policy = c.load_policy().unwrap();
        assert!(policy.rule("repeated-failed-sign-ins").is_some());
    }

    #[test]
    fn every_variable_is_read_and_validated() {
        let c = Config::from_env(&env(&[
            ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
            ("WARDEN_POLICY_FILE", "policy.yaml"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            (
                "WARDEN_DEFAULT_FLEET_ARN",
                "arn:aws:worklink::123456789012:fleet/corp",
            ),
            ("WARDEN_DRY_RUN", "false"),
            ("WARDEN_CONCURRENCY", "16"),
            (
                "WARDEN_CAPS",
                "sign-out-user=200, revoke-domain=10,default=50%",
            ),
            ("WARDEN_DEADLINE_RESERVE", "2s"),
            ("AWS_MAX_ATTEMPTS", "3"),
            ("WARDEN_MAX_EVENTS_PER_RECORD", "500"),
            ("WARDEN_MAX_INFLATED_BYTES_PER_BATCH", "32MiB"),
            ("WARDEN_STATE_TABLE", "euc-warden-StateTable-1A2B3C"),
            ("WARDEN_BUDGETS", "sign-out-user=10/1h, revoke-domain=2/30m"),
        ]))
        .unwrap();
        assert_eq!(
            c.processor_config().budgets,
            vec![
                Budget {
                    kind: ActionKind::SignOutUser,
                    max: 10,
                    per: jiff::SignedDuration::from_hours(1)
                },
                Budget {
                    kind: ActionKind::RevokeDomain,
                    max: 2,
                    per: jiff::SignedDuration::from_mins(30)
                },
            ]
        );
        assert_eq!(
            c.state_table,
            Some(StateTable::Dynamo("euc-warden-StateTable-1A2B3C".into()))
        );
        assert_eq!(c.limits.max_events_per_record, 500);
        assert_eq!(c.limits.max_inflated_per_batch, 32 << 20);
        assert_eq!(c.processor_config().limits.max_events_per_record, 500);
        assert_eq!(c.policy, PolicySource::File("/var/task/policy.yaml".into()));
        assert!(!c.dry_run);
        assert_eq!(c.concurrency, 16);
        assert_eq!(c.deadline_reserve, Duration::from_secs(2));
        assert_eq!(c.max_attempts, 3);
        assert_eq!(
            c.caps,
            vec![
                (Some(ActionKind::SignOutUser), CapOverride::Max(200)),
                (Some(ActionKind::RevokeDomain), CapOverride::Max(10)),
                (None, CapOverride::Percent(50.0)),
            ]
        );

        let untouched = Policy::from_yaml_str(DEFAULT_POLICY, "default.yaml").unwrap();
        let mut policy = Policy::from_yaml_str(DEFAULT_POLICY, "default.yaml").unwrap();
        apply_caps(&mut policy, &c.caps);
        assert_eq!(policy.settings.cap(ActionKind::SignOutUser).max, Some(200));
        assert_eq!(policy.settings.cap(ActionKind::RevokeDomain).max, Some(10));
        assert_eq!(policy.settings.default_cap.max_percent, Some(50.0));
        // A kind the policy caps itself, and the override does not name,
        // keeps the policy's own cap (the `default` override does not win).
        assert_eq!(
            policy.settings.cap(ActionKind::DeleteInstance),
            untouched.settings.cap(ActionKind::DeleteInstance)
        );
        assert_ne!(
            policy.settings.cap(ActionKind::DeleteInstance),
            policy.settings.default_cap
        );
    }

    /// expire-sessions (Secure Browser) takes caps and budgets by its
    /// name like every kind; the default policy caps it itself.
    #[test]
    fn expire_sessions_has_caps_and_budgets() {
        assert_eq!(
            parse_budgets("expire-sessions=5/1h").unwrap(),
            vec![Budget {
                kind: ActionKind::ExpireSessions,
                max: 5,
                per: jiff::SignedDuration::from_hours(1)
            }]
        );
        let caps = parse_caps("expire-sessions=3").unwrap();
        assert_eq!(
            caps,
            vec![(Some(ActionKind::ExpireSessions), CapOverride::Max(3))]
        );
        let mut policy = Policy::from_yaml_str(DEFAULT_POLICY, "default.yaml").unwrap();
        assert_eq!(
            policy.settings.cap(ActionKind::ExpireSessions).max,
            Some(25)
        );
        apply_caps(&mut policy, &caps);
        assert_eq!(policy.settings.cap(ActionKind::ExpireSessions).max, Some(3));
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "WARDEN_FAILURE_QUEUE_URL is required"),
            (
                &[("WARDEN_FAILURE_QUEUE_URL", "warden-dlq")],
                "WARDEN_FAILURE_QUEUE_URL=\"warden-dlq\"",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_DRY_RUN", "perhaps"),
                ],
                "WARDEN_DRY_RUN=\"perhaps\"",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_CONCURRENCY", "0"),
                ],
                "between 1 and 64",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_DEFAULT_FLEET_ARN", "corp"),
                ],
                "WARDEN_DEFAULT_FLEET_ARN=\"corp\"",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_CAPS", "sign-out=5"),
                ],
                "`sign-out` is not an action kind",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_CAPS", "sign-out-user=lots"),
                ],
                "not a whole number",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_CAPS", "revoke-domain=150%"),
                ],
                "between 0 and 100",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_MAX_EVENTS_PER_RECORD", "0"),
                ],
                "WARDEN_MAX_EVENTS_PER_RECORD=\"0\"",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_MAX_INFLATED_BYTES_PER_BATCH", "64MB"),
                ],
                "unknown unit `MB`",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_MAX_INFLATED_BYTES_PER_BATCH", "1024"),
                ],
                "between 1MiB and 1GiB",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_BUDGETS", "sign-out-user=10"),
                ],
                "`sign-out-user=10`: expected MAX/PERIOD",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_BUDGETS", "sign-out=10/1h"),
                ],
                "`sign-out` is not an action kind",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_STATE_TABLE", "#poison#"),
                ],
                "WARDEN_STATE_TABLE=\"#poison#\" is invalid: expected a DynamoDB table name",
            ),
            (
                &[
                    ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
                    ("WARDEN_STATE_TABLE", "memory:x"),
                ],
                "or `memory:`",
            ),
        ];
        for (vars, expected) in cases {
            let err = Config::from_env(&env(vars)).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }

    #[test]
    fn threshold_rules_need_the_state_table() {
        // The default policy has threshold rules: unset refuses, naming the
        // variable and the rules.
        let c = Config::from_env(&env(&[("WARDEN_FAILURE_QUEUE_URL", QUEUE)])).unwrap();
        assert_eq!(c.state_table, None);
        let err = c.load_policy().unwrap_err().to_string();
        assert!(
            err.starts_with("environment variable WARDEN_STATE_TABLE is required"),
            "{err}"
        );
        assert!(err.contains("repeated-failed-sign-ins"), "{err}");
        // A policy without threshold rules needs no state.
        let dir = std::env::temp_dir().join(format!("audit-stream-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("plain.yaml");
        std::fs::write(
            &file,
            "rules:\n  - name: deny\n    on: audit-event\n    where: { user: { in: [mallory] } }\n    actions: [sign-out-user]\n",
        )
        .unwrap();
        let c = Config::from_env(&env(&[
            ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
            ("WARDEN_POLICY_FILE", file.to_str().unwrap()),
        ]))
        .unwrap();
        c.load_policy().unwrap();
        // Budgets need it too.
        let c = Config::from_env(&env(&[
            ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
            ("WARDEN_POLICY_FILE", file.to_str().unwrap()),
            ("WARDEN_BUDGETS", "sign-out-user=10/1h"),
        ]))
        .unwrap();
        let err = c.load_policy().unwrap_err().to_string();
        assert!(err.contains("WARDEN_STATE_TABLE is required"), "{err}");
        assert!(err.contains("WARDEN_BUDGETS"), "{err}");
        // And the policy's own `budgets:`.
        let budgeted = dir.join("budgeted.yaml");
        std::fs::write(
            &budgeted,
            "budgets:\n  sign-out-user: { max: 5, per: 1h }\nrules:\n  - name: deny\n    on: audit-event\n    where: { user: { in: [mallory] } }\n    actions: [sign-out-user]\n",
        )
        .unwrap();
        let c = Config::from_env(&env(&[
            ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
            ("WARDEN_POLICY_FILE", budgeted.to_str().unwrap()),
        ]))
        .unwrap();
        let err = c.load_policy().unwrap_err().to_string();
        assert!(
            err.contains("WARDEN_STATE_TABLE is required") && err.contains("`budgets:`"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_missing_policy_file_is_named() {
        let c = Config::from_env(&env(&[
            ("WARDEN_FAILURE_QUEUE_URL", QUEUE),
            ("WARDEN_POLICY_FILE", "/nonexistent/warden.yaml"),
        ]))
        .unwrap();
        let err = c.load_policy().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/warden.yaml"), "{err}");
    }
}
