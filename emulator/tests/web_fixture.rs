//! The `workspaces_web` fixture section: errors name the JSON path of the bad
//! value, and a dump reloads to the same state.

mod common;

use aws_sdk_workspacesweb::types::SessionStatus;
use common::sent;
use serde_json::{json, Value};
use warden_emulator::{EmulatorError, Fixture};

const SAMPLE: &str = include_str!("../../events/emulator/web-sample.json");

fn sample() -> Value {
    serde_json::from_str(SAMPLE).unwrap()
}

/// Loads the sample with one edit; the error text (which must exist).
fn error_after(edit: impl FnOnce(&mut Value)) -> String {
    let mut doc = sample();
    edit(&mut doc);
    match Fixture::from_json(&doc.to_string()) {
        Ok(_) => panic!("the edited fixture loaded"),
        Err(e @ (EmulatorError::ParseFixture { .. } | EmulatorError::InvalidFixture(_))) => {
            e.to_string()
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

/// One change to the sample document.
type Edit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn errors_name_the_path() {
    let cases: Vec<(&str, Edit)> = vec![
        (
            "workspaces_web.portals[0].sessions[1].status",
            Box::new(|d| {
                d["workspaces_web"]["portals"][0]["sessions"][1]["status"] = json!("Paused")
            }),
        ),
        (
            "workspaces_web.portals[1].sessions[0].start_time",
            Box::new(|d| {
                d["workspaces_web"]["portals"][1]["sessions"][0]["start_time"] = json!("yesterday")
            }),
        ),
        (
            "workspaces_web.portals[0].colour",
            Box::new(|d| d["workspaces_web"]["portals"][0]["colour"] = json!("blue")),
        ),
        (
            "workspaces_web.portals[0].sessions[2].session_id",
            Box::new(|d| {
                d["workspaces_web"]["portals"][0]["sessions"][2]["session_id"] = json!("short")
            }),
        ),
        (
            "workspaces_web.portals[1].sessions[1].client_ip_addresses[0]",
            Box::new(|d| {
                d["workspaces_web"]["portals"][1]["sessions"][1]["client_ip_addresses"] =
                    json!(["300.1.1.1"])
            }),
        ),
        (
            "workspaces_web.portals[1].arn",
            Box::new(|d| {
                d["workspaces_web"]["portals"][1]["arn"] = json!(
                    "arn:aws:worklink::123456789012:fleet/22222222-2222-4222-8222-222222222222"
                )
            }),
        ),
        (
            "workspaces_web.user_access_logging_settings[0].kinesis_stream_arn",
            Box::new(|d| {
                d["workspaces_web"]["user_access_logging_settings"][0]["kinesis_stream_arn"] =
                    json!("arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-x")
            }),
        ),
        (
            "workspaces_web.portals[0].ip_access_settings_arn",
            Box::new(|d| {
                d["workspaces_web"]["ip_access_settings"] = json!([]);
            }),
        ),
        (
            "workspaces_web.portals[0].sessions[4].session_id",
            Box::new(|d| {
                let first = d["workspaces_web"]["portals"][0]["sessions"][0]["session_id"].clone();
                d["workspaces_web"]["portals"][0]["sessions"][4]["session_id"] = first;
            }),
        ),
        (
            "workspaces_web.access_denied[0].operations",
            Box::new(|d| {
                d["workspaces_web"]["access_denied"] = json!([{ "operations": ["SignOutUser"] }]);
            }),
        ),
    ];
    for (path, edit) in cases {
        let err = error_after(edit);
        assert!(err.contains(path), "wanted {path} in: {err}");
    }
}

#[tokio::test]
async fn a_dump_reloads_to_the_same_state() {
    let emu = common::start(Fixture::from_json(SAMPLE).unwrap()).await;
    let c = common::web(&emu);
    sent!(c
        .expire_session()
        .portal_id("11111111-1111-4111-8111-111111111111")
        .session_id("a0000000-0000-4000-8000-000000000002"));
    sent!(c
        .create_user_access_logging_settings()
        .kinesis_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-x")
        .client_token("t-1"));
    let (status, _, dump) = common::http(&emu, "GET", "/_emulator/state", "", b"").await;
    assert_eq!(status, 200);
    let reloaded = Fixture::from_json(std::str::from_utf8(&dump).unwrap()).expect("dump loads");
    assert_eq!(reloaded.workspaces_web, emu.shared().dump().workspaces_web);
    let other = common::start(reloaded).await;
    let out = sent!(common::web(&other)
        .get_session()
        .portal_id("11111111-1111-4111-8111-111111111111")
        .session_id("a0000000-0000-4000-8000-000000000002"));
    assert_eq!(
        out.session().unwrap().status(),
        Some(&SessionStatus::Terminated)
    );
    // The next generated id follows on, as in the original.
    let a = sent!(c.create_ip_access_settings().ip_rules(
        aws_sdk_workspacesweb::types::IpRule::builder()
            .ip_range("10.0.0.1")
            .build()
            .unwrap()
    ));
    let b = sent!(common::web(&other).create_ip_access_settings().ip_rules(
        aws_sdk_workspacesweb::types::IpRule::builder()
            .ip_range("10.0.0.1")
            .build()
            .unwrap()
    ));
    assert_eq!(a.ip_access_settings_arn(), b.ip_access_settings_arn());
}
