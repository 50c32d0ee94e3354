//! The WorkSpaces Instances state: instances, volumes, catalogues and knobs.
//! It is the `"workspaces_instances"` section of a fixture and of
//! `GET /_emulator/state`; serializing and parsing it again gives an equal
//! value.
//!
//! Instances and volumes are kept in `BTreeMap`s by id (serialized as lists),
//! so lookups are logarithmic and listing pages in id order with a cursor
//! costs only the page, even with 10,000 instances.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::schema::{self, Pat};

/// A WorkSpace Instance's provisioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProvisionState {
    Allocating,
    Allocated,
    Deallocating,
    Deallocated,
    ErrorAllocating,
    ErrorDeallocating,
}

impl ProvisionState {
    pub const ALL: [ProvisionState; 6] = [
        ProvisionState::Allocating,
        ProvisionState::Allocated,
        ProvisionState::Deallocating,
        ProvisionState::Deallocated,
        ProvisionState::ErrorAllocating,
        ProvisionState::ErrorDeallocating,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionState::Allocating => "ALLOCATING",
            ProvisionState::Allocated => "ALLOCATED",
            ProvisionState::Deallocating => "DEALLOCATING",
            ProvisionState::Deallocated => "DEALLOCATED",
            ProvisionState::ErrorAllocating => "ERROR_ALLOCATING",
            ProvisionState::ErrorDeallocating => "ERROR_DEALLOCATING",
        }
    }

    pub fn is_error(self) -> bool {
        matches!(
            self,
            ProvisionState::ErrorAllocating | ProvisionState::ErrorDeallocating
        )
    }
}

impl fmt::Display for ProvisionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProvisionState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProvisionState::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown provision state {s:?}"))
    }
}

/// A `WorkspaceInstanceError` as `GetWorkspaceInstance` returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceInstanceError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl WorkspaceInstanceError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        WorkspaceInstanceError {
            error_code: Some(code.into()),
            error_message: Some(message.into()),
        }
    }
}

/// An `EC2InstanceError` as `GetWorkspaceInstance` returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2InstanceError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_exception_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_error_message: Option<String>,
}

impl Ec2InstanceError {
    pub fn new(
        code: impl Into<String>,
        exception_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Ec2InstanceError {
            ec2_error_code: Some(code.into()),
            ec2_exception_type: Some(exception_type.into()),
            ec2_error_message: Some(message.into()),
        }
    }
}

/// A state change scheduled on the emulator clock: at `at` the instance moves
/// to `to`; non-empty error lists replace the instance's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub at: Timestamp,
    pub to: ProvisionState,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspace_instance_errors: Vec<WorkspaceInstanceError>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ec2_instance_errors: Vec<Ec2InstanceError>,
}

/// One WorkSpace Instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// `wsinst-[0-9a-zA-Z]{8,63}`.
    pub id: String,
    pub provision_state: ProvisionState,
    /// When it was created (emulator clock). Not returned by the API.
    pub created: Timestamp,
    /// The `EC2ManagedInstance.InstanceId`, once EC2 launched one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspace_instance_errors: Vec<WorkspaceInstanceError>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ec2_instance_errors: Vec<Ec2InstanceError>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// `BillingConfiguration.BillingMode` (`HOURLY` / `MONTHLY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_mode: Option<String>,
    /// The `ManagedInstance` request document as sent (PascalCase members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_instance: Option<serde_json::Value>,
    /// The `ClientToken` it was created with (idempotency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// The next scheduled state change, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// When a `DEALLOCATED` instance disappears for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_at: Option<Timestamp>,
}

impl Instance {
    pub fn new(id: impl Into<String>, provision_state: ProvisionState, created: Timestamp) -> Self {
        Instance {
            id: id.into(),
            provision_state,
            created,
            ec2_instance_id: None,
            workspace_instance_errors: Vec::new(),
            ec2_instance_errors: Vec::new(),
            tags: BTreeMap::new(),
            billing_mode: None,
            managed_instance: None,
            client_token: None,
            transition: None,
            purge_at: None,
        }
    }

    pub fn with_ec2_instance_id(mut self, id: impl Into<String>) -> Self {
        self.ec2_instance_id = Some(id.into());
        self
    }

    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    pub fn with_workspace_error(
        mut self,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.workspace_instance_errors
            .push(WorkspaceInstanceError::new(code, message));
        self
    }

