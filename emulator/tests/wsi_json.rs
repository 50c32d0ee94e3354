//! WorkSpaces Instances over awsJson1_0 (`POST /` with `X-Amz-Target`), the
//! protocol boto3 and the AWS CLI use, with raw HTTP: the same state as the
//! CBOR path the Rust SDK uses, the same validation and errors.

mod common;

use aws_sdk_workspacesinstances::types::ProvisionStateEnum;
use common::sent;
use jiff::Timestamp;
use serde_json::{json, Value};
use warden_emulator::wsi::{Instance, ProvisionState, State};
use warden_emulator::{FaultRule, FaultsConfig, RunningEmulator, Service};

const ERRORED: &str = "wsinst-0a1b2c3d4e5f60009";

fn t0() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

async fn start(faults: Option<FaultsConfig>) -> RunningEmulator {
    let st = State::default().with_instance(Instance::new(
        ERRORED,
        ProvisionState::ErrorAllocating,
        t0(),
    ));
    common::start_wsi(t0(), st, faults).await
}

/// One awsJson1_0 call: (status, content type, JSON body).
async fn call(emu: &RunningEmulator, operation: &str, body: Value) -> (u16, String, Value) {
    let target = format!("EUCMIFrontendAPIService.{operation}");
    let (status, headers, raw) = common::http_with(
        emu,
        "POST",
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.0"),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    let content_type = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let body = serde_json::from_slice(&raw).unwrap_or_else(|e| {
        panic!(
            "{operation}: answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&raw)
        )
    });
    (status, content_type, body)
}

#[tokio::test]
async fn json_and_cbor_share_one_state() {
    let emu = start(None).await;
    let (status, ct, out) = call(
        &emu,
        "CreateWorkspaceInstance",
        json!({
            "ManagedInstance": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"},
            "Tags": [{"Key": "team", "Value": "json"}],
            "ClientToken": "json-1"
        }),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/x-amz-json-1.0"));
    let id = out["WorkspaceInstanceId"]
        .as_str()
        .expect("an id")
        .to_string();

    // The Rust SDK (CBOR) sees what JSON created, and the other way round.
    let sdk = common::wsi(&emu);
    let got = sent!(sdk.get_workspace_instance().workspace_instance_id(&id));
    assert_eq!(got.provision_state(), Some(&ProvisionStateEnum::Allocating));
    sent!(sdk.tag_resource().workspace_instance_id(&id).tags(
        aws_sdk_workspacesinstances::types::Tag::builder()
            .key("via")
            .value("cbor")
            .build()
    ));
    let (status, _, tags) = call(
        &emu,
        "ListTagsForResource",
        json!({"WorkspaceInstanceId": id}),
    )
    .await;
    assert_eq!(status, 200);
    let mut pairs: Vec<(String, String)> = tags["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().into(),
                t["Value"].as_str().unwrap().into(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("team".into(), "json".into()),
            ("via".into(), "cbor".into())
        ]
    );

    let (_, _, listed) = call(
        &emu,
        "ListWorkspaceInstances",
        json!({"ProvisionStates": ["ERROR_ALLOCATING"]}),
    )
    .await;
    let ids: Vec<&str> = listed["WorkspaceInstances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["WorkspaceInstanceId"].as_str())
        .collect();
    assert_eq!(ids, [ERRORED]);
    let ops: Vec<String> = emu
        .shared()
        .calls
        .snapshot()
        .into_iter()
        .map(|c| c.operation)
        .collect();
    assert_eq!(
        ops,
        [
            "CreateWorkspaceInstance",
            "GetWorkspaceInstance",
            "TagResource",
            "ListTagsForResource",
            "ListWorkspaceInstances"
        ]
    );
}

#[tokio::test]
async fn errors_are_json_with_type() {
    let emu = start(None).await;
    let (status, ct, body) = call(
        &emu,
        "GetWorkspaceInstance",
        json!({"WorkspaceInstanceId": "wsinst-0a1b2c3d4e5f6ffff"}),
    )
    .await;
    assert_eq!((status, ct.as_str()), (400, "application/x-amz-json-1.0"));
    assert_eq!(
        body["__type"],
        "com.amazonaws.workspacesinstances#ResourceNotFoundException"
    );
    assert_eq!(body["ResourceId"], "wsinst-0a1b2c3d4e5f6ffff");

    let (status, _, body) = call(&emu, "ListRegions", json!({"MaxResults": 26})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazonaws.workspacesinstances#ValidationException"
    );
    assert_eq!(body["FieldList"][0]["Name"], "MaxResults");

    let (status, _, body) = call(&emu, "DescribeEverything", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazonaws.workspacesinstances#UnknownOperationException"
    );

    let (status, _, raw) = common::http_with(
        &emu,
        "POST",
        "/",
        &[("X-Amz-Target", "EUCMIFrontendAPIService.ListRegions")],
        b"{not json",
    )
    .await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(body["Reason"], "CANNOT_PARSE");
}

#[tokio::test]
async fn faults_and_paging_apply_to_json_too() {
    let faults = FaultsConfig {
        rules: vec![FaultRule {
            service: Some(Service::WorkspacesInstances),
            operation: Some("DeleteWorkspaceInstance".into()),
            throttle_rate: 1.0,
            ..Default::default()
        }],
        seed: 0,
    };
    let emu = start(Some(faults)).await;
    let (status, _, body) = call(
        &emu,
        "DeleteWorkspaceInstance",
        json!({"WorkspaceInstanceId": ERRORED}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazonaws.workspacesinstances#ThrottlingException"
    );
    assert!(emu.shared().calls.snapshot()[0].injected);

    let mut regions = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = json!({"MaxResults": 4});
        if let Some(t) = &token {
            req["NextToken"] = json!(t);
        }
        let (status, _, page) = call(&emu, "ListRegions", req).await;
        assert_eq!(status, 200);
        regions.extend(
            page["Regions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["RegionName"].as_str().unwrap().to_string()),
        );
        token = page["NextToken"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(regions, State::default().regions());
}

#[tokio::test]
async fn post_slash_without_the_target_is_still_worklink() {
    let emu = start(None).await;
    let (status, headers, _) = common::http(&emu, "POST", "/", "application/json", b"{}").await;
    assert_eq!(status, 404);
    let code = headers
        .iter()
        .find(|(k, _)| k == "x-amzn-errortype")
        .map(|(_, v)| v.as_str());
    assert_eq!(code, Some("UnknownOperationException"));
    let calls = emu.shared().calls.snapshot();
    assert_eq!(calls[0].service, Service::WorkLink);
}
