//! `warden run audit-stream` and `warden replay`: the local Kinesis
//! event-source mapping feeding the audit-stream function, live or over what
//! a stream still holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use audit_stream::{
    BatchReport, EsmConfig, EsmReport, FailureMessage, FailureSink, LocalEsm, MemorySink,
    ProcessorConfig, SqsSink, StartingPosition, StreamProcessor,
};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::executor::{Executor, Outcome};
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_core::plan::Cause;
use warden_core::Policy;

use crate::esm::{BinaryFunction, InProcessFunction};
use crate::progress::Progress;

/// `warden run <function>`.
#[derive(Debug, clap::Subcommand)]
pub enum RunCmd {
    /// Feed a Kinesis stream to the audit-stream function as Lambda would:
    /// every shard, batches with base64 data, partial-batch responses
    /// honoured, bisection on function errors, a failure sink. Follows the
    /// stream until Ctrl-C.
    AuditStream(RunArgs),
    /// One fleet sweep (the fleet-sweep function's code) against WorkLink or
    /// the emulator, report on stdout; fleets and devices as progress on a
    /// terminal.
    FleetSweep(SweepArgs),
}

/// `warden run fleet-sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The policy file. Default: the embedded policies/default.yaml.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Endpoint of WorkLink (the emulator, e.g. http://127.0.0.1:4566).
    /// Default: the AWS environment.
    #[arg(long)]
    worklink_endpoint: Option<String>,
    /// The region (never looked up from instance metadata).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Only these fleets (repeatable). Default: every fleet listed.
    #[arg(long = "fleet", value_name = "ARN")]
    fleets: Vec<String>,
    /// The audit stream every active fleet should use (the function's
    /// WARDEN_AUDIT_STREAM_ARN); the default policy's `ensure-audit-stream`
    /// needs it.
    #[arg(long, env = "WARDEN_AUDIT_STREAM_ARN")]
    audit_stream_arn: Option<String>,
    /// Act for real (default: dry-run, nothing changed).
    #[arg(long)]
    execute: bool,
    /// `text` or `json` (the function's report).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// What `run` and `replay` share.
#[derive(Debug, clap::Args)]
pub struct StreamArgs {
    /// The Kinesis stream (an Amazon WorkLink audit stream). `replay`
    /// takes `--from-file` instead for archived logs.
    #[arg(long)]
    stream: Option<String>,
    /// Endpoint of Kinesis and SQS (moto, e.g. http://127.0.0.1:5000).
    /// Default: the AWS environment.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Endpoint of WorkLink (the emulator, e.g. http://127.0.0.1:4566).
    /// Default: the AWS environment.
    #[arg(long)]
    worklink_endpoint: Option<String>,
    /// The region (never looked up from instance metadata).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// The fleet for events and rules that name none.
    #[arg(long)]
    default_fleet: Option<String>,
    /// Cap overrides, as the function's WARDEN_CAPS variable: `sign-out-user=200,revoke-domain=5`.
    #[arg(long)]
    caps: Option<String>,
    /// Records per invocation (Lambda's BatchSize).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch_size: u64,
    /// WorkLink calls in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrency: u64,
    /// Plan and log only (the default).
    #[arg(long)]
    dry_run: bool,
    /// Act for real: sign users out, revoke domains.
    #[arg(long, conflicts_with = "dry_run")]
    execute: bool,
}

