//! Every modelled error of the operations the warden calls
//! (ListWorkspaceInstances, GetWorkspaceInstance, TagResource, UntagResource,
//! ListTagsForResource, DeleteWorkspaceInstance) comes back from the real SDK
//! as its typed variant; plus the other operations' state errors.

mod common;

use common::{check, fails_as};

use aws_sdk_workspacesinstances::operation::associate_volume::AssociateVolumeError;
use aws_sdk_workspacesinstances::operation::create_workspace_instance::CreateWorkspaceInstanceError;
use aws_sdk_workspacesinstances::operation::delete_volume::DeleteVolumeError;
use aws_sdk_workspacesinstances::operation::delete_workspace_instance::DeleteWorkspaceInstanceError as DeleteErr;
use aws_sdk_workspacesinstances::operation::disassociate_volume::DisassociateVolumeError;
use aws_sdk_workspacesinstances::operation::get_workspace_instance::GetWorkspaceInstanceError as GetErr;
use aws_sdk_workspacesinstances::operation::list_tags_for_resource::ListTagsForResourceError as ListTagsErr;
use aws_sdk_workspacesinstances::operation::list_workspace_instances::ListWorkspaceInstancesError as ListErr;
use aws_sdk_workspacesinstances::operation::modify_volume::ModifyVolumeError;
use aws_sdk_workspacesinstances::operation::tag_resource::TagResourceError as TagErr;
use aws_sdk_workspacesinstances::operation::untag_resource::UntagResourceError as UntagErr;
use aws_sdk_workspacesinstances::types::{
    ManagedInstanceRequest, ProvisionStateEnum, Tag, ValidationExceptionReason,
};
use aws_sdk_workspacesinstances::Client;
use jiff::Timestamp;
use warden_emulator::wsi::{Instance, Limits, ProvisionState, State, Volume};
use warden_emulator::{FaultRule, FaultsConfig, Fixture, RunningEmulator, Service};

const OK_ID: &str = "wsinst-allocated01";
const ALLOCATING: &str = "wsinst-allocating01";
const DEALLOCATING: &str = "wsinst-dealloc0ing1";
const DEALLOCATED: &str = "wsinst-deallocated1";
const ERR_DEALLOC: &str = "wsinst-errdealloc01";
const MISSING: &str = "wsinst-doesnotexist";
const BAD_ID: &str = "i-0123456789abcdef0";

