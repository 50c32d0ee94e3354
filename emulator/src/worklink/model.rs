//! The WorkLink state: fleets and everything that hangs off them. This is the
//! `"worklink"` section of a fixture and of `GET /_emulator/state`; field
//! names are snake_case like the rest of the fixture document.

use std::collections::{BTreeMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::validate as v;
use crate::check::{field, opt_field};

/// Account used in generated ARNs when a fixture does not name one.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// The whole WorkLink side of the emulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The account in fleet ARNs (`arn:aws:worklink::<account>:fleet/<name>`).
    #[serde(default = "default_account_id")]
    pub account_id: String,
    /// How long the asynchronous transitions take on the emulator clock.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Callers (by access key id) that get `UnauthorizedException`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_denied: Vec<AccessDenyRule>,
    #[serde(default)]
    pub fleets: Vec<Fleet>,
    /// Counter behind generated ids (website CA ids, authorization provider
    /// ids). Kept in the state so a dump reloads to the very same state.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub next_id: u64,
}

fn default_account_id() -> String {
    DEFAULT_ACCOUNT_ID.to_string()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for State {
    fn default() -> Self {
        State {
            account_id: default_account_id(),
            lifecycle: Lifecycle::default(),
            access_denied: Vec::new(),
            fleets: Vec::new(),
            next_id: 0,
        }
    }
}

/// Durations, in seconds of the emulator clock, of the asynchronous status
/// transitions. 0 makes a transition settle within the call that starts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lifecycle {
    /// CREATING -> ACTIVE after CreateFleet.
    pub fleet_create_seconds: u64,
    /// DELETING -> gone after DeleteFleet.
    pub fleet_delete_seconds: u64,
    /// ASSOCIATING -> ACTIVE after AssociateDomain.
    pub domain_associate_seconds: u64,
    /// DISASSOCIATING -> DISASSOCIATED after DisassociateDomain.
    pub domain_disassociate_seconds: u64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            fleet_create_seconds: 60,
            fleet_delete_seconds: 60,
            domain_associate_seconds: 60,
            domain_disassociate_seconds: 60,
        }
    }
}

/// Calls signed with `access_key_id` get `UnauthorizedException` (HTTP 403):
/// for every operation when `operations` is empty, else for those listed
/// (API names, e.g. `SignOutUser`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessDenyRule {
    pub access_key_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
}

impl AccessDenyRule {
    pub fn denies(&self, access_key_id: &str, operation: &str) -> bool {
        self.access_key_id == access_key_id
            && (self.operations.is_empty() || self.operations.iter().any(|o| o == operation))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FleetStatus {
    Creating,
    Active,
    Deleting,
    Deleted,
    FailedToCreate,
    FailedToDelete,
}

impl FleetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FleetStatus::Creating => "CREATING",
            FleetStatus::Active => "ACTIVE",
            FleetStatus::Deleting => "DELETING",
            FleetStatus::Deleted => "DELETED",
            FleetStatus::FailedToCreate => "FAILED_TO_CREATE",
            FleetStatus::FailedToDelete => "FAILED_TO_DELETE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DomainStatus {
    PendingValidation,
    Associating,
    Active,
    Inactive,
    Disassociating,
    Disassociated,
    FailedToAssociate,
    FailedToDisassociate,
}

impl DomainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainStatus::PendingValidation => "PENDING_VALIDATION",
            DomainStatus::Associating => "ASSOCIATING",
            DomainStatus::Active => "ACTIVE",
            DomainStatus::Inactive => "INACTIVE",
            DomainStatus::Disassociating => "DISASSOCIATING",
            DomainStatus::Disassociated => "DISASSOCIATED",
            DomainStatus::FailedToAssociate => "FAILED_TO_ASSOCIATE",
            DomainStatus::FailedToDisassociate => "FAILED_TO_DISASSOCIATE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeviceStatus {
    Active,
    SignedOut,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Active => "ACTIVE",
            DeviceStatus::SignedOut => "SIGNED_OUT",
        }
    }
}

