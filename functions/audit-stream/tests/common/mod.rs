//! Shared by the audit-stream tests: the emulator with the demo fixture, and
//! handlers wired to it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit_stream::Handler;
use lambda_runtime::{Context, LambdaEvent};
use warden_core::aws::actions::Executor;
use warden_core::aws::stream::{KinesisEvent, MemorySink, ProcessorConfig, StreamProcessor};
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::policy::Policy;
use warden_emulator::{Emulator, Fixture, RunningEmulator};

pub const CORP: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";

pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub fn read_event(name: &str) -> KinesisEvent {
    let text = std::fs::read_to_string(repo(&format!("events/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub async fn demo_emulator() -> RunningEmulator {
    let text = std::fs::read_to_string(repo("events/emulator/demo-fixture.json")).unwrap();
    Emulator::new(Fixture::from_json(&text).unwrap())
        .start_local()
        .await
        .unwrap()
}

pub fn default_policy() -> Policy {
    Policy::from_yaml_str(audit_stream::DEFAULT_POLICY, "policies/default.yaml").unwrap()
}

pub async fn clients(endpoint: &str, max_attempts: u32) -> Clients {
    let mut settings = AwsSettings::local(endpoint);
    settings.initial_backoff = Duration::from_millis(1);
    settings.max_backoff = Duration::from_millis(5);
    settings.max_attempts = max_attempts;
    Clients::new(&load_sdk_config(&settings).await)
}

pub type TestHandler = Handler<Executor, Arc<MemorySink>>;

/// A handler against the emulator, acting for real (dry-run off), with an
/// in-memory failure sink.
pub async fn handler(emu: &RunningEmulator, dry_run: bool) -> (TestHandler, Arc<MemorySink>) {
    handler_with(emu, dry_run, 3).await
}

pub async fn handler_with(
    emu: &RunningEmulator,
    dry_run: bool,
    max_attempts: u32,
) -> (TestHandler, Arc<MemorySink>) {
    let clients = clients(&emu.endpoint_url(), max_attempts).await;
    let sink = Arc::new(MemorySink::new());
    let processor = StreamProcessor::new(
        Arc::new(default_policy()),
        Executor::new(&clients, 8),
        sink.clone(),
        ProcessorConfig {
            default_fleet_arn: Some(CORP.into()),
            dry_run,
            ..ProcessorConfig::default()
        },
    );
    (Handler::new(processor, Duration::from_millis(500)), sink)
}

/// A Lambda event with a context whose deadline is `left` from now.
pub fn lambda_event(payload: KinesisEvent, left: Duration) -> LambdaEvent<KinesisEvent> {
    let mut ctx = Context::default();
    ctx.request_id = "00000000-0000-4000-8000-000000000001".into();
    ctx.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:audit-stream".into();
    ctx.deadline = (std::time::SystemTime::now() + left)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    LambdaEvent::new(payload, ctx)
}

/// (operation, user or domain) of every call, in order, injected faults left out.
pub fn calls(emu: &RunningEmulator) -> Vec<(String, String)> {
    emu.shared()
        .calls
        .snapshot()
        .into_iter()
        .filter(|c| !c.injected)
        .map(|c| {
            let who = c.params["Username"]
                .as_str()
                .or(c.params["DomainName"].as_str())
                .unwrap_or_default()
                .to_string();
            (c.operation, who)
        })
        .collect()
}
