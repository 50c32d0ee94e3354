//! The Lambda side of fleet-sweep: the state built once at cold start
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

use warden_core::env::EnvError;
use warden_core::policy::Policy;
use warden_core::state::StateTable;

use crate::{rules_needing_state, SweepConfig, SweepRequest, Sweeper};

/// Configuration, policy and clients, once per cold start (no network
/// call). Errors name the variable, or the policy file and line.
pub async fn init() -> Result<Sweeper, Error> {
    let env = warden_core::env::process();
    let common = CommonSettings::from_env(&env)?;
    let config = SweepConfig::from_env(&env)?;
    let policy = common.load_policy()?;
    check_state_table(&policy, config.state_table.as_ref())?;
    let sdk = load_sdk_config(&AwsSettings {
        max_attempts: common.max_attempts,
        ..AwsSettings::default()
    })
    .await;
    StateTable::log_start(config.state_table.as_ref(), crate::FUNCTION);
    let state = config.state_table.as_ref().map(|t| t.store(&sdk));
    let notify = NotifySettings::from_env(&env)?;
    let mut sweeper = Sweeper::new(policy, &Clients::new(&sdk), config)?;
    if let Some(state) = state {
        sweeper = sweeper.with_state(state);
    }
    if let Some(n) = Notifier::from_settings(&notify, &sdk) {
        tracing::info!(target: "warden::init", topic = n.topic_arn(), dry_run = notify.dry_run, "notifications on");
        sweeper = sweeper.with_notifier(n);
    }
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

/// A policy with a restore rule needs `WARDEN_STATE_TABLE`: without it the
/// rule would undo warden's own revocations. The error names the variable
/// and the rules.
pub fn check_state_table(policy: &Policy, table: Option<&StateTable>) -> Result<(), EnvError> {
    let rules = rules_needing_state(policy);
    if table.is_none() && !rules.is_empty() {
        return Err(StateTable::missing(format!(
            "the restore rule(s) {} of {} must not restore domains warden revoked, which the state table records",
            rules.join(", "),
            policy.source
        )));
    }
    Ok(())
}

/// One invocation. A payload that is refused, or a sweep that could not
/// even list the fleets, is a function error (Lambda's asynchronous retries
/// and the Errors alarm see it).
pub async fn handle(sweeper: &Sweeper, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let request = parse_request(&event.payload)?;
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
    if let Some(f) = report.failures.first() {
        // ListFleets failed: nothing was swept.
        return Err(format!("fleet-sweep swept nothing: {f}").into());
    }
    Ok(serde_json::to_value(&report)?)
}

/// The scheduled event (EventBridge; overrides may ride in its `detail`), or
/// a manual payload of overrides: `{"fleet_arns": [...], "dry_run": bool}`.
pub fn parse_request(payload: &Value) -> Result<SweepRequest, String> {
    SweepRequest::from_payload(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bundled_policy_compiles() {
        let p = warden_core::shell::default_policy().unwrap();
        assert!(p.has_rules_for(warden_core::OnKind::Device));
    }

    #[test]
    fn restore_rules_need_the_state_table() {
        let p = warden_core::shell::default_policy().unwrap();
        let e = check_state_table(&p, None).unwrap_err().to_string();
        assert!(
            e.contains("WARDEN_STATE_TABLE is required") && e.contains("restore-approved-domains"),
            "{e}"
        );
        check_state_table(&p, Some(&StateTable::Memory)).unwrap();
        let no_restore = Policy::from_yaml_str(
            "rules:\n  - name: r\n    on: domain\n    where: { status: ACTIVE }\n    actions: [revoke-domain]\n",
            "p.yaml",
        )
        .unwrap();
        check_state_table(&no_restore, None).unwrap();
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

    /// Issue 13 item 3. Before, the top-level `dry_run` of a payload with
    /// `detail-type` was ignored: this payload swept live.
    #[test]
    fn a_scheduled_looking_payload_with_overrides_is_refused() {
        let e = parse_request(&json!({
            "source": "ops", "detail-type": "Scheduled Event", "detail": {}, "dry_run": true
        }))
        .unwrap_err();
        assert!(e.contains("`dry_run`") && e.contains("nothing done"), "{e}");
        let e = parse_request(&json!({
            "source": "aws.events", "detail-type": "Scheduled Event", "detail": {},
            "fleetArns": ["arn:aws:worklink::123456789012:fleet/a"]
        }))
        .unwrap_err();
        assert!(e.contains("`fleetArns`"), "{e}");
        // A manual payload's fleet ARNs are still checked.
        let e = parse_request(&json!({"fleet_arns": ["corp"]})).unwrap_err();
        assert!(e.contains("fleet_arns") && e.contains("corp"), "{e}");
    }
}
