//! A local Lambda Runtime API (`/2018-06-01/runtime/...`), so a function
//! binary runs as a real process exactly as on Lambda: it polls
//! `invocation/next`, handles the event, and posts a response or an error.
//!
//! Tests, benchmarks (cold start: process start to the first `next`) and the
//! CLI's local event-source mapping all drive functions through it. Set the
//! child's `AWS_LAMBDA_RUNTIME_API` to [`RunningRuntimeApi::address`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{oneshot, Notify};

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionResult {
    /// The response body (JSON as the function serialised it).
    Response(Bytes),
    /// The function reported an error (`invocation/{id}/error`).
    Error {
        error_type: String,
        error_message: String,
    },
}

/// One completed invocation, with its timings.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub result: FunctionResult,
    /// When the function picked the event up (its `next` returned it).
    pub picked_up: Instant,
    /// When its answer arrived.
    pub completed: Instant,
}

impl Invocation {
    /// Time from pick-up to answer: the handler's duration.
    pub fn duration(&self) -> Duration {
        self.completed.saturating_duration_since(self.picked_up)
    }

    /// The response parsed as JSON, or a description of why not.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        match &self.result {
            FunctionResult::Response(b) => {
                serde_json::from_slice(b).map_err(|e| format!("response is not JSON: {e}"))
            }
            FunctionResult::Error {
                error_type,
                error_message,
            } => Err(format!("function error {error_type}: {error_message}")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeApiError {
    #[error("cannot bind the runtime API on {addr}: {cause}")]
    Bind {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("invocation {request_id} got no answer within {timeout:?}")]
    Timeout {
        request_id: String,
        timeout: Duration,
    },
    #[error("the function failed to initialise: {0}")]
    InitError(String),
    #[error("the runtime API stopped before invocation {0} completed")]
    Stopped(String),
}

struct Pending {
    request_id: String,
    payload: Bytes,
    deadline_ms: u128,
    function_arn: String,
}

struct InFlight {
    picked_up: Instant,
    done: oneshot::Sender<Invocation>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<(Pending, oneshot::Sender<Invocation>)>,
    in_flight: HashMap<String, InFlight>,
    first_next: Option<Instant>,
    init_error: Option<String>,
    next_id: u64,
}

#[derive(Default)]
struct ApiState {
    inner: Mutex<Inner>,
    queued: Notify,
    init_failed: Notify,
}

impl ApiState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running runtime API; dropping it stops the server.
pub struct RunningRuntimeApi {
    addr: SocketAddr,
    state: Arc<ApiState>,
    function_arn: String,
    shutdown: Option<oneshot::Sender<()>>,
}

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:local";

/// Starts a runtime API on a free loopback port.
pub async fn start_local() -> Result<RunningRuntimeApi, RuntimeApiError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|cause| RuntimeApiError::Bind { addr, cause })?;
    let local = listener
        .local_addr()
        .map_err(|cause| RuntimeApiError::Bind { addr, cause })?;
    let state = Arc::new(ApiState::default());
    let router = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(RunningRuntimeApi {
        addr: local,
        state,
        function_arn: FUNCTION_ARN.to_string(),
        shutdown: Some(tx),
    })
}

impl RunningRuntimeApi {
    /// The value for the function's `AWS_LAMBDA_RUNTIME_API` variable.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first asked for work: the end of its cold start.
    pub fn first_next(&self) -> Option<Instant> {
        self.state.lock().first_next
    }

    /// Waits until the function first asks for work, or reports an init error.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Instant, RuntimeApiError> {
        let start = Instant::now();
        loop {
            {
                let inner = self.state.lock();
                if let Some(e) = &inner.init_error {
                    return Err(RuntimeApiError::InitError(e.clone()));
                }
                if let Some(t) = inner.first_next {
                    return Ok(t);
                }
            }
            if start.elapsed() > timeout {
                return Err(RuntimeApiError::Timeout {
                    request_id: "<init>".into(),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Queues one event and waits for the function's answer. `timeout` is
    /// also the deadline the function is told (`lambda-runtime-deadline-ms`).
    pub async fn invoke(
        &self,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Invocation, RuntimeApiError> {
        let (tx, rx) = oneshot::channel();
        let request_id = {
            let mut inner = self.state.lock();
            if let Some(e) = &inner.init_error {
                return Err(RuntimeApiError::InitError(e.clone()));
            }
            inner.next_id += 1;
            let request_id = format!("00000000-0000-4000-8000-{:012}", inner.next_id);
            let deadline_ms = (SystemTime::now() + timeout)
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            inner.queue.push_back((
                Pending {
                    request_id: request_id.clone(),
                    payload: payload.into(),
                    deadline_ms,
                    function_arn: self.function_arn.clone(),
                },
                tx,
            ));
            request_id
        };
        self.state.queued.notify_one();
        tokio::select! {
            r = rx => r.map_err(|_| RuntimeApiError::Stopped(request_id)),
            _ = tokio::time::sleep(timeout) => Err(RuntimeApiError::Timeout { request_id, timeout }),
            _ = self.state.init_failed.notified() => Err(RuntimeApiError::InitError(
                self.state.lock().init_error.clone().unwrap_or_default(),
            )),
        }
    }
}

impl Drop for RunningRuntimeApi {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn next(State(state): State<Arc<ApiState>>) -> Response {
    loop {
        // Register interest before checking the queue so no wake-up is lost.
        let notified = state.queued.notified();
        {
            let mut inner = state.lock();
            inner.first_next.get_or_insert_with(Instant::now);
            if let Some((p, done)) = inner.queue.pop_front() {
                inner.in_flight.insert(
                    p.request_id.clone(),
                    InFlight {
                        picked_up: Instant::now(),
                        done,
                    },
                );
                let mut headers = HeaderMap::new();
                let put = |h: &mut HeaderMap, k: &'static str, v: &str| {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        h.insert(k, v);
                    }
                };
                put(&mut headers, "lambda-runtime-aws-request-id", &p.request_id);
                put(
                    &mut headers,
                    "lambda-runtime-deadline-ms",
                    &p.deadline_ms.to_string(),
                );
                put(
                    &mut headers,
                    "lambda-runtime-invoked-function-arn",
                    &p.function_arn,
                );
                put(
                    &mut headers,
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0",
                );
                put(&mut headers, "content-type", "application/json");
                return (StatusCode::OK, headers, p.payload).into_response();
            }
        }
        notified.await;
    }
}

fn complete(state: &ApiState, id: &str, result: FunctionResult) -> Response {
    let Some(flight) = state.lock().in_flight.remove(id) else {
        return (StatusCode::BAD_REQUEST, "unknown request id").into_response();
    };
    let _ = flight.done.send(Invocation {
        request_id: id.to_string(),
        result,
        picked_up: flight.picked_up,
        completed: Instant::now(),
    });
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}

async fn response(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    complete(&state, &id, FunctionResult::Response(body))
}

/// Reads Lambda's error document `{"errorType": ..., "errorMessage": ...}`.
fn parse_error(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error_type = doc["errorType"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Unknown".into());
    let error_message = doc["errorMessage"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, error_message)
}

async fn error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, error_message) = parse_error(&headers, &body);
    complete(
        &state,
        &id,
        FunctionResult::Error {
            error_type,
            error_message,
        },
    )
}

async fn init_error(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, error_message) = parse_error(&headers, &body);
    state.lock().init_error = Some(format!("{error_type}: {error_message}"));
    state.init_failed.notify_waiters();
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}
