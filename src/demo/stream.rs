//! The demo's audit-stream section: a sample WorkLink audit batch through the
//! audit-stream function's pipeline, against its own in-process emulator
//! (the demo fixture), and the story of what it did and why.
//!
//! The batches are the sample Kinesis events `events/kinesis-audit-batch.json`
//! and `events/kinesis-malformed.json`, embedded, handed straight to the
//! pipeline the Lambda handler runs (decode, evaluate, plan, execute, failure
//! sink): the same code path as after Lambda's event source. No Kinesis
//! stand-in is needed for that; `warden run audit-stream --moto` shows the
//! stream side.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use audit_stream::{
    decode_record_into, BatchReport, InvocationInfo, KinesisEvent, MemorySink, ProcessorConfig,
    StreamProcessor,
};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::executor::{Executor, Outcome};
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::plan::{Cause, Target};
use warden_core::{ActionKind, AuditEvent, Policy};
use warden_emulator::{Emulator, Fixture};

const AUDIT_BATCH: &str = include_str!("../../events/kinesis-audit-batch.json");
const MALFORMED_BATCH: &str = include_str!("../../events/kinesis-malformed.json");
const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";

/// Plays the sample batches and returns the story.
pub async fn run() -> anyhow::Result<String> {
    let fixture = Fixture::from_json(super::DEMO_FIXTURE).context("embedded demo fixture")?;
    let emulator = Emulator::new(fixture).start_local().await?;
    let clients =
        Clients::new(&load_sdk_config(&AwsSettings::local(emulator.endpoint_url())).await);
    let policy =
        Policy::from_yaml_str(warden_core::shell::DEFAULT_POLICY, "policies/default.yaml")?;
    let sink = Arc::new(MemorySink::new());
    let processor = StreamProcessor::new(
        Arc::new(policy),
        Executor::new(&clients, 8),
        sink.clone(),
        ProcessorConfig {
            default_fleet_arn: Some(FLEET.into()),
            dry_run: false,
            ..ProcessorConfig::default()
        },
    );

    let mut out = String::new();
    writeln!(
        out,
        "\naudit-stream: the sample audit batches through the function's pipeline\n\
         (policies/default.yaml, dry-run off, default fleet {FLEET}, a fresh emulator)"
    )?;
    for (name, text) in [
        ("events/kinesis-audit-batch.json", AUDIT_BATCH),
        ("events/kinesis-malformed.json", MALFORMED_BATCH),
    ] {
        let event: KinesisEvent =
            serde_json::from_str(text).with_context(|| format!("embedded {name}"))?;
        let inv = InvocationInfo {
            request_id: "demo",
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
            now: warden_core::jiff::Timestamp::now(),
            deadline: Deadline::none(),
        };
        let report = processor.process(event.clone(), &inv).await;
        story(&mut out, name, &event, &report, processor.policy())?;
    }

    after(&mut out, &emulator.shared().worklink())?;
    emulator.shutdown().await;
    Ok(out)
}

fn after(out: &mut String, wl: &warden_emulator::worklink::State) -> anyhow::Result<()> {
    if let Some(fleet) = wl.fleet(FLEET) {
        writeln!(out, "\nafterwards, in {FLEET}:")?;
        for d in &fleet.devices {
            writeln!(
                out,
                "  device {} ({}): {}",
                d.device_id,
                d.username,
                d.status.as_str()
            )?;
        }
        for d in &fleet.domains {
            writeln!(out, "  domain {}: {}", d.domain_name, d.status.as_str())?;
        }
    }
    Ok(())
}

/// "SignIn from 203.0.113.50" / "VisitPage https://... from 10.1.2.3".
fn describe(e: &AuditEvent) -> String {
    let mut s = e.event_type.as_deref().unwrap_or("event").to_owned();
    if let Some(url) = &e.url {
        let _ = write!(s, " {url}");
    }
    if let Some(ip) = &e.source_ip {
        let _ = write!(s, " from {ip}");
    }
    s
}