    pub fn with_ec2_error(
        mut self,
        code: impl Into<String>,
        exception_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.ec2_instance_errors
            .push(Ec2InstanceError::new(code, exception_type, message));
        self
    }

    pub fn with_billing_mode(mut self, mode: impl Into<String>) -> Self {
        self.billing_mode = Some(mode.into());
        self
    }

    pub fn with_managed_instance(mut self, doc: serde_json::Value) -> Self {
        self.managed_instance = Some(doc);
        self
    }

    /// Schedules a move to `to` at `at`.
    pub fn with_transition(mut self, to: ProvisionState, at: Timestamp) -> Self {
        self.transition = Some(Transition {
            at,
            to,
            workspace_instance_errors: Vec::new(),
            ec2_instance_errors: Vec::new(),
        });
        self
    }

    /// The availability zone asked for at creation
    /// (`ManagedInstance.Placement.AvailabilityZone`), if any.
    pub fn availability_zone(&self) -> Option<&str> {
        self.managed_instance
            .as_ref()?
            .get("Placement")?
            .get("AvailabilityZone")?
            .as_str()
    }

    /// The instance type asked for at creation, if any.
    pub fn instance_type(&self) -> Option<&str> {
        self.managed_instance
            .as_ref()?
            .get("InstanceType")?
            .as_str()
    }
}

/// A volume's state. Volumes are usable as soon as they are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeState {
    Available,
    InUse,
}

/// Where a volume is attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub workspace_instance_id: String,
    pub device: String,
}

/// One volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// `vol-[0-9a-zA-Z]{1,63}`.
    pub id: String,
    pub availability_zone: String,
    pub state: VolumeState,
    pub created: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_in_gb: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// Last `ModifyVolume` (at most one per `volume_modification_cooldown_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<Timestamp>,
}

impl Volume {
    pub fn new(
        id: impl Into<String>,
        availability_zone: impl Into<String>,
        created: Timestamp,
    ) -> Self {
        Volume {
            id: id.into(),
            availability_zone: availability_zone.into(),
            state: VolumeState::Available,
            created,
            size_in_gb: None,
            volume_type: None,
            iops: None,
            throughput: None,
            encrypted: false,
            kms_key_id: None,
            snapshot_id: None,
            tags: BTreeMap::new(),
            attachment: None,
            client_token: None,
            last_modified: None,
        }
    }

    pub fn with_size(mut self, gb: i64, volume_type: impl Into<String>) -> Self {
        self.size_in_gb = Some(gb);
        self.volume_type = Some(volume_type.into());
        self
    }

    /// Attached to `instance` as `device` (state `in-use`).
    pub fn attached_to(mut self, instance: impl Into<String>, device: impl Into<String>) -> Self {
        self.attachment = Some(Attachment {
            workspace_instance_id: instance.into(),
            device: device.into(),
        });
        self.state = VolumeState::InUse;
        self
    }
}

/// One supported configuration of an instance type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfiguration {
    pub billing_mode: String,
    pub platform_type: String,
    pub tenancy: String,
}

/// An entry of `ListInstanceTypes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeInfo {
    pub instance_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_instance_configurations: Vec<InstanceConfiguration>,
}

/// Lifecycle timings, in emulator-clock seconds, and failure knobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lifecycle {
    /// `ALLOCATING` -> `ALLOCATED` after this long.
    pub allocate_seconds: u64,
    /// `DEALLOCATING` -> `DEALLOCATED` after this long.
    pub deallocate_seconds: u64,
    /// A `DEALLOCATED` instance stays visible this long, then is gone.
    pub deallocated_retention_seconds: u64,
    /// Instances created with one of these `InstanceType`s end in
    /// `ERROR_ALLOCATING` (insufficient capacity) instead of `ALLOCATED`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fail_instance_types: Vec<String>,
    /// At most one `ModifyVolume` per volume in this window.
    pub volume_modification_cooldown_seconds: u64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            allocate_seconds: 60,
            deallocate_seconds: 60,
            deallocated_retention_seconds: 3600,
            fail_instance_types: Vec::new(),
            volume_modification_cooldown_seconds: 6 * 3600,
        }
    }
}

/// Service quotas. `None`: unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most instances (not counting `DEALLOCATED` ones) the account may have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_volumes: Option<usize>,
}