/// `warden run audit-stream`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    common: StreamArgs,
    /// The policy file. Default: the embedded policies/default.yaml.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Where to start: `latest` (new records only) or `trim-horizon` (all
    /// the stream holds).
    #[arg(long, default_value = "latest", value_parser = ["latest", "trim-horizon"])]
    starting_position: String,
    /// Wait up to this long to fill a batch (Lambda's MaximumBatchingWindowInSeconds), e.g. `1s`.
    #[arg(long, default_value = "0s")]
    batching_window: String,
    /// Failed deliveries of a record before it goes to the failure sink.
    #[arg(long, default_value_t = 3)]
    max_retries: u32,
    /// The failure queue (SQS URL). Default: with --moto, a queue it
    /// creates; else failed records are printed.
    #[arg(long)]
    failure_queue_url: Option<String>,
    /// Run the real function binary (e.g. target/release/audit-stream)
    /// under a local Lambda Runtime API instead of in this process.
    #[arg(long)]
    function_binary: Option<PathBuf>,
    /// Start moto on a free loopback port for Kinesis and SQS, with the
    /// stream (2 shards) and a failure queue.
    #[arg(long, conflicts_with = "endpoint_url")]
    moto: bool,
    /// Stop once every shard is caught up instead of following.
    #[arg(long)]
    until_caught_up: bool,
}

/// `warden replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    common: StreamArgs,
    /// The policy to try.
    #[arg(long)]
    policy: PathBuf,
    /// Archived audit logs instead of a stream: NDJSON, gzipped NDJSON
    /// (Firehose objects), a Lambda Kinesis event JSON, or a directory of
    /// these, walked in name order (repeatable). Always dry-run.
    #[arg(long = "from-file", value_name = "PATH", conflicts_with = "execute")]
    from_file: Vec<PathBuf>,
    /// How far back. A stream: a duration (`24h`, `90m`, `7d`; default 24h,
    /// the stream's retention is the limit). Files: only events at or after
    /// this time (RFC 3339 or a duration back from now; default: all).
    #[arg(long)]
    since: Option<String>,
    /// Files: only events before this time (RFC 3339 or a duration back from now).
    #[arg(long, requires = "from_file")]
    until: Option<String>,
    /// `text` or `json` (json: one document with the summary and every
    /// planned action with its rule, target, causes and outcome).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(cmd: RunCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RunCmd::AuditStream(args) => runtime()?.block_on(run_audit_stream(args)),
        RunCmd::FleetSweep(args) => runtime()?.block_on(run_fleet_sweep(args)),
    }
}

pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    if !args.from_file.is_empty() {
        if args.common.stream.is_some() {
            bail!("give --stream or --from-file, not both");
        }
        return replay_files(&args);
    }
    if args.format != "text" {
        bail!("--format json is for --from-file replays");
    }
    let out = runtime()?.block_on(replay_stream(args))?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `warden replay --from-file`: a backtest on archived logs.
fn replay_files(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let policy = load_policy(Some(&args.policy), args.common.caps.as_deref())?;
    let opts = crate::backtest::Options {
        batch_size: args.common.batch_size as usize,
        since: args
            .since
            .as_deref()
            .map(|v| crate::backtest::parse_time("--since", v))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|v| crate::backtest::parse_time("--until", v))
            .transpose()?,
        default_fleet: args.common.default_fleet.clone(),
        progress: true,
    };
    let result = crate::backtest::run(&policy, &args.from_file, &opts)?;
    if args.format == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&result.to_json(&policy.source, &opts))?
        );
    } else {
        print!("{}", result.to_text(&policy.source));
    }
    Ok(ExitCode::SUCCESS)
}

/// The stream named by `--stream` (required outside `replay --from-file`).
fn stream_name(args: &StreamArgs) -> anyhow::Result<&str> {
    args.stream
        .as_deref()
        .context("--stream is required (the Kinesis stream to read)")
}

fn load_policy(path: Option<&PathBuf>, caps: Option<&str>) -> anyhow::Result<Policy> {
    let mut policy = match path {
        Some(p) => Policy::from_file(p)?,
        None => Policy::from_yaml_str(warden_core::shell::DEFAULT_POLICY, "policies/default.yaml")?,
    };
    if let Some(caps) = caps {
        audit_stream::apply_caps(&mut policy, &audit_stream::parse_caps(caps)?);
    }
    Ok(policy)
}

fn settings(endpoint: Option<&str>, region: &str) -> AwsSettings {
    let mut s = match endpoint {
        Some(url) => AwsSettings::local(url),
        None => AwsSettings::default(),
    };
    s.region = Some(region.to_owned());
    s
}

