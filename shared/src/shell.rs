//! The function shell: what every function's `main` does the same way.
//!
//! * [`CommonSettings`]: the variables every function reads once at cold
//!   start: the policy file (`WARDEN_POLICY_FILE`, relative paths resolved
//!   against `LAMBDA_TASK_ROOT`) and the SDK's attempts per call
//!   (`WARDEN_MAX_ATTEMPTS`; the old `AWS_MAX_ATTEMPTS` still works, with a
//!   deprecation warning in the log).
//! * [`DEFAULT_POLICY`]: `policies/default.yaml`, embedded once here for
//!   every binary and the CLI.
//! * [`init_logging`]: JSON log lines on stdout (feature `aws`).
//! * [`start`]: runs a function's cold-start initialisation; on failure it
//!   logs `<function> cannot start` and reports the error to the Runtime
//!   API's `/init/error` through lambda_runtime's own client (feature `aws`).
//!
//! A `main` is then: `init_logging()`, `start(FUNCTION, init())`, then
//! `lambda_runtime::run`.

use std::path::{Path, PathBuf};

use crate::env::{Env, EnvError};
use crate::policy::Policy;

/// `policies/default.yaml`, compiled into every binary: the policy a
/// function uses when `WARDEN_POLICY_FILE` is unset.
pub const DEFAULT_POLICY: &str = include_str!("../../policies/default.yaml");

/// The name the embedded default policy goes by in logs and errors.
pub const DEFAULT_POLICY_NAME: &str = "policies/default.yaml (embedded)";

/// The variable naming the policy file.
pub const POLICY_FILE_VAR: &str = "WARDEN_POLICY_FILE";
/// The variable holding the SDK's attempts per call.
pub const MAX_ATTEMPTS_VAR: &str = "WARDEN_MAX_ATTEMPTS";
/// The deprecated name of [`MAX_ATTEMPTS_VAR`] (audit-stream's old one).
pub const DEPRECATED_MAX_ATTEMPTS_VAR: &str = "AWS_MAX_ATTEMPTS";
/// Attempts per SDK call when neither variable is set.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Compiles the embedded default policy.
pub fn default_policy() -> Result<Policy, crate::PolicyErrors> {
    Policy::from_yaml_str(DEFAULT_POLICY, DEFAULT_POLICY_NAME)
}

/// Where the policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// [`DEFAULT_POLICY`], compiled into the binary.
    Embedded,
    /// A file (a relative `WARDEN_POLICY_FILE` is resolved against
    /// `LAMBDA_TASK_ROOT`, the function's code directory on Lambda).
    File(PathBuf),
}

/// A policy that does not load: the message names the variable and file
/// (or the embedded policy) and every problem, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyLoadError(pub String);

impl PolicySource {
    /// Loads and compiles the policy.
    pub fn load(&self) -> Result<Policy, PolicyLoadError> {
        match self {
            PolicySource::Embedded => default_policy()
                .map_err(|e| PolicyLoadError(format!("embedded policies/default.yaml: {e}"))),
            PolicySource::File(path) => Policy::from_file(path)
                .map_err(|e| PolicyLoadError(format!("{POLICY_FILE_VAR}={}: {e}", path.display()))),
        }
    }
}

/// The settings every function reads, once, at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonSettings {
    /// `WARDEN_POLICY_FILE`.
    pub policy: PolicySource,
    /// `WARDEN_MAX_ATTEMPTS` (or the deprecated `AWS_MAX_ATTEMPTS`), 1 to
    /// 10, default 5: the SDK's attempts per call, the first included.
    pub max_attempts: u32,
    /// Deprecated variables found, each with what to use instead (already
    /// logged as warnings by [`CommonSettings::from_env`]).
    pub deprecations: Vec<String>,
}

