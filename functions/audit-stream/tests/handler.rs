//! Handler-level tests: the sample Kinesis events in `events/` through the
//! function's handler, against the emulator over real HTTP, covering every
//! outcome: actions done (deduplicated across the batch), "already" states,
//! permanent findings, transient failures and time running out (lowest
//! failing sequence number reported), malformed records to the sink, a
//! failing sink, dry-run.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use audit_stream::{BatchReport, KinesisEvent};
use common::*;
use warden_core::aws::deadline::FailureKind;
use warden_core::aws::executor::Outcome;
use warden_core::plan::RefusalReason;
use warden_core::ActionKind;
use warden_emulator::RunningEmulator;

const MINUTE: Duration = Duration::from_secs(60);

fn set<'a>(items: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeSet<(String, String)> {
    items
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn seq(event: &KinesisEvent, index: usize) -> String {
    event.records[index].kinesis.sequence_number.clone()
}

/// The sample event `name` through `h`, with `left` to the deadline.
async fn process(h: &TestHandler, name: &str, left: Duration) -> (KinesisEvent, BatchReport) {
    let event = read_event(name);
    let report = h.process(lambda_event(event.clone(), left)).await;
    (event, report)
}

/// Asserts the batch item failures are exactly the records of `event` at
/// `indices`; `case` names the test's situation.
fn assert_failed_records(
    report: &BatchReport,
    event: &KinesisEvent,
    indices: &[usize],
    case: &str,
) {
    let want: Vec<String> = indices.iter().map(|&i| seq(event, i)).collect();
    assert_eq!(
        failure_ids(report),
        want,
        "{case}: batch item failures should be records {indices:?}"
    );
}

/// Asserts no call reached the emulator and every action ended as `want`.
fn assert_no_calls_all(emu: &RunningEmulator, report: &BatchReport, want: &Outcome, case: &str) {
    assert!(calls(emu).is_empty(), "{case}: calls made {:?}", calls(emu));
    let others: Vec<_> = report
        .executed
        .iter()
        .filter(|r| r.outcome != *want)
        .map(|r| (r.action.target.to_string(), &r.outcome))
        .collect();
    assert!(others.is_empty(), "{case}: not {want:?}: {others:?}");
}

#[tokio::test]
async fn the_audit_batch_signs_out_and_revokes_once_each() {
    let emu = demo_emulator().await;
    let (h, sink) = handler(&emu, false).await;
    let (event, report) = process(&h, "kinesis-audit-batch.json", MINUTE).await;

    // Every call once: bob appears in two records but is signed out once.
    let made = calls(&emu);
    assert_eq!(
        made.iter().cloned().collect::<BTreeSet<_>>(),
        set([
            ("SignOutUser", "bob"),
            ("SignOutUser", "dave"),
            ("SignOutUser", "carol"),
            ("SignOutUser", "Former.Employee@example.com"),
            ("RevokeDomainAccess", "wiki.example.com"),
        ])
    );
    assert_eq!(made.len(), 5, "each call exactly once: {made:?}");

    // Nothing to retry: the permanent failure is a finding.
    assert!(report.response.batch_item_failures.is_empty(), "{report:?}");
    assert_eq!(report.failure, None);
    assert_eq!(report.records, 8);
    assert_eq!(report.events, 8 - 2 + 5 + 50);
    assert!(report.malformed.is_empty());
    assert!(sink.messages().is_empty());

    assert_eq!(executed_for(&report, "user bob ").outcome, Outcome::Done);
    assert_eq!(
        executed_for(&report, "user carol ").outcome,
        Outcome::Done,
        "no active device: done"
    );
    assert_permanent(
        &executed_for(&report, "Former.Employee").outcome,
        "ResourceNotFoundException",
        "Former.Employee",
    );
    // Rules and causes travel with the action.
    for (who, rule, causes) in [
        ("user dave ", "repeated-failed-sign-ins", 5),
        ("user bob ", "access-from-outside-allowed-networks", 2),
    ] {
        let action = &executed_for(&report, who).action;
        assert_eq!(action.rules, [rule], "{who}");
        assert_eq!(action.cause_count, causes, "{who}");
    }

    // The break-glass account is refused by the allow-list, not called.
    assert!(report.plan.refusals.iter().any(|r| matches!(
        &r.reason,
        RefusalReason::AllowListed { entry, .. } if entry == "breakglass-*"
    )));

    // The emulator's state changed accordingly.
    {
        let wl = emu.shared().worklink();
        let corp = wl.fleet(CORP).unwrap();
        for d in corp
            .devices
            .iter()
            .filter(|d| d.username == "bob" || d.username == "dave")
        {
            assert_eq!(d.status.as_str(), "SIGNED_OUT", "{}", d.device_id);
        }
        for d in corp.devices.iter().filter(|d| d.username == "alice") {
            assert_eq!(d.status.as_str(), "ACTIVE", "alice stays signed in");
        }
    }
    assert_eq!(domain_status(&emu, "wiki.example.com"), "INACTIVE");

    // Metrics.
    let m = &report.metrics;
    assert_metrics(
        m,
        &[
            ("RecordsReceived", None, 8.0),
            ("RecordsMalformed", None, 0.0),
            ("BatchItemFailures", None, 0.0),
            ("ActionsPlanned", Some("SignOutUser"), 4.0),
            ("ActionsPlanned", Some("RevokeDomainAccess"), 1.0),
            ("ActionsExecuted", Some("SignOutUser"), 3.0),
            ("ActionsFailed", Some("SignOutUser"), 1.0),
            ("ActionsRefusedByAllowList", Some("SignOutUser"), 1.0),
        ],
        "the audit batch",
    );
    assert!(m.get("EventsMatched") >= 58.0, "{}", m.get("EventsMatched"));

    // The same batch again (Lambda re-delivery): idempotent, still no failure.
    let again = h.process(lambda_event(event, MINUTE)).await;
    assert!(again.response.batch_item_failures.is_empty(), "{again:?}");
    let wiki = executed_of(&again, ActionKind::RevokeDomain);
    assert!(
        matches!(&wiki.outcome, Outcome::Already { detail } if detail.contains("INACTIVE")),
        "{:?}",
        wiki.outcome
    );
}

