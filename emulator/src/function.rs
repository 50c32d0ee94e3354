//! A function binary run as a Lambda process under the local Runtime API
//! ([`crate::runtime_api`]): the one harness every test and benchmark that
//! starts a real `bootstrap` uses.
//!
//! The environment is hermetic by default: nothing is inherited from the
//! developer's shell, the Lambda variables and test credentials are set as
//! Lambda would (never a real profile: `AWS_CONFIG_FILE` and
//! `AWS_SHARED_CREDENTIALS_FILE` point at `/dev/null`, instance metadata is
//! off), and the caller adds the function's own variables and loopback
//! endpoints. Stdout and stderr are collected line by line ([`Output`]); the
//! process is killed when the harness is dropped, also when a test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::output::Output;
use crate::runtime_api::{self, RunningRuntimeApi, RuntimeApiError};

/// What to start and with which environment.
#[derive(Debug, Clone)]
pub struct Launch {
    binary: PathBuf,
    name: String,
    memory_mb: u32,
    vars: Vec<(String, String)>,
    hermetic: bool,
}

impl Launch {
    /// `binary` as the function `name`, 256 MB, hermetic environment.
    pub fn new(binary: impl AsRef<Path>, name: &str) -> Launch {
        Launch {
            binary: binary.as_ref().to_path_buf(),
            name: name.to_owned(),
            memory_mb: 256,
            vars: Vec::new(),
            hermetic: true,
        }
    }

    /// The `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` the function is told.
    pub fn memory_mb(mut self, mb: u32) -> Launch {
        self.memory_mb = mb;
        self
    }

    /// Sets one variable (after the defaults, so it may replace one).
    pub fn var(mut self, name: &str, value: impl Into<String>) -> Launch {
        self.vars.push((name.to_owned(), value.into()));
        self
    }

    /// Sets every pair (see [`Launch::var`]).
    pub fn vars<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Launch {
        for (k, v) in vars {
            self.vars
                .push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        }
        self
    }

    /// Exactly the given variables plus the Runtime API address: no test
    /// credentials, no Lambda variables (the template test computes them
    /// itself, as Lambda would from the template).
    pub fn exact(mut self) -> Launch {
        self.hermetic = false;
        self
    }

    fn command(&self, runtime_api: &str) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear();
        if self.hermetic {
            cmd.env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env(
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                    self.memory_mb.to_string(),
                )
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "AKIDLOCALTEST")
                .env("AWS_SECRET_ACCESS_KEY", "local-test-secret")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_CONFIG_FILE", "/dev/null")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd.env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

/// How initialisation ended.
#[derive(Debug)]
pub enum Init {
    /// The function asked for its first event this long after its start.
    Ready(Duration),
    /// It reported an init error or exited before asking: why, and what it
    /// wrote.
    Failed(String),
    /// It did neither in time.
    TimedOut(Duration),
}

/// A running function process; killed when dropped.
pub struct FunctionProcess {
    /// The Runtime API it polls: invoke it through this.
    pub api: RunningRuntimeApi,
    child: Child,
    /// When the process was spawned.
    pub spawned: Instant,
    /// Stdout: JSON log lines and EMF documents.
    pub stdout: Output,
    /// Stderr, read so the pipe never fills.
    pub stderr: Output,
}

impl FunctionProcess {
    /// Starts a Runtime API on a free loopback port and the process under
    /// it; returns at once (see [`FunctionProcess::init`]).
    pub async fn spawn(launch: &Launch) -> Result<FunctionProcess, RuntimeApiError> {
        let api = runtime_api::start_local().await?;
        let mut child = launch.command(&api.address()).spawn().map_err(|e| {
            RuntimeApiError::InitError(format!("cannot start {}: {e}", launch.binary.display()))
        })?;
        let (stdout, stderr) = (Output::new(), Output::new());
        if let Some(pipe) = child.stdout.take() {
            stdout.collect(pipe);
        }
        if let Some(pipe) = child.stderr.take() {
            stderr.collect(pipe);
        }
        Ok(FunctionProcess {
            api,
            child,
            spawned: Instant::now(),
            stdout,
            stderr,
        })
    }

    /// Spawns and waits for the cold start to end: the process once it asked
    /// for its first event, or the init error with every line it wrote.
    pub async fn start(
        launch: &Launch,
        timeout: Duration,
    ) -> Result<FunctionProcess, (RuntimeApiError, Vec<String>)> {
        let mut p = FunctionProcess::spawn(launch)
            .await
            .map_err(|e| (e, Vec::new()))?;
        match p.api.wait_ready(timeout).await {
            Ok(_) => Ok(p),
            Err(e) => {
                let _ = p.child.kill();
                let _ = p.child.wait();
                Err((e, p.output_after_exit()))
            }
        }
    }

    /// Waits for the first `invocation/next`, an init error, or an exit.
    pub async fn init(&mut self, timeout: Duration) -> Init {
        loop {
            match self.api.wait_ready(Duration::ZERO).await {
                Ok(first_next) => {
                    return Init::Ready(first_next.saturating_duration_since(self.spawned))
                }
                Err(RuntimeApiError::InitError(e)) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Init::Failed(format!(
                        "init error {e}\n{}",
                        self.output_after_exit().join("\n")
                    ));
                }
                Err(_) => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Init::Failed(format!(
                    "{}\n{}",
                    describe(status),
                    self.output_after_exit().join("\n")
                ));
            }
            if self.spawned.elapsed() > timeout {
                return Init::TimedOut(timeout);
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit by itself. Async, so
    /// the Runtime API (a task on the caller's runtime) keeps answering the
    /// process meanwhile, also on a current-thread runtime.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Stdout then stderr, as far as they arrived.
    pub fn output(&self) -> Vec<String> {
        let mut lines = self.stdout.lines();
        lines.extend(self.stderr.lines());
        lines
    }

    /// Stdout then stderr, read to the end (the process has exited).
    pub fn output_after_exit(&self) -> Vec<String> {
        let mut lines = self.stdout.lines_after_exit();
        lines.extend(self.stderr.lines_after_exit());
        lines
    }

    /// Stdout lines parsed as JSON (log lines and EMF documents), once
    /// `arrived` holds for them (see [`Output::lines_once`]; up to 10 s).
    pub async fn json_lines_once(
        &self,
        arrived: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let parse = |lines: &[String]| -> Vec<serde_json::Value> {
            lines
                .iter()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        };
        let lines = self
            .stdout
            .lines_once(|ls| arrived(&parse(ls)), Duration::from_secs(10))
            .await;
        parse(&lines)
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exited with status {c}"),
        None => format!("ended by {status}"),
    }
}
