//! Resource views for scheduled rules: plain structs with public fields that
//! the functions fill from SDK responses (WorkLink ListDevices +
//! DescribeDevice, ListDomains, ListFleets + DescribeAuditStreamConfiguration;
//! WorkSpaces Instances ListWorkspacesInstances + GetWorkspaceInstance +
//! ListTagsForResource; WorkSpaces Secure Browser GetPortal +
//! GetUserAccessLoggingSettings, ListSessions + GetSession). Field names are
//! the names rules use. They also
//! deserialize (snake_case, unknown keys refused) for policy test cases.

use std::collections::BTreeMap;
use std::net::IpAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The default tag key that `mark-for-cleanup` writes; its value is the
/// RFC 3339 time of marking. A policy may choose another (`cleanup-tag`).
pub const DEFAULT_CLEANUP_TAG: &str = "warden:cleanup-marked-at";

/// What a rule runs on: audit events, or one scheduled resource kind. It
/// lives beside the resources (not in `policy`) so that the policy language
/// depends on the resource views and never the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnKind {
    /// Records from the WorkLink audit stream (the audit-stream function).
    AuditEvent,
    /// WorkLink devices (fleet-sweep).
    Device,
    /// WorkLink domains (fleet-sweep).
    Domain,
    /// WorkLink fleets (fleet-sweep).
    Fleet,
    /// WorkSpaces Instances (instance-cleanup).
    Instance,
    /// WorkSpaces Secure Browser portals (portal-sweep).
    Portal,
    /// WorkSpaces Secure Browser sessions (portal-sweep).
    Session,
}

impl OnKind {
    /// All kinds.
    pub const ALL: [OnKind; 7] = [
        OnKind::AuditEvent,
        OnKind::Device,
        OnKind::Domain,
        OnKind::Fleet,
        OnKind::Instance,
        OnKind::Portal,
        OnKind::Session,
    ];

    /// The name used in policy files.
    pub fn name(self) -> &'static str {
        match self {
            OnKind::AuditEvent => "audit-event",
            OnKind::Device => "device",
            OnKind::Domain => "domain",
            OnKind::Fleet => "fleet",
            OnKind::Instance => "instance",
            OnKind::Portal => "portal",
            OnKind::Session => "session",
        }
    }

    /// Parse a policy name.
    pub fn from_name(s: &str) -> Option<OnKind> {
        OnKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A WorkLink device (DeviceSummary + DescribeDevice).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Device {
    /// The fleet it belongs to.
    pub fleet_arn: String,
    /// The device's id in its fleet (WorkLink `DeviceId`).
    pub device_id: String,
    /// `ACTIVE` | `SIGNED_OUT`.
    pub status: Option<String>,
    /// The user the device belongs to (WorkLink `Username`), if known.
    pub user: Option<String>,
    /// The device maker as WorkLink reports it (`Manufacturer`).
    pub manufacturer: Option<String>,
    /// The device model as WorkLink reports it (`Model`).
    pub model: Option<String>,
    /// Operating system and version, e.g. `iOS 17.5.1` (`OperatingSystem`).
    pub os: Option<String>,
    /// OperatingSystemVersion (dotted; compared with `version-*` operators).
    pub os_version: Option<String>,
    /// PatchLevel, e.g. `2024-03-05` (its age is the `patch_level_age` field).
    pub patch_level: Option<String>,
    /// When the device first reached the fleet (`FirstAccessedTime`).
    pub first_accessed: Option<Timestamp>,
    /// When the device last reached the fleet (`LastAccessedTime`).
    pub last_accessed: Option<Timestamp>,
}

/// A domain associated with a WorkLink fleet (DomainSummary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Domain {
    /// The fleet it belongs to.
    pub fleet_arn: String,
    /// The internal domain's name, e.g. `wiki.example.com` (`DomainName`).
    pub domain: String,
    /// The name shown to administrators (`DisplayName`).
    pub display_name: Option<String>,
    /// DomainStatus: `PENDING_VALIDATION` | `ASSOCIATING` | `ACTIVE` |
    /// `INACTIVE` | `DISASSOCIATING` | `DISASSOCIATED` | ...
    pub status: Option<String>,
    /// When it was created (`CreatedTime`).
    pub created: Option<Timestamp>,
}

/// A WorkLink fleet (FleetSummary + DescribeAuditStreamConfiguration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fleet {
    /// The fleet's ARN, the scope of every action on it (`FleetArn`).
    pub fleet_arn: String,
    /// The fleet's short name (`FleetName`).
    pub fleet_name: Option<String>,
    /// The name shown to administrators (`DisplayName`).
    pub display_name: Option<String>,
    /// The code users enter in the WorkLink app (`CompanyCode`).
    pub company_code: Option<String>,
    /// FleetStatus: `CREATING` | `ACTIVE` | `DELETING` | ...
    pub status: Option<String>,
    /// When it was created (`CreatedTime`).
    pub created: Option<Timestamp>,
    /// When its configuration last changed (`LastUpdatedTime`).
    pub last_updated: Option<Timestamp>,
    /// AuditStreamArn (None when the fleet has no audit stream).
    pub audit_stream_arn: Option<String>,
}

/// One error reported on a WorkSpaces Instance (WorkspaceInstanceErrors or
/// EC2InstanceErrors).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceError {
    /// ErrorCode / EC2ErrorCode.
    pub code: Option<String>,
    /// ErrorMessage / EC2ErrorMessage.
    pub message: Option<String>,
}

