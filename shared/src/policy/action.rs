//! Actions: kinds, parameters, and which `on` kinds they fit.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::Serialize;

use super::decode::Dec;
use crate::arn::{FleetArn, StreamArn};
use crate::resource::OnKind;
use crate::yaml::{Node, NodeKind};

/// The kinds of action a rule can take. Caps and dedup work per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// WorkLink SignOutUser (fleet + user).
    SignOutUser,
    /// WorkLink RevokeDomainAccess (fleet + domain).
    RevokeDomain,
    /// WorkLink RestoreDomainAccess (fleet + domain).
    RestoreDomain,
    /// WorkSpaces Instances TagResource.
    TagInstance,
    /// WorkSpaces Instances UntagResource.
    UntagInstance,
    /// Tag an instance with the cleanup mark (time of marking).
    MarkForCleanup,
    /// WorkSpaces Instances DeleteWorkspaceInstance.
    DeleteInstance,
    /// WorkLink UpdateAuditStreamConfiguration.
    SetAuditStream,
}

impl ActionKind {
    /// All kinds.
    pub const ALL: [ActionKind; 8] = [
        ActionKind::SignOutUser,
        ActionKind::RevokeDomain,
        ActionKind::RestoreDomain,
        ActionKind::TagInstance,
        ActionKind::UntagInstance,
        ActionKind::MarkForCleanup,
        ActionKind::DeleteInstance,
        ActionKind::SetAuditStream,
    ];