/// A status change that happens by itself at `at` (emulator clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending<S> {
    pub status: S,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyNetwork {
    pub vpc_id: String,
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    /// `SAML` once configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// The customer's IdP metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saml_metadata: Option<String>,
    /// The metadata WorkLink hands out for the customer's IdP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider_saml_metadata: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    pub arn: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub company_code: String,
    pub status: FleetStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending<FleetStatus>>,
    pub created_time: Timestamp,
    pub last_updated_time: Timestamp,
    #[serde(default)]
    pub optimize_for_end_user_location: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_stream_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_network: Option<CompanyNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_ca_certificate: Option<String>,
    #[serde(default)]
    pub identity_provider: IdentityProvider,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub devices: Vec<Device>,
    #[serde(default)]
    pub domains: Vec<Domain>,
    #[serde(default)]
    pub website_certificate_authorities: Vec<WebsiteCa>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub website_authorization_providers: Vec<AuthorizationProvider>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub device_id: String,
    pub username: String,
    pub status: DeviceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_accessed_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accessed_time: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub domain_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub status: DomainStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending<DomainStatus>>,
    pub acm_certificate_arn: String,
    pub created_time: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebsiteCa {
    pub website_ca_id: String,
    pub certificate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub created_time: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationProvider {
    pub authorization_provider_id: String,
    /// `SAML`.
    pub authorization_provider_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    pub created_time: Timestamp,
}

pub fn fleet_arn(account_id: &str, name: &str) -> String {
    format!("arn:aws:worklink::{account_id}:fleet/{name}")
}

/// FNV-1a, for deterministic generated values (company codes, ids).
pub(crate) fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl State {
    pub fn fleet(&self, arn: &str) -> Option<&Fleet> {
        self.fleets.iter().find(|f| f.arn == arn)
    }

    pub fn fleet_mut(&mut self, arn: &str) -> Option<&mut Fleet> {
        self.fleets.iter_mut().find(|f| f.arn == arn)
    }

    /// A fresh id, UUID-shaped. The leading counter makes ids sort in
    /// creation order (lists are ordered by id).
    pub fn new_id(&mut self, salt: &str) -> String {
        loop {
            self.next_id += 1;
            let n = self.next_id;
            let h = fnv(&[salt, &n.to_string()]);
            let id = format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                n as u32,
                (h >> 48) as u16,
                (h >> 36) & 0xfff,
                (h >> 24) & 0xfff,
                h & 0xffff_ffff_ffff
            );
            let used = self.fleets.iter().any(|f| {
                f.website_certificate_authorities
                    .iter()
                    .any(|c| c.website_ca_id == id)
                    || f.website_authorization_providers
                        .iter()
                        .any(|p| p.authorization_provider_id == id)
            });
            if !used {
                return id;
            }
        }
    }

    /// Applies every pending transition due at `now`. Fleets that reach
    /// DELETED are removed. Handlers call this before each operation; tests
    /// reading the state in-process can call it too.
    pub fn settle(&mut self, now: Timestamp) {
        for fleet in &mut self.fleets {
            if let Some(p) = fleet.pending.take_if(|p| p.at <= now) {
                fleet.status = p.status;
                fleet.last_updated_time = p.at;
            }
            for d in &mut fleet.domains {
                if let Some(p) = d.pending.take_if(|p| p.at <= now) {
                    d.status = p.status;
                }
            }
        }
        self.fleets.retain(|f| f.status != FleetStatus::Deleted);
    }

    /// Checks a loaded fixture for consistency; the message names the item.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.account_id.len() == 12 && self.account_id.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!(
                "worklink.account_id must be 12 digits, got {:?}",
                self.account_id
            ));
        }
        for (i, r) in self.access_denied.iter().enumerate() {
            if r.access_key_id.is_empty() {
                return Err(format!(
                    "worklink.access_denied[{i}].access_key_id must not be empty"
                ));
            }
            for op in &r.operations {
                if !super::OPERATIONS.contains(&op.as_str()) {
                    return Err(format!(
                        "worklink.access_denied[{i}].operations: unknown operation {op:?}"
                    ));
                }
            }
        }
        let mut arns = HashSet::new();
        let mut names = HashSet::new();
        for (i, f) in self.fleets.iter().enumerate() {
            let at = format!("worklink.fleets[{i}] ({})", f.arn);
            f.validate(&at)?;
            if !arns.insert(f.arn.as_str()) {
                return Err(format!("{at}: duplicate fleet ARN"));
            }
            if !names.insert(f.name.as_str()) {
                return Err(format!("{at}: duplicate fleet name {:?}", f.name));
            }
        }
        Ok(())
    }
}