fn story(
    out: &mut String,
    name: &str,
    event: &KinesisEvent,
    report: &BatchReport,
    policy: &Policy,
) -> anyhow::Result<()> {
    // The batch's events again, to say what each cause was.
    let mut events = Vec::new();
    let mut budget = audit_stream::record::BatchBudget::new(Default::default());
    for r in &event.records {
        let id = r.event_id.clone().unwrap_or_default();
        let _ = decode_record_into(
            &r.kinesis.data,
            &id,
            policy.field_map(),
            &mut budget,
            &mut events,
        );
    }
    let by_id: HashMap<&str, &AuditEvent> = events.iter().map(|e| (&*e.source_id, e)).collect();
    let cause_text = |causes: &[Cause], count: usize| -> String {
        let first = causes.first().and_then(|c| match c {
            Cause::Event { source_id, .. } => by_id.get(source_id.as_str()),
            Cause::Resource { .. } => None,
        });
        match (first, count) {
            (Some(e), 1) => describe(e),
            (Some(e), n) => format!("{n} events, the first: {}", describe(e)),
            (None, n) => format!("{n} events"),
        }
    };
    let why = |rules: &[String]| -> String {
        rules
            .iter()
            .map(
                |r| match policy.rule(r).and_then(|r| r.description.as_deref()) {
                    Some(d) => format!("{r} ({d})"),
                    None => r.clone(),
                },
            )
            .collect::<Vec<_>>()
            .join("; ")
    };

    writeln!(
        out,
        "\nbatch {name}: {} records, {} events, {} matched a rule, {} malformed",
        report.records,
        report.events,
        report.events_matched,
        report.malformed.len()
    )?;
    for kind in [ActionKind::SignOutUser, ActionKind::RevokeDomain] {
        let done: Vec<_> = report
            .executed
            .iter()
            .filter(|r| r.action.kind == kind && r.outcome.is_success())
            .collect();
        if done.is_empty() {
            continue;
        }
        writeln!(
            out,
            "{}",
            if kind == ActionKind::SignOutUser {
                "signed out:"
            } else {
                "domain access revoked:"
            }
        )?;
        for r in done {
            let who = match &r.action.target {
                Target::FleetUser { user, .. } => user.clone(),
                Target::FleetDomain { domain, .. } => domain.clone(),
                other => other.to_string(),
            };
            let note = match &r.outcome {
                Outcome::Already { detail } => format!(" [{detail}]"),
                _ => String::new(),
            };
            writeln!(out, "  - {who}{note}")?;
            writeln!(out, "      why: {}", why(&r.action.rules))?;
            writeln!(
                out,
                "      cause: {}",
                cause_text(&r.action.causes, r.action.cause_count)
            )?;
        }
    }
    for r in report.executed.iter().filter(|r| !r.outcome.is_success()) {
        let detail = match &r.outcome {
            Outcome::Failed(f) => f.to_string(),
            o => o.label().to_string(),
        };
        writeln!(
            out,
            "finding: {} {} failed: {detail}\n      rule: {}; cause: {}",
            r.action.kind,
            r.action.target,
            r.action.rules.join(", "),
            cause_text(&r.action.causes, r.action.cause_count)
        )?;
    }
    for r in &report.plan.refusals {
        writeln!(
            out,
            "refused: {} {}: {}\n      rule: {}; cause: {}",
            r.action.kind,
            r.action.target,
            r.reason,
            r.action.rules.join(", "),
            cause_text(&r.action.causes, r.action.cause_count)
        )?;
    }
    for m in &report.malformed {
        writeln!(
            out,
            "malformed, sent to the failure sink: {}: {}",
            m.event_id, m.reason
        )?;
    }
    match &report.failure {
        Some(f) => writeln!(
            out,
            "batch item failure: Lambda would re-deliver from {} ({})",
            f.sequence_number, f.reason
        )?,
        None => writeln!(out, "batch item failures: none")?,
    }
    Ok(())
}