/// Stream-side clients (Kinesis, SQS) and WorkLink may live at different
/// endpoints (moto and the emulator).
async fn clients(args: &StreamArgs, stream_endpoint: Option<&str>) -> (Clients, Clients) {
    let stream = Clients::new(&load_sdk_config(&settings(stream_endpoint, &args.region)).await);
    let worklink = Clients::new(
        &load_sdk_config(&settings(args.worklink_endpoint.as_deref(), &args.region)).await,
    );
    (stream, worklink)
}

/// Failed records printed on stdout, when no queue is given.
struct PrintSink;

impl FailureSink for PrintSink {
    async fn send_all(
        &self,
        messages: &[FailureMessage],
        _deadline: Deadline,
    ) -> Vec<Result<(), String>> {
        for m in messages {
            println!("failure sink: {}", m.body);
        }
        messages.iter().map(|_| Ok(())).collect()
    }
}

/// Either sink, chosen at run time.
enum AnySink {
    Sqs(SqsSink),
    Print(PrintSink),
}

impl FailureSink for AnySink {
    async fn send_all(
        &self,
        messages: &[FailureMessage],
        deadline: Deadline,
    ) -> Vec<Result<(), String>> {
        match self {
            AnySink::Sqs(s) => s.send_all(messages, deadline).await,
            AnySink::Print(s) => s.send_all(messages, deadline).await,
        }
    }
}

