//! The Lambda binary's invocation loop (issue #15), on the Runtime API
//! client of aws-lambda-rust-runtime (`lambda_runtime_api_client`) and
//! `lambda_runtime`'s own [`Context`], [`Config`] and [`Diagnostic`].
//!
//! `lambda_runtime::run` does what this loop does, with two costs a
//! 10,000-record Kinesis batch feels: it collects the body's chunks and
//! copies them into one buffer (the event held twice for a moment), and it
//! deserializes through `serde_path_to_error`, which wraps every key and
//! value of the event. Here each chunk of the body is handed to the
//! handler **as it arrives** ([`Receive`]) and dropped: audit-stream parses
//! the event as it is received ([`crate::incoming`]), so the body is never
//! held whole and the parse overlaps the transfer; a handler that wants the
//! body whole gets it in one buffer sized from `Content-Length`
//! ([`whole_body`]), copied once.
//!
//! What `lambda_runtime` does per invocation is kept, so logs, traces and
//! the Runtime API see the same thing:
//! * the `Lambda runtime invoke` span (target `lambda_runtime::layers::trace`,
//!   fields `requestId`, `xrayTraceId`, `tenantId`) around the handler, so
//!   every log line carries the request id
//!   ([`warden_core::aws::logline`]);
//! * `_X_AMZN_TRACE_ID` set from the trace header (the AWS SDK reads it);
//! * the `lambda-runtime-invocation-id` header echoed on `/response` and
//!   `/error` (the Runtime API rejects a stale response with it);
//! * a panic in the handler is caught and reported as the invocation's
//!   error (`Lambda panicked: ...`), and the loop goes on (where panics
//!   unwind: the release profile that `sam build` ships aborts on panic, so
//!   there the process exits and Lambda reports `Runtime.ExitError`, as
//!   with `lambda_runtime`);
//! * a non-2xx answer to `/response` or `/error` is logged and the loop goes
//!   on; a transport error, or `/next` failing, ends the loop with that
//!   error (the process exits and Lambda starts a new one).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use lambda_runtime::{Config, Context, Diagnostic, Error};
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, PooledClient};
use serde::Serialize;
use tracing::Instrument as _;

/// The request id header of `/next`.
const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
/// The invocation id header of `/next`, echoed back on the answer.
const INVOCATION_ID: &str = "lambda-runtime-invocation-id";
/// The deadline header of `/next` (epoch milliseconds).
const DEADLINE: &str = "lambda-runtime-deadline-ms";
/// The trace header of `/next`.
const TRACE_ID: &str = "lambda-runtime-trace-id";

/// The most a body's `Content-Length` reserves up front: a larger (or
/// lying) length grows the buffer as the bytes arrive instead.
const MAX_RESERVE: usize = 64 << 20;

/// What the loop calls once per invocation: the body is handed over chunk
/// by chunk as it arrives ([`Receive`]), then the handler runs.
pub trait Invoke {
    /// The handler's answer, posted as JSON to `/response`.
    type Response: Serialize;

    /// What receives the body.
    type Body<'a>: Receive
    where
        Self: 'a;

    /// A receiver for the next body (`len`: its `Content-Length`, if given).
    fn receive(&self, len: Option<usize>) -> Self::Body<'_>;

    /// Handles one invocation, its body received. An `Err` is posted to
    /// `/error`.
    fn invoke<'a>(
        &'a self,
        body: Self::Body<'a>,
        context: Context,
    ) -> impl Future<Output = Result<Self::Response, Diagnostic>> + 'a;
}

/// Takes a body's chunks, in order.
pub trait Receive {
    /// The next chunk.
    fn chunk(&mut self, data: &[u8]);
}

/// The body kept whole.
impl Receive for Vec<u8> {
    fn chunk(&mut self, data: &[u8]) {
        self.extend_from_slice(data);
    }
}

/// A buffer for a body of `len` bytes (at most [`MAX_RESERVE`] reserved up
/// front), for handlers that want it whole.
pub fn whole_body(len: Option<usize>) -> Vec<u8> {
    Vec::with_capacity(len.unwrap_or(0).min(MAX_RESERVE))
}

/// Runs the loop against the Runtime API at `AWS_LAMBDA_RUNTIME_API`, with
/// the function's configuration from the environment (as
/// `lambda_runtime::run` reads them). Returns only on an error.
pub async fn run<H: Invoke>(handler: &H) -> Result<(), Error> {
    let config = Arc::new(Config::from_env());
    let client = PooledClient::builder().build();
    run_with(&client, config, handler).await
}

