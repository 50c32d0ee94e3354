//! `warden replay` and `warden run audit-stream` against moto's Kinesis and
//! the emulator: the CLI's local event-source mapping feeding the
//! audit-stream pipeline in-process.

use std::process::Command;

use audit_stream::KinesisEvent;
use aws_sdk_kinesis::primitives::Blob;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};
use warden_emulator::moto::MotoServer;
use warden_emulator::{Emulator, Fixture, RunningEmulator};

const CORP: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

async fn demo_emulator() -> RunningEmulator {
    let text = std::fs::read_to_string(repo("events/emulator/demo-fixture.json")).unwrap();
    Emulator::new(Fixture::from_json(&text).unwrap())
        .start_local()
        .await
        .unwrap()
}

/// A 2-shard stream holding the data of the records of the sample events
/// (audit batch, then the malformed batch), each record's partition key kept.
async fn stream_with_samples(moto: &MotoServer, name: &str) {
    let clients = Clients::new(&load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await);
    let k = clients.kinesis;
    k.create_stream()
        .stream_name(name)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    for file in ["kinesis-audit-batch.json", "kinesis-malformed.json"] {
        let text = std::fs::read_to_string(repo(&format!("events/{file}"))).unwrap();
        let event: KinesisEvent = serde_json::from_str(&text).unwrap();
        for r in event.records {
            k.put_record()
                .stream_name(name)
                // One partition key: the sample's records stay in order in
                // one shard, as a user's events would.
                .partition_key("corp-mobile")
                .data(Blob::new(r.kinesis.data.0))
                .send()
                .await
                .unwrap();
        }
    }
}

