//! WorkSpaces Secure Browser through the real `aws-sdk-workspacesweb`: a
//! round trip for every emulated operation, checked against the state and
//! the call log.

mod common;

use aws_sdk_workspacesweb::types::{IpRule, PortalStatus, SessionStatus, Tag};
use aws_sdk_workspacesweb::Client;
use common::sent;
use warden_emulator::web::SessionStatus as StoredStatus;
use warden_emulator::{Fixture, RunningEmulator};

const SAMPLE: &str = include_str!("../../events/emulator/web-sample.json");
const PORTAL_A: &str =
    "arn:aws:workspaces-web:us-east-1:123456789012:portal/11111111-1111-4111-8111-111111111111";
const PORTAL_B: &str =
    "arn:aws:workspaces-web:us-east-1:123456789012:portal/22222222-2222-4222-8222-222222222222";
const ID_A: &str = "11111111-1111-4111-8111-111111111111";
const ID_B: &str = "22222222-2222-4222-8222-222222222222";
const LOGGING: &str = "arn:aws:workspaces-web:us-east-1:123456789012:userAccessLoggingSettings/aaaaaaaa-0000-4000-8000-000000000001";
const IP: &str = "arn:aws:workspaces-web:us-east-1:123456789012:ipAccessSettings/bbbbbbbb-0000-4000-8000-000000000001";
const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-audit";

async fn start() -> (RunningEmulator, Client) {
    let emu = common::start(Fixture::from_json(SAMPLE).expect("sample fixture")).await;
    let client = common::web(&emu);
    (emu, client)
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

#[tokio::test]
async fn portals_list_and_get() {
    let (emu, c) = start().await;
    let out = sent!(c.list_portals());
    let arns: Vec<&str> = out.portals().iter().map(|p| p.portal_arn()).collect();
    assert_eq!(arns, [PORTAL_A, PORTAL_B]);
    assert!(out.next_token().is_none());
    let a = &out.portals()[0];
    assert_eq!(a.display_name(), Some("Call centre"));
    assert_eq!(a.portal_status(), Some(&PortalStatus::Active));
    assert_eq!(a.user_access_logging_settings_arn(), Some(LOGGING));
    assert_eq!(a.ip_access_settings_arn(), Some(IP));
    assert_eq!(
        a.creation_date().map(|d| d.secs()),
        Some(
            "2026-10-01T09:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_second()
        )
    );

    let got = sent!(c.get_portal().portal_arn(PORTAL_B));
    let p = got.portal().expect("portal");
    assert_eq!(p.portal_arn(), PORTAL_B);
    assert_eq!(p.display_name(), Some("Contractors"));
    assert!(p.user_access_logging_settings_arn().is_none());
    let calls = emu.shared().calls.of("GetPortal");
    assert_eq!(calls[0].params["portalArn"], PORTAL_B);
}

#[tokio::test]
async fn sessions_list_get_and_expire() {
    let (emu, c) = start().await;
    let out = sent!(c
        .list_sessions()
        .portal_id(ID_A)
        .username("alice")
        .status(SessionStatus::Active));
    let ids: Vec<&str> = out
        .sessions()
        .iter()
        .filter_map(|s| s.session_id())
        .collect();
    assert_eq!(
        ids,
        [
            "a0000000-0000-4000-8000-000000000001",
            "a0000000-0000-4000-8000-000000000005"
        ]
    );
    assert!(out
        .sessions()
        .iter()
        .all(|s| s.portal_arn() == Some(PORTAL_A) && s.username() == Some("alice")));

    let got = sent!(c
        .get_session()
        .portal_id(ID_A)
        .session_id("a0000000-0000-4000-8000-000000000001"));
    let s = got.session().expect("session");
    assert_eq!(s.client_ip_addresses(), ["203.0.113.7", "198.51.100.20"]);
    assert_eq!(s.status(), Some(&SessionStatus::Active));
    assert!(s.end_time().is_none());

    sent!(c
        .expire_session()
        .portal_id(ID_A)
        .session_id("a0000000-0000-4000-8000-000000000001"));
    let got = sent!(c
        .get_session()
        .portal_id(ID_A)
        .session_id("a0000000-0000-4000-8000-000000000001"));
    let s = got.session().unwrap();
    assert_eq!(s.status(), Some(&SessionStatus::Terminated));
    let now = emu.shared().clock.now().as_second();
    assert_eq!(s.end_time().map(|t| t.secs()), Some(now));
    // Expiring again is fine and changes nothing; other portals are untouched.
    sent!(c
        .expire_session()
        .portal_id(ID_A)
        .session_id("a0000000-0000-4000-8000-000000000001"));
    let st = emu.shared().web();
    let b = st.portal(PORTAL_B).unwrap();
    assert!(b.sessions.iter().all(|s| s.status == StoredStatus::Active));
    drop(st);
    let calls = emu.shared().calls.of("ExpireSession");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].params["portalId"], ID_A);
    assert_eq!(
        calls[0].params["sessionId"],
        "a0000000-0000-4000-8000-000000000001"
    );
}

