//! The operations, each a plain function of the state, the emulator clock and
//! an already schema-checked input map, returning the CBOR output map.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use ciborium::Value;
use jiff::Timestamp;

use super::cbor::{to_json, Obj, Out};
use super::error::ApiError;
use super::model::{
    secs, Attachment, Ec2InstanceError, Instance, ProvisionState, State, Transition, Volume,
    VolumeState, WorkspaceInstanceError, MAX_TAGS,
};
use super::paging::{self, DEFAULT_PAGE_SIZE};
use super::schema::{self, S};

/// One operation of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    AssociateVolume,
    CreateVolume,
    CreateWorkspaceInstance,
    DeleteVolume,
    DeleteWorkspaceInstance,
    DisassociateVolume,
    GetWorkspaceInstance,
    ListInstanceTypes,
    ListRegions,
    ListTagsForResource,
    ListWorkspaceInstances,
    ModifyVolume,
    TagResource,
    UntagResource,
}

impl Op {
    pub const ALL: [Op; 14] = [
        Op::AssociateVolume,
        Op::CreateVolume,
        Op::CreateWorkspaceInstance,
        Op::DeleteVolume,
        Op::DeleteWorkspaceInstance,
        Op::DisassociateVolume,
        Op::GetWorkspaceInstance,
        Op::ListInstanceTypes,
        Op::ListRegions,
        Op::ListTagsForResource,
        Op::ListWorkspaceInstances,
        Op::ModifyVolume,
        Op::TagResource,
        Op::UntagResource,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::AssociateVolume => "AssociateVolume",
            Op::CreateVolume => "CreateVolume",
            Op::CreateWorkspaceInstance => "CreateWorkspaceInstance",
            Op::DeleteVolume => "DeleteVolume",
            Op::DeleteWorkspaceInstance => "DeleteWorkspaceInstance",
            Op::DisassociateVolume => "DisassociateVolume",
            Op::GetWorkspaceInstance => "GetWorkspaceInstance",
            Op::ListInstanceTypes => "ListInstanceTypes",
            Op::ListRegions => "ListRegions",
            Op::ListTagsForResource => "ListTagsForResource",
            Op::ListWorkspaceInstances => "ListWorkspaceInstances",
            Op::ModifyVolume => "ModifyVolume",
            Op::TagResource => "TagResource",
            Op::UntagResource => "UntagResource",
        }
    }

    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == name)
    }

    /// The input schema.
    pub fn schema(self) -> &'static S {
        match self {
            Op::AssociateVolume => &schema::ASSOCIATE_VOLUME,
            Op::CreateVolume => &schema::CREATE_VOLUME,
            Op::CreateWorkspaceInstance => &schema::CREATE_WORKSPACE_INSTANCE,
            Op::DeleteVolume => &schema::DELETE_VOLUME,
            Op::DeleteWorkspaceInstance | Op::GetWorkspaceInstance | Op::ListTagsForResource => {
                &schema::INSTANCE_ID_ONLY
            }
            Op::DisassociateVolume => &schema::DISASSOCIATE_VOLUME,
            Op::ListInstanceTypes => &schema::LIST_INSTANCE_TYPES,
            Op::ListRegions => &schema::LIST_REGIONS,
            Op::ListWorkspaceInstances => &schema::LIST_WORKSPACE_INSTANCES,
            Op::ModifyVolume => &schema::MODIFY_VOLUME,
            Op::TagResource => &schema::TAG_RESOURCE,
            Op::UntagResource => &schema::UNTAG_RESOURCE,
        }
    }
}

const INSTANCE: &str = "WorkspaceInstance";
const VOLUME: &str = "Volume";

