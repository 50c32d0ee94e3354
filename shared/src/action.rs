//! Action kinds, each described once.
//!
//! [`ACTIONS`] is the one table of the extension point: for every
//! [`ActionKind`] its policy name, its parameters, the kind of [`Target`] it
//! acts on, the `on` kinds it fits, the API operation it calls, the state
//! that counts as "already done", the kind it contradicts, and how the
//! planner turns a rule's [`ActionSpec`] and one subject into a target.
//! The policy loader (`policy/action.rs`), the planner (`plan.rs`) and the
//! executor (`aws/executor.rs`) read the table; the executor adds only the
//! SDK call. `docs/extending.md` walks through adding a kind.
//!
//! This module sits below `policy`, `plan` and `aws`: it imports nothing
//! of theirs, only the resource views.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::arn::PortalArn;
use crate::resource::{Instance, OnKind};

/// The kinds of action a rule can take. Caps and dedup work per kind.
/// Variants are in the order of [`ACTIONS`] (checked when compiling).
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
    /// WorkSpaces Secure Browser: ListSessions (the user's active sessions
    /// on a portal, every page), then ExpireSession for each.
    ExpireSessions,
}

/// The kinds of [`Target`], one per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// [`Target::FleetUser`].
    FleetUser,
    /// [`Target::FleetDomain`].
    FleetDomain,
    /// [`Target::Instance`].
    Instance,
    /// [`Target::Fleet`].
    Fleet,
    /// [`Target::PortalUser`].
    PortalUser,
}

/// The state in which a refused call still counts as done (actions are
/// idempotent, so re-delivery is safe). The executor checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Already {
    /// None: the call's own result is the outcome (the call is idempotent).
    Never,
    /// After an `InvalidRequestException`, DescribeDomain shows the domain
    /// already in this `DomainStatus`.
    DomainStatus(&'static str),
    /// The instance is gone (`ResourceNotFoundException`), or, after a
    /// `ConflictException`, GetWorkspaceInstance shows it `DEALLOCATING` /
    /// `DEALLOCATED` (any other conflict is transient).
    InstanceGone,
    /// ListSessions shows the user no active session on the portal (or a
    /// listed session is gone by the time it is expired): nothing to end.
    NoActiveSession,
}

/// One action kind, described once.
#[derive(Debug, Clone, Copy)]
pub struct ActionDescriptor {
    /// The kind.
    pub kind: ActionKind,
    /// Its name in policy files, logs and reports.
    pub name: &'static str,
    /// The parameters a rule may give it, in the order they are read (see
    /// `policy/action.rs` for what each parameter accepts).
    pub params: &'static [&'static str],
    /// What it acts on.
    pub target: TargetKind,
    /// The `on` kinds of the rules it can be used in.
    pub fits: &'static [OnKind],
    /// The API operation it calls (also the `Action` metric dimension).
    pub operation: &'static str,
    /// When a refused call counts as already done.
    pub already: Already,
    /// The kind that contradicts it on the same target in one run (both
    /// are refused).
    pub conflicts_with: Option<ActionKind>,
    /// The planner's step: the target and parameters for one subject.
    pub(crate) resolve: fn(&ActionSpec, &Facts<'_>) -> Result<Resolved, String>,
}