async fn run_audit_stream(args: RunArgs) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    let dry_run = !common.execute;
    let policy = load_policy(args.policy.as_ref(), common.caps.as_deref())?;
    let stream = stream_name(common)?;

    let moto = if args.moto {
        let m = warden_emulator::moto::MotoServer::start()?;
        eprintln!("moto (Kinesis, SQS): {}", m.endpoint_url());
        Some(m)
    } else {
        None
    };
    let stream_endpoint = moto
        .as_ref()
        .map(|m| m.endpoint_url())
        .or(common.endpoint_url.clone());
    let (stream_clients, wl_clients) = clients(common, stream_endpoint.as_deref()).await;
    let mut queue_url = args.failure_queue_url.clone();
    if moto.is_some() {
        let exists = stream_clients
            .kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .is_ok();
        if !exists {
            stream_clients
                .kinesis
                .create_stream()
                .stream_name(stream)
                .shard_count(2)
                .send()
                .await
                .context("create the stream on moto")?;
            eprintln!("created stream {stream} (2 shards)");
        }
        if queue_url.is_none() {
            let q = stream_clients
                .sqs
                .create_queue()
                .queue_name("warden-audit-stream-failures")
                .send()
                .await
                .context("create the failure queue on moto")?;
            queue_url = q.queue_url().map(str::to_owned);
            eprintln!(
                "failure queue: {}",
                queue_url.as_deref().unwrap_or_default()
            );
        }
    }

    let mut config = EsmConfig::new(stream);
    config.batch_size = common.batch_size as usize;
    config.starting_position = match args.starting_position.as_str() {
        "trim-horizon" => StartingPosition::TrimHorizon,
        _ => StartingPosition::Latest,
    };
    config.batching_window = warden_core::time::parse_duration(&args.batching_window)
        .map_err(anyhow::Error::msg)
        .and_then(|d| Duration::try_from(d).context("--batching-window must not be negative"))
        .context("--batching-window")?;
    config.max_retry_attempts = Some(args.max_retries);
    config.follow = !args.until_caught_up;

    let sink = match &queue_url {
        Some(url) => AnySink::Sqs(SqsSink::new(
            stream_clients.sqs.clone(),
            url.clone(),
            common.concurrency as usize,
        )),
        None => AnySink::Print(PrintSink),
    };
    // The function's sink for malformed records and the mapping's for
    // records past their retries: one place.
    let sink = Arc::new(sink);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping (Ctrl-C)...");
            let _ = stop.send(true);
        }
    });
    eprintln!(
        "following {} ({}), {}; Ctrl-C stops",
        stream,
        args.starting_position,
        if dry_run {
            "dry-run"
        } else {
            "EXECUTING actions"
        }
    );

    let report = if let Some(binary) = &args.function_binary {
        let Some(url) = &queue_url else {
            bail!("--function-binary needs a failure queue: --failure-queue-url or --moto");
        };
        let mut vars: Vec<(String, String)> = vec![
            ("WARDEN_DRY_RUN".into(), dry_run.to_string()),
            ("WARDEN_CONCURRENCY".into(), common.concurrency.to_string()),
            ("WARDEN_FAILURE_QUEUE_URL".into(), url.clone()),
            // Thresholds count in the function's process, as in-process.
            ("WARDEN_STATE_TABLE".into(), "memory:".into()),
        ];
        if let Some(p) = &args.policy {
            let abs = std::fs::canonicalize(p).with_context(|| p.display().to_string())?;
            vars.push(("WARDEN_POLICY_FILE".into(), abs.display().to_string()));
        }
        if let Some(f) = &common.default_fleet {
            vars.push(("WARDEN_DEFAULT_FLEET_ARN".into(), f.clone()));
        }
        if let Some(c) = &common.caps {
            vars.push(("WARDEN_CAPS".into(), c.clone()));
        }
        if let Some(e) = &stream_endpoint {
            vars.push(("AWS_ENDPOINT_URL_SQS".into(), e.clone()));
        }
        if let Some(e) = &common.worklink_endpoint {
            vars.push(("AWS_ENDPOINT_URL_WORKLINK".into(), e.clone()));
        }
        if stream_endpoint.is_some() || common.worklink_endpoint.is_some() {
            // Local stand-ins: the same fixed test credentials the CLI uses.
            let local = AwsSettings::local("http://127.0.0.1");
            if let Some((k, s)) = local.static_credentials {
                vars.push(("AWS_ACCESS_KEY_ID".into(), k));
                vars.push(("AWS_SECRET_ACCESS_KEY".into(), s));
            }
        }
        vars.push(("AWS_REGION".into(), common.region.clone()));
        let function = BinaryFunction::start(binary, &vars).await?;
        let esm = LocalEsm::new(stream_clients.kinesis.clone(), function, sink, config);
        esm.run(stop_rx).await?
    } else {
        let processor = StreamProcessor::new(
            Arc::new(policy),
            Executor::new(&wl_clients, common.concurrency as usize),
            sink.clone(),
            ProcessorConfig {
                default_fleet_arn: common.default_fleet.clone(),
                dry_run,
                ..ProcessorConfig::default()
            },
        );
        let function = PrintingFunction(InProcessFunction::new(processor, true));
        let esm = LocalEsm::new(stream_clients.kinesis.clone(), function, sink, config);
        esm.run(stop_rx).await?
    };
    print!("{}", esm_summary(&report));
    drop(moto);
    Ok(ExitCode::SUCCESS)
}

/// The in-process function, printing each batch as it is done.
struct PrintingFunction<R, S>(InProcessFunction<R, S>);