/// The whole WorkSpaces Instances state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// By id; a list of instances in JSON.
    #[serde(default, with = "by_id::instances")]
    pub instances: BTreeMap<String, Instance>,
    /// By id; a list of volumes in JSON.
    #[serde(default, with = "by_id::volumes")]
    pub volumes: BTreeMap<String, Volume>,
    /// `ListInstanceTypes` catalogue. `None`: the built-in one
    /// ([`default_instance_types`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_types: Option<Vec<InstanceTypeInfo>>,
    /// `ListRegions` catalogue. `None`: the built-in one ([`default_regions`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    #[serde(default)]
    pub lifecycle: Lifecycle,
    #[serde(default)]
    pub limits: Limits,
    /// Operations the emulated caller lacks permission for: each answers
    /// `AccessDeniedException`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub access_denied_operations: BTreeSet<String>,
    /// Counter behind generated ids (deterministic, so runs repeat).
    #[serde(default)]
    pub id_counter: u64,
}

mod by_id {
    //! A `BTreeMap<id, T>` as a JSON list of `T`s; a repeated id is an error.
    use std::collections::BTreeMap;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub trait HasId {
        fn id(&self) -> &str;
        const WHAT: &'static str;
    }

    impl HasId for super::Instance {
        fn id(&self) -> &str {
            &self.id
        }
        const WHAT: &'static str = "instance";
    }

    impl HasId for super::Volume {
        fn id(&self) -> &str {
            &self.id
        }
        const WHAT: &'static str = "volume";
    }