impl Fleet {
    fn validate(&self, at: &str) -> Result<(), String> {
        field(at, "name", v::fleet_name(&self.name))?;
        let Some((account, name)) = self
            .arn
            .strip_prefix("arn:aws:worklink::")
            .and_then(|rest| rest.split_once(":fleet/"))
        else {
            return Err(format!(
                "{at}.arn: must look like arn:aws:worklink::<account>:fleet/<name>"
            ));
        };
        if !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("{at}.arn: account must be 12 digits"));
        }
        if name != self.name {
            return Err(format!(
                "{at}.arn: ends in fleet/{name} but name is {:?}",
                self.name
            ));
        }
        opt_field(at, "display_name", &self.display_name, |s| {
            v::max_len(s, 100)
        })?;
        field(
            at,
            "company_code",
            v::len_between(&self.company_code, 1, 32),
        )?;
        if self.last_updated_time < self.created_time {
            return Err(format!("{at}.last_updated_time: before created_time"));
        }
        opt_field(at, "audit_stream_arn", &self.audit_stream_arn, |s| {
            v::audit_stream_arn(s)
        })?;
        if let Some(n) = &self.company_network {
            field(at, "company_network.vpc_id", v::aws_id(&n.vpc_id, "vpc"))?;
            for (j, s) in n.subnet_ids.iter().enumerate() {
                field(
                    at,
                    &format!("company_network.subnet_ids[{j}]"),
                    v::aws_id(s, "subnet"),
                )?;
            }
            for (j, s) in n.security_group_ids.iter().enumerate() {
                field(
                    at,
                    &format!("company_network.security_group_ids[{j}]"),
                    v::aws_id(s, "sg"),
                )?;
            }
        }
        opt_field(
            at,
            "device_ca_certificate",
            &self.device_ca_certificate,
            |s| v::certificate_chain(s, 32768),
        )?;
        let idp = &self.identity_provider;
        if let Some(t) = &idp.r#type {
            if t != "SAML" {
                return Err(format!(
                    "{at}.identity_provider.type: must be SAML, got {t:?}"
                ));
            }
        }
        opt_field(
            at,
            "identity_provider.saml_metadata",
            &idp.saml_metadata,
            |s| v::len_between(s, 1, 204800),
        )?;
        opt_field(
            at,
            "identity_provider.service_provider_saml_metadata",
            &idp.service_provider_saml_metadata,
            |s| v::len_between(s, 1, 204800),
        )?;
        field(at, "tags", v::tags(&self.tags))?;

        let mut ids = HashSet::new();
        for (j, d) in self.devices.iter().enumerate() {
            let at = format!("{at}.devices[{j}] ({})", d.device_id);
            field(&at, "device_id", v::len_between(&d.device_id, 1, 256))?;
            field(&at, "username", v::len_between(&d.username, 1, 256))?;
            for (name, value) in [
                ("manufacturer", &d.manufacturer),
                ("model", &d.model),
                ("operating_system", &d.operating_system),
                ("operating_system_version", &d.operating_system_version),
                ("patch_level", &d.patch_level),
            ] {
                opt_field(&at, name, value, |s| v::len_between(s, 1, 256))?;
            }
            if let (Some(first), Some(last)) = (d.first_accessed_time, d.last_accessed_time) {
                if last < first {
                    return Err(format!(
                        "{at}.last_accessed_time: before first_accessed_time"
                    ));
                }
            }
            if !ids.insert(d.device_id.as_str()) {
                return Err(format!("{at}: duplicate device_id in this fleet"));
            }
        }
        let mut domains = HashSet::new();
        for (j, d) in self.domains.iter().enumerate() {
            let at = format!("{at}.domains[{j}] ({})", d.domain_name);
            field(&at, "domain_name", v::domain_name(&d.domain_name))?;
            opt_field(&at, "display_name", &d.display_name, |s| v::max_len(s, 100))?;
            field(&at, "acm_certificate_arn", v::arn(&d.acm_certificate_arn))?;
            if !domains.insert(d.domain_name.to_ascii_lowercase()) {
                return Err(format!("{at}: duplicate domain_name in this fleet"));
            }
        }
        let mut cas = HashSet::new();
        for (j, c) in self.website_certificate_authorities.iter().enumerate() {
            let at = format!(
                "{at}.website_certificate_authorities[{j}] ({})",
                c.website_ca_id
            );
            field(
                &at,
                "website_ca_id",
                v::len_between(&c.website_ca_id, 1, 256),
            )?;
            field(&at, "certificate", v::certificate(&c.certificate))?;
            opt_field(&at, "display_name", &c.display_name, |s| v::max_len(s, 100))?;
            if !cas.insert(c.website_ca_id.as_str()) {
                return Err(format!("{at}: duplicate website_ca_id in this fleet"));
            }
        }
        let mut providers = HashSet::new();
        for (j, p) in self.website_authorization_providers.iter().enumerate() {
            let at = format!(
                "{at}.website_authorization_providers[{j}] ({})",
                p.authorization_provider_id
            );
            field(
                &at,
                "authorization_provider_id",
                v::len_between(&p.authorization_provider_id, 1, 256),
            )?;
            if p.authorization_provider_type != "SAML" {
                return Err(format!(
                    "{at}.authorization_provider_type: must be SAML, got {:?}",
                    p.authorization_provider_type
                ));
            }
            opt_field(&at, "domain_name", &p.domain_name, v::domain_name)?;
            if !providers.insert(p.authorization_provider_id.as_str()) {
                return Err(format!(
                    "{at}: duplicate authorization_provider_id in this fleet"
                ));
            }
        }
        Ok(())
    }
}

/// `now + seconds`, saturating instead of failing at the end of time.
pub(crate) fn after(now: Timestamp, seconds: u64) -> Timestamp {
    let secs = i64::try_from(seconds).unwrap_or(i64::MAX);
    now.checked_add(SignedDuration::from_secs(secs))
        .unwrap_or(Timestamp::MAX)
}
