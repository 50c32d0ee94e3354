//! `warden`: the euc-warden command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod emulator_cmd;
mod esm;
mod policy_cmd;
mod run_cmd;
mod state_cmd;

#[derive(Debug, Parser)]
#[command(
    name = "warden",
    version,
    about = "euc-warden: policy-driven audit and automation for AWS end-user computing"
)]
struct Cli {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
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