/// Every action kind, in [`ActionKind`] order.
pub const ACTIONS: &[ActionDescriptor] = &[
    ActionDescriptor {
        kind: ActionKind::SignOutUser,
        name: "sign-out-user",
        params: &["fleet"],
        target: TargetKind::FleetUser,
        fits: &[OnKind::AuditEvent, OnKind::Device],
        operation: "SignOutUser",
        already: Already::Never,
        conflicts_with: None,
        resolve: resolve_sign_out,
    },
    ActionDescriptor {
        kind: ActionKind::RevokeDomain,
        name: "revoke-domain",
        params: &["fleet", "domain", "hold"],
        target: TargetKind::FleetDomain,
        fits: &[OnKind::AuditEvent, OnKind::Domain],
        operation: "RevokeDomainAccess",
        already: Already::DomainStatus("INACTIVE"),
        conflicts_with: Some(ActionKind::RestoreDomain),
        resolve: resolve_domain,
    },
    ActionDescriptor {
        kind: ActionKind::RestoreDomain,
        name: "restore-domain",
        params: &["fleet", "domain"],
        target: TargetKind::FleetDomain,
        fits: &[OnKind::Domain],
        operation: "RestoreDomainAccess",
        already: Already::DomainStatus("ACTIVE"),
        conflicts_with: Some(ActionKind::RevokeDomain),
        resolve: resolve_domain,
    },
    ActionDescriptor {
        kind: ActionKind::TagInstance,
        name: "tag-instance",
        params: &["tags"],
        target: TargetKind::Instance,
        fits: &[OnKind::Instance],
        operation: "TagResource",
        already: Already::Never,
        conflicts_with: None,
        resolve: resolve_tag,
    },
    ActionDescriptor {
        kind: ActionKind::UntagInstance,
        name: "untag-instance",
        params: &["keys"],
        target: TargetKind::Instance,
        fits: &[OnKind::Instance],
        operation: "UntagResource",
        already: Already::Never,
        conflicts_with: None,
        resolve: resolve_untag,
    },
    ActionDescriptor {
        kind: ActionKind::MarkForCleanup,
        name: "mark-for-cleanup",
        params: &["grace"],
        target: TargetKind::Instance,
        fits: &[OnKind::Instance],
        operation: "TagResource",
        already: Already::Never,
        conflicts_with: None,
        resolve: resolve_mark,
    },
    ActionDescriptor {
        kind: ActionKind::DeleteInstance,
        name: "delete-instance",
        params: &[],
        target: TargetKind::Instance,
        fits: &[OnKind::Instance],
        operation: "DeleteWorkspaceInstance",
        already: Already::InstanceGone,
        conflicts_with: None,
        resolve: resolve_delete,
    },
    ActionDescriptor {
        kind: ActionKind::SetAuditStream,
        name: "set-audit-stream",
        params: &["fleet", "stream-arn"],
        target: TargetKind::Fleet,
        fits: &[OnKind::Fleet],
        operation: "UpdateAuditStreamConfiguration",
        already: Already::Never,
        conflicts_with: None,
        resolve: resolve_set_audit_stream,
    },
    ActionDescriptor {
        kind: ActionKind::ExpireSessions,
        name: "expire-sessions",
        params: &["portal"],
        target: TargetKind::PortalUser,
        fits: &[OnKind::AuditEvent],
        operation: "ExpireSession",
        already: Already::NoActiveSession,
        conflicts_with: None,
        resolve: resolve_expire_sessions,
    },
];

// The table is indexed by `kind as usize`: each entry must sit at its
// variant's position.
const _: () = {
    let mut i = 0;
    while i < ACTIONS.len() {
        assert!(
            ACTIONS[i].kind as usize == i,
            "ACTIONS must list the kinds in ActionKind order"
        );
        i += 1;
    }
};

impl ActionKind {
    /// All kinds, in table order.
    pub const ALL: [ActionKind; ACTIONS.len()] = {
        let mut all = [ActionKind::SignOutUser; ACTIONS.len()];
        let mut i = 0;
        while i < ACTIONS.len() {
            all[i] = ACTIONS[i].kind;
            i += 1;
        }
        all
    };

    /// Its entry in [`ACTIONS`].
    pub fn descriptor(self) -> &'static ActionDescriptor {
        &ACTIONS[self as usize]
    }

    /// The name used in policy files.
    pub fn name(self) -> &'static str {
        self.descriptor().name
    }

    /// Parse a policy name.
    pub fn from_name(s: &str) -> Option<ActionKind> {
        ACTIONS.iter().find(|d| d.name == s).map(|d| d.kind)
    }

    /// The `on` kinds this action can be used with.
    pub fn fits(self) -> &'static [OnKind] {
        self.descriptor().fits
    }

    /// The API operation it calls.
    pub fn operation(self) -> &'static str {
        self.descriptor().operation
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Default grace period of `mark-for-cleanup`.
pub const DEFAULT_GRACE: SignedDuration = SignedDuration::from_hours(24);

