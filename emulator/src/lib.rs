//! Local emulator for Amazon WorkLink, Amazon WorkSpaces Instances and
//! Amazon WorkSpaces Secure Browser.
//!
//! It speaks the real wire protocols closely enough that the real
//! `aws-sdk-worklink`, `aws-sdk-workspacesinstances` and
//! `aws-sdk-workspacesweb` crates (and boto3), pointed at it with
//! `endpoint_url`, cannot tell the difference:
//!
//! * WorkLink: REST-JSON, `POST /signOutUser` and friends, errors in the
//!   `x-amzn-ErrorType` header and the `__type` body field.
//! * WorkSpaces Instances: Smithy RPC v2 CBOR,
//!   `POST /service/EUCMIFrontendAPIService/operation/<Operation>` (the Rust
//!   SDK), and awsJson1_0, `POST /` with
//!   `X-Amz-Target: EUCMIFrontendAPIService.<Operation>` (boto3, the AWS
//!   CLI); one state behind both.
//! * WorkSpaces Secure Browser (`workspaces-web`): REST-JSON, `GET /portals`,
//!   `DELETE /portals/{portalId}/sessions/{sessionId}` and friends.
//!
//! Besides the services it serves an admin API under `/_emulator/`
//! (load/dump state, the call log, fault injection, the clock); see
//! [`admin`]. Everything is also reachable in-process through [`Shared`].

#![forbid(unsafe_code)]

pub mod admin;
mod check;
pub mod clock;
pub mod faults;
pub mod function;
pub mod log;
pub mod moto;
pub mod output;
pub mod runtime_api;
pub mod stub;
pub mod web;
pub mod worklink;
pub mod wsi;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

pub use clock::Clock;
pub use faults::{FaultRule, Faults, FaultsConfig, Injected};
pub use log::{CallLog, CallRecord};

/// Which emulated service a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    #[serde(rename = "worklink")]
    WorkLink,
    #[serde(rename = "workspaces-instances")]
    WorkspacesInstances,
    #[serde(rename = "workspaces-web")]
    WorkspacesWeb,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::WorkLink => "worklink",
            Service::WorkspacesInstances => "workspaces-instances",
            Service::WorkspacesWeb => "workspaces-web",
        }
    }
}

/// Error loading a fixture or starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot read fixture {path}: {cause}")]
    ReadFixture { path: String, cause: std::io::Error },
    /// `at` is the JSON path of the offending value, e.g.
    /// `workspaces_instances.instances[3].provision_state`.
    #[error("invalid fixture {path}: at `{at}`: {cause}")]
    ParseFixture {
        path: String,
        at: String,
        cause: serde_json::Error,
    },
    #[error("invalid fixture: {0}")]
    InvalidFixture(String),
    #[error("cannot bind {addr}: {cause}")]
    Bind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
}

/// The whole emulator state as a JSON document: what a fixture file holds and
/// what `GET /_emulator/state` returns. Loading a dump gives the same state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// The emulator's clock. Absent: the clock follows real time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultsConfig>,
    #[serde(default)]
    pub worklink: worklink::State,
    #[serde(default)]
    pub workspaces_instances: wsi::State,
    #[serde(default)]
    pub workspaces_web: web::State,
}

impl Fixture {
    /// Reads and parses a fixture file, naming the file in any error.
    pub fn from_file(path: &std::path::Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path).map_err(|cause| EmulatorError::ReadFixture {
            path: path.display().to_string(),
            cause,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a fixture document given inline.
    pub fn from_json(text: &str) -> Result<Self, EmulatorError> {
        Self::parse(text, "<inline>")
    }

    fn parse(text: &str, path: &str) -> Result<Self, EmulatorError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let fixture: Fixture =
            serde_path_to_error::deserialize(de).map_err(|e| EmulatorError::ParseFixture {
                path: path.to_string(),
                at: e.path().to_string(),
                cause: e.into_inner(),
            })?;
        fixture.validate()?;
        Ok(fixture)
    }

    fn validate(&self) -> Result<(), EmulatorError> {
        if let Some(f) = &self.faults {
            f.validate().map_err(EmulatorError::InvalidFixture)?;
        }
        self.worklink
            .validate()
            .map_err(EmulatorError::InvalidFixture)?;
        self.workspaces_instances
            .validate()
            .map_err(EmulatorError::InvalidFixture)?;
        self.workspaces_web
            .validate()
            .map_err(EmulatorError::InvalidFixture)?;
        Ok(())
    }
}

/// State shared by every request handler, and by tests in-process.
pub struct Shared {
    pub clock: Clock,
    pub faults: Faults,
    pub calls: CallLog,
    worklink: Mutex<worklink::State>,
    wsi: Mutex<wsi::State>,
    web: Mutex<web::State>,
}

impl Shared {
    pub fn new(fixture: Fixture) -> Self {
        let clock = Clock::new(fixture.clock);
        let faults = Faults::new(fixture.faults.unwrap_or_default());
        Shared {
            clock,
            faults,
            calls: CallLog::default(),
            worklink: Mutex::new(fixture.worklink),
            wsi: Mutex::new(fixture.workspaces_instances),
            web: Mutex::new(fixture.workspaces_web),
        }
    }

