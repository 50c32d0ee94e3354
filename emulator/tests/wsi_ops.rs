//! WorkSpaces Instances through the real SDK: a success round trip for every
//! operation, asserting the output and the state change, plus the lifecycle
//! driven by the emulator clock.

mod common;

use aws_sdk_workspacesinstances::operation::get_workspace_instance::GetWorkspaceInstanceOutput;
use aws_sdk_workspacesinstances::types::{
    BillingConfiguration, BillingMode, DisassociateModeEnum, InstanceConfigurationFilter,
    InstanceConfigurationTenancyEnum, ManagedInstanceRequest, Placement, PlatformTypeEnum,
    ProvisionStateEnum, ResourceTypeEnum, Tag, TagSpecification, VolumeTypeEnum,
};
use aws_sdk_workspacesinstances::Client;
use common::{advance, provision_state, sent};
use jiff::Timestamp;
use warden_emulator::wsi::{Instance, ProvisionState, State, Volume, VolumeState};
use warden_emulator::RunningEmulator;

const ALLOCATED: &str = "wsinst-allocated01";
const ERRORED: &str = "wsinst-erroralloc01";
const VOL: &str = "vol-available01";

fn t0() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn state() -> State {
    State::default()
        .with_instance(
            Instance::new(ALLOCATED, ProvisionState::Allocated, t0())
                .with_ec2_instance_id("i-0123456789abcdef0")
                .with_tag("team", "finance")
                .with_billing_mode("MONTHLY")
                .with_managed_instance(serde_json::json!({
                    "InstanceType": "m5.large",
                    "Placement": {"AvailabilityZone": "us-east-1a"}
                })),
        )
        .with_instance(
            Instance::new(ERRORED, ProvisionState::ErrorAllocating, t0())
                .with_workspace_error("EC2_LAUNCH_FAILED", "could not launch")
                .with_ec2_error(
                    "InsufficientInstanceCapacity",
                    "AmazonEC2Exception",
                    "no capacity",
                ),
        )
        .with_volume(Volume::new(VOL, "us-east-1a", t0()).with_size(50, "gp3"))
}

async fn start() -> (RunningEmulator, Client) {
    start_with(state()).await
}

async fn start_with(st: State) -> (RunningEmulator, Client) {
    let emu = common::start_wsi(t0(), st, None).await;
    let client = common::wsi(&emu);
    (emu, client)
}

async fn get(client: &Client, id: &str) -> GetWorkspaceInstanceOutput {
    sent!(client.get_workspace_instance().workspace_instance_id(id))
}

fn managed(instance_type: &str) -> ManagedInstanceRequest {
    ManagedInstanceRequest::builder()
        .image_id("ami-0c55b159cbfafe1f0")
        .instance_type(instance_type)
        .subnet_id("subnet-0bb1c79de3")
        .security_group_ids("sg-0123456789")
        .placement(Placement::builder().availability_zone("us-east-1a").build())
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceTypeEnum::Instance)
                .tags(Tag::builder().key("ec2-tag").value("x").build())
                .build(),
        )
        .user_data("IyEvYmluL2Jhc2g=")
        .build()
}

#[tokio::test]
async fn get_workspace_instance_returns_every_field() {
    let (emu, client) = start().await;
    let out = get(&client, ALLOCATED).await;
    assert_eq!(out.workspace_instance_id(), Some(ALLOCATED));
    assert_eq!(out.provision_state(), Some(&ProvisionStateEnum::Allocated));
    assert_eq!(
        out.ec2_managed_instance().and_then(|m| m.instance_id()),
        Some("i-0123456789abcdef0")
    );
    assert_eq!(
        out.billing_configuration().map(|b| b.billing_mode()),
        Some(&BillingMode::Monthly)
    );
    assert!(out.workspace_instance_errors().is_empty());

    let out = get(&client, ERRORED).await;
    assert_eq!(
        out.provision_state(),
        Some(&ProvisionStateEnum::ErrorAllocating)
    );
    let we = &out.workspace_instance_errors()[0];
    assert_eq!(we.error_code(), Some("EC2_LAUNCH_FAILED"));
    assert_eq!(we.error_message(), Some("could not launch"));
    let ee = &out.ec2_instance_errors()[0];
    common::assert_fields(
        "Ec2InstanceErrors[0]",
        [
            (
                "Ec2ErrorCode",
                ee.ec2_error_code(),
                Some("InsufficientInstanceCapacity"),
            ),
            (
                "Ec2ExceptionType",
                ee.ec2_exception_type(),
                Some("AmazonEC2Exception"),
            ),
            (
                "Ec2ErrorMessage",
                ee.ec2_error_message(),
                Some("no capacity"),
            ),
        ],
    );
    assert!(out.ec2_managed_instance().is_none());

    let calls = emu.shared().calls.of("GetWorkspaceInstance");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].params["WorkspaceInstanceId"], ALLOCATED);
    assert_eq!(calls[1].params["WorkspaceInstanceId"], ERRORED);
    assert!(calls.iter().all(|c| c.ok() && c.status == 200));
}

