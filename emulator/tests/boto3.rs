//! boto3, unchanged, against the emulator: its `workspaces-instances` client
//! in its default protocol (awsJson1_0) through all 14 operations, and its
//! `workspaces-web` client through the Secure Browser tour. The scripts live
//! in `tests/boto3/`; the interpreter is `$WARDEN_TOOLS_BIN/python` (the
//! project venv). Without `WARDEN_TOOLS_BIN` the tests say so and skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use warden_emulator::web::SessionStatus;
use warden_emulator::wsi::ProvisionState;
use warden_emulator::{Fixture, RunningEmulator};

const WSI_SAMPLE: &str = include_str!("../../events/emulator/wsi-sample.json");
const WEB_SAMPLE: &str = include_str!("../../events/emulator/web-sample.json");

fn python() -> Option<PathBuf> {
    let Some(bin) = std::env::var_os("WARDEN_TOOLS_BIN") else {
        eprintln!("SKIPPED: WARDEN_TOOLS_BIN is not set (the project venv with boto3)");
        return None;
    };
    Some(Path::new(&bin).join("python"))
}

/// Both samples in one fixture (the WorkSpaces Instances sample's clock).
async fn start() -> RunningEmulator {
    let mut doc: Value = serde_json::from_str(WSI_SAMPLE).unwrap();
    let web: Value = serde_json::from_str(WEB_SAMPLE).unwrap();
    doc["workspaces_web"] = web["workspaces_web"].clone();
    common::start(Fixture::from_json(&doc.to_string()).expect("merged samples")).await
}

/// Runs one script against the emulator; its JSON summary line.
async fn run(python: PathBuf, script: &str, emu: &RunningEmulator) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/boto3")
        .join(script);
    let endpoint = emu.endpoint_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&path)
            .arg(endpoint)
            // Nothing from the machine's own AWS setup leaks in.
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{script} summary {last:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_workspaces_instances_all_operations() {
    let Some(python) = python() else { return };
    let emu = start().await;
    let summary = run(python, "wsi_all_operations.py", &emu).await;
    let mut ops: Vec<&str> = summary["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ops.sort_unstable();
    let mut all = warden_emulator::wsi::OPERATIONS.to_vec();
    all.sort_unstable();
    assert_eq!(ops, all, "boto3 drove every operation");
    // The emulator log agrees: every call came over JSON into one state.
    let calls = emu.shared().calls.snapshot();
    for op in &all {
        assert!(
            calls.iter().any(|c| c.operation == *op && c.ok()),
            "{op} succeeded"
        );
    }
    let st = emu.shared().wsi();
    let created = summary["created"].as_str().unwrap();
    assert_eq!(
        st.instance(created).unwrap().provision_state,
        ProvisionState::Allocating
    );
    assert!(st.volume(summary["volume"].as_str().unwrap()).is_none());
    assert_eq!(
        st.instance("wsinst-0a1b2c3d4e5f60004")
            .unwrap()
            .provision_state,
        ProvisionState::Deallocating
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_workspaces_web_tour() {
    let Some(python) = python() else { return };
    let emu = start().await;
    let summary = run(python, "web_tour.py", &emu).await;
    let st = emu.shared().web();
    let portal = st.portal(summary["portal"].as_str().unwrap()).unwrap();
    assert_eq!(
        portal.user_access_logging_settings_arn.as_deref(),
        summary["logging"].as_str()
    );
    let expired = summary["expired"].as_str().unwrap();
    let changed: Vec<&str> = st
        .portals
        .iter()
        .flat_map(|p| &p.sessions)
        .filter(|s| {
            s.status == SessionStatus::Terminated && s.end_time == Some(emu.shared().clock.now())
        })
        .map(|s| s.session_id.as_str())
        .collect();
    assert_eq!(changed, [expired], "exactly one session expired");
    drop(st);
    let pages = emu
        .shared()
        .calls
        .of("ListSessions")
        .iter()
        .filter(|c| c.params["maxResults"] == 2)
        .count();
    assert_eq!(pages, 3, "the paginator asked for three pages");
}
