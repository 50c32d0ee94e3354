//! The Secure Browser state: portals with their sessions, user access logging
//! settings and IP access settings. This is the `"workspaces_web"` section of
//! a fixture and of `GET /_emulator/state`; field names are snake_case like
//! the rest of the fixture document.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::validate as v;
use crate::check::{field, opt_field as opt};

/// Region and account of generated ARNs when a fixture names none.
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// The whole Secure Browser side of the emulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Region in the ARNs of settings the emulator creates.
    #[serde(default = "default_region")]
    pub region: String,
    /// Account in the ARNs of settings the emulator creates.
    #[serde(default = "default_account_id")]
    pub account_id: String,
    #[serde(default)]
    pub portals: Vec<Portal>,
    #[serde(default)]
    pub user_access_logging_settings: Vec<UserAccessLoggingSettings>,
    #[serde(default)]
    pub ip_access_settings: Vec<IpAccessSettings>,
    /// Calls that get `AccessDeniedException` (HTTP 403).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_denied: Vec<AccessDenyRule>,
    #[serde(default)]
    pub limits: Limits,
    /// Create calls seen, by `clientToken`: the ARN they created. A repeated
    /// token answers with the same ARN and creates nothing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub client_tokens: BTreeMap<String, String>,
    /// Counter behind generated ids. Kept in the state so a dump reloads to
    /// the very same state.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub next_id: u64,
}

fn default_region() -> String {
    DEFAULT_REGION.to_string()
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
            region: default_region(),
            account_id: default_account_id(),
            portals: Vec::new(),
            user_access_logging_settings: Vec::new(),
            ip_access_settings: Vec::new(),
            access_denied: Vec::new(),
            limits: Limits::default(),
            client_tokens: BTreeMap::new(),
            next_id: 0,
        }
    }
}

/// Service quotas: a create beyond them is `ServiceQuotaExceededException`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_user_access_logging_settings: usize,
    pub max_ip_access_settings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_user_access_logging_settings: 50,
            max_ip_access_settings: 50,
        }
    }
}

/// Calls matching this rule get `AccessDeniedException`: the operations
/// listed (API names; empty = every operation) on the resources listed
/// (portal ARNs or ids, settings ARNs; empty = every resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessDenyRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

