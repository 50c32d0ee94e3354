//! The real `audit-stream` binary as a child process under a local Lambda
//! Runtime API, invoked by the local event-source mapping (`warden run
//! audit-stream --function-binary`, the end-to-end tests).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{FunctionError, Invoke};
use crate::KinesisEventResponse;
use anyhow::Context as _;
use warden_emulator::runtime_api::{self, FunctionResult, RunningRuntimeApi};

/// The real binary, started under a local Runtime API, killed on drop.
pub struct BinaryFunction {
    api: RunningRuntimeApi,
    child: Child,
}

impl BinaryFunction {
    /// Starts `binary` with `vars` (plus the Runtime API address; an empty
    /// value removes the variable) and waits for its cold start to end. The
    /// function's stdout (JSON logs, EMF) goes to our stderr.
    pub async fn start(binary: &Path, vars: &[(String, String)]) -> anyhow::Result<Self> {
        Self::start_with(binary, vars, Stdio::from(std::io::stderr())).await
    }

    /// [`BinaryFunction::start`] with the function's stdout sent to `stdout`.
    pub async fn start_with(
        binary: &Path,
        vars: &[(String, String)],
        stdout: Stdio,
    ) -> anyhow::Result<Self> {
        let api = runtime_api::start_local()
            .await
            .context("start the local Lambda Runtime API")?;
        let mut cmd = Command::new(binary);
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "audit-stream")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit());
        for (k, v) in vars {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let f = BinaryFunction { api, child };
        f.api
            .wait_ready(Duration::from_secs(60))
            .await
            .with_context(|| format!("{} did not start", binary.display()))?;
        Ok(f)
    }
}

impl Drop for BinaryFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Invoke for BinaryFunction {
    async fn invoke(
        &self,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<KinesisEventResponse, FunctionError> {
        let inv = self
            .api
            .invoke(payload, timeout)
            .await
            .map_err(|e| FunctionError {
                error_type: "Sandbox.Timedout".into(),
                message: e.to_string(),
            })?;
        match inv.result {
            FunctionResult::Response(body) => {
                serde_json::from_slice(&body).map_err(|e| FunctionError {
                    error_type: "Runtime.InvalidResponse".into(),
                    message: format!("not a Kinesis batch response: {e}"),
                })
            }
            FunctionResult::Error {
                error_type,
                error_message,
            } => Err(FunctionError {
                error_type,
                message: error_message,
            }),
        }
    }
}
