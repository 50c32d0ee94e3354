//! The Secure Browser section of `warden demo` (serves WorkSpaces Secure
//! Browser): portal-sweep, the code the Lambda function runs, over a small
//! fixture with the default policy, live against a local emulator, then once
//! more to show it changes nothing twice.

use anyhow::Context;
use portal_sweep::{SweepConfig, SweepRequest, Sweeper};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::shell::DEFAULT_POLICY;
use warden_core::Policy;
use warden_emulator::{Emulator, Fixture};

/// Two portals: a call centre (logging, IP access settings; a stale session,
/// a deny-listed user, an allow-listed one) and a partner portal (no
/// logging, no IP access settings; a session from outside).
pub const PORTAL_FIXTURE: &str = include_str!("../../events/emulator/demo-secure-browser.json");

/// The demo deployment's access log stream (the template's AccessLogStreamArn).
const DEMO_STREAM: &str =
    "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-warden";

/// Operations that change Secure Browser state.
const CHANGING: [&str; 3] = [
    "ExpireSession",
    "CreateUserAccessLoggingSettings",
    "AssociateUserAccessLoggingSettings",
];

/// The printable sweep report for the Secure Browser fixture.
pub async fn report() -> anyhow::Result<String> {
    let fixture = Fixture::from_json(PORTAL_FIXTURE).context("embedded Secure Browser fixture")?;
    let portals: Vec<String> = fixture
        .workspaces_web
        .portals
        .iter()
        .map(|p| p.arn.clone())
        .collect();
    let emulator = Emulator::new(fixture).start_local().await?;
    let clients =
        Clients::new(&load_sdk_config(&AwsSettings::local(emulator.endpoint_url())).await);
    let policy = Policy::from_yaml_str(DEFAULT_POLICY, "policies/default.yaml")
        .context("bundled default policy")?;
    // Live: this is a throwaway local emulator. The function itself is
    // dry-run unless WARDEN_DRY_RUN=false.
    let config = SweepConfig {
        dry_run: false,
        portal_arns: portals,
        access_log_stream: Some(DEMO_STREAM.into()),
        ..SweepConfig::default()
    };
    let sweeper = Sweeper::new(policy, &clients, config)?;
    let now = emulator.shared().clock.now();
    let changing = || {
        emulator
            .shared()
            .calls
            .snapshot()
            .iter()
            .filter(|c| CHANGING.contains(&c.operation.as_str()))
            .count()
    };
    let first = sweeper
        .run(&SweepRequest::default(), now, Deadline::none())
        .await
        .report;
    let after_first = changing();
    let second = sweeper
        .run(&SweepRequest::default(), now, Deadline::none())
        .await
        .report;
    let mut out = String::from(
        "\nWorkSpaces Secure Browser (portal-sweep): default policy, live against the local emulator\n",
    );
    out.push_str(&first.render_text());
    out.push_str(&format!(
        "second run: {} state-changing calls (first run: {after_first}); {} findings, {} refusals remain\n",
        changing() - after_first,
        second.totals.findings,
        second.totals.refusals,
    ));
    emulator.shutdown().await;
    Ok(out)
}