#[tokio::test]
async fn user_access_logging_settings_lifecycle() {
    let (emu, c) = start().await;
    let stream = "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-contractors";
    let created = sent!(c
        .create_user_access_logging_settings()
        .kinesis_stream_arn(stream)
        .tags(tag("owner", "secops")));
    let arn = created.user_access_logging_settings_arn().to_string();
    assert!(
        arn.starts_with("arn:aws:workspaces-web:us-east-1:123456789012:userAccessLoggingSettings/")
    );

    let listed = sent!(c.list_user_access_logging_settings());
    let arns: Vec<&str> = listed
        .user_access_logging_settings()
        .iter()
        .map(|s| s.user_access_logging_settings_arn())
        .collect();
    assert_eq!(arns.len(), 2);
    assert!(arns.contains(&arn.as_str()) && arns.contains(&LOGGING));

    let assoc = sent!(c
        .associate_user_access_logging_settings()
        .portal_arn(PORTAL_B)
        .user_access_logging_settings_arn(&arn));
    assert_eq!(assoc.portal_arn(), PORTAL_B);
    assert_eq!(assoc.user_access_logging_settings_arn(), arn);
    let portal = sent!(c.get_portal().portal_arn(PORTAL_B));
    assert_eq!(
        portal.portal().unwrap().user_access_logging_settings_arn(),
        Some(arn.as_str())
    );
    let got = sent!(c
        .get_user_access_logging_settings()
        .user_access_logging_settings_arn(&arn));
    let s = got.user_access_logging_settings().unwrap();
    assert_eq!(s.kinesis_stream_arn(), Some(stream));
    assert_eq!(s.associated_portal_arns(), [PORTAL_B]);

    let updated = sent!(c
        .update_user_access_logging_settings()
        .user_access_logging_settings_arn(&arn)
        .kinesis_stream_arn(STREAM));
    assert_eq!(
        updated
            .user_access_logging_settings()
            .unwrap()
            .kinesis_stream_arn(),
        Some(STREAM)
    );

    sent!(c
        .disassociate_user_access_logging_settings()
        .portal_arn(PORTAL_B));
    let portal = sent!(c.get_portal().portal_arn(PORTAL_B));
    assert!(portal
        .portal()
        .unwrap()
        .user_access_logging_settings_arn()
        .is_none());
    sent!(c
        .delete_user_access_logging_settings()
        .user_access_logging_settings_arn(&arn));
    assert_eq!(emu.shared().web().user_access_logging_settings.len(), 1);
    let created = emu.shared().calls.of("CreateUserAccessLoggingSettings");
    assert_eq!(created[0].params["kinesisStreamArn"], stream);
    assert_eq!(created[0].params["tags"]["owner"], "secops");
}

#[tokio::test]
async fn repeated_client_token_creates_once() {
    let (emu, c) = start().await;
    let first = sent!(c
        .create_user_access_logging_settings()
        .kinesis_stream_arn(STREAM)
        .client_token("token-1"));
    let again = sent!(c
        .create_user_access_logging_settings()
        .kinesis_stream_arn(STREAM)
        .client_token("token-1"));
    assert_eq!(
        first.user_access_logging_settings_arn(),
        again.user_access_logging_settings_arn()
    );
    assert_eq!(emu.shared().web().user_access_logging_settings.len(), 2);
}