#[tokio::test]
async fn dry_run_plans_and_logs_but_calls_nothing() {
    let emu = demo_emulator().await;
    let (h, _sink) = handler(&emu, true).await;
    let (_, report) = process(&h, "kinesis-audit-batch.json", MINUTE).await;
    assert_no_calls_all(&emu, &report, &Outcome::DryRun, "dry run");
    assert_eq!(report.executed.len(), 5);
    assert!(report.response.batch_item_failures.is_empty());
}

#[tokio::test]
async fn malformed_records_go_to_the_sink_with_their_reasons() {
    let emu = demo_emulator().await;
    let (h, sink) = handler(&emu, false).await;
    let (event, report) = process(&h, "kinesis-malformed.json", MINUTE).await;

    assert!(report.response.batch_item_failures.is_empty(), "{report:?}");
    let codes: Vec<(usize, &str)> = report
        .malformed
        .iter()
        .map(|m| (m.index, m.reason.code()))
        .collect();
    assert_eq!(
        codes,
        [
            (1, "not-json"),
            (2, "not-object"),
            (3, "not-utf8"),
            (4, "empty"),
            (5, "bad-gzip"),
            (6, "not-object"),
        ]
    );
    // The good records around them were processed: bob is signed out.
    assert_eq!(
        calls(&emu),
        [("SignOutUser".to_string(), "bob".to_string())]
    );

    let messages = sink.messages();
    assert_eq!(messages.len(), 6);
    for (m, (index, code)) in messages.iter().zip(&codes) {
        let body = m.json();
        let rec = &event.records[*index];
        let case = format!("record {index} ({code})");
        assert_eq!(
            body["requestContext"]["condition"], "MalformedRecord",
            "{case}"
        );
        assert_eq!(body["reason"]["code"], *code, "{case}");
        assert_eq!(
            body["KinesisBatchInfo"]["shardId"], "shardId-000000000000",
            "{case}"
        );
        assert_eq!(
            body["KinesisBatchInfo"]["startSequenceNumber"],
            rec.kinesis.sequence_number.as_str(),
            "{case}"
        );
        assert_eq!(
            body["record"]["kinesis"]["partitionKey"],
            rec.kinesis.partition_key.as_str(),
            "{case}"
        );
        // The data round-trips: the record can be repaired and replayed.
        let data = body["record"]["kinesis"]["data"].as_str().unwrap();
        use base64::Engine as _;
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
            rec.kinesis.data.0,
            "{case}"
        );
        assert_eq!(m.event_id, rec.event_id.clone().unwrap(), "{case}");
    }
    let reason = messages[5].json()["reason"]["message"].clone();
    assert_eq!(reason, "event 2: expected a JSON object, found a number");
    assert_metrics(
        &report.metrics,
        &[
            ("RecordsMalformed", None, 6.0),
            ("RecordsSentToFailureSink", None, 6.0),
        ],
        "malformed records",
    );
}