/// Runs `op` against the state.
pub fn run(op: Op, st: &mut State, now: Timestamp, input: Obj<'_>) -> Result<Value, ApiError> {
    match op {
        Op::AssociateVolume => associate_volume(st, input),
        Op::CreateVolume => create_volume(st, now, input),
        Op::CreateWorkspaceInstance => create_workspace_instance(st, now, input),
        Op::DeleteVolume => delete_volume(st, input),
        Op::DeleteWorkspaceInstance => delete_workspace_instance(st, now, input),
        Op::DisassociateVolume => disassociate_volume(st, input),
        Op::GetWorkspaceInstance => get_workspace_instance(st, input),
        Op::ListInstanceTypes => list_instance_types(st, input),
        Op::ListRegions => list_regions(st, input),
        Op::ListTagsForResource => list_tags_for_resource(st, input),
        Op::ListWorkspaceInstances => list_workspace_instances(st, input),
        Op::ModifyVolume => modify_volume(st, now, input),
        Op::TagResource => tag_resource(st, input),
        Op::UntagResource => untag_resource(st, input),
    }
}

fn instance_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        INSTANCE,
        id,
        format!("WorkSpace Instance {id} does not exist"),
    )
}

fn volume_not_found(id: &str) -> ApiError {
    ApiError::not_found(VOLUME, id, format!("Volume {id} does not exist"))
}

fn empty() -> Result<Value, ApiError> {
    Ok(Out::new().build())
}

