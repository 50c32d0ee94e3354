//! The demo's instance-cleanup section: the function's own logic
//! (`instance_cleanup`) run twice against the demo fixture's
//! instances, with the emulator's clock moved past the grace period between
//! the passes: pass 1 marks the errored instances; one of them recovers;
//! pass 2 deletes the ones still errored and unmarks the recovered one.

use std::fmt::Write as _;

use anyhow::Context as _;
use instance_cleanup::{Cleaner, CleanupConfig, MemoryMarkStore, Overrides, Report};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::emf::Metrics;
use warden_core::aws::Clients;
use warden_core::jiff::SignedDuration;
use warden_core::shell::DEFAULT_POLICY;
use warden_core::Policy;
use warden_emulator::wsi::ProvisionState;
use warden_emulator::RunningEmulator;

/// The fixture's errored instance that recovers between the passes.
const RECOVERS: &str = "wsinst-0a1b2c3d4e5f60005";

/// Runs the two passes and returns the story: what was marked, deleted,
/// and why.
pub async fn run(emulator: &RunningEmulator, clients: &Clients) -> anyhow::Result<String> {
    let mut policy = Policy::from_yaml_str(DEFAULT_POLICY, "policies/default.yaml")
        .context("the embedded default policy")?;
    // Percentage caps are counted over the instances examined, which here are
    // only the 3 errored ones: 50% / 25% of 3 would refuse every mark and
    // deletion. The demo keeps the policy's absolute caps only.
    for cap in policy.settings.caps.values_mut() {
        cap.max_percent = None;
    }
    policy.settings.default_cap.max_percent = None;
    let config = CleanupConfig {
        dry_run: false,
        ..CleanupConfig::default()
    };
    let cleaner = Cleaner::new(policy, clients, MemoryMarkStore::new(), config);

    let mut out = String::new();
    writeln!(
        out,
        "\nInstance cleanup (policy rules cleanup-errored-instances / unmark-recovered-instances, absolute caps only, mark store in memory):"
    )?;
    let now = emulator.shared().clock.now();
    let r1 = pass(&cleaner, now).await?;
    story(&mut out, "pass 1", now, &r1)?;
    let later = emulator
        .shared()
        .clock
        .advance(SignedDuration::from_hours(25))
        .context("advance the emulator clock")?;
    writeln!(out, "  (the emulator clock moves 25 h forward)")?;
    if let Some(i) = emulator.shared().wsi().instances.get_mut(RECOVERS) {
        i.provision_state = ProvisionState::Allocated;
        i.workspace_instance_errors.clear();
        i.ec2_instance_errors.clear();
        writeln!(out, "  (meanwhile {RECOVERS} recovers: ALLOCATED)")?;
    }
    let r2 = pass(&cleaner, later).await?;
    story(&mut out, "pass 2", later, &r2)?;
    Ok(out)
}

async fn pass(
    cleaner: &Cleaner<MemoryMarkStore>,
    now: warden_core::jiff::Timestamp,
) -> anyhow::Result<Report> {
    cleaner
        .run(
            now,
            &Overrides::default(),
            Deadline::none(),
            &mut Metrics::new("demo"),
        )
        .await
        .context("cleanup pass")
}

fn story(
    out: &mut String,
    name: &str,
    now: warden_core::jiff::Timestamp,
    r: &Report,
) -> anyhow::Result<()> {
    writeln!(out, "{name} at {now}: {}", r.summary())?;
    for d in &r.decisions {
        writeln!(
            out,
            "  {:<9} {} [{}]: {}",
            d.decision.to_uppercase(),
            d.instance_id,
            d.outcome,
            d.why
        )?;
    }
    Ok(())
}