/// A WorkSpaces Instance (GetWorkspaceInstance + ListTagsForResource).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Instance {
    /// WorkspaceInstanceId (`wsinst-...`).
    pub instance_id: String,
    /// ProvisionState: `ALLOCATING` | `ALLOCATED` | `DEALLOCATING` |
    /// `DEALLOCATED` | `ERROR_ALLOCATING` | `ERROR_DEALLOCATING`.
    pub state: Option<String>,
    /// EC2ManagedInstance.InstanceId.
    pub ec2_instance_id: Option<String>,
    /// Errors, workspace and EC2 ones together.
    pub errors: Vec<InstanceError>,
    /// Its tags (key to value): mark, reason and protect tags among them.
    pub tags: BTreeMap<String, String>,
}

impl Instance {
    /// When the instance was marked for cleanup, read from the tag `key`
    /// (RFC 3339 or epoch). An unreadable value counts as not marked, so the
    /// next run re-marks it with a fresh time (never an early delete).
    pub fn cleanup_marked_at(&self, key: &str) -> Option<Timestamp> {
        self.tags
            .get(key)
            .and_then(|v| crate::time::parse_timestamp(v))
    }
}

/// A WorkSpaces Secure Browser portal (GetPortal, with the Kinesis stream of
/// its user access logging settings from GetUserAccessLoggingSettings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Portal {
    /// `arn:aws:workspaces-web:<region>:<account>:portal/<id>`, the scope of
    /// every action on it (`portalArn`).
    pub portal_arn: String,
    /// The name shown to administrators (`displayName`).
    pub display_name: Option<String>,
    /// `portalStatus`: `Incomplete` | `Pending` | `Active`.
    pub status: Option<String>,
    /// `authenticationType`: `Standard` | `IAM_Identity_Center`.
    pub authentication_type: Option<String>,
    /// When it was created (`creationDate`).
    pub created: Option<Timestamp>,
    /// `userAccessLoggingSettingsArn` (None: no user access logging).
    pub access_logging_settings_arn: Option<String>,
    /// The Kinesis stream those settings send to (None when there are none).
    pub access_log_stream_arn: Option<String>,
    /// `ipAccessSettingsArn` (None: reachable from any address).
    pub ip_access_settings_arn: Option<String>,
}

impl Portal {
    /// The portal id: the last part of its ARN (what the session calls take).
    pub fn portal_id(&self) -> &str {
        portal_id(&self.portal_arn)
    }
}

/// The id part of a portal ARN (`.../portal/<id>` -> `<id>`); the whole text
/// when it has no `/`.
pub fn portal_id(portal_arn: &str) -> &str {
    portal_arn.rsplit('/').next().unwrap_or(portal_arn)
}

/// A WorkSpaces Secure Browser session (ListSessions, and GetSession for its
/// client addresses when a rule reads them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Session {
    /// The portal it runs on.
    pub portal_arn: String,
    /// `sessionId` (36 characters).
    pub session_id: String,
    /// `username`.
    pub user: Option<String>,
    /// `status`: `Active` | `Terminated`.
    pub status: Option<String>,
    /// `startTime`.
    pub start_time: Option<Timestamp>,
    /// `endTime` (ended sessions only).
    pub end_time: Option<Timestamp>,
    /// `clientIpAddresses` from GetSession; empty when not fetched (no rule
    /// reads them) or none reported.
    pub client_ips: Vec<IpAddr>,
}

/// The resource kinds scheduled rules run `on`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// A WorkLink device.
    Device(Device),
    /// A WorkLink domain.
    Domain(Domain),
    /// A WorkLink fleet.
    Fleet(Fleet),
    /// A WorkSpaces Instance.
    Instance(Instance),
    /// A WorkSpaces Secure Browser portal.
    Portal(Portal),
    /// A WorkSpaces Secure Browser session.
    Session(Session),
}

impl Resource {
    /// The identifier reported as the cause of an action.
    pub fn id(&self) -> String {
        match self {
            Resource::Device(d) => format!("device {} in {}", d.device_id, d.fleet_arn),
            Resource::Domain(d) => format!("domain {} in {}", d.domain, d.fleet_arn),
            Resource::Fleet(f) => format!("fleet {}", f.fleet_arn),
            Resource::Instance(i) => format!("instance {}", i.instance_id),
            Resource::Portal(p) => format!("portal {}", p.portal_arn),
            Resource::Session(s) => format!("session {} in {}", s.session_id, s.portal_arn),
        }
    }

    /// The `on` kind this resource is evaluated under.
    pub fn on_kind(&self) -> OnKind {
        match self {
            Resource::Device(_) => OnKind::Device,
            Resource::Domain(_) => OnKind::Domain,
            Resource::Fleet(_) => OnKind::Fleet,
            Resource::Instance(_) => OnKind::Instance,
            Resource::Portal(_) => OnKind::Portal,
            Resource::Session(_) => OnKind::Session,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_mark_is_read_from_the_tag() {
        let mut i = Instance {
            instance_id: "wsinst-12345678".into(),
            ..Default::default()
        };
        assert_eq!(i.cleanup_marked_at(DEFAULT_CLEANUP_TAG), None);
        i.tags
            .insert(DEFAULT_CLEANUP_TAG.into(), "2026-11-23T12:00:00Z".into());
        assert!(i.cleanup_marked_at(DEFAULT_CLEANUP_TAG).is_some());
        i.tags.insert(DEFAULT_CLEANUP_TAG.into(), "garbage".into());
        assert_eq!(i.cleanup_marked_at(DEFAULT_CLEANUP_TAG), None);
    }
}