#[tokio::test]
async fn ip_access_settings_lifecycle() {
    let (emu, c) = start().await;
    let rule = |r: &str| IpRule::builder().ip_range(r).build().unwrap();
    let created = sent!(c
        .create_ip_access_settings()
        .display_name("Home workers")
        .description("VPN egress")
        .ip_rules(rule("192.0.2.0/24"))
        .ip_rules(rule("2001:db8::/32")));
    let arn = created.ip_access_settings_arn().to_string();
    let got = sent!(c.get_ip_access_settings().ip_access_settings_arn(&arn));
    let s = got.ip_access_settings().unwrap();
    assert_eq!(s.display_name(), Some("Home workers"));
    let ranges: Vec<&str> = s.ip_rules().iter().map(|r| r.ip_range()).collect();
    assert_eq!(ranges, ["192.0.2.0/24", "2001:db8::/32"]);
    assert_eq!(
        s.creation_date().map(|d| d.secs()),
        Some(emu.shared().clock.now().as_second())
    );

    let listed = sent!(c.list_ip_access_settings());
    assert_eq!(listed.ip_access_settings().len(), 2);

    let updated = sent!(c
        .update_ip_access_settings()
        .ip_access_settings_arn(&arn)
        .ip_rules(rule("198.51.100.0/24")));
    let s = updated.ip_access_settings().unwrap();
    assert_eq!(s.ip_rules().len(), 1);
    assert_eq!(
        s.display_name(),
        Some("Home workers"),
        "unchanged fields kept"
    );

    let assoc = sent!(c
        .associate_ip_access_settings()
        .portal_arn(PORTAL_B)
        .ip_access_settings_arn(&arn));
    assert_eq!(assoc.ip_access_settings_arn(), arn);
    let got = sent!(c.get_ip_access_settings().ip_access_settings_arn(&arn));
    assert_eq!(
        got.ip_access_settings().unwrap().associated_portal_arns(),
        [PORTAL_B]
    );
    sent!(c.disassociate_ip_access_settings().portal_arn(PORTAL_B));
    let portal = sent!(c.get_portal().portal_arn(PORTAL_B));
    assert!(portal.portal().unwrap().ip_access_settings_arn().is_none());
    sent!(c.delete_ip_access_settings().ip_access_settings_arn(&arn));
    let st = emu.shared().web();
    assert_eq!(st.ip_access_settings.len(), 1);
    assert_eq!(st.ip_access_settings[0].arn, IP);
}

#[tokio::test]
async fn tags_on_portals_and_settings() {
    let (emu, c) = start().await;
    for arn in [PORTAL_A, LOGGING, IP] {
        sent!(c
            .tag_resource()
            .resource_arn(arn)
            .tags(tag("env", "prod"))
            .tags(tag("cost-center", "cc 42")));
        sent!(c
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("env")
            .tag_keys("absent"));
        let out = sent!(c.list_tags_for_resource().resource_arn(arn));
        let mut tags: Vec<(&str, &str)> = out.tags().iter().map(|t| (t.key(), t.value())).collect();
        tags.sort_unstable();
        let want: Vec<(&str, &str)> = if arn == PORTAL_A {
            vec![("cost-center", "cc 42"), ("team", "euc")]
        } else {
            vec![("cost-center", "cc 42")]
        };
        assert_eq!(tags, want, "{arn}");
    }
    let untag = emu.shared().calls.of("UntagResource");
    assert_eq!(untag[0].params["resourceArn"], PORTAL_A);
    assert_eq!(
        untag[0].params["tagKeys"],
        serde_json::json!(["env", "absent"])
    );
}

#[tokio::test]
async fn every_operation_is_logged_under_its_name() {
    let (emu, c) = start().await;
    sent!(c.list_portals());
    sent!(c.list_sessions().portal_id(ID_B));
    let ops: Vec<String> = emu
        .shared()
        .calls
        .snapshot()
        .into_iter()
        .map(|c| format!("{}:{}", c.service.as_str(), c.operation))
        .collect();
    assert_eq!(
        ops,
        ["workspaces-web:ListPortals", "workspaces-web:ListSessions"]
    );
}
