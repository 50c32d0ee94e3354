//! Fixtures (the sample document, dump/load round trips, validation errors
//! naming the item) and the raw wire: malformed CBOR, wrong member types,
//! unknown operations, protocol headers.

mod common;

use std::path::Path;

use aws_sdk_workspacesinstances::types::{ManagedInstanceRequest, ProvisionStateEnum, Tag};
use ciborium::Value;
use jiff::SignedDuration;
use warden_emulator::wsi::{ProvisionState, State};
use warden_emulator::{Fixture, RunningEmulator};

fn sample_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/emulator/wsi-sample.json")
}

fn sample() -> Fixture {
    Fixture::from_file(&sample_path()).expect("the sample fixture loads")
}

#[tokio::test]
async fn sample_fixture_loads_and_serves() {
    let fixture = sample();
    let st = &fixture.workspaces_instances;
    assert_eq!(st.instances.len(), 10);
    let count = |s: ProvisionState| {
        st.instances
            .values()
            .filter(|i| i.provision_state == s)
            .count()
    };
    assert_eq!(count(ProvisionState::ErrorAllocating), 2);
    assert_eq!(count(ProvisionState::ErrorDeallocating), 1);
    assert!(st
        .instances
        .values()
        .filter(|i| i.provision_state.is_error())
        .all(|i| !i.workspace_instance_errors.is_empty() && !i.ec2_instance_errors.is_empty()));
    let protected: Vec<&str> = st
        .instances
        .values()
        .filter(|i| i.tags.get("warden:protect").map(String::as_str) == Some("true"))
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(protected.len(), 1);
    assert!(st.volumes.len() >= 2);

    let emu = common::start(fixture.clone()).await;
    let client = common::wsi(&emu);
    let out = client
        .list_workspace_instances()
        .provision_states(ProvisionStateEnum::ErrorAllocating)
        .provision_states(ProvisionStateEnum::ErrorDeallocating)
        .send()
        .await
        .unwrap();
    assert_eq!(out.workspace_instances().len(), 3);
    let tags = client
        .list_tags_for_resource()
        .workspace_instance_id(protected[0])
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == Some("warden:protect") && t.value() == Some("true")));
    // The sample's scheduled transitions fire as the clock moves.
    emu.shared()
        .clock
        .advance(SignedDuration::from_secs(60))
        .unwrap();
    let out = client
        .list_workspace_instances()
        .provision_states(ProvisionStateEnum::Allocating)
        .provision_states(ProvisionStateEnum::Deallocating)
        .send()
        .await
        .unwrap();
    assert!(out.workspace_instances().is_empty(), "{out:?}");
}

#[tokio::test]
async fn dump_load_round_trips_exactly() {
    let emu = common::start(sample()).await;
    let client = common::wsi(&emu);
    // Mutate: a new instance (with transition, token, request document
    // incl. a timestamp), tags, a delete, a volume.
    let spot = aws_sdk_workspacesinstances::types::SpotMarketOptions::builder()
        .valid_until_utc(aws_smithy_types::DateTime::from_secs(1_900_000_000))
        .max_price("0.5")
        .build();
    client
        .create_workspace_instance()
        .managed_instance(
            ManagedInstanceRequest::builder()
                .instance_type("m5.large")
                .instance_market_options(
                    aws_sdk_workspacesinstances::types::InstanceMarketOptionsRequest::builder()
                        .spot_options(spot)
                        .build(),
                )
                .ebs_optimized(true)
                .ipv6_address_count(2)
                .build(),
        )
        .tags(Tag::builder().key("k").value("v").build())
        .send()
        .await
        .unwrap();
    client
        .delete_workspace_instance()
        .workspace_instance_id("wsinst-0a1b2c3d4e5f60004")
        .send()
        .await
        .unwrap();
    client
        .create_volume()
        .availability_zone("us-east-1a")
        .size_in_gb(10)
        .send()
        .await
        .unwrap();

    let dumped = emu.shared().dump();
    let json = serde_json::to_string_pretty(&dumped).unwrap();
    let reloaded = Fixture::from_json(&json).expect("a dump loads");
    assert_eq!(reloaded.workspaces_instances, dumped.workspaces_instances);
    assert_eq!(reloaded.clock, dumped.clock);
    let created = dumped
        .workspaces_instances
        .instances
        .values()
        .find(|i| i.tags.contains_key("k"))
        .unwrap();
    assert_eq!(
        created.managed_instance.as_ref().unwrap()["InstanceMarketOptions"]["SpotOptions"]
            ["ValidUntilUtc"],
        "2030-03-17T17:46:40Z"
    );

    // Loading it into another emulator gives the same state and behaviour.
    let other = common::start(reloaded).await;
    assert_eq!(
        other.shared().dump().workspaces_instances,
        dumped.workspaces_instances
    );
    // Same ids next: the id counter travels with the state.
    let next_a = client
        .create_volume()
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap();
    let next_b = common::wsi(&other)
        .create_volume()
        .availability_zone("us-east-1a")
        .send()
        .await
        .unwrap();
    assert_eq!(next_a.volume_id(), next_b.volume_id());

    // And through the admin API.
    let (status, _, body) = common::http(&emu, "GET", "/_emulator/state", "", b"").await;
    assert_eq!(status, 200);
    let via_admin: Fixture = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        via_admin.workspaces_instances,
        emu.shared().dump().workspaces_instances
    );
}

