//! `warden state`: the operator's view of the state table
//! (`warden_core::state`): create it locally, show what is live, release a
//! revocation so a restore rule may act on the domain again.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use warden_core::aws::{load_sdk_config, AwsSettings};
use warden_core::jiff::Timestamp;
use warden_core::state::{DynamoStateStore, StateSnapshot, StateStore};

/// `warden state <command>`.
#[derive(Debug, clap::Subcommand)]
pub enum StateCmd {
    /// Create the state table (keys pk/sk, on demand, TTL on `ttl`) for
    /// local runs and tests; in AWS the SAM template creates it.
    Init(InitArgs),
    /// Show live budgets, open threshold windows, revocations and leases.
    Show(ShowArgs),
    /// Forget a revocation by warden so a restore rule may act again.
    #[command(subcommand)]
    Release(ReleaseCmd),
}

/// `warden state release <what>`.
#[derive(Debug, clap::Subcommand)]
pub enum ReleaseCmd {
    /// A domain revoked by warden (in one fleet, or every fleet).
    Domain(ReleaseDomainArgs),
}

/// Where the table is.
#[derive(Debug, clap::Args)]
pub struct TableArgs {
    /// The state table (the functions' WARDEN_STATE_TABLE).
    #[arg(long, env = "WARDEN_STATE_TABLE")]
    table: String,
    /// DynamoDB endpoint (moto, e.g. http://127.0.0.1:5000). Default: the
    /// AWS environment.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The region (never looked up from instance metadata).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
}

/// `warden state init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    table: TableArgs,
}

/// `warden state show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    table: TableArgs,
    /// Print the snapshot as JSON.
    #[arg(long)]
    json: bool,
}

/// `warden state release domain`.
#[derive(Debug, clap::Args)]
pub struct ReleaseDomainArgs {
    /// The domain name.
    name: String,
    /// Only in this fleet (ARN). Default: every fleet.
    #[arg(long)]
    fleet: Option<String>,
    #[command(flatten)]
    table: TableArgs,
}

async fn store(args: &TableArgs) -> anyhow::Result<DynamoStateStore> {
    if args.table.starts_with("memory:") {
        bail!(
            "`{}` is the per-invocation memory store: it holds nothing outside one function run; give a DynamoDB table",
            args.table
        );
    }
    if args.table.is_empty() {
        bail!("--table (or WARDEN_STATE_TABLE) is empty");
    }
    let mut settings = match &args.endpoint_url {
        Some(url) => AwsSettings::local(url.clone()),
        None => AwsSettings::default(),
    };
    settings.region = Some(args.region.clone());
    settings.max_attempts = 3;
    Ok(DynamoStateStore::from_config(
        &load_sdk_config(&settings).await,
        args.table.clone(),
    ))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs a `warden state` command.
pub fn run(cmd: StateCmd) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        match cmd {
            StateCmd::Init(args) => {
                let store = store(&args.table).await?;
                let created = store.create_table().await?;
                if created {
                    println!("created table {} (on demand, TTL on `ttl`)", store.table());
                } else {
                    println!("table {} already exists (TTL on `ttl` ensured)", store.table());
                }
                Ok(ExitCode::SUCCESS)
            }
            StateCmd::Show(args) => {
                let store = store(&args.table).await?;
                let now = Timestamp::now();
                let snap = store.snapshot(now).await?;
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&snap)?);
                } else {
                    print!("{}", render(&store.describe(), &snap, now));
                }
                Ok(ExitCode::SUCCESS)
            }
            StateCmd::Release(ReleaseCmd::Domain(args)) => {
                let store = store(&args.table).await?;
                let released = store
                    .release_revocation(args.fleet.as_deref(), &args.name)
                    .await?;
                if released.is_empty() {
                    println!(
                        "no revocation of {} by warden on record{}",
                        args.name,
                        args.fleet
                            .as_deref()
                            .map(|f| format!(" in {f}"))
                            .unwrap_or_default()
                    );
                    return Ok(ExitCode::from(1));
                }
                for r in released {
                    println!(
                        "released {} in {} (revoked {} by rule {}); a restore rule may act on it again",
                        r.domain, r.fleet, r.at, r.rule
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// The snapshot for people.
fn render(store: &str, snap: &StateSnapshot, now: Timestamp) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "state in {store} at {now}");
    let _ = writeln!(out, "\nbudgets ({}):", snap.budgets.len());
    for b in &snap.budgets {
        let _ = writeln!(
            out,
            "  {:<16} {}/{} used, period {} .. {}{}",
            b.kind,
            b.used,
            b.max,
            b.period_start,
            b.period_end,
            if b.used >= b.max { "  SPENT" } else { "" }
        );
    }
    let _ = writeln!(out, "\nopen windows ({}):", snap.windows.len());
    for w in &snap.windows {
        let _ = writeln!(
            out,
            "  {:<24} {:<32} {} hit(s) open, newest {}, last fired {}",
            w.window.rule,
            w.window.key,
            w.open,
            w.newest
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            w.last_fired
                .map(|t| t.to_string())
                .unwrap_or_else(|| "never".into())
        );
    }
    let _ = writeln!(out, "\nrevocations by warden ({}):", snap.revocations.len());
    for r in &snap.revocations {
        let hold = match r.hold_until {
            Some(h) if now < h => format!("held until {h}"),
            Some(h) => format!("hold passed at {h}: a restore rule may act"),
            None => "held until released".into(),
        };
        let _ = writeln!(
            out,
            "  {} in {}: rule {} at {}, cause {}; {}",
            r.domain, r.fleet, r.rule, r.at, r.cause, hold
        );
    }
    let _ = writeln!(out, "\nleases ({}):", snap.leases.len());
    for l in &snap.leases {
        let _ = writeln!(out, "  {} held by {} until {}", l.name, l.owner, l.expires);
    }
    let _ = writeln!(
        out,
        "\nexecuted actions remembered: {}",
        snap.ledger_entries
    );
    out
}