/// `[{Key, Value}]` as a map; a repeated key keeps the last value.
fn tag_map(tags: &[Value]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(Obj::new)
        .filter_map(|t| {
            let k = t.str("Key")?;
            Some((
                k.to_string(),
                t.str("Value").unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn tags_out(tags: &BTreeMap<String, String>) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| Out::new().str("Key", k).str("Value", v).build())
            .collect(),
    )
}

fn page_size(input: Obj<'_>) -> usize {
    input
        .int("MaxResults")
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_PAGE_SIZE)
}

fn associate_volume(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let id = input.req_str("WorkspaceInstanceId")?;
    let vol_id = input.req_str("VolumeId")?;
    let device = input.req_str("Device")?;
    let inst = st.instance(id).ok_or_else(|| instance_not_found(id))?;
    if inst.provision_state != ProvisionState::Allocated {
        return Err(ApiError::conflict(
            INSTANCE,
            id,
            format!(
                "WorkSpace Instance {id} is {}; volumes can only be attached to an ALLOCATED instance",
                inst.provision_state
            ),
        ));
    }
    let inst_az = inst.availability_zone().map(str::to_string);
    let vol = st.volume(vol_id).ok_or_else(|| volume_not_found(vol_id))?;
    if let Some(a) = &vol.attachment {
        return Err(ApiError::conflict(
            VOLUME,
            vol_id,
            format!(
                "Volume {vol_id} is already attached to {} as {}",
                a.workspace_instance_id, a.device
            ),
        ));
    }
    if let Some(az) = inst_az.filter(|az| *az != vol.availability_zone) {
        return Err(ApiError::conflict(
            VOLUME,
            vol_id,
            format!(
                "Volume {vol_id} is in {} but WorkSpace Instance {id} is in {az}",
                vol.availability_zone
            ),
        ));
    }
    if let Some(other) = st.volumes.values().find(|v| {
        v.attachment
            .as_ref()
            .is_some_and(|a| a.workspace_instance_id == id && a.device == device)
    }) {
        return Err(ApiError::conflict(
            INSTANCE,
            id,
            format!(
                "device {device} of WorkSpace Instance {id} is already used by {}",
                other.id
            ),
        ));
    }
    if let Some(vol) = st.volumes.get_mut(vol_id) {
        vol.attachment = Some(Attachment {
            workspace_instance_id: id.to_string(),
            device: device.to_string(),
        });
        vol.state = VolumeState::InUse;
    }
    empty()
}

fn create_volume(st: &mut State, now: Timestamp, input: Obj<'_>) -> Result<Value, ApiError> {
    let token = input.str("ClientToken");
    if let Some(token) = token {
        if let Some(v) = st
            .volumes
            .values()
            .find(|v| v.client_token.as_deref() == Some(token))
        {
            return Ok(Out::new().str("VolumeId", &v.id).build());
        }
    }
    if let Some(max) = st.limits.max_volumes {
        if st.volumes.len() >= max {
            return Err(ApiError::quota(
                VOLUME,
                format!("volume quota exceeded: the account already has {max} volumes"),
            ));
        }
    }
    let mut tags = BTreeMap::new();
    for spec in input.list("TagSpecifications").unwrap_or_default() {
        let Some(spec) = Obj::new(spec) else { continue };
        if spec.str("ResourceType").is_none_or(|t| t == "volume") {
            tags.extend(tag_map(spec.list("Tags").unwrap_or_default()));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ApiError::field(
            "TagSpecifications",
            format!(
                "a volume can have at most {MAX_TAGS} tags; the request gives {}",
                tags.len()
            ),
        ));
    }
    let id = st.next_id("vol-");
    let mut vol = Volume::new(id.clone(), input.req_str("AvailabilityZone")?, now);
    vol.size_in_gb = input.int("SizeInGB");
    vol.volume_type = Some(input.str("VolumeType").unwrap_or("gp2").to_string());
    vol.iops = input.int("Iops");
    vol.throughput = input.int("Throughput");
    vol.encrypted = input.bool("Encrypted").unwrap_or(false);
    vol.kms_key_id = input.str("KmsKeyId").map(str::to_string);
    vol.snapshot_id = input.str("SnapshotId").map(str::to_string);
    vol.tags = tags;
    vol.client_token = token.map(str::to_string);
    st.insert_volume(vol);
    Ok(Out::new().str("VolumeId", &id).build())
}

fn create_workspace_instance(
    st: &mut State,
    now: Timestamp,
    input: Obj<'_>,
) -> Result<Value, ApiError> {
    let token = input.str("ClientToken");
    if let Some(token) = token {
        if let Some(i) = st
            .instances
            .values()
            .find(|i| i.client_token.as_deref() == Some(token))
        {
            return Ok(Out::new().str("WorkspaceInstanceId", &i.id).build());
        }
    }
    if let Some(max) = st.limits.max_instances {
        let live = st
            .instances
            .values()
            .filter(|i| i.provision_state != ProvisionState::Deallocated)
            .count();
        if live >= max {
            return Err(ApiError::quota(
                INSTANCE,
                format!("WorkSpace Instance quota exceeded: the account already has {max}"),
            ));
        }
    }
    let managed = input
        .get("ManagedInstance")
        .ok_or_else(|| ApiError::field("ManagedInstance", "member is required"))?;
    let managed = to_json(managed);
    let instance_type = managed
        .get("InstanceType")
        .and_then(|t| t.as_str())
        .map(str::to_string);
    let az = managed
        .get("Placement")
        .and_then(|p| p.get("AvailabilityZone"))
        .and_then(|a| a.as_str())
        .unwrap_or("us-east-1a")
        .to_string();
    let fails = instance_type
        .as_ref()
        .is_some_and(|t| st.lifecycle.fail_instance_types.contains(t));
    let id = st.next_id("wsinst-");
    let at = now
        .checked_add(secs(st.lifecycle.allocate_seconds))
        .unwrap_or(now);
    let mut inst = Instance::new(id.clone(), ProvisionState::Allocating, now);
    inst.tags = tag_map(input.list("Tags").unwrap_or_default());
    inst.billing_mode = input
        .obj("BillingConfiguration")
        .and_then(|b| b.str("BillingMode"))
        .map(str::to_string);
    inst.client_token = token.map(str::to_string);
    inst.transition = Some(if fails {
        let ty = instance_type.as_deref().unwrap_or("the requested");
        Transition {
            at,
            to: ProvisionState::ErrorAllocating,
            workspace_instance_errors: vec![WorkspaceInstanceError::new(
                "EC2_LAUNCH_FAILED",
                format!("The EC2 instance for WorkSpace Instance {id} could not be launched: insufficient {ty} capacity."),
            )],
            ec2_instance_errors: vec![Ec2InstanceError::new(
                "InsufficientInstanceCapacity",
                "AmazonEC2Exception",
                format!(
                    "We currently do not have sufficient {ty} capacity in the Availability Zone you requested ({az})."
                ),
            )],
        }
    } else {
        let ec2 = st.next_id("i-");
        inst.ec2_instance_id = Some(ec2);
        Transition {
            at,
            to: ProvisionState::Allocated,
            workspace_instance_errors: Vec::new(),
            ec2_instance_errors: Vec::new(),
        }
    });
    inst.managed_instance = Some(managed);
    st.insert_instance(inst);
    Ok(Out::new().str("WorkspaceInstanceId", &id).build())
}

fn delete_volume(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let vol_id = input.req_str("VolumeId")?;
    let vol = st.volume(vol_id).ok_or_else(|| volume_not_found(vol_id))?;
    if let Some(a) = &vol.attachment {
        return Err(ApiError::conflict(
            VOLUME,
            vol_id,
            format!(
                "Volume {vol_id} is attached to {} as {}; detach it first",
                a.workspace_instance_id, a.device
            ),
        ));
    }
    st.volumes.remove(vol_id);
    empty()
}

fn delete_workspace_instance(
    st: &mut State,
    now: Timestamp,
    input: Obj<'_>,
) -> Result<Value, ApiError> {
    let id = input.req_str("WorkspaceInstanceId")?;
    let deallocate = secs(st.lifecycle.deallocate_seconds);
    let inst = st.instance_mut(id).ok_or_else(|| instance_not_found(id))?;
    match inst.provision_state {
        ProvisionState::Allocating => Err(ApiError::conflict(
            INSTANCE,
            id,
            format!("WorkSpace Instance {id} is still ALLOCATING; delete it once allocation has finished"),
        )),
        ProvisionState::Deallocating => Err(ApiError::conflict(
            INSTANCE,
            id,
            format!("WorkSpace Instance {id} is already DEALLOCATING"),
        )),
        ProvisionState::Deallocated => Err(ApiError::not_found(
            INSTANCE,
            id,
            format!("WorkSpace Instance {id} has already been deleted (DEALLOCATED)"),
        )),
        ProvisionState::Allocated
        | ProvisionState::ErrorAllocating
        | ProvisionState::ErrorDeallocating => {
            inst.provision_state = ProvisionState::Deallocating;
            inst.transition = Some(Transition {
                at: now.checked_add(deallocate).unwrap_or(now),
                to: ProvisionState::Deallocated,
                workspace_instance_errors: Vec::new(),
                ec2_instance_errors: Vec::new(),
            });
            empty()
        }
    }
}

fn disassociate_volume(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let id = input.req_str("WorkspaceInstanceId")?;
    let vol_id = input.req_str("VolumeId")?;
    if st.instance(id).is_none() {
        return Err(instance_not_found(id));
    }
    let vol = st
        .volumes
        .get_mut(vol_id)
        .ok_or_else(|| volume_not_found(vol_id))?;
    let Some(a) = vol
        .attachment
        .as_ref()
        .filter(|a| a.workspace_instance_id == id)
    else {
        return Err(ApiError::conflict(
            VOLUME,
            vol_id,
            format!("Volume {vol_id} is not attached to WorkSpace Instance {id}"),
        ));
    };
    if let Some(device) = input.str("Device").filter(|d| *d != a.device) {
        return Err(ApiError::conflict(
            VOLUME,
            vol_id,
            format!(
                "Volume {vol_id} is attached to {id} as {}, not {device}",
                a.device
            ),
        ));
    }
    vol.attachment = None;
    vol.state = VolumeState::Available;
    empty()
}

fn instance_summary(inst: &Instance) -> Out {
    let mut out = Out::new()
        .str("WorkspaceInstanceId", &inst.id)
        .str("ProvisionState", inst.provision_state.as_str());
    if let Some(ec2) = &inst.ec2_instance_id {
        out = out.value(
            "EC2ManagedInstance",
            Out::new().str("InstanceId", ec2).build(),
        );
    }
    out
}

fn get_workspace_instance(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let id = input.req_str("WorkspaceInstanceId")?;
    let inst = st.instance(id).ok_or_else(|| instance_not_found(id))?;
    let mut out = instance_summary(inst);
    out = out.value(
        "WorkspaceInstanceErrors",
        Value::Array(
            inst.workspace_instance_errors
                .iter()
                .map(|e| {
                    Out::new()
                        .opt_str("ErrorCode", e.error_code.as_deref())
                        .opt_str("ErrorMessage", e.error_message.as_deref())
                        .build()
                })
                .collect(),
        ),
    );
    out = out.value(
        "EC2InstanceErrors",
        Value::Array(
            inst.ec2_instance_errors
                .iter()
                .map(|e| {
                    Out::new()
                        .opt_str("EC2ErrorCode", e.ec2_error_code.as_deref())
                        .opt_str("EC2ExceptionType", e.ec2_exception_type.as_deref())
                        .opt_str("EC2ErrorMessage", e.ec2_error_message.as_deref())
                        .build()
                })
                .collect(),
        ),
    );
    if let Some(mode) = &inst.billing_mode {
        out = out.value(
            "BillingConfiguration",
            Out::new().str("BillingMode", mode).build(),
        );
    }
    Ok(out.build())
}

/// One page of `items` from the index in `NextToken`.
fn index_page<T>(
    op: Op,
    filter: &str,
    items: &[T],
    input: Obj<'_>,
) -> Result<(std::ops::Range<usize>, Option<String>), ApiError> {
    let start = match input.str("NextToken") {
        Some(t) => paging::decode_index(t, op.name(), filter)?,
        None => 0,
    };
    if start > items.len() {
        return Err(ApiError::validation(
            "NextToken",
            "Invalid NextToken: past the end of the list",
        ));
    }
    let end = start.saturating_add(page_size(input)).min(items.len());
    let next = (end < items.len()).then(|| paging::encode(op.name(), filter, &end.to_string()));
    Ok((start..end, next))
}

fn list_instance_types(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let filter = input.obj("InstanceConfigurationFilter").map(|f| {
        (
            f.str("BillingMode").unwrap_or_default().to_string(),
            f.str("PlatformType").unwrap_or_default().to_string(),
            f.str("Tenancy").unwrap_or_default().to_string(),
        )
    });
    let sig = filter
        .as_ref()
        .map(|(b, p, t)| format!("{b},{p},{t}"))
        .unwrap_or_default();
    let catalogue = st.instance_types();
    let matching: Vec<_> = catalogue
        .iter()
        .filter(|t| match &filter {
            None => true,
            Some((b, p, ten)) => t
                .supported_instance_configurations
                .iter()
                .any(|c| c.billing_mode == *b && c.platform_type == *p && c.tenancy == *ten),
        })
        .collect();
    let (range, next) = index_page(Op::ListInstanceTypes, &sig, &matching, input)?;
    let items = matching[range]
        .iter()
        .map(|t| {
            Out::new()
                .str("InstanceType", &t.instance_type)
                .value(
                    "SupportedInstanceConfigurations",
                    Value::Array(
                        t.supported_instance_configurations
                            .iter()
                            .map(|c| {
                                Out::new()
                                    .str("BillingMode", &c.billing_mode)
                                    .str("PlatformType", &c.platform_type)
                                    .str("Tenancy", &c.tenancy)
                                    .build()
                            })
                            .collect(),
                    ),
                )
                .build()
        })
        .collect();
    Ok(Out::new()
        .value("InstanceTypes", Value::Array(items))
        .opt_str("NextToken", next.as_deref())
        .build())
}

fn list_regions(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let regions = st.regions();
    let (range, next) = index_page(Op::ListRegions, "", &regions, input)?;
    let items = regions[range]
        .iter()
        .map(|r| Out::new().str("RegionName", r).build())
        .collect();
    Ok(Out::new()
        .value("Regions", Value::Array(items))
        .opt_str("NextToken", next.as_deref())
        .build())
}

fn list_tags_for_resource(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let id = input.req_str("WorkspaceInstanceId")?;
    let inst = st.instance(id).ok_or_else(|| instance_not_found(id))?;
    Ok(Out::new().value("Tags", tags_out(&inst.tags)).build())
}

fn list_workspace_instances(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let states: BTreeSet<ProvisionState> = input
        .strs("ProvisionStates")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let sig = states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let op = Op::ListWorkspaceInstances;
    let after = match input.str("NextToken") {
        Some(t) => Some(paging::decode(t, op.name(), &sig)?),
        None => None,
    };
    if after.as_deref().is_some_and(|c| !c.starts_with("wsinst-")) {
        return Err(ApiError::validation(
            "NextToken",
            "Invalid NextToken: bad cursor",
        ));
    }
    let max = page_size(input);
    let lower = match &after {
        Some(c) => Bound::Excluded(c.as_str()),
        None => Bound::Unbounded,
    };
    let mut page: Vec<&Instance> = Vec::with_capacity(max + 1);
    for inst in st
        .instances
        .range::<str, _>((lower, Bound::Unbounded))
        .map(|(_, i)| i)
        .filter(|i| states.is_empty() || states.contains(&i.provision_state))
    {
        page.push(inst);
        if page.len() > max {
            break;
        }
    }
    let next = if page.len() > max {
        page.truncate(max);
        page.last().map(|i| paging::encode(op.name(), &sig, &i.id))
    } else {
        None
    };
    let items = page.iter().map(|i| instance_summary(i).build()).collect();
    Ok(Out::new()
        .value("WorkspaceInstances", Value::Array(items))
        .opt_str("NextToken", next.as_deref())
        .build())
}

fn modify_volume(st: &mut State, now: Timestamp, input: Obj<'_>) -> Result<Value, ApiError> {
    let vol_id = input.req_str("VolumeId")?;
    let cooldown = secs(st.lifecycle.volume_modification_cooldown_seconds);
    let vol = st
        .volumes
        .get_mut(vol_id)
        .ok_or_else(|| volume_not_found(vol_id))?;
    let size = input.int("SizeInGB");
    let ty = input.str("VolumeType");
    let iops = input.int("Iops");
    let throughput = input.int("Throughput");
    if size.is_none() && ty.is_none() && iops.is_none() && throughput.is_none() {
        return Err(ApiError::validation(
            "SizeInGB",
            "ModifyVolume needs at least one of SizeInGB, VolumeType, Iops or Throughput",
        ));
    }
    if let (Some(new), Some(cur)) = (size, vol.size_in_gb) {
        if new < cur {
            return Err(ApiError::field(
                "SizeInGB",
                format!("the target size {new} GiB is smaller than the current size {cur} GiB"),
            ));
        }
    }
    if let Some(last) = vol.last_modified {
        if last.checked_add(cooldown).is_ok_and(|ready| now < ready) {
            return Err(ApiError::rate_exceeded(
                vol_id,
                format!("Volume {vol_id} was modified at {last}; wait before modifying it again"),
            ));
        }
    }
    if size.is_some() {
        vol.size_in_gb = size;
    }
    if let Some(ty) = ty {
        vol.volume_type = Some(ty.to_string());
    }
    if iops.is_some() {
        vol.iops = iops;
    }
    if throughput.is_some() {
        vol.throughput = throughput;
    }
    vol.last_modified = Some(now);
    Ok(Out::new()
        .str("VolumeId", vol_id)
        .opt_int("TargetSize", vol.size_in_gb)
        .opt_str("TargetVolumeType", vol.volume_type.as_deref())
        .opt_int("TargetIops", vol.iops)
        .opt_int("TargetThroughput", vol.throughput)
        .build())
}

fn tag_resource(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let id = input.req_str("WorkspaceInstanceId")?;
    let new = tag_map(input.list("Tags").unwrap_or_default());
    let inst = st.instance_mut(id).ok_or_else(|| instance_not_found(id))?;
    let added = new.keys().filter(|k| !inst.tags.contains_key(*k)).count();
    let total = inst.tags.len() + added;
    if total > MAX_TAGS {
        return Err(ApiError::field(
            "Tags",
            format!(
                "tag limit exceeded: WorkSpace Instance {id} has {} tags and this request adds {added} new keys; a resource can have at most {MAX_TAGS} tags",
                inst.tags.len()
            ),
        ));
    }
    inst.tags.extend(new);
    empty()
}

fn untag_resource(st: &mut State, input: Obj<'_>) -> Result<Value, ApiError> {
    let id = input.req_str("WorkspaceInstanceId")?;
    let keys = input.strs("TagKeys").unwrap_or_default();
    let inst = st.instance_mut(id).ok_or_else(|| instance_not_found(id))?;
    for k in keys {
        inst.tags.remove(k);
    }
    empty()
}
