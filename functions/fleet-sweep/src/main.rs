//! fleet-sweep: the scheduled audit of WorkLink fleets (devices, domains,
//! audit-stream configuration) by policy.
//!
//! Thin shell: at cold start it reads the configuration from the environment
//! (errors name the variable), compiles the policy and builds the SDK
//! clients, once; each invocation is one [`Sweeper::run`]. All the logic is
//! in `fleet_sweep`; see `docs/fleet-sweep.md`.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use fleet_sweep::{vars, SweepConfig, SweepRequest, Sweeper};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::executor::REPORT_RESERVE;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::Policy;

/// The policy used when `WARDEN_POLICY_FILE` is unset: `policies/default.yaml`
/// compiled into the binary, so the deployed zip needs nothing beside it.
const BUNDLED_POLICY: &str = include_str!("../../../policies/default.yaml");
const BUNDLED_POLICY_NAME: &str = "policies/default.yaml (bundled)";

#[tokio::main]
async fn main() -> Result<(), Error> {
    warden_core::aws::logging::init_json();
    let sweeper = match init().await {
        Ok(s) => s,
        Err(e) => {
            // Lambda reports the exit; the log line says why.
            tracing::error!(target: "warden::init", error = %e, "fleet-sweep cannot start");
            return Err(e);
        }
    };
    let sweeper = &sweeper;
    lambda_runtime::run(service_fn(move |event| handle(sweeper, event))).await
}

/// Configuration, policy and clients, once per cold start.
async fn init() -> Result<Sweeper, Error> {
    let env = warden_core::env::process();
    let config = SweepConfig::from_env(&env)?;
    let policy = match env.get(vars::POLICY_FILE) {
        None => Policy::from_yaml_str(BUNDLED_POLICY, BUNDLED_POLICY_NAME)?,
        Some(path) => Policy::from_file(std::path::Path::new(&path))
            .map_err(|e| format!("{}={path}: {e}", vars::POLICY_FILE))?,
    };
    let sdk = load_sdk_config(&AwsSettings::default()).await;
    let sweeper = Sweeper::new(policy, &Clients::new(&sdk), config)?;
    let c = sweeper.config();
    tracing::info!(
        target: "warden::init",
        dry_run = c.dry_run,
        expected_audit_stream = sweeper.expected_stream().unwrap_or("(none)"),
        fleets = %if c.fleet_arns.is_empty() { "all".to_string() } else { c.fleet_arns.join(",") },
        fleet_concurrency = c.fleet_concurrency,
        device_concurrency = c.device_concurrency,
        action_concurrency = c.action_concurrency,
        "fleet-sweep ready"
    );
    Ok(sweeper)
}

async fn handle(sweeper: &Sweeper, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let request = parse_request(&event.payload)?;
    let deadline = Deadline::at(event.context.deadline(), REPORT_RESERVE);
    let now = warden_core::jiff::Timestamp::now();
    let outcome = sweeper.run(&request, now, deadline).await;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    outcome.metrics.flush_stdout(now_ms);
    let report = outcome.report;
    if let Some(f) = report.failures.first() {
        // ListFleets failed: nothing was swept. An error lets Lambda's
        // asynchronous retries (and the Errors alarm) see it.
        return Err(format!("fleet-sweep swept nothing: {f}").into());
    }
    Ok(serde_json::to_value(&report)?)
}

/// The scheduled event (EventBridge; overrides may ride in its `detail`), or
/// a manual payload of overrides: `{"fleet_arns": [...], "dry_run": bool}`.
fn parse_request(payload: &Value) -> Result<SweepRequest, String> {
    if payload.get("detail-type").is_some() {
        let event: EventBridgeEvent<Value> =
            serde_json::from_value(payload.clone()).map_err(|e| format!("scheduled event: {e}"))?;
        return match &event.detail {
            Value::Object(m) if m.is_empty() => Ok(SweepRequest::default()),
            detail => {
                SweepRequest::from_json(detail).map_err(|e| format!("scheduled event detail: {e}"))
            }
        };
    }
    SweepRequest::from_json(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bundled_policy_compiles() {
        let p = Policy::from_yaml_str(BUNDLED_POLICY, BUNDLED_POLICY_NAME).unwrap();
        assert!(p.has_rules_for(warden_core::OnKind::Device));
    }

    #[test]
    fn scheduled_events_and_manual_payloads() {
        let scheduled: Value =
            serde_json::from_str(include_str!("../../../events/scheduled-event.json")).unwrap();
        assert_eq!(parse_request(&scheduled).unwrap(), SweepRequest::default());

        let manual: Value =
            serde_json::from_str(include_str!("../../../events/fleet-sweep-manual.json")).unwrap();
        let r = parse_request(&manual).unwrap();
        assert_eq!(r.dry_run, Some(true));
        assert_eq!(r.fleet_arns.map(|v| v.len()), Some(1));

        let mut with_detail = scheduled.clone();
        with_detail["detail"] = json!({"dry_run": false});
        assert_eq!(parse_request(&with_detail).unwrap().dry_run, Some(false));

        assert_eq!(
            parse_request(&Value::Null).unwrap(),
            SweepRequest::default()
        );
        let e = parse_request(&json!({"dryrun": true})).unwrap_err();
        assert!(e.contains("unknown field `dryrun`"), "{e}");
        let e = parse_request(&json!({"detail-type": "Scheduled Event"})).unwrap_err();
        assert!(e.starts_with("scheduled event:"), "{e}");
    }
}