    fn ser<T: Serialize, S: Serializer>(m: &BTreeMap<String, T>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.values())
    }

    fn de<'de, T, D>(d: D) -> Result<BTreeMap<String, T>, D::Error>
    where
        T: Deserialize<'de> + HasId,
        D: Deserializer<'de>,
    {
        let items = Vec::<T>::deserialize(d)?;
        let mut map = BTreeMap::new();
        for item in items {
            let id = item.id().to_string();
            if map.insert(id.clone(), item).is_some() {
                return Err(D::Error::custom(format!(
                    "workspaces_instances: {} id {id:?} appears more than once",
                    T::WHAT
                )));
            }
        }
        Ok(map)
    }

    pub mod instances {
        use super::*;
        use crate::wsi::model::Instance;
        pub fn serialize<S: Serializer>(
            m: &BTreeMap<String, Instance>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            ser(m, s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<BTreeMap<String, Instance>, D::Error> {
            de(d)
        }
    }

    pub mod volumes {
        use super::*;
        use crate::wsi::model::Volume;
        pub fn serialize<S: Serializer>(
            m: &BTreeMap<String, Volume>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            ser(m, s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<BTreeMap<String, Volume>, D::Error> {
            de(d)
        }
    }
}

/// The operations of the service (the reference's 13 plus `ModifyVolume`).
pub const OPERATIONS: &[&str] = &[
    "AssociateVolume",
    "CreateVolume",
    "CreateWorkspaceInstance",
    "DeleteVolume",
    "DeleteWorkspaceInstance",
    "DisassociateVolume",
    "GetWorkspaceInstance",
    "ListInstanceTypes",
    "ListRegions",
    "ListTagsForResource",
    "ListWorkspaceInstances",
    "ModifyVolume",
    "TagResource",
    "UntagResource",
];

/// Most tags on one resource.
pub const MAX_TAGS: usize = 30;

impl State {
    /// Adds (or replaces) an instance, keyed by its id.
    pub fn insert_instance(&mut self, instance: Instance) -> Option<Instance> {
        self.instances.insert(instance.id.clone(), instance)
    }

    /// Builder form of [`State::insert_instance`].
    pub fn with_instance(mut self, instance: Instance) -> Self {
        self.insert_instance(instance);
        self
    }

    pub fn insert_volume(&mut self, volume: Volume) -> Option<Volume> {
        self.volumes.insert(volume.id.clone(), volume)
    }

    pub fn with_volume(mut self, volume: Volume) -> Self {
        self.insert_volume(volume);
        self
    }

    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.get(id)
    }

    pub fn instance_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.instances.get_mut(id)
    }

    pub fn volume(&self, id: &str) -> Option<&Volume> {
        self.volumes.get(id)
    }

    /// `n` instances `wsinst-<prefix><index>` in `state`, created at
    /// `created`; handy for large fixtures. `prefix` must keep ids valid
    /// (alphanumeric; 8 to 63 characters after `wsinst-` with the index).
    pub fn add_instances(
        &mut self,
        prefix: &str,
        n: usize,
        state: ProvisionState,
        created: Timestamp,
    ) -> Vec<String> {
        (0..n)
            .map(|i| {
                let id = format!("wsinst-{prefix}{i:08}");
                self.insert_instance(
                    Instance::new(id.clone(), state, created)
                        .with_ec2_instance_id(format!("i-{:017x}", mix(fnv1a(&id)))),
                );
                id
            })
            .collect()
    }

    /// The `ListInstanceTypes` catalogue in force.
    pub fn instance_types(&self) -> std::borrow::Cow<'_, [InstanceTypeInfo]> {
        match &self.instance_types {
            Some(list) => std::borrow::Cow::Borrowed(list),
            None => std::borrow::Cow::Owned(default_instance_types()),
        }
    }

    /// The `ListRegions` catalogue in force.
    pub fn regions(&self) -> Vec<String> {
        self.regions.clone().unwrap_or_else(default_regions)
    }

    /// A fresh id `<prefix><17 hex digits>`, deterministic from the counter
    /// and never one already in use.
    pub fn next_id(&mut self, prefix: &str) -> String {
        loop {
            self.id_counter = self.id_counter.wrapping_add(1);
            let id = format!("{prefix}{:017x}", mix(self.id_counter));
            let taken = match prefix {
                "wsinst-" => self.instances.contains_key(&id),
                "vol-" => self.volumes.contains_key(&id),
                _ => false,
            };
            if !taken {
                return id;
            }
        }
    }

    /// Applies every scheduled state change due at `now`: transitions fire,
    /// instances reaching `DEALLOCATED` get their volumes detached and a
    /// purge time, and instances past their purge time are removed. Called
    /// before every operation; a scan of the instances, cheap at 10,000.
    pub fn run_lifecycle(&mut self, now: Timestamp) {
        let retention = secs(self.lifecycle.deallocated_retention_seconds);
        let mut deallocated: Vec<String> = Vec::new();
        let mut purge = false;
        for inst in self.instances.values_mut() {
            // A transition may schedule the next one (none do today), so loop.
            while let Some(t) = inst.transition.as_ref().filter(|t| t.at <= now) {
                let t = t.clone();
                inst.transition = None;
                inst.provision_state = t.to;
                if !t.workspace_instance_errors.is_empty() {
                    inst.workspace_instance_errors = t.workspace_instance_errors;
                }
                if !t.ec2_instance_errors.is_empty() {
                    inst.ec2_instance_errors = t.ec2_instance_errors;
                }
                if t.to == ProvisionState::Deallocated {
                    inst.purge_at = t.at.checked_add(retention).ok();
                    deallocated.push(inst.id.clone());
                }
            }
            purge |= inst.purge_at.is_some_and(|p| p <= now);
        }
        if !deallocated.is_empty() {
            for v in self.volumes.values_mut() {
                if v.attachment
                    .as_ref()
                    .is_some_and(|a| deallocated.contains(&a.workspace_instance_id))
                {
                    v.attachment = None;
                    v.state = VolumeState::Available;
                }
            }
        }
        if purge {
            let gone: Vec<String> = self
                .instances
                .values()
                .filter(|i| i.purge_at.is_some_and(|p| p <= now))
                .map(|i| i.id.clone())
                .collect();
            for id in &gone {
                self.instances.remove(id);
            }
            for v in self.volumes.values_mut() {
                if v.attachment
                    .as_ref()
                    .is_some_and(|a| gone.contains(&a.workspace_instance_id))
                {
                    v.attachment = None;
                    v.state = VolumeState::Available;
                }
            }
        }
    }

    /// Checks a loaded fixture; the message names the item at fault.
    pub fn validate(&self) -> Result<(), String> {
        const W: &str = "workspaces_instances";
        for (key, inst) in &self.instances {
            let at = format!("{W}.instances[{key}]");
            if *key != inst.id {
                return Err(format!(
                    "{at}: keyed by {key:?} but its id is {:?}",
                    inst.id
                ));
            }
            if !(15..=70).contains(&inst.id.len()) || !Pat::WsInstId.matches(&inst.id) {
                return Err(format!(
                    "{at}.id: {:?} does not match wsinst-[0-9a-zA-Z]{{8,63}}",
                    inst.id
                ));
            }
            if let Some(ec2) = &inst.ec2_instance_id {
                if !ec2.starts_with("i-") || ec2.len() < 3 {
                    return Err(format!(
                        "{at}.ec2_instance_id: {ec2:?} is not an EC2 instance id (i-...)"
                    ));
                }
            }
            check_tags(&inst.tags, &at)?;
            if let Some(mode) = &inst.billing_mode {
                if !schema::BILLING_MODES.contains(&mode.as_str()) {
                    return Err(format!(
                        "{at}.billing_mode: {mode:?} is not HOURLY or MONTHLY"
                    ));
                }
            }
            if let Some(doc) = &inst.managed_instance {
                if !doc.is_object() {
                    return Err(format!("{at}.managed_instance: must be an object"));
                }
            }
            if let Some(t) = &inst.transition {
                if t.to == inst.provision_state {
                    return Err(format!(
                        "{at}.transition: moves to {} but the instance is already {}",
                        t.to, inst.provision_state
                    ));
                }
            }
            if inst.purge_at.is_some() && inst.provision_state != ProvisionState::Deallocated {
                return Err(format!(
                    "{at}.purge_at: only a DEALLOCATED instance can have one (it is {})",
                    inst.provision_state
                ));
            }
        }
        let mut devices: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (key, vol) in &self.volumes {
            let at = format!("{W}.volumes[{key}]");
            if *key != vol.id {
                return Err(format!("{at}: keyed by {key:?} but its id is {:?}", vol.id));
            }
            if !Pat::Prefixed("vol-").matches(&vol.id) {
                return Err(format!(
                    "{at}.id: {:?} does not match vol-[0-9a-zA-Z]{{1,63}}",
                    vol.id
                ));
            }
            if vol.availability_zone.chars().count() > 64 {
                return Err(format!("{at}.availability_zone: longer than 64 characters"));
            }
            if let Some(t) = &vol.volume_type {
                if !schema::VOLUME_TYPES.contains(&t.as_str()) {
                    return Err(format!(
                        "{at}.volume_type: {t:?} is not one of {}",
                        schema::VOLUME_TYPES.join(", ")
                    ));
                }
            }
            for (name, v) in [
                ("size_in_gb", vol.size_in_gb),
                ("iops", vol.iops),
                ("throughput", vol.throughput),
            ] {
                if v.is_some_and(|v| v < 0) {
                    return Err(format!("{at}.{name}: must not be negative"));
                }
            }
            check_tags(&vol.tags, &at)?;
            match (&vol.attachment, vol.state) {
                (Some(a), VolumeState::InUse) => {
                    if !self.instances.contains_key(&a.workspace_instance_id) {
                        return Err(format!(
                            "{at}.attachment: instance {:?} is not in the fixture",
                            a.workspace_instance_id
                        ));
                    }
                    if a.device.chars().count() > 32 {
                        return Err(format!("{at}.attachment.device: longer than 32 characters"));
                    }
                    if !devices.insert((&a.workspace_instance_id, &a.device)) {
                        return Err(format!(
                            "{at}.attachment: device {:?} of {} is used by another volume",
                            a.device, a.workspace_instance_id
                        ));
                    }
                }
                (None, VolumeState::Available) => {}
                (Some(_), VolumeState::Available) => {
                    return Err(format!(
                        "{at}: has an attachment, so its state must be \"in-use\""
                    ))
                }
                (None, VolumeState::InUse) => {
                    return Err(format!("{at}: is \"in-use\" but has no attachment"))
                }
            }
        }
        if let Some(types) = &self.instance_types {
            for (i, t) in types.iter().enumerate() {
                let at = format!("{W}.instance_types[{i}]");
                if !Pat::InstanceType.matches(&t.instance_type) {
                    return Err(format!(
                        "{at}.instance_type: {:?} does not match [a-z0-9-]+\\.[a-z0-9-]+",
                        t.instance_type
                    ));
                }
                for (j, c) in t.supported_instance_configurations.iter().enumerate() {
                    let at = format!("{at}.supported_instance_configurations[{j}]");
                    for (name, value, allowed) in [
                        ("billing_mode", &c.billing_mode, schema::BILLING_MODES),
                        ("platform_type", &c.platform_type, schema::PLATFORM_TYPES),
                        ("tenancy", &c.tenancy, schema::TENANCIES),
                    ] {
                        if !allowed.contains(&value.as_str()) {
                            return Err(format!(
                                "{at}.{name}: {value:?} is not one of {}",
                                allowed.join(", ")
                            ));
                        }
                    }
                }
            }
        }
        if let Some(regions) = &self.regions {
            for (i, r) in regions.iter().enumerate() {
                if !Pat::RegionName.matches(r) {
                    return Err(format!(
                        "{W}.regions[{i}]: {r:?} does not match [-0-9a-z]{{1,31}}"
                    ));
                }
            }
        }
        for op in &self.access_denied_operations {
            if !OPERATIONS.contains(&op.as_str()) {
                return Err(format!(
                    "{W}.access_denied_operations: {op:?} is not an operation of the service"
                ));
            }
        }
        for t in &self.lifecycle.fail_instance_types {
            if !Pat::InstanceType.matches(t) {
                return Err(format!(
                    "{W}.lifecycle.fail_instance_types: {t:?} is not an instance type"
                ));
            }
        }
        Ok(())
    }
}

