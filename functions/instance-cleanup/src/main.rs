//! instance-cleanup Lambda function: marks errored WorkSpaces Instances,
//! deletes them once the policy's grace period has passed, unmarks the ones
//! that recover. Thin: configuration, policy and clients are built once at
//! cold start; each invocation hands its event to
//! `instance_cleanup::Cleaner::run`.
//!
//! Invocations: an EventBridge / CloudWatch scheduled event, or a manual
//! payload `{"dry_run": bool, "max_deletions": N}` (both optional). See
//! `docs/instance-cleanup.md` for the environment variables.

use std::time::Duration;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use instance_cleanup::{
    classify_payload, Cleaner, DynamoMarkStore, FunctionSettings, Overrides, Trigger, FUNCTION,
};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::REPORT_RESERVE;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::jiff::Timestamp;
use warden_core::Policy;

/// The default policy, embedded so the function needs no file; a deployed
/// file (`WARDEN_POLICY_FILE`) replaces it.
const DEFAULT_POLICY: &str = include_str!("../../../policies/default.yaml");
const DEFAULT_POLICY_NAME: &str = "policies/default.yaml (embedded)";

struct State {
    cleaner: Cleaner<DynamoMarkStore>,
    /// One SDK call's limit, retries included (`WARDEN_CALL_TIMEOUT`): no
    /// work starts with less than this (plus the report's reserve) left.
    call_timeout: Duration,
}

async fn init() -> Result<State, Error> {
    let settings = FunctionSettings::from_env(&warden_core::env::process())?;
    let policy = match &settings.policy_file {
        Some(path) => Policy::from_file(path)?,
        None => Policy::from_yaml_str(DEFAULT_POLICY, DEFAULT_POLICY_NAME)?,
    };
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
    Ok(State {
        cleaner: Cleaner::new(policy, &clients, store, settings.cleanup),
        call_timeout: settings.call_timeout,
    })
}

async fn handle(state: &State, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let overrides = match classify_payload(&payload)? {
        Trigger::Scheduled => {
            match serde_json::from_value::<CloudWatchEvent>(payload) {
                Ok(ev) => tracing::info!(
                    trigger = "scheduled",
                    time = %ev.time.to_rfc3339(),
                    rule = ev.resources.first().map(String::as_str).unwrap_or(""),
                    "invoked"
                ),
                Err(e) => tracing::warn!(
                    trigger = "scheduled",
                    error = %e,
                    "scheduled event not in the CloudWatch shape; running anyway"
                ),
            }
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
        .run(now, &overrides, deadline, &mut metrics)
        .await;
    metrics.flush_stdout(now.as_millisecond());
    let report = result?;
    Ok(serde_json::to_value(report)?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    warden_core::aws::logging::init_json();
    let state = match init().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "instance-cleanup cannot start");
            return Err(e);
        }
    };
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(state, event).await
    }))
    .await
}
