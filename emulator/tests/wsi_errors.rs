//! Every modelled error of the operations the warden calls
//! (ListWorkspaceInstances, GetWorkspaceInstance, TagResource, UntagResource,
//! ListTagsForResource, DeleteWorkspaceInstance) comes back from the real SDK
//! as its typed variant; plus the other operations' state errors.

mod common;

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

/// Awaits a call that must fail and returns its service error.
macro_rules! service_err {
    ($call:expr) => {
        match $call.await {
            Ok(out) => panic!("expected an error, got {out:?}"),
            Err(e) => e.into_service_error(),
        }
    };
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
    let e = service_err!(client.list_workspace_instances().max_results(26).send());
    let ListErr::ValidationException(v) = &e else {
        panic!("{e:?}")
    };
    assert!(v.message().contains("MaxResults"), "{}", v.message());
    assert_eq!(
        v.reason(),
        &ValidationExceptionReason::FieldValidationFailed
    );
    assert_eq!(v.field_list()[0].name(), "MaxResults");

    let e = service_err!(client.list_workspace_instances().max_results(0).send());
    assert!(matches!(e, ListErr::ValidationException(_)), "{e:?}");

    let e = service_err!(client
        .list_workspace_instances()
        .provision_states(ProvisionStateEnum::from("RUNNING"))
        .send());
    let ListErr::ValidationException(v) = &e else {
        panic!("{e:?}")
    };
    assert!(
        v.message().contains("ProvisionStates[0]"),
        "{}",
        v.message()
    );

    let calls = emu.shared().calls.of("ListWorkspaceInstances");
    assert_eq!(calls.len(), 3);
    assert!(calls
        .iter()
        .all(|c| c.error.as_deref() == Some("ValidationException") && c.status == 400));
    assert_eq!(calls[0].params["MaxResults"], 26);
}