/// One action of a rule, with its parameters. Only the parameters its
/// kind's descriptor lists are read from the policy; the others keep their
/// defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// The kind.
    pub kind: ActionKind,
    /// Fleet ARN (default: the event's/resource's, else the function's).
    pub fleet: Option<String>,
    /// Domain (default: the event's host / the domain resource's name).
    pub domain: Option<String>,
    /// Tags to set (`tag-instance`).
    pub tags: BTreeMap<String, String>,
    /// Tag keys to remove (`untag-instance`).
    pub keys: Vec<String>,
    /// `mark-for-cleanup`: delete once marked this long and still matching
    /// (default [`DEFAULT_GRACE`]).
    pub grace: SignedDuration,
    /// `set-audit-stream`: a Kinesis stream ARN (name beginning with
    /// `AmazonWorkLink-`); `None`: the function's configured stream
    /// (fleet-sweep's `WARDEN_AUDIT_STREAM_ARN`), so a policy need not
    /// repeat a deployment's value.
    pub stream_arn: Option<String>,
    /// `revoke-domain`: how long a restore rule must leave the domain
    /// alone after warden revoked it (recorded with the revocation in the
    /// state store); `None`: until released (`warden state release`).
    pub hold: Option<SignedDuration>,
    /// `expire-sessions`: a Secure Browser portal ARN; `None`: the
    /// subject's (the access log event's `portalArn`).
    pub portal: Option<String>,
}

impl ActionSpec {
    /// An action of `kind` with every parameter at its default.
    pub fn new(kind: ActionKind) -> ActionSpec {
        ActionSpec {
            kind,
            fleet: None,
            domain: None,
            tags: BTreeMap::new(),
            keys: Vec::new(),
            grace: DEFAULT_GRACE,
            stream_arn: None,
            hold: None,
            portal: None,
        }
    }

    /// Its kind.
    pub fn kind(&self) -> ActionKind {
        self.kind
    }
}

/// What an action acts on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Target {
    /// A user of a WorkLink fleet (SignOutUser).
    FleetUser {
        /// Fleet ARN.
        fleet_arn: String,
        /// User name.
        user: String,
    },
    /// A domain of a WorkLink fleet (Revoke/RestoreDomainAccess).
    FleetDomain {
        /// Fleet ARN.
        fleet_arn: String,
        /// Domain name.
        domain: String,
    },
    /// A WorkSpaces Instance.
    Instance {
        /// The WorkSpaces Instance (`WorkspaceInstanceId`).
        instance_id: String,
    },
    /// A WorkLink fleet (UpdateAuditStreamConfiguration).
    Fleet {
        /// Fleet ARN.
        fleet_arn: String,
    },
    /// A user of a WorkSpaces Secure Browser portal (ListSessions +
    /// ExpireSession).
    PortalUser {
        /// Portal ARN (`arn:aws:workspaces-web:<region>:<account>:portal/<id>`).
        portal_arn: String,
        /// User name, as the portal's sessions carry it.
        user: String,
    },
}

impl Target {
    /// Its kind.
    pub fn kind(&self) -> TargetKind {
        match self {
            Target::FleetUser { .. } => TargetKind::FleetUser,
            Target::FleetDomain { .. } => TargetKind::FleetDomain,
            Target::Instance { .. } => TargetKind::Instance,
            Target::Fleet { .. } => TargetKind::Fleet,
            Target::PortalUser { .. } => TargetKind::PortalUser,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::FleetUser { fleet_arn, user } => write!(f, "user {user} in {fleet_arn}"),
            Target::FleetDomain { fleet_arn, domain } => {
                write!(f, "domain {domain} in {fleet_arn}")
            }
            Target::Instance { instance_id } => write!(f, "instance {instance_id}"),
            Target::Fleet { fleet_arn } => write!(f, "fleet {fleet_arn}"),
            Target::PortalUser { portal_arn, user } => write!(f, "user {user} on {portal_arn}"),
        }
    }
}

/// Parameters an executor needs beyond the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ActionParams {
    /// Nothing more.
    None,
    /// Tags to set (tag-instance, mark-for-cleanup).
    Tags {
        /// Key -> value.
        tags: BTreeMap<String, String>,
    },
    /// Tag keys to remove (untag-instance).
    TagKeys {
        /// The tag keys to remove.
        keys: Vec<String>,
    },
    /// The audit stream to set (set-audit-stream).
    AuditStream {
        /// Kinesis stream ARN.
        stream_arn: String,
    },
}

/// What the planner knows of one subject (event or resource) and of the
/// run, as the resolvers of [`ACTIONS`] read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    /// "Now" (the cleanup mark's value, the grace period's end).
    pub now: Timestamp,
    /// The policy's cleanup tag key.
    pub cleanup_tag: &'a str,
    /// The function's default fleet.
    pub default_fleet: Option<&'a str>,
    /// The function's configured audit stream.
    pub configured_stream: Option<&'a str>,
    /// The subject's fleet (non-empty), if it has one.
    pub fleet: Option<&'a str>,
    /// The event's or device's user name, as given.
    pub user: Option<&'a str>,
    /// The event's host or the domain resource's name, as given.
    pub domain: Option<&'a str>,
    /// The instance, when the subject is one.
    pub instance: Option<&'a Instance>,
    /// When the subject is a fleet resource: its current audit stream.
    pub fleet_stream: Option<Option<&'a str>>,
}

