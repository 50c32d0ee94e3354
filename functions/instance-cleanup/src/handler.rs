//! The Lambda side of instance-cleanup: the state built once at cold start
//! ([`init`]) and the handler ([`handle`]) that reads one payload (a
//! scheduled event or a manual [`Overrides`] payload), runs the cleaner and
//! returns its report.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::REPORT_RESERVE;
use warden_core::aws::notify::{Notifier, NotifySettings};
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::jiff::Timestamp;

use crate::{
    classify_payload, Cleaner, DynamoMarkStore, FunctionSettings, Overrides, Trigger, FUNCTION,
};

/// What one cold start builds: the cleaner and the per-call timeout.
pub struct State {
    cleaner: Cleaner<DynamoMarkStore>,
    /// One SDK call's limit, retries included (`WARDEN_CALL_TIMEOUT`): no
    /// work starts with less than this (plus the report's reserve) left.
    call_timeout: Duration,
}

/// Reads the environment, compiles the policy and builds the clients and
/// the store, once. Makes no network call.
pub async fn init() -> Result<State, Error> {
    let env = warden_core::env::process();
    let settings = FunctionSettings::from_env(&env)?;
    let notify = NotifySettings::from_env(&env)?;
    let policy = settings.load_policy()?;
    let aws = AwsSettings {
        max_attempts: settings.max_attempts,
        operation_timeout: settings.call_timeout,
        attempt_timeout: settings
            .call_timeout
            .min(AwsSettings::default().attempt_timeout),
        ..AwsSettings::default()
    };
    let config = load_sdk_config(&aws).await;
    let clients = Clients::new(&config);
    let store = DynamoMarkStore::from_config(&config, settings.marks_table.clone());
    tracing::info!(
        policy = %policy.source,
        table = %settings.marks_table,
        dry_run = settings.cleanup.dry_run,
        concurrency = settings.cleanup.concurrency,
        "instance-cleanup ready"
    );
    let mut cleaner = Cleaner::new(policy, &clients, store, settings.cleanup);
    if let Some(n) = Notifier::from_settings(&notify, &config) {
        tracing::info!(
            topic = n.topic_arn(),
            dry_run = notify.dry_run,
            "notifications on"
        );
        cleaner = cleaner.with_notifier(n);
    }
    Ok(State {
        cleaner,
        call_timeout: settings.call_timeout,
    })
}

/// One invocation: a payload that is neither a scheduled event nor a
/// manual payload is an error naming what is wrong (nothing is done).
pub async fn handle(state: &State, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let overrides = match classify_payload(&payload)? {
        Trigger::Scheduled(ev) => {
            tracing::info!(
                trigger = "scheduled",
                time = ev.time.as_deref().unwrap_or(""),
                rule = ev.resources.first().map(String::as_str).unwrap_or(""),
                "invoked"
            );
            Overrides::default()
        }
        Trigger::Manual(o) => {
            tracing::info!(trigger = "manual", dry_run = ?o.dry_run, max_deletions = ?o.max_deletions, "invoked");
            o
        }
    };
    // Nothing starts once one call's timeout or less is left before the
    // report's reserve, so a call started in time finishes (or times out)
    // before it; whatever still hangs at the reserve is abandoned.
    let deadline =
        Deadline::at(context.deadline(), REPORT_RESERVE).with_start_margin(state.call_timeout);
    let now = Timestamp::now();
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let mut metrics = Metrics::new(FUNCTION);
    let result = state
        .cleaner
        .run_invocation(&context.request_id, now, &overrides, deadline, &mut metrics)
        .await;
    metrics.flush_stdout(now.as_millisecond());
    let report = result?;
    Ok(serde_json::to_value(report)?)
}