#[tokio::test]
async fn list_workspace_instances_round_trip() {
    let (_emu, client) = start().await;
    let out = sent!(client.list_workspace_instances());
    let items = out.workspace_instances();
    assert_eq!(items.len(), 2);
    assert!(out.next_token().is_none());
    // Id order.
    assert_eq!(items[0].workspace_instance_id(), Some(ALLOCATED));
    assert_eq!(
        items[0]
            .ec2_managed_instance()
            .and_then(|m| m.instance_id()),
        Some("i-0123456789abcdef0")
    );
    assert_eq!(items[1].workspace_instance_id(), Some(ERRORED));
    assert_eq!(
        items[1].provision_state(),
        Some(&ProvisionStateEnum::ErrorAllocating)
    );
}

#[tokio::test]
async fn create_workspace_instance_then_lifecycle_to_allocated() {
    let (emu, client) = start().await;
    let out = sent!(client
        .create_workspace_instance()
        .managed_instance(managed("t3.large"))
        .tags(Tag::builder().key("owner").value("alice").build())
        .billing_configuration(
            BillingConfiguration::builder()
                .billing_mode(BillingMode::Hourly)
                .build()
                .unwrap(),
        ));
    let id = out.workspace_instance_id().unwrap().to_string();
    assert!(id.starts_with("wsinst-") && id.len() >= 15, "{id}");

    // Stored with its request fields; the SDK filled in a ClientToken.
    {
        let st = emu.shared().wsi();
        let inst = st.instance(&id).unwrap();
        assert_eq!(inst.provision_state, ProvisionState::Allocating);
        assert_eq!(inst.tags.get("owner").map(String::as_str), Some("alice"));
        assert_eq!(inst.billing_mode.as_deref(), Some("HOURLY"));
        assert_eq!(inst.instance_type(), Some("t3.large"));
        assert_eq!(inst.availability_zone(), Some("us-east-1a"));
        assert_eq!(
            inst.managed_instance.as_ref().unwrap()["SecurityGroupIds"][0],
            "sg-0123456789"
        );
        assert!(inst.client_token.is_some());
    }

    let out = get(&client, &id).await;
    assert_eq!(out.provision_state(), Some(&ProvisionStateEnum::Allocating));
    assert!(out.ec2_managed_instance().is_some());

    for (wait, want) in [
        (59, ProvisionStateEnum::Allocating),
        (1, ProvisionStateEnum::Allocated),
    ] {
        advance(&emu, wait);
        let out = get(&client, &id).await;
        assert_eq!(out.provision_state(), Some(&want), "after +{wait}s");
    }
    let out = sent!(client.list_workspace_instances());
    assert_eq!(out.workspace_instances().len(), 3);

    let calls = emu.shared().calls.of("CreateWorkspaceInstance");
    assert_eq!(calls[0].params["InstanceType"], "t3.large");
    assert_eq!(calls[0].params["Tags"]["owner"], "alice");
    assert_eq!(calls[0].params["BillingMode"], "HOURLY");
}

#[tokio::test]
async fn create_with_same_client_token_is_idempotent() {
    let (emu, client) = start().await;
    let create = || {
        client
            .create_workspace_instance()
            .client_token("token-1")
            .managed_instance(managed("t3.large"))
    };
    let a = sent!(create());
    let b = sent!(create());
    assert_eq!(a.workspace_instance_id(), b.workspace_instance_id());
    assert_eq!(emu.shared().wsi().instances.len(), 3);
}

#[tokio::test]
async fn failing_instance_type_ends_in_error_allocating() {
    let mut st = state();
    st.lifecycle.fail_instance_types = vec!["g5.2xlarge".into()];
    let (emu, client) = start_with(st).await;
    let id = sent!(client
        .create_workspace_instance()
        .managed_instance(managed("g5.2xlarge")))
    .workspace_instance_id()
    .unwrap()
    .to_string();
    advance(&emu, 60);
    let out = get(&client, &id).await;
    assert_eq!(
        out.provision_state(),
        Some(&ProvisionStateEnum::ErrorAllocating)
    );
    assert!(out.ec2_managed_instance().is_none());
    assert_eq!(
        out.ec2_instance_errors()[0].ec2_error_code(),
        Some("InsufficientInstanceCapacity")
    );
    assert!(out.ec2_instance_errors()[0]
        .ec2_error_message()
        .unwrap()
        .contains("g5.2xlarge"));
    assert!(!out.workspace_instance_errors().is_empty());
}