/// The planner's step for one action and one subject.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    /// Act: kind (mark-for-cleanup may become a delete), target, parameters.
    Act(ActionKind, Target, ActionParams),
    /// Nothing to do: the target is already as wanted.
    Nothing,
    /// Marked for cleanup, grace period not over.
    Waiting,
}

impl<'a> Facts<'a> {
    /// The action's fleet, else the subject's, else the function's. A
    /// subject on a Secure Browser portal has no WorkLink fleet: a WorkLink
    /// action on it (say `sign-out-user` on an access log event) is not
    /// formed, and never falls back to the default fleet.
    fn fleet(&self, explicit: &'a Option<String>) -> Result<String, String> {
        if let (None, Some(portal)) = (explicit, self.fleet.filter(|a| PortalArn::is_portal(a))) {
            return Err(format!(
                "{portal} is a WorkSpaces Secure Browser portal, not a WorkLink fleet (use expire-sessions)"
            ));
        }
        explicit
            .as_deref()
            .or(self.fleet)
            .or(self.default_fleet)
            .map(str::to_owned)
            .ok_or_else(|| {
                "no fleet ARN: not in the action, not in the event/resource, and no default fleet configured".to_owned()
            })
    }

    /// The subject instance, with an id.
    fn instance(&self) -> Result<&'a Instance, String> {
        self.instance
            .filter(|i| !i.instance_id.is_empty())
            .ok_or_else(|| "no instance id".to_owned())
    }
}

fn instance_target(i: &Instance) -> Target {
    Target::Instance {
        instance_id: i.instance_id.clone(),
    }
}

fn resolve_sign_out(spec: &ActionSpec, f: &Facts<'_>) -> Result<Resolved, String> {
    let user = f
        .user
        .filter(|u| !u.is_empty())
        .ok_or_else(|| "no user name in the event/device".to_owned())?;
    Ok(Resolved::Act(
        spec.kind,
        Target::FleetUser {
            fleet_arn: f.fleet(&spec.fleet)?,
            user: user.to_owned(),
        },
        ActionParams::None,
    ))
}

fn resolve_domain(spec: &ActionSpec, f: &Facts<'_>) -> Result<Resolved, String> {
    let d = spec
        .domain
        .as_deref()
        .or(f.domain)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| "no domain: not in the action nor in the event/resource".to_owned())?;
    Ok(Resolved::Act(
        spec.kind,
        Target::FleetDomain {
            fleet_arn: f.fleet(&spec.fleet)?,
            domain: d.to_ascii_lowercase(),
        },
        ActionParams::None,
    ))
}

fn resolve_tag(spec: &ActionSpec, f: &Facts<'_>) -> Result<Resolved, String> {
    Ok(Resolved::Act(
        spec.kind,
        instance_target(f.instance()?),
        ActionParams::Tags {
            tags: spec.tags.clone(),
        },
    ))
}

/// Only the keys the instance carries; nothing when it carries none.
fn resolve_untag(spec: &ActionSpec, f: &Facts<'_>) -> Result<Resolved, String> {
    let i = f.instance()?;
    let present: Vec<String> = spec
        .keys
        .iter()
        .filter(|k| i.tags.contains_key(*k))
        .cloned()
        .collect();
    Ok(if present.is_empty() {
        Resolved::Nothing
    } else {
        Resolved::Act(
            spec.kind,
            instance_target(i),
            ActionParams::TagKeys { keys: present },
        )
    })
}

/// Unmarked: mark now. Marked for at least the grace period: delete.
/// Otherwise: wait.
fn resolve_mark(spec: &ActionSpec, f: &Facts<'_>) -> Result<Resolved, String> {
    let i = f.instance()?;
    Ok(match i.cleanup_marked_at(f.cleanup_tag) {
        None => Resolved::Act(
            ActionKind::MarkForCleanup,
            instance_target(i),
            ActionParams::Tags {
                tags: BTreeMap::from([(f.cleanup_tag.to_owned(), f.now.to_string())]),
            },
        ),
        Some(at) if f.now.duration_since(at) >= spec.grace => Resolved::Act(
            ActionKind::DeleteInstance,
            instance_target(i),
            ActionParams::None,
        ),
        Some(_) => Resolved::Waiting,
    })
}