fn check_tags(tags: &BTreeMap<String, String>, at: &str) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!(
            "{at}.tags: {} tags, at most {MAX_TAGS} allowed",
            tags.len()
        ));
    }
    for (k, v) in tags {
        if !(1..=128).contains(&k.chars().count()) || !Pat::TagKey.matches(k) {
            return Err(format!(
                "{at}.tags: key {k:?} must be 1 to 128 characters of letters, digits, spaces and _.:/=+-@"
            ));
        }
        if v.chars().count() > 256 || !Pat::TagValue.matches(v) {
            return Err(format!(
                "{at}.tags[{k}]: value {v:?} must be at most 256 characters of letters, digits, spaces and _.:/=+-@"
            ));
        }
    }
    Ok(())
}

pub fn secs(s: u64) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX))
}

/// FNV-1a of a string.
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// splitmix64: spreads a counter into random-looking, distinct bits.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The built-in `ListRegions` catalogue.
pub fn default_regions() -> Vec<String> {
    [
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ca-central-1",
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-2",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The built-in `ListInstanceTypes` catalogue: 30 types. Every type runs
/// hourly on shared tenancy with Windows and Linux; the general-purpose and
/// compute families also bill monthly, the `m` families also offer
/// dedicated tenancy, and GPU types skip the BYOL and SUSE platforms.
pub fn default_instance_types() -> Vec<InstanceTypeInfo> {
    const TYPES: &[&str] = &[
        "t3.medium",
        "t3.large",
        "t3.xlarge",
        "t3.2xlarge",
        "m5.large",
        "m5.xlarge",
        "m5.2xlarge",
        "m5.4xlarge",
        "m6i.large",
        "m6i.xlarge",
        "m6i.2xlarge",
        "m7i.large",
        "m7i.xlarge",
        "m7i.2xlarge",
        "c5.large",
        "c5.xlarge",
        "c5.2xlarge",
        "c6i.xlarge",
        "c6i.2xlarge",
        "r5.large",
        "r5.xlarge",
        "r6i.xlarge",
        "r6i.2xlarge",
        "g4dn.xlarge",
        "g4dn.2xlarge",
        "g5.xlarge",
        "g5.2xlarge",
        "g6.xlarge",
        "g6.2xlarge",
        "i3.large",
    ];
    TYPES
        .iter()
        .map(|t| {
            let family = t.split('.').next().unwrap_or_default();
            let gpu = family.starts_with('g');
            let monthly = matches!(family.as_bytes().first(), Some(b't' | b'm' | b'c'));
            let dedicated = family.starts_with('m');
            let mut configs = Vec::new();
            for billing in ["HOURLY", "MONTHLY"] {
                if billing == "MONTHLY" && !monthly {
                    continue;
                }
                for platform in schema::PLATFORM_TYPES {
                    if gpu && (platform.contains("BYOL") || platform.starts_with("SUSE")) {
                        continue;
                    }
                    for tenancy in ["SHARED", "DEDICATED"] {
                        if tenancy == "DEDICATED" && !dedicated {
                            continue;
                        }
                        configs.push(InstanceConfiguration {
                            billing_mode: billing.into(),
                            platform_type: (*platform).into(),
                            tenancy: tenancy.into(),
                        });
                    }
                }
            }
            InstanceTypeInfo {
                instance_type: (*t).into(),
                supported_instance_configurations: configs,
            }
        })
        .collect()
}