/// [`run`] with a given client and configuration (tests).
pub async fn run_with<H: Invoke>(
    client: &PooledClient,
    config: Arc<Config>,
    handler: &H,
) -> Result<(), Error> {
    loop {
        let (parts, mut incoming) = next(client).await?.into_parts();
        let request_id = header(&parts.headers, REQUEST_ID)
            .ok_or("the Runtime API's /next answer has no lambda-runtime-aws-request-id")?
            .to_owned();
        let invocation_id = header(&parts.headers, INVOCATION_ID).map(str::to_owned);
        if !parts.headers.contains_key(DEADLINE) {
            // lambda_runtime's `Context::new` would panic on it.
            return Err(format!(
                "the Runtime API's /next answer for {request_id} has no {DEADLINE}"
            )
            .into());
        }
        let context = Context::new(&request_id, config.clone(), &parts.headers)?;
        match header(&parts.headers, TRACE_ID) {
            Some(trace) => std::env::set_var("_X_AMZN_TRACE_ID", trace),
            None => std::env::remove_var("_X_AMZN_TRACE_ID"),
        }
        let span = invoke_span(&context);
        // The body goes to the handler's receiver chunk by chunk, each
        // dropped once given; then the handler runs.
        let len = content_length(&parts.headers);
        let work = async {
            let mut body = handler.receive(len);
            while let Some(frame) = incoming.frame().await {
                if let Ok(data) = frame?.into_data() {
                    body.chunk(&data);
                }
            }
            Ok::<_, hyper::Error>(handler.invoke(body, context).await)
        };
        let outcome = AssertUnwindSafe(work)
            .catch_unwind()
            .instrument(span.clone())
            .await
            .unwrap_or_else(|panic| Ok(Err(panic_diagnostic(panic.as_ref()))))?;
        let request = match outcome {
            Ok(response) => answer(&request_id, invocation_id.as_deref(), "response", &response),
            Err(diagnostic) => answer(&request_id, invocation_id.as_deref(), "error", &diagnostic),
        };
        let request = request.or_else(|e| {
            // The answer does not serialize: the invocation's error says so.
            let diagnostic = Diagnostic {
                error_type: "Runtime.SerializationError".into(),
                error_message: e.to_string(),
            };
            answer(&request_id, invocation_id.as_deref(), "error", &diagnostic)
        })?;
        post(client, request).instrument(span).await?;
    }
}

/// `GET /next`: the next invocation (waits as long as there is none).
async fn next(client: &PooledClient) -> Result<http::Response<hyper::body::Incoming>, Error> {
    let request = build_request()
        .method(Method::GET)
        .uri("/2018-06-01/runtime/invocation/next")
        .body(Body::empty())?;
    let response = client.call(request).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the Runtime API answered /next with {status}").into());
    }
    Ok(response)
}

/// `POST` of an answer; the Runtime API's own answer is read to its end
/// (the connection is reused for the next `/next`).
async fn post(client: &PooledClient, request: Request<Body>) -> Result<(), Error> {
    let uri = request.uri().path().to_owned();
    let response = client.call(request).await.inspect_err(|e| {
        tracing::error!(error = %e, uri = %uri, "cannot post the answer to the Lambda Runtime API");
    })?;
    let status = response.status();
    let _ = response.into_body().collect().await;
    if !status.is_success() {
        tracing::error!(status = %status, uri = %uri, "Lambda Runtime API returned non-200 response");
        if status == StatusCode::GONE {
            tracing::error!(
                "Lambda Runtime API rejected the response: invocation timed out or response was stale"
            );
        }
    }
    Ok(())
}

/// The `/response` (`kind = "response"`) or `/error` request of an
/// invocation, its body `value` as JSON.
fn answer(
    request_id: &str,
    invocation_id: Option<&str>,
    kind: &str,
    value: &impl Serialize,
) -> Result<Request<Body>, Error> {
    let mut builder = build_request().method(Method::POST).uri(format!(
        "/2018-06-01/runtime/invocation/{request_id}/{kind}"
    ));
    if kind == "error" {
        builder = builder.header("lambda-runtime-function-error-type", "unhandled");
    }
    if let Some(id) = invocation_id {
        builder = builder.header(INVOCATION_ID, id);
    }
    Ok(builder.body(Body::from(serde_json::to_vec(value)?))?)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok()
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    header(headers, http::header::CONTENT_LENGTH.as_str())?
        .parse()
        .ok()
}