#[tokio::test]
async fn list_workspace_instances_access_denied() {
    let mut st = state();
    st.access_denied_operations
        .insert("ListWorkspaceInstances".into());
    let (_emu, client) = start_with(st).await;
    let e = service_err!(client.list_workspace_instances().send());
    assert!(matches!(e, ListErr::AccessDeniedException(_)), "{e:?}");
    // Other operations are still allowed.
    client
        .get_workspace_instance()
        .workspace_instance_id(OK_ID)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn list_workspace_instances_throttling_and_internal_error() {
    let (emu, client) = start().await;
    fault(&emu, 1.0, 0.0);
    let e = service_err!(client.list_workspace_instances().send());
    assert!(matches!(e, ListErr::ThrottlingException(_)), "{e:?}");
    fault(&emu, 0.0, 1.0);
    let e = service_err!(client.list_workspace_instances().send());
    assert!(matches!(e, ListErr::InternalServerException(_)), "{e:?}");
    let calls = emu.shared().calls.of("ListWorkspaceInstances");
    assert_eq!(calls[0].error.as_deref(), Some("ThrottlingException"));
    assert_eq!(calls[0].status, 400);
    assert_eq!(calls[1].error.as_deref(), Some("InternalServerException"));
    assert_eq!(calls[1].status, 500);
    assert!(calls.iter().all(|c| c.injected));
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
    let e = service_err!(get(MISSING));
    let GetErr::ResourceNotFoundException(nf) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(nf.resource_id(), MISSING);
    assert!(nf.message().contains(MISSING));

    let e = service_err!(get(BAD_ID));
    let GetErr::ValidationException(v) = &e else {
        panic!("{e:?}")
    };
    assert!(
        v.message().contains("WorkspaceInstanceId"),
        "{}",
        v.message()
    );

    // Missing required member (the SDK does not check it client-side).
    let e = service_err!(client.get_workspace_instance().send());
    assert!(matches!(e, GetErr::ValidationException(_)), "{e:?}");

    fault(&emu, 1.0, 0.0);
    let e = service_err!(get(OK_ID));
    assert!(matches!(e, GetErr::ThrottlingException(_)), "{e:?}");
    fault(&emu, 0.0, 1.0);
    let e = service_err!(get(OK_ID));
    assert!(matches!(e, GetErr::InternalServerException(_)), "{e:?}");

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

#[tokio::test]
async fn get_workspace_instance_access_denied() {
    let mut st = state();
    st.access_denied_operations
        .insert("GetWorkspaceInstance".into());
    let (_emu, client) = start_with(st).await;
    let e = service_err!(client
        .get_workspace_instance()
        .workspace_instance_id(OK_ID)
        .send());
    assert!(matches!(e, GetErr::AccessDeniedException(_)), "{e:?}");
}

// ---------------------------------------------------------------- TagResource

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

#[tokio::test]
async fn tag_resource_errors() {
    let (emu, client) = start().await;
    let e = service_err!(client
        .tag_resource()
        .workspace_instance_id(MISSING)
        .tags(tag("k", "v"))
        .send());
    assert!(matches!(e, TagErr::ResourceNotFoundException(_)), "{e:?}");

    let e = service_err!(client
        .tag_resource()
        .workspace_instance_id(BAD_ID)
        .tags(tag("k", "v"))
        .send());
    assert!(matches!(e, TagErr::ValidationException(_)), "{e:?}");

    for (k, v, field) in [
        ("bad*key", "v", "Tags[0].Key"),
        ("", "v", "Tags[0].Key"),
        ("k", "bad\u{7}value", "Tags[0].Value"),
    ] {
        let e = service_err!(client
            .tag_resource()
            .workspace_instance_id(OK_ID)
            .tags(tag(k, v))
            .send());
        let TagErr::ValidationException(ve) = &e else {
            panic!("{e:?}")
        };
        assert!(ve.message().contains(field), "{field}: {}", ve.message());
    }
    let long_key = "k".repeat(129);
    let e = service_err!(client
        .tag_resource()
        .workspace_instance_id(OK_ID)
        .tags(tag(&long_key, "v"))
        .send());
    assert!(matches!(e, TagErr::ValidationException(_)), "{e:?}");
    let long_value = "v".repeat(257);
    let e = service_err!(client
        .tag_resource()
        .workspace_instance_id(OK_ID)
        .tags(tag("k", &long_value))
        .send());
    assert!(matches!(e, TagErr::ValidationException(_)), "{e:?}");
    // Tags is required.
    let e = service_err!(client.tag_resource().workspace_instance_id(OK_ID).send());
    assert!(matches!(e, TagErr::ValidationException(_)), "{e:?}");

    fault(&emu, 1.0, 0.0);
    let e = service_err!(client
        .tag_resource()
        .workspace_instance_id(OK_ID)
        .tags(tag("k", "v"))
        .send());
    assert!(matches!(e, TagErr::ThrottlingException(_)), "{e:?}");
    fault(&emu, 0.0, 1.0);
    let e = service_err!(client
        .tag_resource()
        .workspace_instance_id(OK_ID)
        .tags(tag("k", "v"))
        .send());
    assert!(matches!(e, TagErr::InternalServerException(_)), "{e:?}");
    // Nothing was applied by any failed call.
    let st = emu.shared().wsi();
    assert_eq!(st.instance(OK_ID).unwrap().tags.len(), 1);
}

#[tokio::test]
async fn tag_resource_access_denied() {
    let mut st = state();
    st.access_denied_operations.insert("TagResource".into());
    let (_emu, client) = start_with(st).await;
    let e = service_err!(client
        .tag_resource()
        .workspace_instance_id(OK_ID)
        .tags(tag("k", "v"))
        .send());
    assert!(matches!(e, TagErr::AccessDeniedException(_)), "{e:?}");
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
    let e = service_err!(client
        .tag_resource()
        .workspace_instance_id(OK_ID)
        .tags(tag("key-30", "v"))
        .send());
    let TagErr::ValidationException(v) = &e else {
        panic!("{e:?}")
    };
    assert!(v.message().contains("at most 30 tags"), "{}", v.message());
    assert!(v.message().contains(OK_ID), "{}", v.message());
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
    let e = service_err!(req.send());
    let TagErr::ValidationException(v) = &e else {
        panic!("{e:?}")
    };
    assert!(v.message().contains("Tags"), "{}", v.message());
}

// ---------------------------------------------------------------- UntagResource

#[tokio::test]
async fn untag_resource_errors() {
    let (emu, client) = start().await;
    let e = service_err!(client
        .untag_resource()
        .workspace_instance_id(MISSING)
        .tag_keys("a")
        .send());
    assert!(matches!(e, UntagErr::ResourceNotFoundException(_)), "{e:?}");
    let e = service_err!(client
        .untag_resource()
        .workspace_instance_id(BAD_ID)
        .tag_keys("a")
        .send());
    assert!(matches!(e, UntagErr::ValidationException(_)), "{e:?}");
    // TagKeys needs at least one key.
    let e = service_err!(client
        .untag_resource()
        .workspace_instance_id(OK_ID)
        .set_tag_keys(Some(vec![]))
        .send());
    let UntagErr::ValidationException(v) = &e else {
        panic!("{e:?}")
    };
    assert!(v.message().contains("TagKeys"), "{}", v.message());
    let e = service_err!(client
        .untag_resource()
        .workspace_instance_id(OK_ID)
        .tag_keys("bad*key")
        .send());
    assert!(matches!(e, UntagErr::ValidationException(_)), "{e:?}");

    fault(&emu, 1.0, 0.0);
    let e = service_err!(client
        .untag_resource()
        .workspace_instance_id(OK_ID)
        .tag_keys("a")
        .send());
    assert!(matches!(e, UntagErr::ThrottlingException(_)), "{e:?}");
    fault(&emu, 0.0, 1.0);
    let e = service_err!(client
        .untag_resource()
        .workspace_instance_id(OK_ID)
        .tag_keys("a")
        .send());
    assert!(matches!(e, UntagErr::InternalServerException(_)), "{e:?}");
    assert!(emu
        .shared()
        .wsi()
        .instance(OK_ID)
        .unwrap()
        .tags
        .contains_key("a"));
}

#[tokio::test]
async fn untag_resource_access_denied() {
    let mut st = state();
    st.access_denied_operations.insert("UntagResource".into());
    let (_emu, client) = start_with(st).await;
    let e = service_err!(client
        .untag_resource()
        .workspace_instance_id(OK_ID)
        .tag_keys("a")
        .send());
    assert!(matches!(e, UntagErr::AccessDeniedException(_)), "{e:?}");
}

// ---------------------------------------------------------------- ListTagsForResource

#[tokio::test]
async fn list_tags_for_resource_errors() {
    let (emu, client) = start().await;
    let e = service_err!(client
        .list_tags_for_resource()
        .workspace_instance_id(MISSING)
        .send());
    assert!(
        matches!(e, ListTagsErr::ResourceNotFoundException(_)),
        "{e:?}"
    );
    let e = service_err!(client
        .list_tags_for_resource()
        .workspace_instance_id("wsinst-short")
        .send());
    assert!(matches!(e, ListTagsErr::ValidationException(_)), "{e:?}");
    fault(&emu, 1.0, 0.0);
    let e = service_err!(client
        .list_tags_for_resource()
        .workspace_instance_id(OK_ID)
        .send());
    assert!(matches!(e, ListTagsErr::ThrottlingException(_)), "{e:?}");
    fault(&emu, 0.0, 1.0);
    let e = service_err!(client
        .list_tags_for_resource()
        .workspace_instance_id(OK_ID)
        .send());
    assert!(
        matches!(e, ListTagsErr::InternalServerException(_)),
        "{e:?}"
    );
}

#[tokio::test]
async fn list_tags_for_resource_access_denied() {
    let mut st = state();
    st.access_denied_operations
        .insert("ListTagsForResource".into());
    let (_emu, client) = start_with(st).await;
    let e = service_err!(client
        .list_tags_for_resource()
        .workspace_instance_id(OK_ID)
        .send());
    assert!(matches!(e, ListTagsErr::AccessDeniedException(_)), "{e:?}");
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
    // In transition: conflict (try again next run).
    for id in [ALLOCATING, DEALLOCATING] {
        let e = service_err!(delete(id));
        let DeleteErr::ConflictException(c) = &e else {
            panic!("{id}: {e:?}")
        };
        assert_eq!(c.resource_id(), id);
        assert_eq!(c.resource_type(), "WorkspaceInstance");
    }
    // Already deleted, or never there: not found.
    for id in [DEALLOCATED, MISSING] {
        let e = service_err!(delete(id));
        assert!(
            matches!(e, DeleteErr::ResourceNotFoundException(_)),
            "{id}: {e:?}"
        );
    }
    let e = service_err!(delete(BAD_ID));
    assert!(matches!(e, DeleteErr::ValidationException(_)), "{e:?}");
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
    let e = service_err!(delete(ERR_DEALLOC));
    assert!(matches!(e, DeleteErr::ConflictException(_)), "{e:?}");

    fault(&emu, 1.0, 0.0);
    let e = service_err!(delete(OK_ID));
    assert!(matches!(e, DeleteErr::ThrottlingException(_)), "{e:?}");
    fault(&emu, 0.0, 1.0);
    let e = service_err!(delete(OK_ID));
    assert!(matches!(e, DeleteErr::InternalServerException(_)), "{e:?}");
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

#[tokio::test]
async fn delete_workspace_instance_access_denied() {
    let mut st = state();
    st.access_denied_operations
        .insert("DeleteWorkspaceInstance".into());
    let (emu, client) = start_with(st).await;
    let e = service_err!(client
        .delete_workspace_instance()
        .workspace_instance_id(OK_ID)
        .send());
    assert!(matches!(e, DeleteErr::AccessDeniedException(_)), "{e:?}");
    assert_eq!(
        emu.shared().wsi().instance(OK_ID).unwrap().provision_state,
        ProvisionState::Allocated
    );
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
    // ManagedInstance is required.
    let e = service_err!(client.create_workspace_instance().send());
    let CreateWorkspaceInstanceError::ValidationException(v) = &e else {
        panic!("{e:?}")
    };
    assert!(v.message().contains("ManagedInstance"), "{}", v.message());
    // Nested pattern violations name the member path.
    let e = service_err!(client
        .create_workspace_instance()
        .managed_instance(
            ManagedInstanceRequest::builder()
                .image_id("img-123")
                .build()
        )
        .send());
    let CreateWorkspaceInstanceError::ValidationException(v) = &e else {
        panic!("{e:?}")
    };
    assert!(
        v.message().contains("ManagedInstance.ImageId"),
        "{}",
        v.message()
    );
    // Four non-deallocated instances already: over quota.
    let e = service_err!(client
        .create_workspace_instance()
        .managed_instance(ManagedInstanceRequest::builder().build())
        .send());
    assert!(
        matches!(
            e,
            CreateWorkspaceInstanceError::ServiceQuotaExceededException(_)
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn volume_operation_errors() {
    let vol_a = "vol-aaaa";
    let vol_b = "vol-bbbb";
    let st = state()
        .with_volume(Volume::new(vol_a, "us-east-1a", t0()).attached_to(OK_ID, "/dev/sdf"))
        .with_volume(Volume::new(vol_b, "us-east-1a", t0()).with_size(100, "gp3"));
    let (_emu, client) = start_with(st).await;

    let e = service_err!(client.delete_volume().volume_id(vol_a).send());
    assert!(
        matches!(e, DeleteVolumeError::ConflictException(_)),
        "{e:?}"
    );
    let e = service_err!(client.delete_volume().volume_id("vol-missing").send());
    assert!(
        matches!(e, DeleteVolumeError::ResourceNotFoundException(_)),
        "{e:?}"
    );
    let e = service_err!(client.delete_volume().volume_id("volume-1").send());
    assert!(
        matches!(e, DeleteVolumeError::ValidationException(_)),
        "{e:?}"
    );

    // Device already used on the instance.
    let e = service_err!(client
        .associate_volume()
        .workspace_instance_id(OK_ID)
        .volume_id(vol_b)
        .device("/dev/sdf")
        .send());
    assert!(
        matches!(e, AssociateVolumeError::ConflictException(_)),
        "{e:?}"
    );
    // Instance not ALLOCATED.
    let e = service_err!(client
        .associate_volume()
        .workspace_instance_id(ALLOCATING)
        .volume_id(vol_b)
        .device("/dev/sdg")
        .send());
    assert!(
        matches!(e, AssociateVolumeError::ConflictException(_)),
        "{e:?}"
    );
    let e = service_err!(client
        .associate_volume()
        .workspace_instance_id(MISSING)
        .volume_id(vol_b)
        .device("/dev/sdg")
        .send());
    assert!(
        matches!(e, AssociateVolumeError::ResourceNotFoundException(_)),
        "{e:?}"
    );
    // Device longer than 32.
    let e = service_err!(client
        .associate_volume()
        .workspace_instance_id(OK_ID)
        .volume_id(vol_b)
        .device("/dev/".repeat(7))
        .send());
    assert!(
        matches!(e, AssociateVolumeError::ValidationException(_)),
        "{e:?}"
    );

    // Not attached to that instance.
    let e = service_err!(client
        .disassociate_volume()
        .workspace_instance_id(OK_ID)
        .volume_id(vol_b)
        .send());
    assert!(
        matches!(e, DisassociateVolumeError::ConflictException(_)),
        "{e:?}"
    );

    // Shrinking is refused; a second change within the cooldown too.
    let e = service_err!(client
        .modify_volume()
        .volume_id(vol_b)
        .size_in_gb(50)
        .send());
    assert!(
        matches!(e, ModifyVolumeError::ValidationException(_)),
        "{e:?}"
    );
    client
        .modify_volume()
        .volume_id(vol_b)
        .size_in_gb(150)
        .send()
        .await
        .unwrap();
    let e = service_err!(client
        .modify_volume()
        .volume_id(vol_b)
        .size_in_gb(200)
        .send());
    assert!(
        matches!(
            e,
            ModifyVolumeError::VolumeModificationRateExceededException(_)
        ),
        "{e:?}"
    );
}
