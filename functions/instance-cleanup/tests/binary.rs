//! The real `instance-cleanup` binary as a Lambda process: it polls a local
//! Lambda Runtime API, talks to the emulator (WorkSpaces Instances) and to
//! moto (DynamoDB, the mark store) through the standard service-specific
//! endpoint variables, with static local credentials. Proves the thin main:
//! configuration from the environment, the policy file, scheduled and manual
//! payloads, the JSON report, EMF on stdout, init errors.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use instance_cleanup::{DynamoMarkStore, MarkRecord, MarkStore};
use warden_core::aws::{load_sdk_config, AwsSettings};
use warden_core::jiff::Timestamp;
use warden_emulator::function::{FunctionProcess, Launch};
use warden_emulator::moto::MotoServer;
use warden_emulator::runtime_api::{FunctionResult, RuntimeApiError};
use warden_emulator::{Emulator, Fixture};

const DEMO_FIXTURE: &str = include_str!("../../../events/emulator/demo-fixture.json");
const SCHEDULED: &str = include_str!("../../../events/scheduled-event.json");
const ERRORED: [&str; 3] = [
    "wsinst-0a1b2c3d4e5f60004",
    "wsinst-0a1b2c3d4e5f60005",
    "wsinst-0a1b2c3d4e5f60006",
];

/// The default policy's two cleanup rules with absolute caps (its
/// percentage caps refuse everything on a 10-instance fixture).
const POLICY: &str = r#"
version: 1
allow:
  instance-tags: { "warden:protect": "*" }
caps:
  mark-for-cleanup: { max: 20 }
  delete-instance: { max: 5 }