#[tokio::test]
async fn a_failing_sink_makes_the_first_malformed_record_the_batch_failure() {
    let emu = demo_emulator().await;
    let (h, sink) = handler(&emu, false).await;
    sink.set_failing(true);
    let (event, report) = process(&h, "kinesis-malformed.json", MINUTE).await;
    assert_failed_records(&report, &event, &[1], "the lowest malformed record");
    assert!(report.malformed.iter().all(|m| m.sink_error.is_some()));
    assert_metrics(
        &report.metrics,
        &[
            ("FailureSinkErrors", None, 6.0),
            ("BatchItemFailures", None, 1.0),
        ],
        "failing sink",
    );
}

#[tokio::test]
async fn a_transient_failure_reports_the_lowest_record_that_caused_it() {
    let emu = demo_emulator().await;
    // Every revoke is throttled; sign-outs go through.
    fail_every(&emu, "RevokeDomainAccess", Fault::Throttle, 1);
    let (h, _sink) = handler_with(&emu, false, 2).await;
    let (event, report) = process(&h, "kinesis-audit-batch.json", MINUTE).await;

    // The wiki burst is record 4 (the gzip record): Lambda re-delivers from it.
    assert_failed_records(&report, &event, &[4], "revokes throttled");
    let failure = report.failure.clone().unwrap();
    assert_eq!(failure.index, 4);
    assert!(
        failure.reason.contains("revoke-domain"),
        "{}",
        failure.reason
    );
    let revoke = executed_of(&report, ActionKind::RevokeDomain);
    assert!(revoke.outcome.should_retry(), "{:?}", revoke.outcome);
    assert_eq!(revoke.attempts, 2, "the SDK retried within its attempts");
    // The rest of the batch was still acted on.
    let made = calls(&emu);
    assert!(
        made.contains(&("SignOutUser".into(), "bob".into())),
        "{made:?}"
    );

    // Re-delivery from the failed record, once the service recovers: the
    // burst is whole again, the domain gets revoked.
    emu.shared().faults.clear();
    let mut rest = event.clone();
    rest.records.drain(..4);
    let retry = h.process(lambda_event(rest, MINUTE)).await;
    assert!(retry.response.batch_item_failures.is_empty(), "{retry:?}");
    assert_eq!(domain_status(&emu, "wiki.example.com"), "INACTIVE");
}

#[tokio::test]
async fn server_errors_on_sign_outs_report_the_lowest_cause() {
    let emu = demo_emulator().await;
    fail_every(&emu, "SignOutUser", Fault::ServerError, 7);
    let (h, _sink) = handler_with(&emu, false, 2).await;
    let (event, report) = process(&h, "kinesis-audit-batch.json", MINUTE).await;
    // bob's first outside visit is record 1: the lowest cause of any failed
    // sign-out (dave's is record 2, carol's 6).
    assert_failed_records(&report, &event, &[1], "sign-outs failing");
    assert_metrics(
        &report.metrics,
        &[("ActionsFailed", Some("SignOutUser"), 4.0)],
        "sign-outs failing",
    );
}

#[tokio::test]
async fn no_time_left_starts_nothing_and_reports_the_lowest_cause() {
    let emu = demo_emulator().await;
    let (h, _sink) = handler(&emu, false).await;
    // 100 ms left, 500 ms reserve: no call may start.
    let left = Duration::from_millis(100);
    let (event, report) = process(&h, "kinesis-audit-batch.json", left).await;
    assert_no_calls_all(&emu, &report, &Outcome::NotStarted, "no time left");
    assert_failed_records(&report, &event, &[1], "no time left");
}

#[tokio::test]
async fn already_states_and_permanent_failures_are_not_batch_failures() {
    let emu = demo_emulator().await;
    let (h, _sink) = handler(&emu, false).await;
    let (_, report) = process(&h, "kinesis-findings.json", MINUTE).await;
    assert!(report.response.batch_item_failures.is_empty(), "{report:?}");
    let payroll = &executed_for(&report, "payroll.example.com").outcome;
    assert!(
        matches!(payroll, Outcome::Already { .. }),
        "payroll.example.com: {payroll:?}"
    );
    for (needle, code) in [
        ("legacy.example.com", "InvalidRequestException"),
        ("fleet/gone", "ResourceNotFoundException"),
    ] {
        assert_permanent(&executed_for(&report, needle).outcome, code, needle);
    }
}