#[test]
fn default_and_empty_sections_agree() {
    let f = Fixture::from_json(r#"{"workspaces_instances": {}}"#).unwrap();
    assert_eq!(f.workspaces_instances, State::default());
    let text = serde_json::to_string(&State::default()).unwrap();
    assert_eq!(
        serde_json::from_str::<State>(&text).unwrap(),
        State::default()
    );
}

#[test]
fn invalid_fixtures_name_the_item() {
    let inst = |extra: &str| {
        format!(
            r#"{{"workspaces_instances": {{"instances": [{{"id": "wsinst-abcdefgh1", "provision_state": "ALLOCATED", "created": "2026-01-01T00:00:00Z"{extra}}}]}}}}"#
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (
            r#"{"workspaces_instances": {"instances": [{"id": "wsinst-bad", "provision_state": "ALLOCATED", "created": "2026-01-01T00:00:00Z"}]}}"#.into(),
            "instances[wsinst-bad].id",
        ),
        (
            inst(&format!(
                r#", "tags": {{{}}}"#,
                (0..31)
                    .map(|i| format!(r#""k{i}": "v""#))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            "instances[wsinst-abcdefgh1].tags: 31 tags",
        ),
        (
            inst(r#", "tags": {"bad*key": "v"}"#),
            "instances[wsinst-abcdefgh1].tags",
        ),
        (
            inst(r#", "billing_mode": "WEEKLY""#),
            "instances[wsinst-abcdefgh1].billing_mode",
        ),
        (
            inst(r#", "purge_at": "2026-01-02T00:00:00Z""#),
            "instances[wsinst-abcdefgh1].purge_at",
        ),
        (
            r#"{"workspaces_instances": {"volumes": [{"id": "vol-1", "availability_zone": "us-east-1a", "state": "in-use", "created": "2026-01-01T00:00:00Z", "attachment": {"workspace_instance_id": "wsinst-nothere01", "device": "/dev/sdf"}}]}}"#.into(),
            "volumes[vol-1].attachment",
        ),
        (
            r#"{"workspaces_instances": {"volumes": [{"id": "vol-1", "availability_zone": "us-east-1a", "state": "in-use", "created": "2026-01-01T00:00:00Z"}]}}"#.into(),
            "volumes[vol-1]",
        ),
        (
            r#"{"workspaces_instances": {"access_denied_operations": ["DescribeWorkspaces"]}}"#.into(),
            "DescribeWorkspaces",
        ),
        (
            r#"{"workspaces_instances": {"regions": ["US_EAST"]}}"#.into(),
            "regions[0]",
        ),
        (
            r#"{"workspaces_instances": {"instance_types": [{"instance_type": "m5.large", "supported_instance_configurations": [{"billing_mode": "HOURLY", "platform_type": "BeOS", "tenancy": "SHARED"}]}]}}"#.into(),
            "instance_types[0].supported_instance_configurations[0].platform_type",
        ),
    ];
    for (json, needle) in cases {
        let err = Fixture::from_json(&json).expect_err(needle).to_string();
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }
    // Parse-level errors: a repeated id, an unknown state, an unknown field.
    let dup = r#"{"workspaces_instances": {"instances": [
        {"id": "wsinst-abcdefgh1", "provision_state": "ALLOCATED", "created": "2026-01-01T00:00:00Z"},
        {"id": "wsinst-abcdefgh1", "provision_state": "ALLOCATED", "created": "2026-01-01T00:00:00Z"}]}}"#;
    let err = Fixture::from_json(dup).unwrap_err().to_string();
    assert!(
        err.contains("wsinst-abcdefgh1") && err.contains("more than once"),
        "{err}"
    );
    let err = Fixture::from_json(&inst("").replace("ALLOCATED", "RUNNING"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("RUNNING"), "{err}");
    let err = Fixture::from_json(&inst(r#", "colour": "red""#))
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
}

// ---------------------------------------------------------------- raw wire

async fn call(emu: &RunningEmulator, op: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Value) {
    let (status, headers, body) = common::http(
        emu,
        "POST",
        &format!("/service/EUCMIFrontendAPIService/operation/{op}"),
        "application/cbor",
        body,
    )
    .await;
    let value: Value = ciborium::from_reader(&body[..]).expect("the answer is CBOR");
    (status, headers, value)
}

fn member<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    member(v, key).and_then(Value::as_text).unwrap_or_default()
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Text(k.into()), v))
            .collect(),
    )
}

#[tokio::test]
async fn malformed_bodies_are_validation_errors() {
    let emu = common::start(sample()).await;
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", vec![0xff, 0x00, 0x13]),
        ("truncated map", vec![0xbf, 0x61]),
        (
            "huge declared length",
            vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        ("deep nesting", vec![0x81; 10_000]),
        (
            "json",
            br#"{"WorkspaceInstanceId":"wsinst-0a1b2c3d4e5f60001"}"#.to_vec(),
        ),
        ("array", cbor(&Value::Array(vec![]))),
        ("trailing bytes", [cbor(&map(vec![])), vec![0x00]].concat()),
    ];
    for (what, body) in &bodies {
        let (status, _, v) = call(&emu, "GetWorkspaceInstance", body).await;
        assert_eq!(status, 400, "{what}");
        assert_eq!(
            text(&v, "__type"),
            "com.amazonaws.workspacesinstances#ValidationException",
            "{what}"
        );
        assert_eq!(text(&v, "Reason"), "CANNOT_PARSE", "{what}");
    }
    let calls = emu.shared().calls.of("GetWorkspaceInstance");
    assert_eq!(calls.len(), bodies.len());
    assert!(calls
        .iter()
        .all(|c| c.error.as_deref() == Some("ValidationException")));
    // The emulator is still fine.
    let (status, _, _) = call(&emu, "ListRegions", b"").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn wrong_member_types_name_the_member() {
    let emu = common::start(sample()).await;
    let cases = [
        (
            "ListWorkspaceInstances",
            map(vec![("MaxResults", Value::Text("10".into()))]),
            "MaxResults",
        ),
        (
            "ListWorkspaceInstances",
            map(vec![("ProvisionStates", Value::Text("ALLOCATED".into()))]),
            "ProvisionStates",
        ),
        (
            "GetWorkspaceInstance",
            map(vec![("WorkspaceInstanceId", Value::Integer(5.into()))]),
            "WorkspaceInstanceId",
        ),
        (
            "TagResource",
            map(vec![
                (
                    "WorkspaceInstanceId",
                    Value::Text("wsinst-0a1b2c3d4e5f60001".into()),
                ),
                ("Tags", Value::Array(vec![Value::Text("k=v".into())])),
            ]),
            "Tags[0]",
        ),
        (
            "CreateWorkspaceInstance",
            map(vec![(
                "ManagedInstance",
                map(vec![(
                    "InstanceMarketOptions",
                    map(vec![(
                        "SpotOptions",
                        map(vec![("ValidUntilUtc", Value::Text("tomorrow".into()))]),
                    )]),
                )]),
            )]),
            "ManagedInstance.InstanceMarketOptions.SpotOptions.ValidUntilUtc",
        ),
    ];
    for (op, body, field) in cases {
        let (status, _, v) = call(&emu, op, &cbor(&body)).await;
        assert_eq!(status, 400, "{op} {field}");
        assert!(text(&v, "__type").ends_with("#ValidationException"));
        assert!(text(&v, "Message").contains(field), "{field}: {v:?}");
        let fields = member(&v, "FieldList").and_then(Value::as_array).unwrap();
        assert_eq!(text(&fields[0], "Name"), field);
    }
    // Unknown members are ignored (a newer SDK may send more).
    let (status, _, v) = call(
        &emu,
        "ListRegions",
        &cbor(&map(vec![("SomethingNew", Value::Bool(true))])),
    )
    .await;
    assert_eq!(status, 200, "{v:?}");
}

#[tokio::test]
async fn protocol_headers_unknown_operations_and_methods() {
    let emu = common::start(sample()).await;
    // Indefinite-length map, as the SDK encodes; success headers.
    let (status, headers, v) = call(&emu, "ListRegions", &[0xbf, 0xff]).await;
    assert_eq!(status, 200);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("smithy-protocol"), Some("rpc-v2-cbor"));
    assert_eq!(header("content-type"), Some("application/cbor"));
    assert!(header("x-amzn-requestid").is_some());
    assert!(member(&v, "Regions").is_some());

    // Unit outputs are an empty map.
    let body = cbor(&map(vec![
        (
            "WorkspaceInstanceId",
            Value::Text("wsinst-0a1b2c3d4e5f60001".into()),
        ),
        ("TagKeys", Value::Array(vec![Value::Text("team".into())])),
    ]));
    let (status, _, v) = call(&emu, "UntagResource", &body).await;
    assert_eq!((status, v), (200, Value::Map(vec![])));

    let (status, headers, v) = call(&emu, "DescribeWorkspaces", b"").await;
    assert_eq!(status, 404);
    assert_eq!(
        text(&v, "__type"),
        "com.amazonaws.workspacesinstances#UnknownOperationException"
    );
    assert!(headers
        .iter()
        .any(|(k, v)| k == "smithy-protocol" && v == "rpc-v2-cbor"));

    let (status, _, _) = common::http(
        &emu,
        "GET",
        "/service/EUCMIFrontendAPIService/operation/ListRegions",
        "",
        b"",
    )
    .await;
    assert_eq!(status, 404);
    let unknown = emu.shared().calls.of("DescribeWorkspaces");
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        unknown[0].error.as_deref(),
        Some("UnknownOperationException")
    );
}
