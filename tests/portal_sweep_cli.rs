//! `warden run portal-sweep`: one sweep of WorkSpaces Secure Browser portals
//! against the emulator, dry-run unless `--execute`.

use std::process::Command;

use warden_emulator::{Emulator, Fixture};

const FIXTURE: &str = include_str!("../events/emulator/demo-secure-browser.json");
const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-warden";

fn sweep(endpoint: &str, portals: &[String], extra: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.args([
        "run",
        "portal-sweep",
        "--endpoint-url",
        endpoint,
        "--access-log-stream",
        STREAM,
    ])
    .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
    .env("AWS_SECRET_ACCESS_KEY", "test")
    .env("AWS_REGION", "us-east-1")
    .env("AWS_EC2_METADATA_DISABLED", "true")
    .env("AWS_CONFIG_FILE", "/dev/null")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    .env_remove("AWS_PROFILE");
    for p in portals {
        cmd.args(["--portal", p]);
    }
    let out = cmd.args(extra).output().expect("run warden");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_one_sweep_dry_then_for_real() {
    let fixture = Fixture::from_json(FIXTURE).unwrap();
    let portals: Vec<String> = fixture
        .workspaces_web
        .portals
        .iter()
        .map(|p| p.arn.clone())
        .collect();
    let emu = Emulator::new(fixture).start_local().await.unwrap();
    let url = emu.endpoint_url();
    let shared = emu.shared().clone();
    let changing = move || {
        shared
            .calls
            .snapshot()
            .iter()
            .filter(|c| {
                ["ExpireSession", "AssociateUserAccessLoggingSettings"]
                    .contains(&c.operation.as_str())
            })
            .count()
    };

    let (u, p) = (url.clone(), portals.clone());
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || sweep(&u, &p, &[]))
        .await
        .unwrap();
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("(dry-run)"), "{stdout}");
    assert!(
        stdout.contains("would: set-access-logging portal"),
        "{stdout}"
    );
    assert_eq!(changing(), 0, "dry-run changed something");

    let (u, p) = (url.clone(), portals.clone());
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || sweep(&u, &p, &["--execute", "--format", "json"]))
            .await
            .unwrap();
    assert!(ok, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["totals"]["access_logging_set"], 1);
    assert!(report["totals"]["users_expired"].as_u64().unwrap() >= 1);
    assert!(changing() >= 2);

    // A bad portal ARN is refused before anything is called.
    let (ok, _, stderr) = tokio::task::spawn_blocking(move || {
        sweep(
            &url,
            &["arn:aws:worklink::123456789012:fleet/corp".into()],
            &[],
        )
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        stderr.contains("--portal") && stderr.contains("portal ARN"),
        "{stderr}"
    );
    emu.shutdown().await;
}