impl AccessDenyRule {
    /// True when the rule covers `operation` on any of `resources` (the ARN
    /// and, for portals, the id the request named).
    pub fn denies(&self, operation: &str, resources: &[String]) -> bool {
        (self.operations.is_empty() || self.operations.iter().any(|o| o == operation))
            && (self.resources.is_empty() || self.resources.iter().any(|r| resources.contains(r)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PortalStatus {
    Incomplete,
    Pending,
    Active,
}

impl PortalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PortalStatus::Incomplete => "Incomplete",
            PortalStatus::Pending => "Pending",
            PortalStatus::Active => "Active",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionStatus {
    Active,
    Terminated,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "Active",
            SessionStatus::Terminated => "Terminated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SessionStatus::Active, SessionStatus::Terminated]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// `arn:aws:workspaces-web:<region>:<account>:portal/<id>`; the id (36
    /// characters) is what the session calls take.
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub status: PortalStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    /// `Standard` (default) or `IAM_Identity_Center`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_access_logging_settings_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_access_settings_arn: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub sessions: Vec<Session>,
}

impl Portal {
    /// The portal id: the last part of the ARN.
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// 36 characters of `[a-zA-Z0-9-]`.
    pub session_id: String,
    pub username: String,
    pub status: SessionStatus,
    pub start_time: Timestamp,
    /// Set when the session ends (ExpireSession sets it to the emulator clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    #[serde(default)]
    pub client_ip_addresses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAccessLoggingSettings {
    pub arn: String,
    /// A Kinesis stream whose name begins with `amazon-workspaces-web-`.
    pub kinesis_stream_arn: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRule {
    /// An IPv4 or IPv6 address or CIDR range.
    pub ip_range: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpAccessSettings {
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub ip_rules: Vec<IpRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_managed_key: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// The ARN of a Secure Browser resource (`portal`,
/// `userAccessLoggingSettings`, `ipAccessSettings`).
pub fn resource_arn(region: &str, account: &str, kind: &str, id: &str) -> String {
    format!("arn:aws:workspaces-web:{region}:{account}:{kind}/{id}")
}

impl State {
    pub fn portal(&self, arn: &str) -> Option<&Portal> {
        self.portals.iter().find(|p| p.arn == arn)
    }

    pub fn portal_mut(&mut self, arn: &str) -> Option<&mut Portal> {
        self.portals.iter_mut().find(|p| p.arn == arn)
    }

    pub fn portal_by_id_mut(&mut self, id: &str) -> Option<&mut Portal> {
        self.portals.iter_mut().find(|p| p.id() == id)
    }

    /// A fresh 36-character lowercase hex id (UUID layout) that sorts in
    /// creation order.
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        let n = self.next_id;
        let mix = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            n as u32,
            (mix >> 48) as u16,
            (mix >> 36) & 0xfff,
            (mix >> 24) & 0xfff,
            mix & 0xffff_ffff_ffff
        )
    }

    /// Portals whose `field` names `arn`, for `associatedPortalArns`.
    pub fn portals_with(&self, arn: &str, field: fn(&Portal) -> Option<&String>) -> Vec<String> {
        self.portals
            .iter()
            .filter(|p| field(p).is_some_and(|a| a == arn))
            .map(|p| p.arn.clone())
            .collect()
    }

    /// Checks a loaded fixture for consistency; the message names the item
    /// by its JSON path.
    pub fn validate(&self) -> Result<(), String> {
        let root = "workspaces_web";
        if !(1..=12).contains(&self.account_id.len())
            || !self.account_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(format!(
                "{root}.account_id must be 1 to 12 letters or digits, got {:?}",
                self.account_id
            ));
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "{root}.region must be letters, digits and hyphens, got {:?}",
                self.region
            ));
        }
        for (i, r) in self.access_denied.iter().enumerate() {
            for op in &r.operations {
                if !super::OPERATIONS.contains(&op.as_str()) {
                    return Err(format!(
                        "{root}.access_denied[{i}].operations: unknown operation {op:?}"
                    ));
                }
            }
        }
        let mut logging = HashSet::new();
        for (i, s) in self.user_access_logging_settings.iter().enumerate() {
            let at = format!("{root}.user_access_logging_settings[{i}]");
            field(
                &at,
                "arn",
                v::settings_arn(&s.arn, "userAccessLoggingSettings"),
            )?;
            field(
                &at,
                "kinesis_stream_arn",
                v::kinesis_stream_arn(&s.kinesis_stream_arn),
            )?;
            field(&at, "tags", v::tag_map(&s.tags))?;
            if !logging.insert(s.arn.as_str()) {
                return Err(format!("{at}.arn: duplicate ARN {}", s.arn));
            }
        }
        let mut ip = HashSet::new();
        for (i, s) in self.ip_access_settings.iter().enumerate() {
            let at = format!("{root}.ip_access_settings[{i}]");
            field(&at, "arn", v::settings_arn(&s.arn, "ipAccessSettings"))?;
            opt(&at, "display_name", &s.display_name, v::display_name)?;
            opt(&at, "description", &s.description, v::description)?;
            if s.ip_rules.is_empty() || s.ip_rules.len() > 100 {
                return Err(format!(
                    "{at}.ip_rules: must hold 1 to 100 rules, got {}",
                    s.ip_rules.len()
                ));
            }
            for (j, r) in s.ip_rules.iter().enumerate() {
                field(
                    &at,
                    &format!("ip_rules[{j}].ip_range"),
                    v::ip_range(&r.ip_range),
                )?;
                opt(
                    &at,
                    &format!("ip_rules[{j}].description"),
                    &r.description,
                    v::description,
                )?;
            }
            opt(
                &at,
                "customer_managed_key",
                &s.customer_managed_key,
                v::key_arn,
            )?;
            field(&at, "tags", v::tag_map(&s.tags))?;
            if !ip.insert(s.arn.as_str()) {
                return Err(format!("{at}.arn: duplicate ARN {}", s.arn));
            }
        }
        let mut arns = HashSet::new();
        for (i, p) in self.portals.iter().enumerate() {
            let at = format!("{root}.portals[{i}]");
            field(&at, "arn", v::settings_arn(&p.arn, "portal"))?;
            if !arns.insert(p.arn.as_str()) {
                return Err(format!("{at}.arn: duplicate portal ARN {}", p.arn));
            }
            opt(&at, "display_name", &p.display_name, v::display_name)?;
            if let Some(t) = &p.authentication_type {
                if t != "Standard" && t != "IAM_Identity_Center" {
                    return Err(format!(
                        "{at}.authentication_type: must be Standard or IAM_Identity_Center, got {t:?}"
                    ));
                }
            }
            if let Some(a) = &p.user_access_logging_settings_arn {
                if !logging.contains(a.as_str()) {
                    return Err(format!(
                        "{at}.user_access_logging_settings_arn: {a} is not in workspaces_web.user_access_logging_settings"
                    ));
                }
            }
            if let Some(a) = &p.ip_access_settings_arn {
                if !ip.contains(a.as_str()) {
                    return Err(format!(
                        "{at}.ip_access_settings_arn: {a} is not in workspaces_web.ip_access_settings"
                    ));
                }
            }
            field(&at, "tags", v::tag_map(&p.tags))?;
            let mut ids = HashSet::new();
            for (j, s) in p.sessions.iter().enumerate() {
                let at = format!("{at}.sessions[{j}]");
                field(&at, "session_id", v::id36(&s.session_id))?;
                field(&at, "username", v::username(&s.username))?;
                if let Some(end) = s.end_time {
                    if end < s.start_time {
                        return Err(format!("{at}.end_time: before start_time"));
                    }
                }
                if s.client_ip_addresses.len() > 45 {
                    return Err(format!(
                        "{at}.client_ip_addresses: at most 45 addresses, got {}",
                        s.client_ip_addresses.len()
                    ));
                }
                for (k, a) in s.client_ip_addresses.iter().enumerate() {
                    field(&at, &format!("client_ip_addresses[{k}]"), v::ip_address(a))?;
                }
                if !ids.insert(s.session_id.as_str()) {
                    return Err(format!(
                        "{at}.session_id: duplicate session id {} in this portal",
                        s.session_id
                    ));
                }
            }
        }
        Ok(())
    }
}