rules:
  - name: cleanup-errored-instances
    on: instance
    where:
      state: { in: [ERROR_ALLOCATING, ERROR_DEALLOCATING] }
    actions:
      - mark-for-cleanup: { grace: 24h }
  - name: unmark-recovered-instances
    on: instance
    where:
      marked: true
      state: { not-in: [ERROR_ALLOCATING, ERROR_DEALLOCATING] }
    actions:
      - untag-instance: { keys: ["warden:cleanup-marked-at"] }
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "instance-cleanup-test-{}-{}-{name}",
        std::process::id(),
        Timestamp::now().as_nanosecond()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary under the shared harness (hermetic environment: nothing from
/// the developer's shell or AWS profile, every endpoint on loopback).
fn launch() -> Launch {
    Launch::new(env!("CARGO_BIN_EXE_instance-cleanup"), "instance-cleanup")
}

fn ids(report: &serde_json::Value, field: &str) -> Vec<String> {
    report[field]["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("report has {field}.ids: {report}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_binary_marks_under_the_lambda_runtime_api() {
    let moto = MotoServer::start().expect("moto server (scripts/test.sh installs it)");
    let table = "warden-marks";
    let store_config = load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await;
    let store = DynamoMarkStore::from_config(&store_config, table);
    store.ensure_table().await.unwrap();

    let emu = Emulator::new(Fixture::from_json(DEMO_FIXTURE).unwrap())
        .start_local()
        .await
        .unwrap();
    let dir = scratch("marks");
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let function = FunctionProcess::start(
        &launch()
            .var("AWS_ENDPOINT_URL_WORKSPACES_INSTANCES", emu.endpoint_url())
            .var("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint_url())
            .var("WARDEN_MARKS_TABLE", table)
            .var("WARDEN_DRY_RUN", "false")
            .var("WARDEN_POLICY_FILE", policy.display().to_string()),
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|(e, out)| panic!("the function reaches invocation/next: {e}\n{out:?}"));
    let api = &function.api;

    // A scheduled event: the errored instances are marked.
    let inv = api
        .invoke(SCHEDULED.as_bytes().to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    let report = inv.json().unwrap();
    assert_eq!(report["dry_run"], false, "{report}");
    assert_eq!(ids(&report, "marked"), ERRORED, "{report}");
    assert_eq!(ids(&report, "examined"), ERRORED);
    for i in ERRORED {
        let tags = emu.shared().wsi().instance(i).unwrap().tags.clone();
        assert!(
            tags.contains_key("warden:cleanup-marked-at"),
            "{i}: {tags:?}"
        );
        assert!(tags.contains_key("warden:cleanup-reason"), "{i}: {tags:?}");
    }
    let remembered = store.load().await.unwrap();
    assert_eq!(
        remembered.keys().map(String::as_str).collect::<Vec<_>>(),
        ERRORED,
        "the marks are remembered in DynamoDB"
    );
    assert_eq!(remembered[ERRORED[0]].reason, "EC2_LAUNCH_FAILED");

    // A manual dry run: they wait for their grace period; nothing is written.
    let tags_before = emu.shared().calls.of("TagResource").len();
    let inv = api
        .invoke(
            br#"{"dry_run": true, "max_deletions": 1}"#.to_vec(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let report = inv.json().unwrap();
    assert_eq!(report["dry_run"], true, "{report}");
    assert_eq!(ids(&report, "waiting"), ERRORED, "{report}");
    assert!(ids(&report, "marked").is_empty());
    assert_eq!(emu.shared().calls.of("TagResource").len(), tags_before);

    // A payload with a typo is an error naming it; the process keeps serving.
    let inv = api
        .invoke(br#"{"dryrun": false}"#.to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    match &inv.result {
        FunctionResult::Error { error_message, .. } => {
            assert!(error_message.contains("dryrun"), "{error_message}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // Issue 13 item 3: a scheduled-looking payload carrying overrides is a
    // function error naming them, and nothing is even listed (before, it
    // ran as scheduled, live).
    let listings = emu.shared().calls.of("ListWorkspaceInstances").len();
    let inv = api
        .invoke(
            br#"{"source":"ops","detail-type":"Scheduled Event","dry_run":true}"#.to_vec(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    match &inv.result {
        FunctionResult::Error { error_message, .. } => {
            assert!(error_message.contains("`dry_run`"), "{error_message}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(
        emu.shared().calls.of("ListWorkspaceInstances").len(),
        listings
    );
    let inv = api
        .invoke(b"{}".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(inv.json().is_ok(), "still serving: {:?}", inv.result);

    // EMF on stdout, once per invocation.
    let is_emf =
        |v: &serde_json::Value| v.get("_aws").is_some() && v.get("InstancesExamined").is_some();
    let is_tag = |v: &serde_json::Value| v["operation"] == "TagResource";
    let lines = function
        .json_lines_once(|ls| {
            ls.iter().filter(|v| is_emf(v)).count() >= 3
                && ls.iter().filter(|v| is_tag(v)).count() >= 3
        })
        .await;
    let out = function.stdout.lines().join("\n");
    let emf: Vec<&serde_json::Value> = lines.iter().filter(|v| is_emf(v)).collect();
    assert_eq!(emf.len(), 3, "one EMF document per successful run:\n{out}");
    assert_eq!(emf[0]["InstancesMarked"], 3.0);
    assert_eq!(emf[0]["Function"], "instance-cleanup");
    // One JSON log line per action.
    let action_lines = lines.iter().filter(|v| is_tag(v)).count();
    assert_eq!(action_lines, 3, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_missing_table_fails_the_cold_start_naming_the_variable() {
    let mut f = FunctionProcess::spawn(&launch()).await.unwrap();
    let status = f
        .wait_exit(Duration::from_secs(30))
        .await
        .expect("the function stops at cold start");
    assert!(!status.success());
    let text = f.output_after_exit().join("\n");
    assert!(text.contains("WARDEN_MARKS_TABLE"), "{text}");
    assert!(f.api.first_next().is_none(), "never asked for work");
}

#[tokio::test]
async fn the_dynamodb_store_round_trips_in_batches() {
    let moto = MotoServer::start().expect("moto server (scripts/test.sh installs it)");
    let config = load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await;
    let store = DynamoMarkStore::from_config(&config, "marks-batches");
    store.ensure_table().await.unwrap();
    store.ensure_table().await.unwrap();
    let t: Timestamp = "2026-11-23T12:00:00.5Z".parse().unwrap();
    let records: Vec<MarkRecord> = (0..60)
        .map(|n| MarkRecord {
            instance_id: format!("wsinst-{n:017x}"),
            marked_at: Some(t),
            reason: format!("R{n}"),
        })
        .collect();
    store.put(&records).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.len(), 60);
    assert_eq!(loaded["wsinst-0000000000000002a"], records[42]);
    let gone: Vec<String> = records[..40]
        .iter()
        .map(|r| r.instance_id.clone())
        .collect();
    store.remove(&gone).await.unwrap();
    assert_eq!(store.load().await.unwrap().len(), 20);

    // Times written by someone else: unreadable (text, or a number) means
    // "not trusted", never the epoch.
    let client = aws_sdk_dynamodb::Client::new(&config);
    for (id, value) in [
        ("wsinst-bad-text", AttributeValue::S("last tuesday".into())),
        ("wsinst-bad-number", AttributeValue::N("1700000000".into())),
    ] {
        client
            .put_item()
            .table_name("marks-batches")
            .item("instance_id", AttributeValue::S(id.into()))
            .item("marked_at", value)
            .send()
            .await
            .unwrap();
    }
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded["wsinst-bad-text"].marked_at, None);
    assert_eq!(loaded["wsinst-bad-number"].marked_at, None);
    assert_eq!(loaded["wsinst-0000000000000002a"].marked_at, Some(t));

    // A missing table is an error that names it.
    let missing = DynamoMarkStore::from_config(&config, "no-such-table");
    let err = missing.load().await.unwrap_err().to_string();
    assert!(
        err.contains("no-such-table") && err.contains("Scan"),
        "{err}"
    );
}

/// A configuration error at cold start reaches the Runtime API's
/// `/init/error` (through the shared shell), naming the variable; before,
/// instance-cleanup only logged it and exited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_error_is_reported_to_init_error() {
    let launch = launch()
        .var("WARDEN_MARKS_TABLE", "warden-marks")
        .var("WARDEN_MAX_ATTEMPTS", "0");
    match FunctionProcess::start(&launch, Duration::from_secs(30)).await {
        Err((RuntimeApiError::InitError(msg), _)) => {
            assert!(msg.contains("Runtime.ConfigError"), "{msg}");
            assert!(
                msg.contains("WARDEN_MAX_ATTEMPTS") && msg.contains("between 1 and 10"),
                "{msg}"
            );
        }
        Err((other, out)) => panic!("expected an init error, got {other}: {out:?}"),
        Ok(_) => panic!("expected an init error, the function started"),
    }
}