/// Awaits a call that must succeed; the row result for [`check`].
async fn succeeds<T, E: std::fmt::Debug>(
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<(), String> {
    call.await
        .map(drop)
        .map_err(|e| format!("expected success, got {e:?}"))
}

/// Sets a throttling fault on every call, then a server error: `$call` must
/// come back as `$err`'s typed ThrottlingException, then its
/// InternalServerException. Rows for [`check`].
macro_rules! injected_faults {
    ($emu:expr, $err:ident, $call:expr) => {{
        fault(&$emu, 1.0, 0.0);
        let throttled = fails_as!($call, $err::ThrottlingException(_));
        fault(&$emu, 0.0, 1.0);
        let internal = fails_as!($call, $err::InternalServerException(_));
        [("throttled", throttled), ("server error", internal)]
    }};
}

fn t0() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn state() -> State {
    State::default()
        .with_instance(Instance::new(OK_ID, ProvisionState::Allocated, t0()).with_tag("a", "1"))
        .with_instance(Instance::new(ALLOCATING, ProvisionState::Allocating, t0()))
        .with_instance(
            Instance::new(DEALLOCATING, ProvisionState::Deallocating, t0()).with_transition(
                ProvisionState::Deallocated,
                "2026-11-23T12:05:00Z".parse().unwrap(),
            ),
        )
        .with_instance(Instance::new(
            DEALLOCATED,
            ProvisionState::Deallocated,
            t0(),
        ))
        .with_instance(Instance::new(
            ERR_DEALLOC,
            ProvisionState::ErrorDeallocating,
            t0(),
        ))
}

async fn start_with(st: State) -> (RunningEmulator, Client) {
    let emu = common::start(Fixture {
        clock: Some(t0()),
        workspaces_instances: st,
        ..Default::default()
    })
    .await;
    let client = common::wsi(&emu);
    (emu, client)
}

async fn start() -> (RunningEmulator, Client) {
    start_with(state()).await
}

fn fault(emu: &RunningEmulator, throttle_rate: f64, server_error_rate: f64) {
    emu.shared().faults.set(FaultsConfig {
        rules: vec![FaultRule {
            service: Some(Service::WorkspacesInstances),
            operation: None,
            throttle_rate,
            server_error_rate,
            latency_ms: 0,
        }],
        seed: 42,
    });
}

// ---------------------------------------------------------------- ListWorkspaceInstances

#[tokio::test]
async fn list_workspace_instances_validation_errors() {
    let (emu, client) = start().await;
    let list = || client.list_workspace_instances();
    let running = ProvisionStateEnum::from("RUNNING");
    check([
        (
            "MaxResults 26",
            fails_as!(
                list().max_results(26).send(),
                ListErr::ValidationException(v) if v.message().contains("MaxResults")
                    && v.reason() == &ValidationExceptionReason::FieldValidationFailed
                    && v.field_list().first().map(|f| f.name()) == Some("MaxResults")
            ),
        ),
        (
            "MaxResults 0",
            fails_as!(
                list().max_results(0).send(),
                ListErr::ValidationException(_)
            ),
        ),
        (
            "ProvisionStates RUNNING",
            fails_as!(
                list().provision_states(running).send(),
                ListErr::ValidationException(v) if v.message().contains("ProvisionStates[0]")
            ),
        ),
    ]);

    let calls = emu.shared().calls.of("ListWorkspaceInstances");
    assert_eq!(calls.len(), 3);
    assert!(calls
        .iter()
        .all(|c| c.error.as_deref() == Some("ValidationException") && c.status == 400));
    assert_eq!(calls[0].params["MaxResults"], 26);
}

#[tokio::test]
async fn list_workspace_instances_throttling_and_internal_error() {
    let (emu, client) = start().await;
    check(injected_faults!(
        emu,
        ListErr,
        client.list_workspace_instances().send()
    ));
    let calls = emu.shared().calls.of("ListWorkspaceInstances");
    assert_eq!(calls[0].error.as_deref(), Some("ThrottlingException"));
    assert_eq!(calls[0].status, 400);
    assert_eq!(calls[1].error.as_deref(), Some("InternalServerException"));
    assert_eq!(calls[1].status, 500);
    assert!(calls.iter().all(|c| c.injected));
}

// ---------------------------------------------------------------- access denied

/// The operations the warden calls, each refused in turn.
const WARDEN_OPS: [&str; 6] = [
    "ListWorkspaceInstances",
    "GetWorkspaceInstance",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "DeleteWorkspaceInstance",
];

#[tokio::test]
async fn denied_operations_get_access_denied() {
    for op in WARDEN_OPS {
        let mut st = state();
        st.access_denied_operations.insert(op.into());
        let (emu, client) = start_with(st).await;
        let denied = match op {
            "ListWorkspaceInstances" => fails_as!(
                client.list_workspace_instances().send(),
                ListErr::AccessDeniedException(_)
            ),
            "GetWorkspaceInstance" => fails_as!(
                client
                    .get_workspace_instance()
                    .workspace_instance_id(OK_ID)
                    .send(),
                GetErr::AccessDeniedException(_)
            ),
            "TagResource" => fails_as!(
                client
                    .tag_resource()
                    .workspace_instance_id(OK_ID)
                    .tags(tag("k", "v"))
                    .send(),
                TagErr::AccessDeniedException(_)
            ),
            "UntagResource" => fails_as!(
                client
                    .untag_resource()
                    .workspace_instance_id(OK_ID)
                    .tag_keys("a")
                    .send(),
                UntagErr::AccessDeniedException(_)
            ),
            "ListTagsForResource" => fails_as!(
                client
                    .list_tags_for_resource()
                    .workspace_instance_id(OK_ID)
                    .send(),
                ListTagsErr::AccessDeniedException(_)
            ),
            "DeleteWorkspaceInstance" => fails_as!(
                client
                    .delete_workspace_instance()
                    .workspace_instance_id(OK_ID)
                    .send(),
                DeleteErr::AccessDeniedException(_)
            ),
            other => panic!("no call for {other}"),
        };
        check([(op, denied)]);
        // The denied call changed nothing.
        {
            let st = emu.shared().wsi();
            let inst = st.instance(OK_ID).unwrap();
            assert_eq!(inst.provision_state, ProvisionState::Allocated, "{op}");
            assert_eq!(inst.tags.len(), 1, "{op}");
            assert!(inst.tags.contains_key("a"), "{op}");
        }
        // Other operations are still allowed.
        let other = if op == "GetWorkspaceInstance" {
            succeeds(client.list_workspace_instances().send()).await
        } else {
            succeeds(
                client
                    .get_workspace_instance()
                    .workspace_instance_id(OK_ID)
                    .send(),
            )
            .await
        };
        check([(op, other)]);
    }
}

// ---------------------------------------------------------------- GetWorkspaceInstance

#[tokio::test]
async fn get_workspace_instance_errors() {
    let (emu, client) = start().await;
    let get = |id: &str| {
        client
            .get_workspace_instance()
            .workspace_instance_id(id)
            .send()
    };
    check([
        (
            MISSING,
            fails_as!(
                get(MISSING),
                GetErr::ResourceNotFoundException(nf)
                    if nf.resource_id() == MISSING && nf.message().contains(MISSING)
            ),
        ),
        (
            BAD_ID,
            fails_as!(
                get(BAD_ID),
                GetErr::ValidationException(v) if v.message().contains("WorkspaceInstanceId")
            ),
        ),
        // Missing required member (the SDK does not check it client-side).
        (
            "no WorkspaceInstanceId",
            fails_as!(
                client.get_workspace_instance().send(),
                GetErr::ValidationException(_)
            ),
        ),
    ]);
    check(injected_faults!(emu, GetErr, get(OK_ID)));

    // The log names the instance even for faults and bad input.
    let ids: Vec<_> = emu
        .shared()
        .calls
        .of("GetWorkspaceInstance")
        .iter()
        .map(|c| c.params["WorkspaceInstanceId"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![
            serde_json::json!(MISSING),
            serde_json::json!(BAD_ID),
            serde_json::Value::Null,
            serde_json::json!(OK_ID),
            serde_json::json!(OK_ID)
        ]
    );
}

// ---------------------------------------------------------------- TagResource

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

#[tokio::test]
async fn tag_resource_errors() {
    let (emu, client) = start().await;
    let tag_on = |id: &str, k: &str, v: &str| {
        client
            .tag_resource()
            .workspace_instance_id(id)
            .tags(tag(k, v))
            .send()
    };
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    let mut rows = vec![
        (
            "on a missing instance",
            fails_as!(
                tag_on(MISSING, "k", "v"),
                TagErr::ResourceNotFoundException(_)
            ),
        ),
        (
            "on a bad id",
            fails_as!(tag_on(BAD_ID, "k", "v"), TagErr::ValidationException(_)),
        ),
    ];
    // (case, key, value, the field the message must name where checked)
    let invalid = [
        ("key bad*key", "bad*key", "v", Some("Tags[0].Key")),
        ("empty key", "", "v", Some("Tags[0].Key")),
        (
            "control character",
            "k",
            "bad\u{7}value",
            Some("Tags[0].Value"),
        ),
        ("129-character key", &long_key, "v", None),
        ("257-character value", "k", &long_value, None),
    ];
    for (case, k, v, field) in invalid {
        let r = fails_as!(
            tag_on(OK_ID, k, v),
            TagErr::ValidationException(e) if field.is_none_or(|f| e.message().contains(f))
        );
        rows.push((case, r));
    }
    // Tags is required.
    rows.push((
        "no Tags",
        fails_as!(
            client.tag_resource().workspace_instance_id(OK_ID).send(),
            TagErr::ValidationException(_)
        ),
    ));
    check(rows);
    check(injected_faults!(emu, TagErr, tag_on(OK_ID, "k", "v")));
    // Nothing was applied by any failed call.
    let st = emu.shared().wsi();
    assert_eq!(st.instance(OK_ID).unwrap().tags.len(), 1);
}

#[tokio::test]
async fn thirty_tags_allowed_thirty_first_rejected() {
    let (emu, client) = start().await;
    // OK_ID has 1 tag; add 29 more in one call: 30 in all.
    let mut req = client.tag_resource().workspace_instance_id(OK_ID);
    for i in 0..29 {
        req = req.tags(tag(&format!("key-{i:02}"), "v"));
    }
    req.send().await.unwrap();
    assert_eq!(emu.shared().wsi().instance(OK_ID).unwrap().tags.len(), 30);

    // Overwriting an existing key is still fine at 30.
    client
        .tag_resource()
        .workspace_instance_id(OK_ID)
        .tags(tag("key-00", "new"))
        .send()
        .await
        .unwrap();

    // The 31st key is refused with a clear message, and nothing changes.
    check([(
        "31st key",
        fails_as!(
            client
                .tag_resource()
                .workspace_instance_id(OK_ID)
                .tags(tag("key-30", "v"))
                .send(),
            TagErr::ValidationException(v)
                if v.message().contains("at most 30 tags") && v.message().contains(OK_ID)
        ),
    )]);
    let tags = client
        .list_tags_for_resource()
        .workspace_instance_id(OK_ID)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 30);
    assert!(!tags.tags().iter().any(|t| t.key() == Some("key-30")));

    // 31 tags in one request fail the list-length constraint.
    let mut req = client.tag_resource().workspace_instance_id(ALLOCATING);
    for i in 0..31 {
        req = req.tags(tag(&format!("key-{i:02}"), "v"));
    }
    check([(
        "31 tags in one request",
        fails_as!(
            req.send(),
            TagErr::ValidationException(v) if v.message().contains("Tags")
        ),
    )]);
}

// ---------------------------------------------------------------- UntagResource

#[tokio::test]
async fn untag_resource_errors() {
    let (emu, client) = start().await;
    let untag = |id: &str, key: &str| {
        client
            .untag_resource()
            .workspace_instance_id(id)
            .tag_keys(key)
            .send()
    };
    check([
        (
            "on a missing instance",
            fails_as!(untag(MISSING, "a"), UntagErr::ResourceNotFoundException(_)),
        ),
        (
            "on a bad id",
            fails_as!(untag(BAD_ID, "a"), UntagErr::ValidationException(_)),
        ),
        // TagKeys needs at least one key.
        (
            "no TagKeys",
            fails_as!(
                client
                    .untag_resource()
                    .workspace_instance_id(OK_ID)
                    .set_tag_keys(Some(vec![]))
                    .send(),
                UntagErr::ValidationException(v) if v.message().contains("TagKeys")
            ),
        ),
        (
            "key bad*key",
            fails_as!(untag(OK_ID, "bad*key"), UntagErr::ValidationException(_)),
        ),
    ]);
    check(injected_faults!(emu, UntagErr, untag(OK_ID, "a")));
    assert!(emu
        .shared()
        .wsi()
        .instance(OK_ID)
        .unwrap()
        .tags
        .contains_key("a"));
}

// ---------------------------------------------------------------- ListTagsForResource

#[tokio::test]
async fn list_tags_for_resource_errors() {
    let (emu, client) = start().await;
    let list_tags = |id: &str| {
        client
            .list_tags_for_resource()
            .workspace_instance_id(id)
            .send()
    };
    check([
        (
            MISSING,
            fails_as!(
                list_tags(MISSING),
                ListTagsErr::ResourceNotFoundException(_)
            ),
        ),
        (
            "wsinst-short",
            fails_as!(
                list_tags("wsinst-short"),
                ListTagsErr::ValidationException(_)
            ),
        ),
    ]);
    check(injected_faults!(emu, ListTagsErr, list_tags(OK_ID)));
}

// ---------------------------------------------------------------- DeleteWorkspaceInstance

#[tokio::test]
async fn delete_workspace_instance_errors_by_state() {
    let (emu, client) = start().await;
    let delete = |id: &str| {
        client
            .delete_workspace_instance()
            .workspace_instance_id(id)
            .send()
    };
    let conflict = |c: &aws_sdk_workspacesinstances::types::error::ConflictException, id: &str| {
        c.resource_id() == id && c.resource_type() == "WorkspaceInstance"
    };
    check([
        // In transition: conflict (try again next run).
        (
            ALLOCATING,
            fails_as!(
                delete(ALLOCATING),
                DeleteErr::ConflictException(c) if conflict(c, ALLOCATING)
            ),
        ),
        (
            DEALLOCATING,
            fails_as!(
                delete(DEALLOCATING),
                DeleteErr::ConflictException(c) if conflict(c, DEALLOCATING)
            ),
        ),
        // Already deleted, or never there: not found.
        (
            DEALLOCATED,
            fails_as!(delete(DEALLOCATED), DeleteErr::ResourceNotFoundException(_)),
        ),
        (
            MISSING,
            fails_as!(delete(MISSING), DeleteErr::ResourceNotFoundException(_)),
        ),
        (
            BAD_ID,
            fails_as!(delete(BAD_ID), DeleteErr::ValidationException(_)),
        ),
    ]);
    // ERROR_DEALLOCATING may be deleted again.
    delete(ERR_DEALLOC).await.unwrap();
    assert_eq!(
        emu.shared()
            .wsi()
            .instance(ERR_DEALLOC)
            .unwrap()
            .provision_state,
        ProvisionState::Deallocating
    );
    // ... and a second delete is now a conflict.
    check([(
        "second delete of ERR_DEALLOC",
        fails_as!(delete(ERR_DEALLOC), DeleteErr::ConflictException(_)),
    )]);

    check(injected_faults!(emu, DeleteErr, delete(OK_ID)));
    assert_eq!(
        emu.shared().wsi().instance(OK_ID).unwrap().provision_state,
        ProvisionState::Allocated,
        "injected faults change nothing"
    );
    let errors: Vec<_> = emu
        .shared()
        .calls
        .of("DeleteWorkspaceInstance")
        .iter()
        .map(|c| (c.params["WorkspaceInstanceId"].clone(), c.error.clone()))
        .collect();
    assert_eq!(errors.len(), 9);
    assert_eq!(errors[0].1.as_deref(), Some("ConflictException"));
    assert_eq!(errors[6].0, serde_json::json!(ERR_DEALLOC));
}

// ---------------------------------------------------------------- other operations

#[tokio::test]
async fn create_workspace_instance_errors() {
    let mut st = state();
    st.limits = Limits {
        max_instances: Some(4),
        max_volumes: None,
    };
    let (_emu, client) = start_with(st).await;
    let create = || client.create_workspace_instance();
    let bad_image = ManagedInstanceRequest::builder()
        .image_id("img-123")
        .build();
    check([
        // ManagedInstance is required.
        (
            "no ManagedInstance",
            fails_as!(
                create().send(),
                CreateWorkspaceInstanceError::ValidationException(v)
                    if v.message().contains("ManagedInstance")
            ),
        ),
        // Nested pattern violations name the member path.
        (
            "bad ImageId",
            fails_as!(
                create().managed_instance(bad_image).send(),
                CreateWorkspaceInstanceError::ValidationException(v)
                    if v.message().contains("ManagedInstance.ImageId")
            ),
        ),
        // Four non-deallocated instances already: over quota.
        (
            "over quota",
            fails_as!(
                create()
                    .managed_instance(ManagedInstanceRequest::builder().build())
                    .send(),
                CreateWorkspaceInstanceError::ServiceQuotaExceededException(_)
            ),
        ),
    ]);
}

#[tokio::test]
async fn volume_operation_errors() {
    let vol_a = "vol-aaaa";
    let vol_b = "vol-bbbb";
    let st = state()
        .with_volume(Volume::new(vol_a, "us-east-1a", t0()).attached_to(OK_ID, "/dev/sdf"))
        .with_volume(Volume::new(vol_b, "us-east-1a", t0()).with_size(100, "gp3"));
    let (_emu, client) = start_with(st).await;
    let delete = |id: &str| client.delete_volume().volume_id(id).send();
    let associate = |instance: &str, device: &str| {
        client
            .associate_volume()
            .workspace_instance_id(instance)
            .volume_id(vol_b)
            .device(device)
            .send()
    };
    let resize = |gb: i32| {
        client
            .modify_volume()
            .volume_id(vol_b)
            .size_in_gb(gb)
            .send()
    };
    let long_device = "/dev/".repeat(7);

    // Called in order.
    check([
        (
            "DeleteVolume attached",
            fails_as!(delete(vol_a), DeleteVolumeError::ConflictException(_)),
        ),
        (
            "DeleteVolume missing",
            fails_as!(
                delete("vol-missing"),
                DeleteVolumeError::ResourceNotFoundException(_)
            ),
        ),
        (
            "DeleteVolume bad id",
            fails_as!(
                delete("volume-1"),
                DeleteVolumeError::ValidationException(_)
            ),
        ),
        // Device already used on the instance.
        (
            "AssociateVolume device in use",
            fails_as!(
                associate(OK_ID, "/dev/sdf"),
                AssociateVolumeError::ConflictException(_)
            ),
        ),
        // Instance not ALLOCATED.
        (
            "AssociateVolume to an ALLOCATING instance",
            fails_as!(
                associate(ALLOCATING, "/dev/sdg"),
                AssociateVolumeError::ConflictException(_)
            ),
        ),
        (
            "AssociateVolume to a missing instance",
            fails_as!(
                associate(MISSING, "/dev/sdg"),
                AssociateVolumeError::ResourceNotFoundException(_)
            ),
        ),
        // Device longer than 32.
        (
            "AssociateVolume too long a device",
            fails_as!(
                associate(OK_ID, &long_device),
                AssociateVolumeError::ValidationException(_)
            ),
        ),
        // Not attached to that instance.
        (
            "DisassociateVolume not attached",
            fails_as!(
                client
                    .disassociate_volume()
                    .workspace_instance_id(OK_ID)
                    .volume_id(vol_b)
                    .send(),
                DisassociateVolumeError::ConflictException(_)
            ),
        ),
        // Shrinking is refused; a second change within the cooldown too.
        (
            "ModifyVolume shrink",
            fails_as!(resize(50), ModifyVolumeError::ValidationException(_)),
        ),
        ("ModifyVolume grow", succeeds(resize(150)).await),
        (
            "ModifyVolume again within the cooldown",
            fails_as!(
                resize(200),
                ModifyVolumeError::VolumeModificationRateExceededException(_)
            ),
        ),
    ]);
}
