//! The WorkLink part of fixtures: the sample loads, a dump reloads to the
//! same state (in-process and through the admin API), and invalid fixtures
//! are refused with a message naming the item and field.

#![allow(deprecated)] // the SDK marks every WorkLink call deprecated (service retired)

mod common;

use std::path::Path;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warden_emulator::worklink::{DeviceStatus, DomainStatus, FleetStatus, State};
use warden_emulator::{Fixture, RunningEmulator};

const SAMPLE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../events/emulator/worklink-sample.json"
);
const CORP: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";
const PARTNER: &str = "arn:aws:worklink::123456789012:fleet/partner-portal";

fn sample_json() -> Value {
    let text = std::fs::read_to_string(SAMPLE_PATH).expect("sample readable");
    serde_json::from_str(&text).expect("sample is JSON")
}

#[test]
fn sample_fixture_loads_and_has_the_promised_shape() {
    let fx = Fixture::from_file(Path::new(SAMPLE_PATH)).expect("sample loads");
    let wl = &fx.worklink;
    assert_eq!(wl.fleets.len(), 2);
    let corp = wl.fleet(CORP).expect("corp fleet");
    let partner = wl.fleet(PARTNER).expect("partner fleet");
    assert_eq!(
        corp.audit_stream_arn.as_deref(),
        Some("arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-demo")
    );
    assert_eq!(partner.audit_stream_arn, None);

    let devices: Vec<_> = wl.fleets.iter().flat_map(|f| &f.devices).collect();
    assert!(devices.len() >= 5);
    assert!(devices.iter().any(|d| d.status == DeviceStatus::SignedOut));
    assert!(devices.iter().any(|d| d.status == DeviceStatus::Active));
    let versions: std::collections::HashSet<_> = devices
        .iter()
        .filter_map(|d| d.operating_system_version.as_deref())
        .collect();
    assert!(versions.len() >= 4, "mixed OS versions: {versions:?}");

    let statuses: std::collections::HashSet<_> = wl
        .fleets
        .iter()
        .flat_map(|f| f.domains.iter().map(|d| d.status))
        .collect();
    for s in [
        DomainStatus::Active,
        DomainStatus::Inactive,
        DomainStatus::Associating,
        DomainStatus::Disassociated,
    ] {
        assert!(statuses.contains(&s), "sample lacks a {s:?} domain");
    }
}

#[tokio::test]
async fn dump_then_load_round_trips_after_changes() {
    let emu = common::start(Fixture::from_file(Path::new(SAMPLE_PATH)).unwrap()).await;
    let wl = common::worklink(&emu);
    // Change things through the API so the dump holds generated values too.
    wl.create_fleet()
        .fleet_name("round-trip")
        .tags("k", "v")
        .send()
        .await
        .unwrap();
    wl.associate_website_authorization_provider()
        .fleet_arn(PARTNER)
        .authorization_provider_type(aws_sdk_worklink::types::AuthorizationProviderType::Saml)
        .send()
        .await
        .unwrap();
    wl.sign_out_user()
        .fleet_arn(CORP)
        .username("dave")
        .send()
        .await
        .unwrap();
    wl.disassociate_domain()
        .fleet_arn(CORP)
        .domain_name("wiki.example.com")
        .send()
        .await
        .unwrap();

    let dump = emu.shared().dump();
    let text = serde_json::to_string_pretty(&dump).unwrap();
    let reloaded = Fixture::from_json(&text).expect("a dump loads");
    assert_eq!(reloaded.worklink, dump.worklink);
    assert_eq!(reloaded.clock, dump.clock);
    let creating = reloaded
        .worklink
        .fleets
        .iter()
        .find(|f| f.name == "round-trip")
        .expect("new fleet in dump");
    assert_eq!(creating.status, FleetStatus::Creating);
    assert!(creating.pending.is_some(), "pending transition survives");

    // A second emulator loaded from the dump dumps the same document.
    let emu2 = common::start(reloaded).await;
    let again = serde_json::to_value(emu2.shared().dump()).unwrap();
    assert_eq!(again, serde_json::to_value(&dump).unwrap());

    // And it carries on where the first one was: ids do not collide, the
    // pending fleet settles.
    emu2.shared()
        .clock
        .advance(jiff::SignedDuration::from_secs(120))
        .unwrap();
    let md = common::worklink(&emu2)
        .describe_fleet_metadata()
        .fleet_arn("arn:aws:worklink::123456789012:fleet/round-trip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        md.fleet_status(),
        Some(&aws_sdk_worklink::types::FleetStatus::Active)
    );
}

