//! Shared by the audit-stream tests: the emulator with the demo fixture, and
//! handlers wired to it.
#![allow(dead_code)]

pub mod scenario;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use audit_stream::Handler;
use audit_stream::{BatchReport, KinesisEvent, MemorySink, ProcessorConfig, StreamProcessor};
use lambda_runtime::{Context, LambdaEvent};
use warden_core::aws::deadline::FailureKind;
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::{ActionRecord, Executor, Outcome};
use warden_core::aws::Clients;
use warden_core::policy::Policy;
use warden_core::ActionKind;
use warden_emulator::function::{FunctionProcess, Launch};
use warden_emulator::{Emulator, FaultRule, FaultsConfig, Fixture, RunningEmulator};

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
    Policy::from_yaml_str(warden_core::shell::DEFAULT_POLICY, "policies/default.yaml").unwrap()
}

pub async fn clients(endpoint: &str, max_attempts: u32) -> Clients {
    Clients::local(endpoint, max_attempts).await
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

/// [`handler`] with a durable state store (thresholds across invocations,
/// the action ledger).
pub async fn stateful_handler(
    emu: &RunningEmulator,
    store: Arc<dyn warden_core::state::StateStore>,
) -> TestHandler {
    let clients = clients(&emu.endpoint_url(), 3).await;
    let processor = StreamProcessor::new(
        Arc::new(default_policy()),
        Executor::new(&clients, 8),
        Arc::new(MemorySink::new()),
        ProcessorConfig {
            default_fleet_arn: Some(CORP.into()),
            dry_run: false,
            ..ProcessorConfig::default()
        },
    )
    .with_state(store);
    Handler::new(processor, Duration::from_millis(500))
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

/// The real `audit-stream` binary under a local Lambda Runtime API (the
/// shared harness, hermetic environment), once it asked for its first event,
/// or its init error with what it wrote.
pub async fn start_function(
    vars: &[(&str, String)],
) -> Result<FunctionProcess, (warden_emulator::runtime_api::RuntimeApiError, Vec<String>)> {
    // WARDEN_AUDIT_STREAM_BIN runs the same tests against another build of
    // the function (the release binary, or `sam build`'s bootstrap).
    let binary = std::env::var("WARDEN_AUDIT_STREAM_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_audit-stream").to_owned());
    let launch =
        Launch::new(binary, "audit-stream").vars(vars.iter().map(|(k, v)| (*k, v.as_str())));
    FunctionProcess::start(&launch, Duration::from_secs(30)).await
}

/// The item identifiers a report hands back to Lambda as batch item
/// failures, in order.
pub fn failure_ids(report: &BatchReport) -> Vec<String> {
    report
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect()
}

/// The executed action whose target names `needle` (the first one).
pub fn executed_for<'a>(report: &'a BatchReport, needle: &str) -> &'a ActionRecord {
    report
        .executed
        .iter()
        .find(|r| r.action.target.to_string().contains(needle))
        .unwrap_or_else(|| panic!("no executed action targets {needle:?}"))
}

/// The first executed action of `kind`.
pub fn executed_of(report: &BatchReport, kind: ActionKind) -> &ActionRecord {
    report
        .executed
        .iter()
        .find(|r| r.action.kind == kind)
        .unwrap_or_else(|| panic!("no executed {kind:?} action"))
}

/// Asserts `outcome` is a permanent failure with `code`; `case` names it.
pub fn assert_permanent(outcome: &Outcome, code: &str, case: &str) {
    match outcome {
        Outcome::Failed(f) => {
            assert_eq!(f.kind, FailureKind::Permanent, "{case}");
            assert_eq!(f.code, code, "{case}");
        }
        other => panic!("{case}: expected a permanent failure {code}, got {other:?}"),
    }
}

/// The status of `domain` in the corp fleet, as the emulator holds it.
pub fn domain_status(emu: &RunningEmulator, domain: &str) -> String {
    let wl = emu.shared().worklink();
    let corp = wl.fleet(CORP).unwrap();
    corp.domains
        .iter()
        .find(|d| d.domain_name == domain)
        .unwrap_or_else(|| panic!("no domain {domain} in {CORP}"))
        .status
        .as_str()
        .to_string()
}

/// Which fault `fail_every` injects.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    Throttle,
    ServerError,
}

/// Answers every call to `operation` with `fault`, drawn with `seed`.
pub fn fail_every(emu: &RunningEmulator, operation: &str, fault: Fault, seed: u64) {
    let mut rule = FaultRule {
        operation: Some(operation.into()),
        ..FaultRule::default()
    };
    match fault {
        Fault::Throttle => rule.throttle_rate = 1.0,
        Fault::ServerError => rule.server_error_rate = 1.0,
    }
    emu.shared().faults.set(FaultsConfig {
        rules: vec![rule],
        seed,
    });
}

/// Asserts each `(metric, action dimension, value)` of `rows`; the message
/// names the metric and `case`.
pub fn assert_metrics(metrics: &Metrics, rows: &[(&str, Option<&str>, f64)], case: &str) {
    for &(name, action, want) in rows {
        let got = match action {
            Some(a) => metrics.get_by(name, "Action", a),
            None => metrics.get(name),
        };
        assert_eq!(got, want, "{case}: metric {name} (Action={action:?})");
    }
}