impl CommonSettings {
    /// Reads and checks the common variables; errors name the variable.
    /// A deprecated variable in use is logged as a warning (and kept in
    /// [`CommonSettings::deprecations`]).
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, EnvError> {
        let policy = match env.get(POLICY_FILE_VAR) {
            None => PolicySource::Embedded,
            Some(p) => PolicySource::File(resolve(Path::new(&p), env.get("LAMBDA_TASK_ROOT"))),
        };
        let mut deprecations = Vec::new();
        let max_attempts = match (
            env.get(MAX_ATTEMPTS_VAR),
            env.get(DEPRECATED_MAX_ATTEMPTS_VAR),
        ) {
            (Some(_), old) => {
                if old.is_some() {
                    deprecations.push(format!(
                        "{DEPRECATED_MAX_ATTEMPTS_VAR} is deprecated and ignored: {MAX_ATTEMPTS_VAR} is set; remove {DEPRECATED_MAX_ATTEMPTS_VAR}"
                    ));
                }
                env.range_or(MAX_ATTEMPTS_VAR, DEFAULT_MAX_ATTEMPTS.into(), 1, 10)?
            }
            (None, Some(_)) => {
                deprecations.push(format!(
                    "{DEPRECATED_MAX_ATTEMPTS_VAR} is deprecated: rename it {MAX_ATTEMPTS_VAR}"
                ));
                env.range_or(
                    DEPRECATED_MAX_ATTEMPTS_VAR,
                    DEFAULT_MAX_ATTEMPTS.into(),
                    1,
                    10,
                )?
            }
            (None, None) => DEFAULT_MAX_ATTEMPTS.into(),
        } as u32;
        for d in &deprecations {
            tracing::warn!(deprecated = DEPRECATED_MAX_ATTEMPTS_VAR, "{d}");
        }
        Ok(CommonSettings {
            policy,
            max_attempts,
            deprecations,
        })
    }

    /// Loads and compiles the policy.
    pub fn load_policy(&self) -> Result<Policy, PolicyLoadError> {
        self.policy.load()
    }
}

fn resolve(path: &Path, task_root: Option<String>) -> PathBuf {
    match task_root {
        Some(root) if path.is_relative() => PathBuf::from(root).join(path),
        _ => path.to_path_buf(),
    }
}

#[cfg(feature = "aws")]
pub use lambda::*;

#[cfg(feature = "aws")]
mod lambda {
    use std::fmt::Display;
    use std::future::Future;

    use tracing_subscriber::EnvFilter;

    /// The `errorType` a cold-start failure is reported under.
    pub const INIT_ERROR_TYPE: &str = "Runtime.ConfigError";