/// One raw HTTP/1.1 exchange with the admin API: (status, body).
async fn admin(emu: &RunningEmulator, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

#[tokio::test]
async fn admin_state_round_trips() {
    let emu = common::start(Fixture::from_file(Path::new(SAMPLE_PATH)).unwrap()).await;
    let (status, body) = admin(&emu, "GET", "/_emulator/state", "").await;
    assert_eq!(status, 200);
    let before = emu.shared().worklink().clone();

    // Wipe the state, then put the dump back.
    emu.shared().load(Fixture::default());
    assert!(emu.shared().worklink().fleets.is_empty());
    let (status, resp) = admin(&emu, "PUT", "/_emulator/state", &body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(*emu.shared().worklink(), before);

    // An invalid WorkLink section is refused over the admin API too.
    let mut bad: Value = serde_json::from_str(&body).unwrap();
    bad["worklink"]["fleets"][0]["devices"][1]["device_id"] = json!("dev-alice-iphone");
    let (status, resp) = admin(&emu, "PUT", "/_emulator/state", &bad.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        resp.contains("devices[1]") && resp.contains("duplicate device_id"),
        "{resp}"
    );
    assert_eq!(
        *emu.shared().worklink(),
        before,
        "refused load changes nothing"
    );
}

#[test]
fn empty_worklink_section_is_the_default_state() {
    let fx = Fixture::from_json(r#"{"worklink": {}}"#).unwrap();
    assert_eq!(fx.worklink, State::default());
    assert_eq!(fx.worklink.account_id, "123456789012");
    assert_eq!(fx.worklink.lifecycle.fleet_create_seconds, 60);
    let text = serde_json::to_string(&State::default()).unwrap();
    assert_eq!(
        serde_json::from_str::<State>(&text).unwrap(),
        State::default()
    );
}

/// A change to the sample fixture.
type Edit = Box<dyn FnOnce(&mut Value)>;

fn fleets(v: &mut Value) -> &mut Value {
    &mut v["worklink"]["fleets"]
}

/// Applies `edit` to the sample and returns the load error.
fn load_error(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = sample_json();
    edit(&mut v);
    match Fixture::from_json(&v.to_string()) {
        Ok(_) => panic!("fixture should be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn invalid_fixtures_name_the_item_and_field() {
    let cases: Vec<(Edit, &[&str])> = vec![
        (
            Box::new(|v| {
                let dup = fleets(v)[0].clone();
                fleets(v).as_array_mut().unwrap().push(dup);
            }),
            &["worklink.fleets[2]", "duplicate fleet ARN"],
        ),
        (
            Box::new(|v| fleets(v)[1]["arn"] = json!("arn:aws:worklink::123456789012:fleet/other")),
            &["worklink.fleets[1]", ".arn", "partner-portal"],
        ),
        (
            Box::new(|v| fleets(v)[0]["devices"][2]["status"] = json!("LOST")),
            &["LOST"],
        ),
        (
            Box::new(|v| fleets(v)[0]["domains"][1]["domain_name"] = json!("not a domain")),
            &["worklink.fleets[0]", "domains[1]", "domain_name"],
        ),
        (
            Box::new(|v| fleets(v)[0]["domains"][1]["domain_name"] = json!("intranet.example.com")),
            &["domains[1]", "duplicate domain_name"],
        ),
        (
            Box::new(|v| {
                fleets(v)[1]["audit_stream_arn"] =
                    json!("arn:aws:kinesis:us-east-1:123456789012:stream/other")
            }),
            &["worklink.fleets[1]", "audit_stream_arn", "AmazonWorkLink-"],
        ),
        (
            Box::new(|v| fleets(v)[0]["company_network"]["subnet_ids"][1] = json!("subnet-xyz")),
            &["company_network.subnet_ids[1]"],
        ),
        (
            Box::new(|v| {
                fleets(v)[0]["website_certificate_authorities"][0]["certificate"] = json!("nope")
            }),
            &["website_certificate_authorities[0]", "certificate"],
        ),
        (
            Box::new(|v| fleets(v)[0]["company_code"] = json!("")),
            &["worklink.fleets[0]", "company_code"],
        ),
        (
            Box::new(|v| fleets(v)[1]["name"] = json!("Partner Portal")),
            &["worklink.fleets[1]", ".name"],
        ),
        (
            Box::new(|v| v["worklink"]["account_id"] = json!("12345")),
            &["worklink.account_id"],
        ),
        (
            Box::new(|v| {
                v["worklink"]["access_denied"] =
                    json!([{ "access_key_id": "AKID", "operations": ["SignOutUsers"] }])
            }),
            &["access_denied[0]", "SignOutUsers"],
        ),
        (
            Box::new(|v| fleets(v)[0]["unexpected"] = json!(1)),
            &["unexpected"],
        ),
        (
            Box::new(|v| {
                fleets(v)[0]["devices"][0]["last_accessed_time"] = json!("2020-01-01T00:00:00Z")
            }),
            &["devices[0]", "last_accessed_time"],
        ),
    ];
    for (edit, wants) in cases {
        let err = load_error(edit);
        for want in wants {
            assert!(err.contains(want), "error {err:?} should mention {want:?}");
        }
    }
}