#[tokio::test]
async fn unauthorized_calls_are_findings() {
    let emu = demo_emulator().await;
    emu.shared()
        .worklink()
        .access_denied
        .push(warden_emulator::worklink::AccessDenyRule {
            access_key_id: "AKIDLOCALTEST".into(),
            operations: vec!["SignOutUser".into()],
        });
    let (h, _sink) = handler(&emu, false).await;
    let (_, report) = process(&h, "kinesis-audit-batch.json", MINUTE).await;
    assert!(report.response.batch_item_failures.is_empty(), "{report:?}");
    let codes: BTreeSet<_> = report
        .executed
        .iter()
        .filter(|r| r.action.kind == ActionKind::SignOutUser)
        .map(|r| match &r.outcome {
            Outcome::Failed(f) if f.kind == FailureKind::Permanent => f.code.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, BTreeSet::from(["UnauthorizedException".to_string()]));
}

#[tokio::test]
async fn an_empty_batch_is_fine() {
    let emu = demo_emulator().await;
    let (h, _sink) = handler(&emu, false).await;
    let report = h.process(lambda_event(Default::default(), MINUTE)).await;
    assert!(report.response.batch_item_failures.is_empty());
    assert_eq!(report.records, 0);
}

/// A batch larger than the processor's decoding chunk: malformed records and
/// failing actions still map back to the right positions.
#[tokio::test]
async fn large_batches_map_outcomes_to_the_right_records() {
    use base64::Engine as _;
    let emu = demo_emulator().await;
    fail_every(&emu, "SignOutUser", Fault::Throttle, 3);
    let (h, sink) = handler_with(&emu, false, 1).await;
    let records: Vec<serde_json::Value> = (0..2500)
        .map(|i| {
            let data: Vec<u8> = match i {
                1500 => b"{not json".to_vec(),
                2100 => {
                    br#"{"eventType":"SignIn","userName":"bob","sourceIp":"203.0.113.5"}"#.to_vec()
                }
                _ => format!(
                    r#"{{"eventType":"SignIn","userName":"alice","sourceIp":"10.0.0.{}"}}"#,
                    i % 250
                )
                .into_bytes(),
            };
            serde_json::json!({
                "kinesis": {
                    "partitionKey": "pk",
                    "sequenceNumber": format!("{}", 10_000 + i),
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                    "approximateArrivalTimestamp": 1795428000.0,
                },
                "eventID": format!("shardId-000000000007:{}", 10_000 + i),
            })
        })
        .collect();
    let event: KinesisEvent =
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    let report = h.process(lambda_event(event, MINUTE)).await;
    assert_eq!(report.records, 2500);
    assert_eq!(report.malformed.len(), 1);
    assert_eq!(report.malformed[0].index, 1500);
    assert_eq!(report.malformed[0].event_id, "shardId-000000000007:11500");
    assert_eq!(sink.messages()[0].event_id, "shardId-000000000007:11500");
    let f = report.failure.clone().unwrap();
    assert_eq!((f.index, f.sequence_number.as_str()), (2100, "12100"));
    assert_eq!(
        report.response.batch_item_failures[0]
            .item_identifier
            .as_deref(),
        Some("12100")
    );
}

/// Issue 11 item 3: with the state store, the same batch delivered twice
/// makes no write call the second time (every action is in the ledger);
/// without it (the test above) every delivery signs out again.
#[tokio::test]
async fn a_redelivered_batch_makes_no_write_call() {
    let emu = demo_emulator().await;
    let store = std::sync::Arc::new(warden_core::state::MemoryStateStore::new());
    let h = stateful_handler(&emu, store).await;
    let (_, first) = process(&h, "kinesis-audit-batch.json", MINUTE).await;
    let writes = |emu: &RunningEmulator| {
        calls(emu)
            .into_iter()
            .filter(|(op, _)| op == "SignOutUser" || op == "RevokeDomainAccess")
            .count()
    };
    let after_first = writes(&emu);
    assert!(after_first > 0, "the batch acts: {:?}", calls(&emu));
    assert!(failure_ids(&first).is_empty());
    let (_, second) = process(&h, "kinesis-audit-batch.json", MINUTE).await;
    assert_eq!(
        writes(&emu),
        after_first,
        "re-delivery wrote again: {:?}",
        calls(&emu)
    );
    assert!(second.executed.is_empty(), "{:?}", second.executed);
    assert!(failure_ids(&second).is_empty());
}
