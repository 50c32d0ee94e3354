//! `warden run fleet-sweep` against the emulator with the demo fixture: the
//! report on stdout, and, stderr not being a terminal, no progress line and
//! no escape code anywhere.

use std::process::Command;

use warden_emulator::{Emulator, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_sweep_reports_on_stdout_without_progress_outside_a_terminal() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/emulator/demo-fixture.json"
    ))
    .unwrap();
    let emu = Emulator::new(Fixture::from_json(&text).unwrap())
        .start_local()
        .await
        .unwrap();
    let url = emu.endpoint_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_warden"))
            .args([
                "run",
                "fleet-sweep",
                "--worklink-endpoint",
                &url,
                "--audit-stream-arn",
                "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-warden-audit",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("WARDEN_LOG_LEVEL")
            .env_remove("WARDEN_AUDIT_STREAM_ARN")
            .output()
            .expect("run warden")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("fleet-sweep at "), "{stdout}");
    assert!(
        stdout.contains("(dry-run)"),
        "dry-run unless --execute: {stdout}"
    );
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r') && !text.contains("devices/s"),
            "progress written outside a terminal: {text:?}"
        );
    }
    let changing = emu
        .shared()
        .calls
        .snapshot()
        .iter()
        .filter(|c| c.operation.starts_with("SignOut") || c.operation.contains("DomainAccess"))
        .count();
    assert_eq!(changing, 0, "a dry-run sweep changes nothing");
    emu.shutdown().await;
}
