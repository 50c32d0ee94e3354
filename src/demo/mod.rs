//! `warden demo`: the main job, locally, on embedded defaults.
//!
//! Starts the emulator in-process with the demo fixture and reads the fleet
//! and instance state back through the real SDK clients, exactly as the
//! functions do.

use std::fmt::Write as _;

mod cleanup;
mod portals;
pub mod stream;
mod sweep;

use anyhow::Context;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_emulator::{Emulator, Fixture};

/// The demo fixture, embedded so `warden demo` needs no files.
pub const DEMO_FIXTURE: &str = include_str!("../../events/emulator/demo-fixture.json");

pub async fn run() -> anyhow::Result<String> {
    let fixture = Fixture::from_json(DEMO_FIXTURE).context("embedded demo fixture")?;
    let emulator = Emulator::new(fixture).start_local().await?;
    let config = load_sdk_config(&AwsSettings::local(emulator.endpoint_url())).await;
    let clients = Clients::new(&config);
    let mut out = String::new();
    writeln!(
        out,
        "emulator: {} (clock {})",
        emulator.endpoint_url(),
        emulator.shared().clock.now()
    )?;
    fleet_report(&clients, &mut out).await?;
    instance_report(&clients, &mut out).await?;
    out.push_str(&cleanup::run(&emulator, &clients).await?);
    emulator.shutdown().await;
    out.push_str(&sweep::report().await?);
    out.push_str(&portals::report().await?);
    out.push_str(&stream::run().await?);
    Ok(out)
}

#[allow(deprecated)] // every WorkLink operation is marked deprecated (service retired)
async fn fleet_report(clients: &Clients, out: &mut String) -> anyhow::Result<()> {
    let wl = &clients.worklink;
    let fleets: Vec<_> = wl
        .list_fleets()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .context("ListFleets")?
        .into_iter()
        .flat_map(|page| page.fleet_summary_list.unwrap_or_default())
        .collect();
    writeln!(out, "\nWorkLink fleets: {}", fleets.len())?;
    for fleet in fleets {
        let arn = fleet.fleet_arn().unwrap_or_default();
        writeln!(
            out,
            "- {} [{}] {}",
            fleet.fleet_name().unwrap_or_default(),
            fleet.fleet_status().map(|s| s.as_str()).unwrap_or("?"),
            arn
        )?;
        let audit = wl
            .describe_audit_stream_configuration()
            .fleet_arn(arn)
            .send()
            .await
            .with_context(|| format!("DescribeAuditStreamConfiguration {arn}"))?;
        writeln!(
            out,
            "    audit stream: {}",
            audit.audit_stream_arn().unwrap_or("(none)")
        )?;
        let devices: Vec<_> = wl
            .list_devices()
            .fleet_arn(arn)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .with_context(|| format!("ListDevices {arn}"))?
            .into_iter()
            .flat_map(|page| page.devices.unwrap_or_default())
            .collect();
        writeln!(out, "    devices: {}", devices.len())?;
        for d in devices {
            let id = d.device_id().unwrap_or_default();
            let desc = wl
                .describe_device()
                .fleet_arn(arn)
                .device_id(id)
                .send()
                .await
                .with_context(|| format!("DescribeDevice {id}"))?;
            writeln!(
                out,
                "      {id} user={} status={} os={} {}",
                desc.username().unwrap_or("?"),
                desc.status().map(|s| s.as_str()).unwrap_or("?"),
                desc.operating_system().unwrap_or("?"),
                desc.operating_system_version().unwrap_or("?"),
            )?;
        }
        let domains: Vec<_> = wl
            .list_domains()
            .fleet_arn(arn)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .with_context(|| format!("ListDomains {arn}"))?
            .into_iter()
            .flat_map(|page| page.domains.unwrap_or_default())
            .collect();
        writeln!(out, "    domains: {}", domains.len())?;
        for d in domains {
            writeln!(
                out,
                "      {} [{}]",
                d.domain_name(),
                d.domain_status().as_str()
            )?;
        }
    }
    Ok(())
}

async fn instance_report(clients: &Clients, out: &mut String) -> anyhow::Result<()> {
    let instances: Vec<_> = clients
        .wsi
        .list_workspace_instances()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .context("ListWorkspaceInstances")?;
    writeln!(out, "\nWorkSpaces Instances: {}", instances.len())?;
    for i in instances {
        let id = i.workspace_instance_id().unwrap_or_default();
        let state = i.provision_state().map(|s| s.as_str()).unwrap_or("?");
        writeln!(out, "- {id} [{state}]")?;
        if state.starts_with("ERROR_") {
            let detail = clients
                .wsi
                .get_workspace_instance()
                .workspace_instance_id(id)
                .send()
                .await
                .with_context(|| format!("GetWorkspaceInstance {id}"))?;
            for e in detail.workspace_instance_errors() {
                writeln!(
                    out,
                    "    error {}: {}",
                    e.error_code().unwrap_or("?"),
                    e.error_message().unwrap_or("")
                )?;
            }
        }
    }
    Ok(())
}
