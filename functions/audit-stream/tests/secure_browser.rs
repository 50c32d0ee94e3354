//! The real `audit-stream` binary on a WorkSpaces Secure Browser access log
//! stream (`amazon-workspaces-web-*`), under the local Runtime API, against
//! the emulator's workspaces-web: a deny-listed user starting a session ends
//! exactly that user's active sessions on that portal (the default policy's
//! `secure-browser-offboarded-users`, action `expire-sessions`), and a
//! `Validation` event changes nothing.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::{json, Value};
use warden_emulator::{Emulator, Fixture, RunningEmulator};

const TIMEOUT: Duration = Duration::from_secs(30);
const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-test";
const ID_A: &str = "11111111-1111-4111-8111-111111111111";
const ID_B: &str = "22222222-2222-4222-8222-222222222222";
const GONE: &str = "former.employee@example.com";

fn portal(id: &str) -> String {
    format!("arn:aws:workspaces-web:us-east-1:123456789012:portal/{id}")
}

fn session(id: &str, user: &str, status: &str) -> Value {
    json!({
        "session_id": id, "username": user, "status": status,
        "start_time": "2026-11-25T08:00:00Z", "client_ip_addresses": ["203.0.113.7"],
    })
}

/// Portal A: the offboarded user has two active sessions and one ended,
/// bob one active. Portal B: the offboarded user has one active session.
async fn emulator() -> RunningEmulator {
    let fixture = json!({
        "clock": "2026-11-25T12:00:00Z",
        "workspaces_web": { "portals": [
            { "arn": portal(ID_A), "status": "Active", "sessions": [
                session("a0000000-0000-4000-8000-000000000001", GONE, "Active"),
                session("a0000000-0000-4000-8000-000000000002", "bob", "Active"),
                session("a0000000-0000-4000-8000-000000000003", GONE, "Active"),
                session("a0000000-0000-4000-8000-000000000004", GONE, "Terminated"),
            ]},
            { "arn": portal(ID_B), "status": "Active", "sessions": [
                session("b0000000-0000-4000-8000-000000000001", GONE, "Active"),
            ]},
        ]}
    });
    Emulator::new(Fixture::from_json(&fixture.to_string()).unwrap())
        .start_local()
        .await
        .unwrap()
}

/// A Kinesis batch from the Secure Browser stream, one record per event.
fn batch(events: &[Value]) -> Vec<u8> {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let seq = format!(
                "4965432543420000000000000000000000000000000000000000{:04}",
                i + 1
            );
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": format!("pk-{i}"),
                    "sequenceNumber": seq,
                    "data": base64::engine::general_purpose::STANDARD.encode(e.to_string()),
                    "approximateArrivalTimestamp": 1795433400.25,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/audit-stream-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM,
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).unwrap()
}

fn validation() -> Value {
    json!({
        "timestamp": "1795433400000",
        "eventType": "Validation",
        "details": {
            "permission": "Kinesis:PutRecord",
            "userArn": "arn:aws:iam::123456789012:user/admin",
            "operation": "AssociateUserAccessLoggingSettings",
            "userAccessLoggingSettingsArn": "arn:aws:workspaces-web:us-east-1:123456789012:userAccessLoggingSettings/aaaaaaaa-0000-4000-8000-000000000001"
        }
    })
}

fn event(kind: &str, user: &str, portal_id: &str, details: Value) -> Value {
    json!({
        "timestamp": "1795433401000",
        "eventType": kind,
        "details": details,
        "portalArn": portal(portal_id),
        "userName": user,
    })
}

/// (portal letter, session id, status) of every session.
fn sessions(emu: &RunningEmulator) -> Vec<(String, String, String)> {
    emu.shared()
        .web()
        .portals
        .iter()
        .flat_map(|p| {
            p.sessions
                .iter()
                .map(|s| {
                    (
                        p.id()[..1].to_string(),
                        s.session_id.clone(),
                        s.status.as_str().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_listed_user_starting_a_session_loses_their_sessions_on_that_portal_only() {
    let emu = emulator().await;
    let vars = vec![
        ("WARDEN_DRY_RUN", "false".to_string()),
        // Only the Secure Browser client reaches the emulator, through the
        // SDK's own service variable; every other service points nowhere.
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".to_string()),
        ("AWS_ENDPOINT_URL_WORKSPACES_WEB", emu.endpoint_url()),
        (
            "WARDEN_FAILURE_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/no-such-queue".to_string(),
        ),
        ("WARDEN_MAX_ATTEMPTS", "2".to_string()),
        ("WARDEN_STATE_TABLE", "memory:".to_string()),
    ];
    let f = start_function(&vars)
        .await
        .map_err(|(e, logs)| format!("{e}: {logs:?}"))
        .unwrap();
    let before = sessions(&emu);

    // A Validation event alone: nothing is evaluated, nothing called.
    let inv = f.api.invoke(batch(&[validation()]), TIMEOUT).await.unwrap();
    assert_eq!(inv.json().unwrap(), json!({ "batchItemFailures": [] }));
    assert!(
        emu.shared().calls.is_empty(),
        "{:?}",
        emu.shared().calls.snapshot()
    );
    assert_eq!(sessions(&emu), before);

    // The deny-listed user starts a session on portal A; around it a
    // Validation event, bob browsing A and the user's EndSession on B.
    let payload = batch(&[
        validation(),
        event(
            "VisitPage",
            "bob",
            ID_A,
            json!({ "title": "Wiki", "url": "https://wiki.corp.example.com/" }),
        ),
        event("StartSession", GONE, ID_A, json!({})),
        event("EndSession", GONE, ID_B, json!({})),
    ]);
    let inv = f.api.invoke(payload, TIMEOUT).await.unwrap();
    assert_eq!(inv.json().unwrap(), json!({ "batchItemFailures": [] }));

    // Exactly that user's two active sessions on A ended: bob's, the one
    // already ended, and the user's session on B are as they were.
    let after = sessions(&emu);
    let ended: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(_, a)| {
            assert_eq!(a.2, "Terminated", "{a:?}");
            a.1.as_str()
        })
        .collect();
    assert_eq!(
        ended,
        [
            "a0000000-0000-4000-8000-000000000001",
            "a0000000-0000-4000-8000-000000000003"
        ]
    );
    let calls = emu.shared().calls.snapshot();
    let ops: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| {
            (
                c.operation.as_str(),
                c.params["portalId"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("ListSessions", ID_A),
            ("ExpireSession", ID_A),
            ("ExpireSession", ID_A)
        ]
    );
    assert_eq!(calls[0].params["username"], GONE);

    // The action's log line names the portal, the user and the rule.
    let lines = f
        .json_lines_once(|ls| ls.iter().any(|l| l["message"] == "action"))
        .await;
    let action = lines.iter().find(|l| l["message"] == "action").unwrap();
    assert_eq!(action["action"], "expire-sessions");
    assert_eq!(action["rule"], "secure-browser-offboarded-users");
    assert_eq!(action["portal"], portal(ID_A));
    assert_eq!(action["user"], GONE);
    assert_eq!(action["outcome"], "done");
    assert!(lines.iter().any(|l| l["message"]
        .as_str()
        .is_some_and(|m| m.contains("validation event"))));
}