fn warden(args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env(
            "WARDEN_MOTO_SERVER",
            warden_emulator::moto::moto_server_binary().expect("moto installed (scripts/tools.sh)"),
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run warden");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_prints_what_the_policy_would_have_done() {
    let moto = MotoServer::start().unwrap();
    let emu = demo_emulator().await;
    stream_with_samples(&moto, "AmazonWorkLink-replay").await;
    let (endpoint, emu_url) = (moto.endpoint_url(), emu.endpoint_url());
    let (out, err, ok) = tokio::task::spawn_blocking(move || {
        warden(&[
            "replay",
            "--stream",
            "AmazonWorkLink-replay",
            "--since",
            "24h",
            "--policy",
            &repo("policies/default.yaml"),
            "--dry-run",
            "--endpoint-url",
            &endpoint,
            "--worklink-endpoint",
            &emu_url,
            "--default-fleet",
            CORP,
        ])
    })
    .await
    .unwrap();
    assert!(ok, "replay failed: {err}\n{out}");
    assert!(out.contains("dry-run: nothing executed"), "{out}");
    // Not a terminal: no progress line, no escape code, on either stream.
    for text in [&out, &err] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r') && !text.contains("records/s"),
            "progress written outside a terminal: {text:?}"
        );
    }
    assert!(
        out.contains("read 16 records over 2 shards in 1 batches: 63 events, 6 malformed"),
        "{out}"
    );
    assert!(
        out.contains("it would sign out 4 user(s) and revoke 1 domain(s)"),
        "{out}"
    );
    for line in [
        &format!("[would] sign-out-user user bob in {CORP}"),
        &format!("[would] sign-out-user user dave in {CORP}"),
        &format!("[would] sign-out-user user carol in {CORP}"),
        &format!("[would] sign-out-user user Former.Employee@example.com in {CORP}"),
        &format!("[would] revoke-domain domain wiki.example.com in {CORP}"),
        "rules: repeated-failed-sign-ins; 5 event(s)",
        "rules: domain-access-burst; 50 event(s)",
        "rules: access-from-outside-allowed-networks; 3 event(s)",
        "sign-out-user user breakglass-admin",
        "allow-listed (global allow.users: `breakglass-*`)",
        "malformed or failed records (6):",
        "event 2: expected a JSON object, found a number",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(
        emu.shared().calls.is_empty(),
        "dry-run called WorkLink: {:?}",
        emu.shared().calls.snapshot()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_feeds_the_stream_to_the_function_and_acts() {
    let moto = MotoServer::start().unwrap();
    let emu = demo_emulator().await;
    stream_with_samples(&moto, "AmazonWorkLink-run").await;
    let (endpoint, emu_url) = (moto.endpoint_url(), emu.endpoint_url());
    let (out, err, ok) = tokio::task::spawn_blocking(move || {
        warden(&[
            "run",
            "audit-stream",
            "--stream",
            "AmazonWorkLink-run",
            "--starting-position",
            "trim-horizon",
            "--until-caught-up",
            "--execute",
            "--batch-size",
            "10",
            "--endpoint-url",
            &endpoint,
            "--worklink-endpoint",
            &emu_url,
            "--default-fleet",
            CORP,
        ])
    })
    .await
    .unwrap();
    assert!(ok, "run failed: {err}\n{out}");
    let mut made: Vec<(String, String)> = emu
        .shared()
        .calls
        .snapshot()
        .into_iter()
        .map(|c| {
            (
                c.operation,
                c.params["Username"]
                    .as_str()
                    .or(c.params["DomainName"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    made.sort();
    assert_eq!(
        made,
        [
            ("RevokeDomainAccess", "wiki.example.com"),
            ("SignOutUser", "Former.Employee@example.com"),
            // bob is in both batches of 10: once per batch.
            ("SignOutUser", "bob"),
            ("SignOutUser", "bob"),
            ("SignOutUser", "carol"),
            ("SignOutUser", "dave"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string())),
        "{out}"
    );
    // Batches of 10: 16 records in 2 invocations; the malformed records
    // printed by the failure sink (no queue given), each with its reason.
    assert!(
        out.contains("16 records read, 16 processed, 0 to the failure sink, 2 invocations"),
        "{out}"
    );
    assert!(
        out.contains(&format!("done sign-out-user user dave in {CORP}")),
        "{out}"
    );
    assert!(
        out.contains("failed-permanent sign-out-user user Former.Employee@example.com"),
        "{out}"
    );
    assert_eq!(out.matches("failure sink: ").count(), 6, "{out}");
    assert!(out.contains("\"condition\":\"MalformedRecord\""), "{out}");
}

/// `warden run audit-stream --moto` from a copy of the binary (as once
/// installed): no path from the build is used. Outside any checkout and
/// with nothing on PATH, it says what to run; inside a project whose
/// `.tools/` holds moto, it finds it there, from a subdirectory too.
#[test]
fn moto_is_found_at_run_time_not_at_a_compiled_in_path() {
    let dir = std::env::temp_dir().join(format!("warden-moto-find-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin_dir = dir.join("installed");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let warden_copy = bin_dir.join("warden");
    std::fs::copy(env!("CARGO_BIN_EXE_warden"), &warden_copy).unwrap();
    let run = |cwd: &std::path::Path| {
        Command::new(&warden_copy)
            .args([
                "run",
                "audit-stream",
                "--moto",
                "--stream",
                "AmazonWorkLink-x",
                "--until-caught-up",
            ])
            .current_dir(cwd)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run the copied warden")
    };

    let nowhere = dir.join("elsewhere");
    std::fs::create_dir_all(&nowhere).unwrap();
    let out = run(&nowhere);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("moto_server not found")
            && err.contains("scripts/tools.sh")
            && err.contains("WARDEN_MOTO_SERVER"),
        "{err}"
    );

    // A checkout with the pinned tools: found from a subdirectory.
    let project = dir.join("checkout");
    let tools = project.join(".tools/venv/bin");
    std::fs::create_dir_all(&tools).unwrap();
    let real =
        warden_emulator::moto::moto_server_binary().expect("moto installed (scripts/tools.sh)");
    std::os::unix::fs::symlink(&real, tools.join("moto_server")).unwrap();
    let sub = project.join("policies");
    std::fs::create_dir_all(&sub).unwrap();
    let out = run(&sub);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("moto (Kinesis, SQS): http://127.0.0.1:"),
        "started the project's moto: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
