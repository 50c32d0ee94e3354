//! `warden emulator` and `warden demo`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use warden_emulator::{Emulator, Fixture};

use crate::demo::DEMO_FIXTURE;

#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 4566)]
    port: u16,
    /// Address to bind. Loopback by default.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Fixture to load at start (JSON; see events/emulator/). Default: empty state.
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Load the embedded demo fixture instead of a file.
    #[arg(long, conflicts_with = "fixture")]
    demo_fixture: bool,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn emulator(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    let fixture = match (&args.fixture, args.demo_fixture) {
        (Some(path), _) => Fixture::from_file(path)?,
        (None, true) => Fixture::from_json(DEMO_FIXTURE).context("embedded demo fixture")?,
        (None, false) => Fixture::default(),
    };
    runtime()?.block_on(async move {
        let running = Emulator::new(fixture)
            .start(SocketAddr::new(args.bind, args.port))
            .await?;
        println!("emulator listening on {}", running.endpoint_url());
        println!("admin API: {}/_emulator/state", running.endpoint_url());
        println!(
            "serving: WorkLink (REST-JSON), WorkSpaces Instances (RPC v2 CBOR and awsJson1_0), \
             WorkSpaces Secure Browser (REST-JSON)"
        );
        running.serve_until_signal().await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn demo(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    let report = runtime()?.block_on(crate::demo::run())?;
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}
