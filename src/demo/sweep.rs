//! The fleet-sweep section of `warden demo`: the real sweep (the code the
//! Lambda function runs) over the demo fixture with the default policy, live
//! against a local emulator, then once more to show it changes nothing twice.

use anyhow::Context;
use fleet_sweep::{SweepConfig, SweepRequest, Sweeper};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::shell::DEFAULT_POLICY;
use warden_core::Policy;
use warden_emulator::{Emulator, Fixture};

/// The demo deployment's audit stream (WARDEN_AUDIT_STREAM_ARN, the
/// template's AuditStreamArn): the default policy points every active fleet
/// at it, the demo fleet on an older stream included.
const DEMO_STREAM: &str =
    "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-warden-audit";

/// Operations that change WorkLink state.
const CHANGING: [&str; 4] = [
    "SignOutUser",
    "RevokeDomainAccess",
    "RestoreDomainAccess",
    "UpdateAuditStreamConfiguration",
];

/// The printable sweep report for the demo fixture.
pub async fn report() -> anyhow::Result<String> {
    let fixture = Fixture::from_json(super::DEMO_FIXTURE).context("embedded demo fixture")?;
    let emulator = Emulator::new(fixture).start_local().await?;
    let clients =
        Clients::new(&load_sdk_config(&AwsSettings::local(emulator.endpoint_url())).await);
    let policy = Policy::from_yaml_str(DEFAULT_POLICY, "policies/default.yaml")
        .context("bundled default policy")?;
    // Live: this is a throwaway local emulator. The function itself is
    // dry-run unless WARDEN_DRY_RUN=false.
    let config = SweepConfig {
        dry_run: false,
        expected_audit_stream: Some(DEMO_STREAM.into()),
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
    let mut out = String::from("\nfleet-sweep: default policy, live against the local emulator\n");
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