    /// The name used in policy files.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::SignOutUser => "sign-out-user",
            ActionKind::RevokeDomain => "revoke-domain",
            ActionKind::RestoreDomain => "restore-domain",
            ActionKind::TagInstance => "tag-instance",
            ActionKind::UntagInstance => "untag-instance",
            ActionKind::MarkForCleanup => "mark-for-cleanup",
            ActionKind::DeleteInstance => "delete-instance",
            ActionKind::SetAuditStream => "set-audit-stream",
        }
    }

    /// Parse a policy name.
    pub fn from_name(s: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The `on` kinds this action can be used with.
    pub fn fits(self) -> &'static [OnKind] {
        match self {
            ActionKind::SignOutUser => &[OnKind::AuditEvent, OnKind::Device],
            ActionKind::RevokeDomain => &[OnKind::AuditEvent, OnKind::Domain],
            ActionKind::RestoreDomain => &[OnKind::Domain],
            ActionKind::TagInstance
            | ActionKind::UntagInstance
            | ActionKind::MarkForCleanup
            | ActionKind::DeleteInstance => &[OnKind::Instance],
            ActionKind::SetAuditStream => &[OnKind::Fleet],
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One action of a rule, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionSpec {
    /// Sign the user out of the fleet.
    SignOutUser {
        /// Fleet ARN (default: the event's/device's, else the function's).
        fleet: Option<String>,
    },
    /// Revoke a domain.
    RevokeDomain {
        /// Fleet ARN (default: the event's/domain's, else the function's).
        fleet: Option<String>,
        /// Domain (default: the event's host / the domain resource's name).
        domain: Option<String>,
    },
    /// Restore a domain.
    RestoreDomain {
        /// Fleet ARN.
        fleet: Option<String>,
        /// Domain (default: the domain resource's name).
        domain: Option<String>,
    },
    /// Add tags to the instance.
    TagInstance {
        /// Tags to set.
        tags: BTreeMap<String, String>,
    },
    /// Remove tag keys from the instance.
    UntagInstance {
        /// Keys to remove.
        keys: Vec<String>,
    },
    /// Tag now; delete once marked for `grace` and still matching.
    MarkForCleanup {
        /// Grace period before deletion (default 24h).
        grace: SignedDuration,
    },
    /// Delete the instance.
    DeleteInstance,
    /// Point the fleet's audit stream at a Kinesis stream.
    SetAuditStream {
        /// Fleet ARN (default: the fleet resource's).
        fleet: Option<String>,
        /// Kinesis stream ARN (name must begin with `AmazonWorkLink-`);
        /// `None`: the function's configured stream (fleet-sweep's
        /// `WARDEN_AUDIT_STREAM_ARN`), so a policy need not repeat a
        /// deployment's value.
        stream_arn: Option<String>,
    },
}

impl ActionSpec {
    /// Its kind.
    pub fn kind(&self) -> ActionKind {
        match self {
            ActionSpec::SignOutUser { .. } => ActionKind::SignOutUser,
            ActionSpec::RevokeDomain { .. } => ActionKind::RevokeDomain,
            ActionSpec::RestoreDomain { .. } => ActionKind::RestoreDomain,
            ActionSpec::TagInstance { .. } => ActionKind::TagInstance,
            ActionSpec::UntagInstance { .. } => ActionKind::UntagInstance,
            ActionSpec::MarkForCleanup { .. } => ActionKind::MarkForCleanup,
            ActionSpec::DeleteInstance => ActionKind::DeleteInstance,
            ActionSpec::SetAuditStream { .. } => ActionKind::SetAuditStream,
        }
    }
}

/// Default grace period of `mark-for-cleanup`.
pub const DEFAULT_GRACE: SignedDuration = SignedDuration::from_hours(24);

fn valid_tag_text(s: &str, allow_empty: bool, max: usize) -> bool {
    (allow_empty || !s.is_empty())
        && s.chars().count() <= max
        && s.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

pub(crate) fn valid_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

const PARAMS: &[(ActionKind, &[&str])] = &[
    (ActionKind::SignOutUser, &["fleet"]),
    (ActionKind::RevokeDomain, &["fleet", "domain"]),
    (ActionKind::RestoreDomain, &["fleet", "domain"]),
    (ActionKind::TagInstance, &["tags"]),
    (ActionKind::UntagInstance, &["keys"]),
    (ActionKind::MarkForCleanup, &["grace"]),
    (ActionKind::DeleteInstance, &[]),
    (ActionKind::SetAuditStream, &["fleet", "stream-arn"]),
];

/// Compile one entry of `actions:` (`- sign-out-user` or
/// `- revoke-domain: {domain: x}`), checking it fits `on`.
pub(crate) fn compile(
    dec: &mut Dec<'_>,
    node: &Node,
    path: &str,
    on: OnKind,
) -> Option<ActionSpec> {
    let (name, params, name_loc) = match &node.kind {
        NodeKind::Str(s) => (s.as_str(), None, node.loc),
        NodeKind::Map(entries) if entries.len() == 1 => {
            let (k, v, l) = &entries[0];
            (k.as_str(), Some(v), *l)
        }
        _ => {
            dec.err(
                node.loc,
                path,
                "an action is a name (`- sign-out-user`) or a one-key mapping with its parameters (`- revoke-domain: {domain: wiki.example.com}`)",
            );
            return None;
        }
    };
    let Some(kind) = ActionKind::from_name(name) else {
        let sugg = crate::suggest::nearest(name, ActionKind::ALL.iter().map(|k| k.name()));
        dec.err_sugg(
            name_loc,
            path,
            format!(
                "unknown action `{name}`; actions: {}",
                ActionKind::ALL.map(|k| k.name()).join(", ")
            ),
            sugg,
        );
        return None;
    };
    if !kind.fits().contains(&on) {
        dec.err(
            name_loc,
            path,
            format!(
                "action `{name}` does not fit `on: {}`; it works on: {}",
                on.name(),
                kind.fits()
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    }
    let allowed = PARAMS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[][..], |(_, p)| *p);
    let empty = Vec::new();
    let entries = match params.map(|p| &p.kind) {
        None | Some(NodeKind::Null) => &empty,
        Some(NodeKind::Map(_)) => {
            let p = params?;
            dec.keys(p, path, allowed, &format!("parameter of `{name}`"))?
        }
        Some(_) => {
            let p = params?;
            dec.err(
                p.loc,
                path,
                format!(
                    "the parameters of `{name}` are a mapping, found {}",
                    p.type_name()
                ),
            );
            return None;
        }
    };
    let get = |k: &str| {
        entries
            .iter()
            .find(|(key, _, _)| key == k)
            .map(|(_, v, _)| v)
    };
    let mut ok = true;
    let mut fleet = None;
    if let Some(v) = get("fleet") {
        match dec.string(v, &format!("{path}.fleet")) {
            Some(s) => match FleetArn::parse(&s) {
                Ok(_) => fleet = Some(s),
                Err(e) => {
                    dec.err(v.loc, &format!("{path}.fleet"), e);
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    let mut domain = None;
    if let Some(v) = get("domain") {
        match dec.string(v, &format!("{path}.domain")) {
            Some(s) if valid_domain(&s) => domain = Some(s.to_ascii_lowercase()),
            Some(s) => {
                dec.err(
                    v.loc,
                    &format!("{path}.domain"),
                    format!("`{s}` is not a domain name such as `wiki.example.com`"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    let spec = match kind {
        ActionKind::SignOutUser => ActionSpec::SignOutUser { fleet },
        ActionKind::RevokeDomain => ActionSpec::RevokeDomain { fleet, domain },
        ActionKind::RestoreDomain => ActionSpec::RestoreDomain { fleet, domain },
        ActionKind::DeleteInstance => ActionSpec::DeleteInstance,
        ActionKind::TagInstance => {
            let p = format!("{path}.tags");
            let Some(v) = get("tags") else {
                dec.err(name_loc, path, "`tag-instance` needs `tags: {key: value}`");
                return None;
            };
            let entries = dec.keys(v, &p, &[], "")?;
            if entries.is_empty() {
                dec.err(v.loc, &p, "`tags` is empty");
                return None;
            }
            let mut tags = BTreeMap::new();
            for (k, val, kl) in entries {
                let Some(val) = val.scalar_text() else {
                    dec.err(
                        val.loc,
                        &p,
                        format!("the value of tag `{k}` must be a string"),
                    );
                    ok = false;
                    continue;
                };
                if !valid_tag_text(k, false, 128) {
                    dec.err(
                        *kl,
                        &p,
                        format!(
                            "tag key `{k}`: 1 to 128 letters, digits, spaces or _ . : / = + - @"
                        ),
                    );
                    ok = false;
                } else if !valid_tag_text(&val, true, 256) {
                    dec.err(*kl, &p, format!("tag value of `{k}`: up to 256 letters, digits, spaces or _ . : / = + - @"));
                    ok = false;
                }
                tags.insert(k.clone(), val);
            }
            ActionSpec::TagInstance { tags }
        }
        ActionKind::UntagInstance => {
            let p = format!("{path}.keys");
            let Some(v) = get("keys") else {
                dec.err(name_loc, path, "`untag-instance` needs `keys: [key, ...]`");
                return None;
            };
            let keys = dec.string_list(v, &p)?;
            if keys.is_empty() {
                dec.err(v.loc, &p, "`keys` is empty");
                return None;
            }
            ActionSpec::UntagInstance { keys }
        }
        ActionKind::MarkForCleanup => {
            let grace = match get("grace") {
                None => DEFAULT_GRACE,
                Some(v) => {
                    let p = format!("{path}.grace");
                    let Some(text) = v.scalar_text() else {
                        dec.err(v.loc, &p, "expected a duration such as `24h`");
                        return None;
                    };
                    match crate::time::parse_duration(&text) {
                        Ok(d) if d > SignedDuration::ZERO => d,
                        Ok(_) => {
                            dec.err(v.loc, &p, "the grace period must be longer than zero");
                            return None;
                        }
                        Err(e) => {
                            dec.err(v.loc, &p, e);
                            return None;
                        }
                    }
                }
            };
            ActionSpec::MarkForCleanup { grace }
        }
        ActionKind::SetAuditStream => {
            let p = format!("{path}.stream-arn");
            let stream_arn = match get("stream-arn") {
                // The function's configured stream.
                None => None,
                Some(v) => {
                    let s = dec.string(v, &p)?;
                    if let Err(e) = StreamArn::parse_worklink_audit(&s) {
                        dec.err(v.loc, &p, e);
                        return None;
                    }
                    Some(s)
                }
            };
            ActionSpec::SetAuditStream { fleet, stream_arn }
        }
    };
    ok.then_some(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators() {
        assert!(valid_domain("wiki.example.com"));
        assert!(!valid_domain("-bad.example.com"));
        assert!(!valid_domain("localhost"));
        assert!(valid_tag_text("warden:cleanup-marked-at", false, 128));
        assert!(!valid_tag_text("a#b", false, 128));
    }
}