    /// Installs the JSON log subscriber: one object per line on stdout
    /// (CloudWatch Logs Insights can query the fields) with `timestamp`,
    /// `requestId`, `xrayTraceId` and `cold_start` (see
    /// [`crate::aws::logline`]), level from
    /// `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls) or
    /// `WARDEN_LOG_LEVEL`, default `info`. Later calls are no-ops (tests).
    pub fn init_logging() {
        let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
            .or_else(|_| std::env::var("WARDEN_LOG_LEVEL"))
            .unwrap_or_else(|_| "info".into())
            .to_ascii_lowercase();
        let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
        // lambda_runtime's per-invocation span stays enabled at any level:
        // every line carries its request id (crate::aws::logline).
        let filter = match format!("{}=info", crate::aws::logline::INVOKE_SPAN_TARGET).parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        };
        let _ = tracing_subscriber::fmt()
            .json()
            .event_format(crate::aws::logline::LambdaJson::new())
            .with_env_filter(filter)
            .try_init();
    }

    /// Runs a function's cold-start initialisation. On failure it logs
    /// `<function> cannot start` with the error, reports it to the Runtime
    /// API's `/init/error` (so Lambda and the local Runtime API show why),
    /// and returns it for `main` to exit with.
    pub async fn start<T, E: Display>(
        function: &str,
        init: impl Future<Output = Result<T, E>>,
    ) -> Result<T, lambda_runtime::Error> {
        match init.await {
            Ok(state) => Ok(state),
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, "{function} cannot start");
                report_init_error(INIT_ERROR_TYPE, &message).await;
                Err(message.into())
            }
        }
    }

    /// Reports an initialisation error to `/2018-06-01/runtime/init/error`
    /// of the Runtime API at `AWS_LAMBDA_RUNTIME_API`, through
    /// lambda_runtime's own client. Best effort: without the variable (not
    /// under Lambda) nothing is sent; a failed report is logged.
    pub async fn report_init_error(error_type: &str, message: &str) {
        let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
            return;
        };
        if let Err(e) = send_init_error(&api, error_type, message).await {
            tracing::warn!(error = %e, runtime_api = %api, "cannot report the init error to the Runtime API");
        }
    }

    async fn send_init_error(
        api: &str,
        error_type: &str,
        message: &str,
    ) -> Result<(), lambda_runtime::Error> {
        let endpoint: http::Uri = api
            .parse()
            .map_err(|e| format!("AWS_LAMBDA_RUNTIME_API={api:?}: {e}"))?;
        let client = lambda_runtime_api_client::Client::builder()
            .with_endpoint(endpoint)
            .build()?;
        let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri("/2018-06-01/runtime/init/error")
            .header("content-type", "application/json")
            .header("lambda-runtime-function-error-type", error_type)
            .body(lambda_runtime_api_client::body::Body::from(
                serde_json::to_vec(&body)?,
            ))?;
        let response = client.call(request).await?;
        if !response.status().is_success() {
            return Err(format!("/init/error answered {}", response.status()).into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::from_pairs as env;

    #[test]
    fn defaults_and_policy_paths() {
        let s = CommonSettings::from_env(&env(&[])).unwrap();
        assert_eq!(s.policy, PolicySource::Embedded);
        assert_eq!(s.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert!(s.deprecations.is_empty());
        assert!(s
            .load_policy()
            .unwrap()
            .has_rules_for(crate::OnKind::Instance));

        let s = CommonSettings::from_env(&env(&[
            ("WARDEN_POLICY_FILE", "policies/p.yaml"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
        ]))
        .unwrap();
        assert_eq!(
            s.policy,
            PolicySource::File("/var/task/policies/p.yaml".into())
        );
        let s = CommonSettings::from_env(&env(&[
            ("WARDEN_POLICY_FILE", "/opt/p.yaml"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
        ]))
        .unwrap();
        assert_eq!(s.policy, PolicySource::File("/opt/p.yaml".into()));
        let e = s.load_policy().unwrap_err().to_string();
        assert!(e.starts_with("WARDEN_POLICY_FILE=/opt/p.yaml: "), "{e}");
    }

    #[test]
    fn max_attempts_has_one_name_and_the_old_one_still_works() {
        let s = CommonSettings::from_env(&env(&[("WARDEN_MAX_ATTEMPTS", "3")])).unwrap();
        assert_eq!((s.max_attempts, s.deprecations.len()), (3, 0));

        let s = CommonSettings::from_env(&env(&[("AWS_MAX_ATTEMPTS", "2")])).unwrap();
        assert_eq!(s.max_attempts, 2);
        assert_eq!(s.deprecations.len(), 1);
        assert!(
            s.deprecations[0].contains("WARDEN_MAX_ATTEMPTS"),
            "{:?}",
            s.deprecations
        );

        let s = CommonSettings::from_env(&env(&[
            ("WARDEN_MAX_ATTEMPTS", "4"),
            ("AWS_MAX_ATTEMPTS", "9"),
        ]))
        .unwrap();
        assert_eq!(s.max_attempts, 4, "the new name wins");
        assert!(
            s.deprecations[0].contains("ignored"),
            "{:?}",
            s.deprecations
        );

        for (var, value) in [("WARDEN_MAX_ATTEMPTS", "0"), ("AWS_MAX_ATTEMPTS", "11")] {
            let e = CommonSettings::from_env(&env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(var) && e.contains("between 1 and 10"), "{e}");
        }
    }
}
