//! `warden policy validate | test | explain`. PLACEHOLDER: to be implemented.

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCmd {
    /// Check policy files; errors name file, line, column, rule and field.
    Validate { files: Vec<std::path::PathBuf> },
}

pub fn run(cmd: PolicyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCmd::Validate { .. } => anyhow::bail!("not implemented yet"),
    }
}
