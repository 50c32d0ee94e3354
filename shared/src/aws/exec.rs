//! Execution helpers shared by the three functions: the remaining-time budget,
//! bounded concurrency that stops starting work when time runs short, an
//! attempt counter for SDK calls, and the classification of SDK errors into
//! permanent and transient failures.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::stream::{self, StreamExt};

/// The time an invocation has left. New work starts only while more than
/// `reserve` remains, so the function can still report before Lambda stops it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Option<Instant>,
    reserve: Duration,
}

impl Deadline {
    /// No deadline (CLI runs, tests).
    pub fn none() -> Self {
        Deadline {
            end: None,
            reserve: Duration::ZERO,
        }
    }

    /// From the Lambda context's deadline (wall-clock) with a reserve kept
    /// for reporting.
    pub fn at(deadline: SystemTime, reserve: Duration) -> Self {
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Deadline {
            end: Some(Instant::now() + left),
            reserve,
        }
    }

    /// `left` from now, with a reserve.
    pub fn after(left: Duration, reserve: Duration) -> Self {
        Deadline {
            end: Some(Instant::now() + left),
            reserve,
        }
    }

    /// Time left before the reserve, `None` when unbounded.
    pub fn remaining(&self) -> Option<Duration> {
        self.end.map(|end| {
            end.saturating_duration_since(Instant::now())
                .saturating_sub(self.reserve)
        })
    }

    /// Whether new work may start.
    pub fn can_start(&self) -> bool {
        self.remaining().is_none_or(|left| !left.is_zero())
    }
}

/// A job's result, or the fact that it was never started because time ran
/// out (left for the next run / reported as a failure by the caller).
#[derive(Debug, Clone, PartialEq)]
pub enum Ran<R> {
    Done(R),
    NotStarted,
}

/// Runs `f` over `items` with at most `concurrency` in flight, in input
/// order, starting no new job once the deadline says so. Results come back in
/// input order.
pub async fn run_bounded<T, R, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    deadline: Deadline,
    f: F,
) -> Vec<Ran<R>>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    let f = &f;
    stream::iter(items.into_iter().map(|item| async move {
        if deadline.can_start() {
            Ran::Done(f(item).await)
        } else {
            Ran::NotStarted
        }
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await
}

/// Counts the attempts (first try plus retries) of one SDK call. Attach it
/// with `.customize().interceptor(counter.clone())`.
#[derive(Debug, Clone, Default)]
pub struct AttemptCounter(Arc<AtomicU32>);

impl AttemptCounter {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for AttemptCounter {
    fn name(&self) -> &'static str {
        "warden.AttemptCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Whether retrying later can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Not retried: the request or the target is wrong (not found,
    /// unauthorized, invalid). Logged as a finding.
    Permanent,
    /// Throttling, server errors, timeouts, connection failures that were
    /// still failing after the SDK's retries: retry in a later run / batch.
    Transient,
}

/// A failed call, classified, with the service's error code and message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallFailure {
    pub kind: FailureKind,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?}): {}", self.code, self.kind, self.message)
    }
}

/// Error codes after which retrying the same request cannot succeed.
const PERMANENT_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "UnauthorizedException",
    "InvalidRequestException",
    "ValidationException",
    "AccessDeniedException",
    "ResourceAlreadyExistsException",
    "ServiceQuotaExceededException",
];

/// Classifies an SDK error. Service errors use their code; anything below
/// the service (timeouts, connection failures, bad responses) is transient;
/// a request the SDK could not even build is permanent (a bug or bad input).
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let message = e.message().unwrap_or_default().to_string();
            let status = se.raw().status().as_u16();
            let kind = if PERMANENT_CODES.contains(&code.as_str()) {
                FailureKind::Permanent
            } else if (400..500).contains(&status)
                && status != 429
                && !code.contains("Throttl")
                && !code.contains("TooManyRequests")
                && code != "ConflictException"
            {
                // An unmodelled 4xx: the request itself is wrong.
                FailureKind::Permanent
            } else {
                FailureKind::Transient
            };
            CallFailure {
                kind,
                code,
                message,
            }
        }
        SdkError::ConstructionFailure(_) => CallFailure {
            kind: FailureKind::Permanent,
            code: "ConstructionFailure".into(),
            message: error_chain(err),
        },
        SdkError::TimeoutError(_) => CallFailure {
            kind: FailureKind::Transient,
            code: "Timeout".into(),
            message: error_chain(err),
        },
        SdkError::DispatchFailure(_) => CallFailure {
            kind: FailureKind::Transient,
            code: "DispatchFailure".into(),
            message: error_chain(err),
        },
        SdkError::ResponseError(_) => CallFailure {
            kind: FailureKind::Transient,
            code: "ResponseError".into(),
            message: error_chain(err),
        },
        _ => CallFailure {
            kind: FailureKind::Transient,
            code: "Unknown".into(),
            message: error_chain(err),
        },
    }
}

/// The error with its sources, `a: b: c`.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut src = err.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_runs_in_order_and_limits_concurrency() {
        let in_flight = Arc::new(AtomicU32::new(0));
        let peak = Arc::new(AtomicU32::new(0));
        let out = run_bounded((0..20).collect(), 4, Deadline::none(), |i: u32| {
            let in_flight = in_flight.clone();
            let peak = peak.clone();
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(out, (0..20).map(|i| Ran::Done(i * 2)).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn expired_deadline_starts_nothing() {
        let deadline = Deadline::after(Duration::from_millis(5), Duration::from_secs(1));
        assert!(!deadline.can_start());
        let out = run_bounded(vec![1, 2, 3], 2, deadline, |i| async move { i }).await;
        assert_eq!(out, vec![Ran::NotStarted; 3]);
        assert!(Deadline::none().can_start());
        assert!(Deadline::after(Duration::from_secs(60), Duration::from_secs(1)).can_start());
    }

    #[tokio::test]
    async fn work_stops_starting_when_time_runs_out() {
        let deadline = Deadline::after(Duration::from_millis(60), Duration::from_millis(10));
        let out = run_bounded((0..100).collect(), 1, deadline, |i: u32| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            i
        })
        .await;
        let done = out.iter().filter(|r| matches!(r, Ran::Done(_))).count();
        assert!((1..100).contains(&done), "done {done}");
        // Never a gap: once not started, nothing after started either.
        let first_skip = out.iter().position(|r| *r == Ran::NotStarted).unwrap();
        assert!(out[first_skip..].iter().all(|r| *r == Ran::NotStarted));
    }
}
