//! The Lambda side of portal-sweep: the state built once at cold start
//! ([`init`]) and the handler ([`handle`]): one payload (a scheduled event
//! or a manual [`SweepRequest`]) in, one sweep, its report out.

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use warden_core::aws::deadline::Deadline;
use warden_core::aws::executor::REPORT_RESERVE;
use warden_core::aws::notify::{Notifier, NotifySettings};
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::shell::CommonSettings;

use crate::{SweepConfig, SweepRequest, Sweeper};

/// Configuration, policy and clients, once per cold start (no network
/// call). Errors name the variable, or the policy file and line.
pub async fn init() -> Result<Sweeper, Error> {
    let env = warden_core::env::process();
    let common = CommonSettings::from_env(&env)?;
    let config = SweepConfig::from_env(&env)?;
    let policy = common.load_policy()?;
    let sdk = load_sdk_config(&AwsSettings {
        max_attempts: common.max_attempts,
        ..AwsSettings::default()
    })
    .await;
    let notify = NotifySettings::from_env(&env)?;
    let mut sweeper = Sweeper::new(policy, &Clients::new(&sdk), config)?;
    if let Some(n) = Notifier::from_settings(&notify, &sdk) {
        tracing::info!(target: "warden::init", topic = n.topic_arn(), dry_run = notify.dry_run, "notifications on");
        sweeper = sweeper.with_notifier(n);
    }
    let c = sweeper.config();
    tracing::info!(
        target: "warden::init",
        dry_run = c.dry_run,
        access_log_stream = c.access_log_stream.as_deref().unwrap_or("(none)"),
        portals = %c.portal_arns.join(","),
        portal_concurrency = c.portal_concurrency,
        session_concurrency = c.session_concurrency,
        action_concurrency = c.action_concurrency,
        "portal-sweep ready"
    );
    Ok(sweeper)
}

/// One invocation. A refused payload, or a sweep in which every portal
/// failed, is a function error (the on-failure destination and the Errors
/// alarm see it).
pub async fn handle(sweeper: &Sweeper, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let request = parse_request(&event.payload)?;
    sweeper.check_request(&request)?;
    let deadline = Deadline::at(event.context.deadline(), REPORT_RESERVE);
    let now = warden_core::jiff::Timestamp::now();
    let mut outcome = sweeper.run(&request, now, deadline).await;
    sweeper
        .notify(&mut outcome, &event.context.request_id, deadline)
        .await;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    outcome.metrics.flush_stdout(now_ms);
    let report = outcome.report;
    if report.portals_swept > 0 && report.portals_failed == report.portals_swept {
        let first = report
            .portals
            .iter()
            .flat_map(|p| p.failures.first())
            .next()
            .map(|f| f.to_string())
            .unwrap_or_default();
        return Err(format!("portal-sweep: every portal failed; first: {first}").into());
    }
    Ok(serde_json::to_value(&report)?)
}

/// The scheduled event (EventBridge; overrides may ride in its `detail`), or
/// a manual payload of overrides: `{"portal_arns": [...], "dry_run": bool}`.
pub fn parse_request(payload: &Value) -> Result<SweepRequest, String> {
    SweepRequest::from_payload(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bundled_policy_has_portal_and_session_rules() {
        let p = warden_core::shell::default_policy().unwrap();
        assert!(p.has_rules_for(warden_core::OnKind::Portal));
        assert!(p.has_rules_for(warden_core::OnKind::Session));
    }

    #[test]
    fn scheduled_events_and_manual_payloads() {
        let scheduled: Value =
            serde_json::from_str(include_str!("../../../events/scheduled-event.json")).unwrap();
        assert_eq!(parse_request(&scheduled).unwrap(), SweepRequest::default());
        let mut with_detail = scheduled.clone();
        with_detail["detail"] = json!({"dry_run": false});
        assert_eq!(parse_request(&with_detail).unwrap().dry_run, Some(false));
        let e = parse_request(&json!({"dryrun": true})).unwrap_err();
        assert!(e.contains("unknown field `dryrun`"), "{e}");
        let e = parse_request(&json!({
            "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}, "dry_run": true
        }))
        .unwrap_err();
        assert!(e.contains("`dry_run`"), "{e}");
    }
}