impl<R, S> audit_stream::Invoke for PrintingFunction<R, S>
where
    R: audit_stream::ActionRunner,
    S: FailureSink,
{
    async fn invoke(
        &self,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<audit_stream::KinesisEventResponse, audit_stream::FunctionError> {
        let r = self.0.invoke(payload, timeout).await;
        for report in self.0.take_reports() {
            print!("{}", batch_summary(&report));
        }
        r
    }
}

fn batch_summary(r: &BatchReport) -> String {
    let mut out = format!(
        "batch: {} records, {} events, {} malformed, {} matched",
        r.records,
        r.events,
        r.malformed.len(),
        r.events_matched
    );
    match &r.failure {
        Some(f) => {
            let _ = writeln!(out, "; retry from {} ({})", f.sequence_number, f.reason);
        }
        None => out.push('\n'),
    }
    for rec in &r.executed {
        let _ = writeln!(
            out,
            "  {} {} {} (rules: {})",
            rec.outcome.label(),
            rec.action.kind,
            rec.action.target,
            rec.action.rules.join(", ")
        );
    }
    for refusal in &r.plan.refusals {
        let _ = writeln!(
            out,
            "  refused {} {}: {}",
            refusal.action.kind, refusal.action.target, refusal.reason
        );
    }
    for m in &r.malformed {
        let _ = writeln!(out, "  malformed {}: {}", m.event_id, m.reason);
    }
    out
}

fn esm_summary(report: &EsmReport) -> String {
    let mut out = format!(
        "stream {}: {} records read, {} processed, {} to the failure sink, {} invocations\n",
        report.stream_arn,
        report.records_read(),
        report.records_processed(),
        report.records_to_sink(),
        report.invocations()
    );
    for s in &report.shards {
        let _ = writeln!(
            out,
            "  {}: {} read, {} processed, {} invocations, {} partial failures, {} function errors, {} bisections, checkpoint {}",
            s.shard_id,
            s.records_read,
            s.records_processed,
            s.invocations,
            s.partial_failures,
            s.function_errors,
            s.bisections,
            s.checkpoint.as_deref().unwrap_or("-")
        );
    }
    out
}

async fn replay_stream(args: ReplayArgs) -> anyhow::Result<String> {
    let common = &args.common;
    let dry_run = !common.execute;
    let policy = load_policy(Some(&args.policy), common.caps.as_deref())?;
    let stream = stream_name(common)?;
    let since = warden_core::time::parse_duration(args.since.as_deref().unwrap_or("24h"))
        .map_err(anyhow::Error::msg)
        .context("--since")?;
    let from = warden_core::jiff::Timestamp::now()
        .checked_sub(since)
        .context("--since is too far back")?;
    let (stream_clients, wl_clients) = clients(common, common.endpoint_url.as_deref()).await;
    let mut config = EsmConfig::new(stream);
    config.batch_size = common.batch_size as usize;
    config.starting_position = StartingPosition::AtTimestamp(from);
    config.follow = false;
    let sink = Arc::new(MemorySink::new());
    let processor = StreamProcessor::new(
        Arc::new(policy),
        Executor::new(&wl_clients, common.concurrency as usize),
        sink.clone(),
        ProcessorConfig {
            default_fleet_arn: common.default_fleet.clone(),
            dry_run,
            ..ProcessorConfig::default()
        },
    );
    let policy_name = processor.policy().source.clone();
    let progress = Progress::stderr("records");
    progress.set_prefix(&format!("replay {stream}"));
    let function = InProcessFunction::new(processor, true).with_progress(progress);
    let esm = LocalEsm::new(
        stream_clients.kinesis.clone(),
        function,
        sink.clone(),
        config,
    );
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let report = esm.run(stop_rx).await;
    if let Some(p) = esm.invoker().progress() {
        p.finish();
    }
    let report = report?;
    let reports = esm.invoker().take_reports();
    Ok(replay_summary(
        stream,
        &policy_name,
        from,
        dry_run,
        &report,
        &reports,
        &sink.messages(),
    ))
}

#[derive(Default)]
struct Aggregate {
    rules: Vec<String>,
    causes: Vec<String>,
    cause_count: usize,
    outcomes: Vec<&'static str>,
}

fn replay_summary(
    stream: &str,
    policy: &str,
    from: warden_core::jiff::Timestamp,
    dry_run: bool,
    esm: &EsmReport,
    reports: &[BatchReport],
    sink: &[FailureMessage],
) -> String {
    let mut out = String::new();
    let events: usize = reports.iter().map(|r| r.events).sum();
    let malformed: usize = reports.iter().map(|r| r.malformed.len()).sum();
    let _ = writeln!(
        out,
        "replay of {stream} since {from:.0} with {policy} ({})",
        if dry_run {
            "dry-run: nothing executed"
        } else {
            "EXECUTED"
        }
    );
    let _ = writeln!(
        out,
        "read {} records over {} shards in {} batches: {} events, {} malformed",
        esm.records_read(),
        esm.shards.len(),
        esm.invocations(),
        events,
        malformed
    );
    let mut actions: BTreeMap<(String, String), Aggregate> = BTreeMap::new();
    for r in reports {
        for rec in &r.executed {
            let a = actions
                .entry((rec.action.kind.to_string(), rec.action.target.to_string()))
                .or_default();
            for rule in &rec.action.rules {
                if !a.rules.contains(rule) {
                    a.rules.push(rule.clone());
                }
            }
            a.cause_count += rec.action.cause_count;
            for c in rec
                .action
                .causes
                .iter()
                .take(3usize.saturating_sub(a.causes.len()))
            {
                if let Cause::Event { source_id, .. } = c {
                    a.causes.push(source_id.clone());
                }
            }
            let label = match &rec.outcome {
                Outcome::DryRun => "would",
                o => o.label(),
            };
            if !a.outcomes.contains(&label) {
                a.outcomes.push(label);
            }
        }
    }
    let users = actions.keys().filter(|(k, _)| k == "sign-out-user").count();
    let domains = actions.keys().filter(|(k, _)| k == "revoke-domain").count();
    let _ = writeln!(
        out,
        "{} sign out {users} user(s) and revoke {domains} domain(s):",
        if dry_run { "it would" } else { "it did" }
    );
    for ((kind, target), a) in &actions {
        let _ = writeln!(
            out,
            "  [{}] {kind} {target}\n      rules: {}; {} event(s), first: {}",
            a.outcomes.join("/"),
            a.rules.join(", "),
            a.cause_count,
            a.causes.join(", ")
        );
    }
    crate::backtest::write_refusals(&mut out, reports.iter().flat_map(|r| &r.plan.refusals));
    let skipped: Vec<_> = reports.iter().flat_map(|r| &r.plan.skipped).collect();
    if !skipped.is_empty() {
        let _ = writeln!(out, "skipped (could not be formed): {}", skipped.len());
        for s in skipped.iter().take(10) {
            let _ = writeln!(out, "  {} from rule {}: {}", s.kind, s.rule, s.reason);
        }
    }
    if !sink.is_empty() {
        let _ = writeln!(out, "malformed or failed records ({}):", sink.len());
        for m in sink {
            let body = m.json();
            let _ = writeln!(
                out,
                "  {}: {}",
                m.event_id,
                body["reason"]["message"].as_str().unwrap_or_default()
            );
        }
    }
    out
}

/// `warden run fleet-sweep`: one sweep, the report on stdout.
async fn run_fleet_sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    use std::sync::atomic::{AtomicUsize, Ordering};

    let policy = load_policy(args.policy.as_ref(), None)?;
    let clients = Clients::new(
        &load_sdk_config(&settings(args.worklink_endpoint.as_deref(), &args.region)).await,
    );
    let config = fleet_sweep::SweepConfig {
        dry_run: !args.execute,
        expected_audit_stream: args.audit_stream_arn.clone(),
        fleet_arns: args.fleets.clone(),
        ..fleet_sweep::SweepConfig::default()
    };
    let progress = Arc::new(Progress::stderr("devices"));
    progress.set_prefix("fleet-sweep");
    let (p, swept) = (progress.clone(), AtomicUsize::new(0));
    let sweeper = fleet_sweep::Sweeper::new(policy, &clients, config)?.with_fleet_progress(
        Arc::new(move |fleet, total| {
            let n = swept.fetch_add(1, Ordering::Relaxed) + 1;
            let name = fleet.fleet_name.as_deref().unwrap_or(&fleet.fleet_arn);
            p.advance(
                fleet.devices_examined as u64,
                &format!("fleet {n}/{total} ({name})"),
            );
        }),
    );
    let outcome = sweeper
        .run(
            &fleet_sweep::SweepRequest::default(),
            warden_core::jiff::Timestamp::now(),
            Deadline::none(),
        )
        .await;
    progress.finish();
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&outcome.report)?);
    } else {
        print!("{}", outcome.report.render_text());
    }
    Ok(if outcome.report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
