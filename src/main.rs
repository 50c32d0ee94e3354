//! `warden`: the euc-warden command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod archive;
mod backtest;
mod demo;
mod emulator_cmd;
mod esm;
mod policy_cmd;
mod progress;
mod run_cmd;
mod state_cmd;

#[derive(Debug, Parser)]
#[command(
    name = "warden",
    version,
    about = "euc-warden: policy-driven audit and automation for AWS end-user computing"
)]
struct Cli {
    /// Show log lines (on stderr, level info; `WARDEN_LOG_LEVEL` sets
    /// another level or filter). Without it only reports are printed.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the main job locally on embedded defaults: the emulator with the
    /// demo fixture, and what the functions do to it.
    Demo(emulator_cmd::DemoArgs),
    /// Run the WorkLink + WorkSpaces Instances emulator standalone.
    Emulator(emulator_cmd::EmulatorArgs),
    /// Validate, test and explain policy files.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCmd),
    /// Run a function locally, fed as Lambda would feed it.
    #[command(subcommand)]
    Run(run_cmd::RunCmd),
    /// Backtest a policy on what a Kinesis stream still holds and print what
    /// the audit-stream function would have done.
    Replay(run_cmd::ReplayArgs),
    /// Inspect the state table: init, show, release.
    #[command(subcommand)]
    State(state_cmd::StateCmd),
}

/// Reports go to stdout; log lines to stderr, and only when asked for
/// (`--verbose`, or a level in `WARDEN_LOG_LEVEL`), in colour only when
/// stderr is a terminal and `NO_COLOR` is unset (no-color.org), so
/// `warden demo > out.txt 2>&1` holds the report alone.
fn init_logging(verbose: bool) {
    use std::io::IsTerminal;
    let requested = std::env::var("WARDEN_LOG_LEVEL")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = match (&requested, verbose) {
        (Some(level), _) => tracing_subscriber::EnvFilter::try_new(level.to_ascii_lowercase())
            .unwrap_or_else(|e| {
                eprintln!("warning: WARDEN_LOG_LEVEL={level:?} is not a level or filter ({e}); using info");
                tracing_subscriber::EnvFilter::new("info")
            }),
        (None, true) => tracing_subscriber::EnvFilter::new("info"),
        (None, false) => return,
    };
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Demo(args) => emulator_cmd::demo(args),
        Command::Emulator(args) => emulator_cmd::emulator(args),
        Command::Policy(cmd) => policy_cmd::run(cmd),
        Command::Run(cmd) => run_cmd::run(cmd),
        Command::Replay(args) => run_cmd::replay(args),
        Command::State(cmd) => state_cmd::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
