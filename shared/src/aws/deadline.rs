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
    /// New work starts only while more than this is left (before the
    /// reserve); work in flight may use it. Zero by default.
    start_margin: Duration,
}

impl Deadline {
    /// No deadline (CLI runs, tests).
    pub fn none() -> Self {
        Deadline {
            end: None,
            reserve: Duration::ZERO,
            start_margin: Duration::ZERO,
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
            start_margin: Duration::ZERO,
        }
    }

    /// `left` from now, with a reserve.
    pub fn after(left: Duration, reserve: Duration) -> Self {
        Deadline {
            end: Some(Instant::now() + left),
            reserve,
            start_margin: Duration::ZERO,
        }
    }

    /// Starts no new work once `margin` or less is left before the reserve,
    /// while work already in flight may still use that time (e.g. one SDK
    /// call's own timeout, so a call started in time can finish instead of
    /// being abandoned by [`Deadline::bound`]).
    pub fn with_start_margin(mut self, margin: Duration) -> Self {
        self.start_margin = margin;
        self
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
        self.remaining().is_none_or(|left| left > self.start_margin)
    }

    /// Runs `work` (typically one SDK call with its retries) but waits for
    /// it only until the reserve is reached: `None` when time ran out first.
    /// The work is dropped then (an HTTP request in flight is abandoned), so
    /// a slow or hanging call can never eat the time kept for reporting;
    /// what it may have done is unknown, which idempotent actions tolerate.
    pub async fn bound<F: Future>(&self, work: F) -> Option<F::Output> {
        match self.remaining() {
            None => Some(work.await),
            // Not even started: futures do nothing until polled.
            Some(left) if left.is_zero() => None,
            Some(left) => tokio::time::timeout(left, work).await.ok(),
        }
    }
}

/// A job's result, or the fact that it was never started because time ran
/// out (left for the next run / reported as a failure by the caller).
#[derive(Debug, Clone, PartialEq)]
pub enum Ran<R> {
    Done(R),
    NotStarted,
}

/// Runs `f` over `items` with at most `concurrency` in flight, starting
/// them in input order and the next one as soon as any finishes (a slow job
/// never holds the others' slots), starting no new job once the deadline
/// says so. Results come back in input order.
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
    let mut out: Vec<(usize, Ran<R>)> =
        stream::iter(items.into_iter().enumerate().map(|(i, item)| async move {
            if deadline.can_start() {
                (i, Ran::Done(f(item).await))
            } else {
                (i, Ran::NotStarted)
            }
        }))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    out.sort_unstable_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
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

impl CallFailure {
    /// The error code of work the invocation's time ran out on.
    pub const OUT_OF_TIME: &'static str = "DeadlineExceeded";

    /// `op` was not started, or not waited for, because the invocation's
    /// time (before its reserve) ran out: transient, a later run retries it.
    pub fn out_of_time(op: &str) -> CallFailure {
        CallFailure {
            kind: FailureKind::Transient,
            code: Self::OUT_OF_TIME.into(),
            message: format!(
                "{op}: the invocation's time ran out before it finished; it may or may not have taken effect, and is retried later"
            ),
        }
    }
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

    #[tokio::test]
    async fn a_slow_job_does_not_hold_the_other_slots() {
        // The first job finishes only once the last one has run: with two
        // slots that needs the second slot to serve jobs 1..=4 while job 0
        // waits (a window that keeps input order would never start job 4).
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rx = std::sync::Mutex::new(Some(rx));
        let tx = std::sync::Mutex::new(Some(tx));
        let run = run_bounded((0..5).collect(), 2, Deadline::none(), |i: u32| {
            let rx = if i == 0 {
                rx.lock().unwrap().take()
            } else {
                None
            };
            let tx = if i == 4 {
                tx.lock().unwrap().take()
            } else {
                None
            };
            async move {
                if let Some(rx) = rx {
                    rx.await.unwrap();
                }
                if let Some(tx) = tx {
                    tx.send(()).unwrap();
                }
                i
            }
        });
        let out = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the slow first job held a slot the last job needed");
        assert_eq!(out, (0..5).map(Ran::Done).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn bound_gives_up_at_the_reserve_and_unbounded_waits() {
        // 50 ms before the reserve; the work would take an hour.
        let deadline = Deadline::after(Duration::from_millis(1050), Duration::from_secs(1));
        let hour = tokio::time::sleep(Duration::from_secs(3600));
        assert_eq!(deadline.bound(hour).await, None);
        // Work that finishes in time is returned.
        let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(1));
        assert_eq!(deadline.bound(async { 7 }).await, Some(7));
        assert_eq!(Deadline::none().bound(async { 8 }).await, Some(8));
        // Nothing left: the work is not even started.
        let spent = Deadline::after(Duration::ZERO, Duration::from_secs(1));
        let started = AtomicU32::new(0);
        let work = async {
            started.fetch_add(1, Ordering::SeqCst);
        };
        assert_eq!(spent.bound(work).await, None);
        assert_eq!(started.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_start_margin_stops_new_work_but_lets_work_in_flight_finish() {
        // 2 s before the reserve, 5 s of margin: nothing new starts...
        let deadline = Deadline::after(Duration::from_secs(3), Duration::from_secs(1))
            .with_start_margin(Duration::from_secs(5));
        assert!(!deadline.can_start());
        let out = run_bounded(vec![1, 2], 2, deadline, |i| async move { i }).await;
        assert_eq!(out, vec![Ran::NotStarted; 2]);
        // ...but work already under way is still waited for.
        assert_eq!(deadline.bound(async { 3 }).await, Some(3));
        // With room beyond the margin, work starts.
        let roomy = Deadline::after(Duration::from_secs(60), Duration::from_secs(1))
            .with_start_margin(Duration::from_secs(5));
        assert!(roomy.can_start());
    }
}