    /// The WorkLink state. A poisoned lock (a handler panicked) is recovered:
    /// the emulator keeps serving rather than failing every later call.
    pub fn worklink(&self) -> MutexGuard<'_, worklink::State> {
        self.worklink.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The WorkSpaces Instances state.
    pub fn wsi(&self) -> MutexGuard<'_, wsi::State> {
        self.wsi.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The WorkSpaces Secure Browser state.
    pub fn web(&self) -> MutexGuard<'_, web::State> {
        self.web.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the whole state with a fixture (the call log is kept).
    pub fn load(&self, fixture: Fixture) {
        self.clock.set(fixture.clock);
        self.faults.set(fixture.faults.unwrap_or_default());
        *self.worklink() = fixture.worklink;
        *self.wsi() = fixture.workspaces_instances;
        *self.web() = fixture.workspaces_web;
    }

    /// The whole state as a fixture document.
    pub fn dump(&self) -> Fixture {
        Fixture {
            clock: self.clock.fixed(),
            faults: Some(self.faults.config()),
            worklink: self.worklink().clone(),
            workspaces_instances: self.wsi().clone(),
            workspaces_web: self.web().clone(),
        }
    }

    /// Appends one call to the call log, stamped with the emulator clock.
    pub fn record(&self, call: log::Call) {
        self.calls.record(self.clock.now(), call);
    }

    /// Applies fault injection for one call: sleeps the configured latency,
    /// then says whether to answer with an injected error instead.
    pub async fn inject(&self, service: Service, operation: &str) -> Option<Injected> {
        let decision = self.faults.decide(service, operation);
        if !decision.latency.is_zero() {
            tokio::time::sleep(decision.latency).await;
        }
        decision.inject
    }
}

/// An HTTP request as the service handlers see it.
pub struct EmuRequest {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl EmuRequest {
    pub fn path(&self) -> &str {
        self.uri.path()
    }
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }
}

/// The emulator, not yet listening.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

impl Emulator {
    pub fn new(fixture: Fixture) -> Self {
        Emulator {
            shared: Arc::new(Shared::new(fixture)),
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The axum router serving the three services and the admin API.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(dispatch)
            .with_state(self.shared.clone())
    }

    /// Binds `addr` (port 0 picks a free port) and serves in the background
    /// until the returned handle is shut down or dropped.
    pub async fn start(self, addr: SocketAddr) -> Result<RunningEmulator, EmulatorError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|cause| EmulatorError::Bind { addr, cause })?;
        let local = listener
            .local_addr()
            .map_err(|cause| EmulatorError::Bind { addr, cause })?;
        let (tx, rx) = oneshot::channel::<()>();
        let router = self.router();
        let task = tokio::spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "emulator server stopped with an error");
            }
        });
        Ok(RunningEmulator {
            addr: local,
            shared: self.shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Starts on a free loopback port.
    pub async fn start_local(self) -> Result<RunningEmulator, EmulatorError> {
        self.start(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }
}

/// A listening emulator. Dropping it stops the server.
pub struct RunningEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningEmulator {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `endpoint_url` to give SDK clients.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until the process receives Ctrl-C / SIGTERM.
    pub async fn serve_until_signal(self) {
        let _ = tokio::signal::ctrl_c().await;
        self.shutdown().await;
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// WorkSpaces Instances' RPC v2 CBOR path prefix.
pub const WSI_PREFIX: &str = "/service/EUCMIFrontendAPIService/operation/";
/// The admin API's path prefix.
pub const ADMIN_PREFIX: &str = "/_emulator/";

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = EmuRequest {
        method,
        uri,
        headers,
        body,
    };
    let path = req.path();
    if path.starts_with(ADMIN_PREFIX) {
        admin::handle(&shared, req).await
    } else if path.starts_with(WSI_PREFIX) {
        wsi::handle(&shared, req).await
    } else if wsi::json::claims(&req) {
        wsi::json::handle(&shared, req).await
    } else if web::claims(&req) {
        web::handle(&shared, req).await
    } else {
        worklink::handle(&shared, req).await
    }
}