fn resolve_delete(spec: &ActionSpec, f: &Facts<'_>) -> Result<Resolved, String> {
    Ok(Resolved::Act(
        spec.kind,
        instance_target(f.instance()?),
        ActionParams::None,
    ))
}

/// The action's stream, else the configured one; nothing when the fleet
/// already sends there.
fn resolve_set_audit_stream(spec: &ActionSpec, f: &Facts<'_>) -> Result<Resolved, String> {
    let stream_arn = spec
        .stream_arn
        .as_deref()
        .or(f.configured_stream)
        .ok_or_else(|| {
            "no stream ARN: not in the action, and no audit stream configured (WARDEN_AUDIT_STREAM_ARN)".to_owned()
        })?;
    if f.fleet_stream == Some(Some(stream_arn)) {
        return Ok(Resolved::Nothing);
    }
    Ok(Resolved::Act(
        spec.kind,
        Target::Fleet {
            fleet_arn: f.fleet(&spec.fleet)?,
        },
        ActionParams::AuditStream {
            stream_arn: stream_arn.to_owned(),
        },
    ))
}

/// The action's portal, else the subject's when it is a Secure Browser
/// portal ARN (an access log event's `portalArn` reads as its fleet): no
/// configured portal list is needed to act.
fn resolve_expire_sessions(spec: &ActionSpec, f: &Facts<'_>) -> Result<Resolved, String> {
    let user = f
        .user
        .filter(|u| !u.is_empty())
        .ok_or_else(|| "no user name in the event/session".to_owned())?;
    let portal = spec
        .portal
        .as_deref()
        .or(f.fleet.filter(|a| PortalArn::is_portal(a)))
        .ok_or_else(|| {
            "no portal ARN: not in the action, and the event/resource names no Secure Browser portal (portalArn)".to_owned()
        })?;
    Ok(Resolved::Act(
        spec.kind,
        Target::PortalUser {
            portal_arn: portal.to_owned(),
            user: user.to_owned(),
        },
        ActionParams::None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compiler flags this match when a variant is added: give the new
    /// kind its descriptor, then its position here.
    fn position(kind: ActionKind) -> usize {
        match kind {
            ActionKind::SignOutUser => 0,
            ActionKind::RevokeDomain => 1,
            ActionKind::RestoreDomain => 2,
            ActionKind::TagInstance => 3,
            ActionKind::UntagInstance => 4,
            ActionKind::MarkForCleanup => 5,
            ActionKind::DeleteInstance => 6,
            ActionKind::SetAuditStream => 7,
            ActionKind::ExpireSessions => 8,
        }
    }

    #[test]
    fn every_kind_has_its_descriptor_and_names_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for (i, d) in ACTIONS.iter().enumerate() {
            assert_eq!(position(d.kind), i, "{}", d.name);
            assert_eq!(d.kind.descriptor().name, d.name);
            assert_eq!(ActionKind::from_name(d.name), Some(d.kind));
            assert_eq!(d.kind.to_string(), d.name);
            // Serde (logs, reports) writes the same name.
            assert_eq!(serde_json::to_value(d.kind).unwrap(), d.name);
            assert!(seen.insert(d.name), "duplicate name {}", d.name);
            assert!(!d.fits.is_empty() && !d.operation.is_empty(), "{}", d.name);
        }
        assert_eq!(ActionKind::ALL.len(), ACTIONS.len());
        assert_eq!(ActionKind::from_name("sign-out"), None);
    }

    #[test]
    fn conflicts_are_mutual() {
        for d in ACTIONS {
            if let Some(other) = d.conflicts_with {
                assert_eq!(other.descriptor().conflicts_with, Some(d.kind));
                assert_eq!(other.descriptor().target, d.target);
            }
        }
    }

    const PORTAL: &str =
        "arn:aws:workspaces-web:us-east-1:123456789012:portal/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

    /// The portal is the action's, else the event's `portalArn`; a WorkLink
    /// fleet is no portal.
    #[test]
    fn expire_sessions_takes_the_events_portal() {
        let spec = ActionSpec::new(ActionKind::ExpireSessions);
        let on_portal = Facts {
            fleet: Some(PORTAL),
            ..facts(None)
        };
        assert_eq!(
            resolve_expire_sessions(&spec, &on_portal),
            Ok(Resolved::Act(
                ActionKind::ExpireSessions,
                Target::PortalUser {
                    portal_arn: PORTAL.into(),
                    user: "alice".into()
                },
                ActionParams::None
            ))
        );
        // A WorkLink event: its fleet is not a portal, the default fleet
        // neither.
        let e = resolve_expire_sessions(&spec, &facts(None)).unwrap_err();
        assert!(e.contains("no portal ARN"), "{e}");
        // ... and a portal is no WorkLink fleet, default fleet or not.
        let e =
            resolve_sign_out(&ActionSpec::new(ActionKind::SignOutUser), &on_portal).unwrap_err();
        assert!(e.contains("not a WorkLink fleet"), "{e}");
        let mut explicit = spec.clone();
        explicit.portal = Some(PORTAL.replace("0b1c", "ffff"));
        let Ok(Resolved::Act(_, Target::PortalUser { portal_arn, .. }, _)) =
            resolve_expire_sessions(&explicit, &on_portal)
        else {
            panic!("no portal target");
        };
        assert!(portal_arn.ends_with("portal/ffff2d3e-4f50-6172-8394-a5b6c7d8e9f0"));
    }

    fn facts(instance: Option<&Instance>) -> Facts<'_> {
        Facts {
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            cleanup_tag: "mark",
            default_fleet: Some("arn:aws:worklink::123456789012:fleet/default"),
            configured_stream: Some("arn:aws:kinesis:us-east-1:1:stream/AmazonWorkLink-a"),
            fleet: Some("arn:aws:worklink::123456789012:fleet/corp"),
            user: Some("alice"),
            domain: Some("Wiki.Example.com"),
            instance,
            fleet_stream: None,
        }
    }

    #[test]
    fn resolvers_give_the_descriptors_target_kind() {
        let inst = Instance {
            instance_id: "wsinst-12345678".into(),
            tags: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            ..Instance::default()
        };
        for d in ACTIONS {
            let mut spec = ActionSpec::new(d.kind);
            spec.keys = vec!["k".into()];
            spec.portal = Some(PORTAL.into());
            let f = facts(Some(&inst));
            match (d.resolve)(&spec, &f) {
                Ok(Resolved::Act(_, target, _)) => {
                    assert_eq!(target.kind(), d.target, "{}", d.name)
                }
                other => panic!("{}: {other:?}", d.name),
            }
        }
    }

    #[test]
    fn resolvers_say_what_is_missing() {
        let none = Facts {
            fleet: None,
            default_fleet: None,
            user: None,
            domain: None,
            configured_stream: None,
            ..facts(None)
        };
        let reason = |kind: ActionKind| {
            (kind.descriptor().resolve)(&ActionSpec::new(kind), &none).unwrap_err()
        };
        assert!(reason(ActionKind::SignOutUser).contains("no user name"));
        assert!(reason(ActionKind::RevokeDomain).contains("no domain"));
        assert!(reason(ActionKind::DeleteInstance).contains("no instance id"));
        assert!(reason(ActionKind::SetAuditStream).contains("no stream ARN"));
        assert!(reason(ActionKind::ExpireSessions).contains("no user name"));
        let user_only = Facts {
            user: Some("alice"),
            ..none
        };
        let e = resolve_expire_sessions(&ActionSpec::new(ActionKind::ExpireSessions), &user_only)
            .unwrap_err();
        assert!(e.contains("no portal ARN"), "{e}");
        let mut spec = ActionSpec::new(ActionKind::RevokeDomain);
        spec.domain = Some("wiki.example.com".into());
        let e = (resolve_domain)(&spec, &none).unwrap_err();
        assert!(e.contains("no fleet ARN"), "{e}");
    }

    #[test]
    fn domains_are_lowercased_and_a_fleet_on_its_stream_needs_nothing() {
        let f = facts(None);
        let spec = ActionSpec::new(ActionKind::RevokeDomain);
        let Ok(Resolved::Act(_, Target::FleetDomain { domain, fleet_arn }, _)) =
            resolve_domain(&spec, &f)
        else {
            panic!("no domain target");
        };
        assert_eq!(domain, "wiki.example.com");
        assert!(fleet_arn.ends_with("fleet/corp"));
        let on_stream = Facts {
            fleet_stream: Some(f.configured_stream),
            ..f
        };
        let spec = ActionSpec::new(ActionKind::SetAuditStream);
        assert_eq!(
            resolve_set_audit_stream(&spec, &on_stream),
            Ok(Resolved::Nothing)
        );
    }
}
