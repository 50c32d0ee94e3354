//! The real `audit-stream` binary as a process under a local Lambda Runtime
//! API: cold start from the environment, a batch in, the partial-batch
//! response out, JSON action logs and EMF metrics on stdout, configuration
//! errors reported at init.

mod common;

use std::time::Duration;

use common::*;
use warden_emulator::runtime_api::{FunctionResult, RuntimeApiError};

const TIMEOUT: Duration = Duration::from_secs(30);

fn base_env(emu_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WARDEN_DRY_RUN", "false".into()),
        ("WARDEN_DEFAULT_FLEET_ARN", CORP.into()),
        // Every service the function could reach is on loopback; no queue
        // is needed by these batches (a failing sink is tested below).
        ("AWS_ENDPOINT_URL", emu_url.into()),
        (
            "WARDEN_FAILURE_QUEUE_URL",
            format!("{emu_url}/123456789012/no-such-queue"),
        ),
        ("AWS_MAX_ATTEMPTS", "2".into()),
        // The default policy's thresholds count in the process.
        ("WARDEN_STATE_TABLE", "memory:".into()),
    ]
}

/// The binary started with [`base_env`] against `emu`.
async fn start_with_base_env(
    emu: &warden_emulator::RunningEmulator,
) -> warden_emulator::function::FunctionProcess {
    start_function(&base_env(&emu.endpoint_url()))
        .await
        .map_err(|(e, logs)| format!("{e}: {logs:?}"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_batches_under_the_runtime_api() {
    let emu = demo_emulator().await;
    let f = start_with_base_env(&emu).await;

    let payload = std::fs::read(repo("events/kinesis-audit-batch.json")).unwrap();
    let inv = f.api.invoke(payload, TIMEOUT).await.unwrap();
    let body = inv.json().unwrap();
    assert_eq!(body, serde_json::json!({ "batchItemFailures": [] }));

    let mut made = calls(&emu);
    made.sort();
    assert_eq!(
        made,
        [
            ("RevokeDomainAccess", "wiki.example.com"),
            ("SignOutUser", "Former.Employee@example.com"),
            ("SignOutUser", "bob"),
            ("SignOutUser", "carol"),
            ("SignOutUser", "dave"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );

    // A second batch on the same warm process.
    let payload = std::fs::read(repo("events/kinesis-findings.json")).unwrap();
    let inv = f.api.invoke(payload, TIMEOUT).await.unwrap();
    assert_eq!(
        inv.json().unwrap()["batchItemFailures"],
        serde_json::json!([])
    );

    // One JSON log line per action, with rule, action, target, outcome,
    // attempts, latency and dry-run.
    // EMF documents are the last lines an invocation writes: wait for both
    // invocations' counts and the first one's per-action document.
    let is_counts =
        |l: &serde_json::Value| l.get("_aws").is_some() && l.get("RecordsReceived").is_some();
    let sign_outs_planned = |l: &serde_json::Value| {
        l.get("_aws").is_some() && l["Action"] == "SignOutUser" && l["ActionsPlanned"] == 4.0
    };
    let lines = f
        .json_lines_once(|ls| {
            ls.iter().filter(|l| is_counts(l)).count() >= 2 && ls.iter().any(sign_outs_planned)
        })
        .await;
    let actions: Vec<_> = lines.iter().filter(|l| l["message"] == "action").collect();
    assert_eq!(actions.len(), 5 + 3, "{actions:#?}");
    let dave = actions.iter().find(|l| l["user"] == "dave").unwrap();
    assert_eq!(dave["rule"], "repeated-failed-sign-ins");
    assert_eq!(dave["action"], "sign-out-user");
    assert_eq!(dave["operation"], "SignOutUser");
    assert_eq!(dave["outcome"], "done");
    assert_eq!(dave["fleet"], CORP);
    assert_eq!(dave["dry_run"], false);
    assert_eq!(dave["attempts"], 1);
    assert!(dave["latency_ms"].is_u64());
    let payroll = actions
        .iter()
        .find(|l| l["domain"] == "payroll.example.com")
        .unwrap();
    assert_eq!(payroll["outcome"], "already");
    // A finding for the permanent failure.
    assert!(lines.iter().any(
        |l| l["message"] == "permanent failure: a finding, not retried"
            && l["error_code"] == "ResourceNotFoundException"
    ));

    // EMF documents, one per invocation for the plain counts.
    let emf: Vec<_> = lines.iter().filter(|l| is_counts(l)).collect();
    assert_eq!(emf.len(), 2);
    assert_eq!(emf[0]["RecordsReceived"], 8.0);
    assert_eq!(emf[0]["Function"], "audit-stream");
    assert!(lines.iter().any(sign_outs_planned), "{emf:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_fails_turns_malformed_records_into_batch_item_failures() {
    let emu = demo_emulator().await;
    let f = start_with_base_env(&emu).await;
    let event = read_event("kinesis-malformed.json");
    let payload = std::fs::read(repo("events/kinesis-malformed.json")).unwrap();
    let inv = f.api.invoke(payload, TIMEOUT).await.unwrap();
    let body = inv.json().unwrap();
    assert_eq!(
        body["batchItemFailures"],
        serde_json::json!([{ "itemIdentifier": event.records[1].kinesis.sequence_number }])
    );
    // Each malformed record was logged with its shard, sequence number and
    // reason, and the sink error.
    let refused = |l: &serde_json::Value| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("the failure sink refused"))
    };
    let lines = f.json_lines_once(|ls| ls.iter().any(refused)).await;
    let logged: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "malformed record: sending it to the failure sink")
        .collect();
    assert_eq!(logged.len(), 6);
    assert_eq!(logged[0]["shard"], "shardId-000000000000");
    assert_eq!(
        logged[0]["sequence_number"],
        event.records[1].kinesis.sequence_number
    );
    assert_eq!(logged[0]["reason_code"], "not-json");
    assert!(lines.iter().any(refused), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_is_not_a_kinesis_batch_is_a_function_error() {
    let emu = demo_emulator().await;
    let f = start_with_base_env(&emu).await;
    let inv = f
        .api
        .invoke(r#"{"Records": [{"kinesis": {"data": "%%%"}}]}"#, TIMEOUT)
        .await
        .unwrap();
    assert!(
        matches!(inv.result, FunctionResult::Error { .. }),
        "{:?}",
        inv.result
    );
    // The process survives and serves the next batch.
    let payload = std::fs::read(repo("events/kinesis-audit-batch.json")).unwrap();
    let inv = f.api.invoke(payload, TIMEOUT).await.unwrap();
    assert_eq!(
        inv.json().unwrap()["batchItemFailures"],
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_data_is_not_base64_fails_the_whole_batch() {
    // The binary reads a compact envelope and decodes each record's data
    // itself; invalid base64 still fails the invocation, as the typed
    // event's deserialization does, and the next batch is served.
    let emu = demo_emulator().await;
    let f = start_with_base_env(&emu).await;
    let bad = r#"{"Records": [{"eventID": "shardId-000000000000:1", "kinesis": {"sequenceNumber": "1", "data": "%%%", "approximateArrivalTimestamp": 1700000000.5}}]}"#;
    let inv = f.api.invoke(bad, TIMEOUT).await.unwrap();
    match &inv.result {
        FunctionResult::Error { .. } => {
            let shown = format!("{:?}", inv.result);
            assert!(shown.contains("is not base64"), "{shown}");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    let payload = std::fs::read(repo("events/kinesis-audit-batch.json")).unwrap();
    let inv = f.api.invoke(payload, TIMEOUT).await.unwrap();
    assert_eq!(
        inv.json().unwrap()["batchItemFailures"],
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_are_reported_at_init() {
    let emu = demo_emulator().await;
    for (var, value, expected) in [
        (
            "WARDEN_CONCURRENCY",
            "0",
            "WARDEN_CONCURRENCY=\"0\" is invalid: must be between 1 and 64",
        ),
        (
            "WARDEN_POLICY_FILE",
            "/nonexistent/policy.yaml",
            "/nonexistent/policy.yaml",
        ),
        (
            "WARDEN_FAILURE_QUEUE_URL",
            "",
            "WARDEN_FAILURE_QUEUE_URL is required",
        ),
        (
            // The default policy has threshold rules.
            "WARDEN_STATE_TABLE",
            "",
            "WARDEN_STATE_TABLE is required",
        ),
        (
            "WARDEN_STATE_TABLE",
            "not a table",
            "WARDEN_STATE_TABLE=\"not a table\" is invalid",
        ),
    ] {
        let mut vars = base_env(&emu.endpoint_url());
        vars.retain(|(k, _)| *k != var);
        vars.push((var, value.into()));
        match start_function(&vars).await {
            Err((RuntimeApiError::InitError(msg), _)) => {
                assert!(msg.contains(expected), "{var}: {msg}");
                assert!(msg.contains("Runtime.ConfigError"), "{msg}");
            }
            Err((other, logs)) => panic!("{var}: expected an init error, got {other}: {logs:?}"),
            Ok(_) => panic!("{var}={value:?} should not start"),
        }
    }
}

/// `AWS_MAX_ATTEMPTS` (the old name) still starts the function, with a
/// deprecation warning in the log; `WARDEN_MAX_ATTEMPTS` starts it without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_attempts_variable_works_with_a_deprecation_warning() {
    let emu = demo_emulator().await;
    let deprecated = |l: &serde_json::Value| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.contains("AWS_MAX_ATTEMPTS is deprecated"))
    };
    let ready = |ls: &[serde_json::Value]| ls.iter().any(|l| l["message"] == "audit-stream ready");

    let old = base_env(&emu.endpoint_url());
    assert!(old.iter().any(|(k, _)| *k == "AWS_MAX_ATTEMPTS"));
    let f = start_function(&old)
        .await
        .map_err(|(e, logs)| format!("{e}: {logs:?}"))
        .unwrap();
    let lines = f.json_lines_once(ready).await;
    let warning = lines.iter().find(|l| deprecated(l));
    assert!(warning.is_some_and(|l| l["level"] == "WARN"), "{lines:#?}");

    let mut new = base_env(&emu.endpoint_url());
    new.retain(|(k, _)| *k != "AWS_MAX_ATTEMPTS");
    new.push(("WARDEN_MAX_ATTEMPTS", "2".into()));
    let f = start_function(&new)
        .await
        .map_err(|(e, logs)| format!("{e}: {logs:?}"))
        .unwrap();
    let lines = f.json_lines_once(ready).await;
    assert!(ready(&lines), "{lines:#?}");
    assert!(!lines.iter().any(deprecated), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_an_invocation_carries_its_request_and_trace_ids() {
    // The binary's own invocation loop opens lambda_runtime's span around
    // the handler: the action and batch lines of each invocation name it,
    // the cold start's lines name none.
    let emu = demo_emulator().await;
    let f = start_with_base_env(&emu).await;
    let payload = std::fs::read(repo("events/kinesis-audit-batch.json")).unwrap();
    let first = f.api.invoke(payload.clone(), TIMEOUT).await.unwrap();
    let second = f.api.invoke(payload, TIMEOUT).await.unwrap();
    assert_ne!(first.request_id, second.request_id);
    let lines = f
        .json_lines_once(|ls| {
            ls.iter()
                .filter(|l| l["message"] == "batch processed")
                .count()
                >= 2
        })
        .await;
    let ready = lines
        .iter()
        .find(|l| l["message"] == "audit-stream ready")
        .unwrap();
    assert!(ready.get("requestId").is_none(), "{ready}");
    for (inv, cold) in [(&first, true), (&second, false)] {
        let mine: Vec<_> = lines
            .iter()
            .filter(|l| l["requestId"] == inv.request_id.as_str())
            .collect();
        // The second batch's actions were done by the first (ledger).
        assert_eq!(
            mine.iter().any(|l| l["message"] == "action"),
            cold,
            "{}: {mine:#?}",
            inv.request_id
        );
        assert!(mine.iter().any(|l| l["message"] == "batch processed"));
        for l in &mine {
            assert_eq!(
                l["xrayTraceId"],
                "Root=1-00000000-000000000000000000000000;Sampled=0"
            );
            assert_eq!(l["cold_start"], cold, "{l}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_json_is_an_unmarshal_error_naming_where() {
    let emu = demo_emulator().await;
    let f = start_with_base_env(&emu).await;
    let inv = f
        .api
        .invoke(r#"{"Records": [] oops"#, TIMEOUT)
        .await
        .unwrap();
    match &inv.result {
        FunctionResult::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "Runtime.UnmarshalError");
            assert!(
                error_message.starts_with("the invocation is not a Kinesis event: ")
                    && error_message.ends_with("expected `,` or `}` in the event at byte 15"),
                "{error_message}"
            );
        }
        other => panic!("expected a function error, got {other:?}"),
    }
}