#[tokio::test]
async fn delete_workspace_instance_then_lifecycle_to_gone() {
    let (emu, client) = start().await;
    sent!(client
        .delete_workspace_instance()
        .workspace_instance_id(ERRORED));
    for (wait, want) in [
        (0, ProvisionStateEnum::Deallocating),
        (60, ProvisionStateEnum::Deallocated),
    ] {
        advance(&emu, wait);
        let got = provision_state(&client, ERRORED).await;
        assert_eq!(got.unwrap(), Some(want), "after +{wait}s");
    }
    // Still listed while retained, then gone.
    let listed = sent!(client.list_workspace_instances());
    assert_eq!(listed.workspace_instances().len(), 2);
    advance(&emu, 3600);
    let err = provision_state(&client, ERRORED).await.unwrap_err();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let listed = sent!(client.list_workspace_instances());
    assert_eq!(listed.workspace_instances().len(), 1);
    let calls = emu.shared().calls.of("DeleteWorkspaceInstance");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].params["WorkspaceInstanceId"], ERRORED);
}

#[tokio::test]
async fn deallocation_detaches_volumes() {
    let (emu, client) = start().await;
    sent!(client
        .associate_volume()
        .workspace_instance_id(ALLOCATED)
        .volume_id(VOL)
        .device("/dev/sdf"));
    sent!(client
        .delete_workspace_instance()
        .workspace_instance_id(ALLOCATED));
    assert_eq!(
        emu.shared().wsi().volume(VOL).unwrap().state,
        VolumeState::InUse
    );
    advance(&emu, 60);
    sent!(client.list_regions()); // any call catches up
    let st = emu.shared().wsi();
    assert_eq!(st.volume(VOL).unwrap().state, VolumeState::Available);
    assert!(st.volume(VOL).unwrap().attachment.is_none());
}

#[tokio::test]
async fn tag_untag_and_list_tags_round_trip() {
    let (emu, client) = start().await;
    sent!(client
        .tag_resource()
        .workspace_instance_id(ALLOCATED)
        .tags(
            Tag::builder()
                .key("warden:marked")
                .value("2026-11-23")
                .build(),
        )
        .tags(Tag::builder().key("team").value("security").build()));
    let out = sent!(client
        .list_tags_for_resource()
        .workspace_instance_id(ALLOCATED));
    let tags: Vec<(&str, &str)> = out
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(
        tags,
        vec![("team", "security"), ("warden:marked", "2026-11-23")]
    );

    sent!(client
        .untag_resource()
        .workspace_instance_id(ALLOCATED)
        .tag_keys("warden:marked")
        .tag_keys("not-there"));
    let out = sent!(client
        .list_tags_for_resource()
        .workspace_instance_id(ALLOCATED));
    assert_eq!(out.tags().len(), 1);
    assert_eq!(out.tags()[0].key(), Some("team"));
    let st = emu.shared().wsi();
    assert!(!st
        .instance(ALLOCATED)
        .unwrap()
        .tags
        .contains_key("warden:marked"));
    drop(st);

    let tag_call = &emu.shared().calls.of("TagResource")[0];
    assert_eq!(tag_call.params["WorkspaceInstanceId"], ALLOCATED);
    assert_eq!(tag_call.params["Tags"]["warden:marked"], "2026-11-23");
    let untag_call = &emu.shared().calls.of("UntagResource")[0];
    assert_eq!(
        untag_call.params["TagKeys"],
        serde_json::json!(["warden:marked", "not-there"])
    );
}