/// `lambda_runtime`'s per-invocation span: same target, name and fields.
fn invoke_span(context: &Context) -> tracing::Span {
    let id = context.request_id.as_str();
    match (
        context.xray_trace_id.as_deref(),
        context.tenant_id.as_deref(),
    ) {
        (Some(trace), Some(tenant)) => tracing::info_span!(
            target: "lambda_runtime::layers::trace",
            "Lambda runtime invoke",
            requestId = id,
            xrayTraceId = trace,
            tenantId = tenant
        ),
        (Some(trace), None) => tracing::info_span!(
            target: "lambda_runtime::layers::trace",
            "Lambda runtime invoke",
            requestId = id,
            xrayTraceId = trace
        ),
        (None, Some(tenant)) => tracing::info_span!(
            target: "lambda_runtime::layers::trace",
            "Lambda runtime invoke",
            requestId = id,
            tenantId = tenant
        ),
        (None, None) => tracing::info_span!(
            target: "lambda_runtime::layers::trace",
            "Lambda runtime invoke",
            requestId = id
        ),
    }
}

/// A caught panic as the invocation's error, as `lambda_runtime` reports it.
fn panic_diagnostic(panic: &(dyn std::any::Any + Send)) -> Diagnostic {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned());
    tracing::error!(
        panic = message.as_deref().unwrap_or("?"),
        "the handler panicked"
    );
    Diagnostic {
        error_type: "Runtime.Panic".into(),
        error_message: match message {
            Some(m) => format!("Lambda panicked: {m}"),
            None => "Lambda panicked".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::sync::Mutex;

    use axum::body::Body as AxumBody;
    use axum::extract::{Path, State};
    use axum::http::HeaderMap as AxumHeaders;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::Router;
    use tokio::sync::mpsc;

    use super::*;

    /// One invocation the test Runtime API hands out.
    struct Next {
        request_id: &'static str,
        invocation_id: Option<&'static str>,
        /// The body, sent as these chunks.
        chunks: Vec<Vec<u8>>,
        /// With `Content-Length` (else chunked).
        with_length: bool,
    }

    /// What the function posted back.
    #[derive(Debug)]
    struct Posted {
        path: String,
        invocation_id: Option<String>,
        error_type: Option<String>,
        body: serde_json::Value,
    }

    #[derive(Clone)]
    struct Api {
        queue: Arc<Mutex<VecDeque<Next>>>,
        posted: mpsc::UnboundedSender<Posted>,
    }

    async fn next(State(api): State<Api>) -> Response {
        let Some(n) = api.queue.lock().unwrap().pop_front() else {
            // Nothing more: the function waits (the test ends first).
            return std::future::pending().await;
        };
        let mut r = Response::builder()
            .header(REQUEST_ID, n.request_id)
            .header(DEADLINE, "4102444800000")
            .header(
                TRACE_ID,
                "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            );
        if let Some(id) = n.invocation_id {
            r = r.header(INVOCATION_ID, id);
        }
        let total: usize = n.chunks.iter().map(Vec::len).sum();
        if n.with_length {
            r = r.header("content-length", total);
        }
        let stream = futures::stream::iter(
            n.chunks
                .into_iter()
                .map(|c| Ok::<_, Infallible>(bytes_of(c))),
        );
        r.body(AxumBody::from_stream(stream)).unwrap()
    }

    fn bytes_of(v: Vec<u8>) -> axum::body::Bytes {
        axum::body::Bytes::from(v)
    }

    async fn answer(
        State(api): State<Api>,
        Path((id, kind)): Path<(String, String)>,
        headers: AxumHeaders,
        body: axum::body::Bytes,
    ) -> impl IntoResponse {
        let h = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let _ = api.posted.send(Posted {
            path: format!("{id}/{kind}"),
            invocation_id: h(INVOCATION_ID),
            error_type: h("lambda-runtime-function-error-type"),
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        });
        (axum::http::StatusCode::ACCEPTED, "{}")
    }

    /// A test Runtime API on a free loopback port, serving `queue`.
    async fn serve(queue: Vec<Next>) -> (PooledClient, mpsc::UnboundedReceiver<Posted>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let api = Api {
            queue: Arc::new(Mutex::new(queue.into())),
            posted: tx,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = PooledClient::builder()
            .with_endpoint(format!("http://{addr}").parse().unwrap())
            .build();
        (client, rx)
    }

    /// Answers with the body's length and a checksum; `panic` panics,
    /// `fail` fails.
    struct Echo;

    impl Invoke for Echo {
        type Response = serde_json::Value;
        type Body<'a> = Vec<u8>;
        fn receive(&self, len: Option<usize>) -> Vec<u8> {
            whole_body(len)
        }
        async fn invoke(
            &self,
            body: Vec<u8>,
            context: Context,
        ) -> Result<serde_json::Value, Diagnostic> {
            let body = body.as_slice();
            match body {
                b"panic" => panic!("boom"),
                b"fail" => Err(Diagnostic {
                    error_type: "Test.Failure".into(),
                    error_message: format!("refused {}", context.request_id),
                }),
                _ => Ok(serde_json::json!({
                    "len": body.len(),
                    "sum": checksum(body),
                    "trace": context.xray_trace_id,
                    "deadline": context.deadline,
                })),
            }
        }
    }

    fn checksum(b: &[u8]) -> u64 {
        b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
            (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
        })
    }

    fn body_of(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    async fn collect(rx: &mut mpsc::UnboundedReceiver<Posted>, n: usize) -> Vec<Posted> {
        let mut out = Vec::new();
        while out.len() < n {
            let p = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
                .await
                .expect("the loop posted nothing within 20 s")
                .expect("the test Runtime API stopped");
            out.push(p);
        }
        out
    }

    /// Runs the loop with [`Echo`] until `n` answers are posted.
    async fn run_echo(
        client: PooledClient,
        rx: &mut mpsc::UnboundedReceiver<Posted>,
        n: usize,
    ) -> Vec<Posted> {
        let config = Arc::new(Config::default());
        let run = tokio::spawn(async move { run_with(&client, config, &Echo).await });
        let posted = collect(rx, n).await;
        run.abort();
        posted
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_body_reaches_the_handler_whole_however_it_arrives() {
        let big = body_of(3 << 20, 7);
        let small = body_of(10, 9);
        let chunks = |b: &[u8], size: usize| b.chunks(size).map(<[u8]>::to_vec).collect();
        let (client, mut rx) = serve(vec![
            Next {
                request_id: "r-1",
                invocation_id: None,
                chunks: chunks(&big, 65_536),
                with_length: true,
            },
            // Smaller than the buffer the first one left: nothing of it
            // may show.
            Next {
                request_id: "r-2",
                invocation_id: None,
                chunks: chunks(&small, 3),
                with_length: false,
            },
            Next {
                request_id: "r-3",
                invocation_id: None,
                chunks: chunks(&big, 1_000_003),
                with_length: false,
            },
            Next {
                request_id: "r-4",
                invocation_id: None,
                chunks: Vec::new(),
                with_length: true,
            },
        ])
        .await;
        let posted = run_echo(client, &mut rx, 4).await;
        let expect = |b: &[u8]| (b.len() as u64, checksum(b));
        let got: Vec<_> = posted
            .iter()
            .map(|p| {
                assert!(p.path.ends_with("/response"), "{p:?}");
                (
                    p.body["len"].as_u64().unwrap(),
                    p.body["sum"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![expect(&big), expect(&small), expect(&big), expect(&[])]
        );
        assert_eq!(posted[0].path, "r-1/response");
        assert_eq!(
            posted[0].body["trace"],
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
        );
        assert_eq!(posted[0].body["deadline"], 4_102_444_800_000u64);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn errors_and_panics_are_the_invocations_and_the_loop_goes_on() {
        let one = |id, invocation_id, body: &[u8]| Next {
            request_id: id,
            invocation_id,
            chunks: vec![body.to_vec()],
            with_length: true,
        };
        let (client, mut rx) = serve(vec![
            one("r-1", Some("inv-1"), b"fail"),
            one("r-2", Some("inv-2"), b"panic"),
            one("r-3", Some("inv-3"), b"ok"),
            one("r-4", None, b"ok"),
        ])
        .await;
        let posted = run_echo(client, &mut rx, 4).await;

        assert_eq!(posted[0].path, "r-1/error");
        assert_eq!(posted[0].invocation_id.as_deref(), Some("inv-1"));
        assert_eq!(posted[0].error_type.as_deref(), Some("unhandled"));
        assert_eq!(posted[0].body["errorType"], "Test.Failure");
        assert_eq!(posted[0].body["errorMessage"], "refused r-1");

        assert_eq!(posted[1].path, "r-2/error");
        assert_eq!(posted[1].invocation_id.as_deref(), Some("inv-2"));
        assert_eq!(posted[1].body["errorType"], "Runtime.Panic");
        assert_eq!(posted[1].body["errorMessage"], "Lambda panicked: boom");

        // The invocation id is echoed on a response too, and only when given.
        assert_eq!(posted[2].path, "r-3/response");
        assert_eq!(posted[2].invocation_id.as_deref(), Some("inv-3"));
        assert_eq!(posted[2].body["len"], 2);
        assert_eq!(posted[3].path, "r-4/response");
        assert_eq!(posted[3].invocation_id, None);
    }
}