#[tokio::test]
async fn volume_round_trip_create_associate_modify_disassociate_delete() {
    let (emu, client) = start().await;
    let vol = sent!(client
        .create_volume()
        .availability_zone("us-east-1a")
        .size_in_gb(100)
        .volume_type(VolumeTypeEnum::Gp3)
        .iops(3000)
        .throughput(125)
        .encrypted(true)
        .snapshot_id("snap-0123456789abcdef0")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceTypeEnum::Volume)
                .tags(Tag::builder().key("team").value("finance").build())
                .build(),
        ))
    .volume_id()
    .unwrap()
    .to_string();
    assert!(vol.starts_with("vol-"), "{vol}");
    {
        let st = emu.shared().wsi();
        let v = st.volume(&vol).unwrap();
        assert_eq!(v.state, VolumeState::Available);
        assert_eq!(v.size_in_gb, Some(100));
        assert_eq!(v.volume_type.as_deref(), Some("gp3"));
        assert!(v.encrypted);
        assert_eq!(v.tags.get("team").map(String::as_str), Some("finance"));
    }

    sent!(client
        .associate_volume()
        .workspace_instance_id(ALLOCATED)
        .volume_id(&vol)
        .device("/dev/sdg"));
    {
        let st = emu.shared().wsi();
        let v = st.volume(&vol).unwrap();
        assert_eq!(v.state, VolumeState::InUse);
        let a = v.attachment.as_ref().unwrap();
        assert_eq!(
            (a.workspace_instance_id.as_str(), a.device.as_str()),
            (ALLOCATED, "/dev/sdg")
        );
    }

    let out = sent!(client
        .modify_volume()
        .volume_id(&vol)
        .size_in_gb(200)
        .volume_type(VolumeTypeEnum::Io2)
        .iops(6000));
    assert_eq!(out.volume_id(), Some(vol.as_str()));
    assert_eq!(out.target_size(), Some(200));
    assert_eq!(out.target_volume_type(), Some(&VolumeTypeEnum::Io2));
    assert_eq!(out.target_iops(), Some(6000));
    assert_eq!(out.target_throughput(), Some(125));
    assert_eq!(
        emu.shared().wsi().volume(&vol).unwrap().size_in_gb,
        Some(200)
    );

    sent!(client
        .disassociate_volume()
        .workspace_instance_id(ALLOCATED)
        .volume_id(&vol)
        .device("/dev/sdg")
        .disassociate_mode(DisassociateModeEnum::NoForce));
    assert_eq!(
        emu.shared().wsi().volume(&vol).unwrap().state,
        VolumeState::Available
    );

    sent!(client.delete_volume().volume_id(&vol));
    assert!(emu.shared().wsi().volume(&vol).is_none());

    for op in [
        "CreateVolume",
        "AssociateVolume",
        "ModifyVolume",
        "DisassociateVolume",
        "DeleteVolume",
    ] {
        let calls = emu.shared().calls.of(op);
        assert_eq!(calls.len(), 1, "{op}");
        assert!(calls[0].ok(), "{op}: {:?}", calls[0]);
        if op != "CreateVolume" {
            assert_eq!(calls[0].params["VolumeId"], vol.as_str(), "{op}");
        }
    }
    assert_eq!(
        emu.shared().calls.of("AssociateVolume")[0].params["WorkspaceInstanceId"],
        ALLOCATED
    );
}

#[tokio::test]
async fn list_instance_types_round_trip_with_filter() {
    let (_emu, client) = start().await;
    let out = sent!(client.list_instance_types());
    assert_eq!(out.instance_types().len(), 25);
    assert!(out.next_token().is_some());
    let first = &out.instance_types()[0];
    assert_eq!(first.instance_type(), Some("t3.medium"));
    assert!(!first.supported_instance_configurations().is_empty());

    let out = sent!(client.list_instance_types().instance_configuration_filter(
        InstanceConfigurationFilter::builder()
            .billing_mode(BillingMode::Monthly)
            .platform_type(PlatformTypeEnum::Windows)
            .tenancy(InstanceConfigurationTenancyEnum::Dedicated)
            .build()
            .unwrap(),
    ));
    let types: Vec<&str> = out
        .instance_types()
        .iter()
        .filter_map(|t| t.instance_type())
        .collect();
    assert_eq!(types.len(), 10, "{types:?}");
    assert!(types.iter().all(|t| t.starts_with('m')), "{types:?}");
    assert!(out.next_token().is_none());
    for t in out.instance_types() {
        assert!(t.supported_instance_configurations().iter().any(|c| {
            c.billing_mode() == Some(&BillingMode::Monthly)
                && c.platform_type() == Some(&PlatformTypeEnum::Windows)
                && c.tenancy() == Some(&InstanceConfigurationTenancyEnum::Dedicated)
        }));
    }
}

#[tokio::test]
async fn list_regions_round_trip() {
    let (_emu, client) = start().await;
    let out = sent!(client.list_regions());
    let names: Vec<&str> = out
        .regions()
        .iter()
        .filter_map(|r| r.region_name())
        .collect();
    assert!(names.contains(&"us-east-1"), "{names:?}");
    assert_eq!(names.len(), 14);
    assert!(out.next_token().is_none());
}
