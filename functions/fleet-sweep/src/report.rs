//! What a sweep returns: a JSON summary per fleet (the Lambda response) and a
//! human rendering of it (the demo, the CLI).

use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

/// The whole sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepReport {
    /// The time rules were evaluated at.
    pub now: Option<Timestamp>,
    /// Whether the run was forced to dry-run (config or override).
    pub dry_run: bool,
    /// Fleets ListFleets returned.
    pub fleets_listed: usize,
    /// Fleets swept (after the fleet filter).
    pub fleets_swept: usize,
    /// Fleets with at least one failure.
    pub fleets_failed: usize,
    /// Per fleet, in ARN order.
    pub fleets: Vec<FleetReport>,
    /// Fleets asked for (filter) that ListFleets did not return.
    pub unknown_fleets: Vec<String>,
    /// Actions refused: allow-lists, caps, conflicts, bad audit streams.
    pub refusals: Vec<RefusalReport>,
    /// Rule actions that could not be formed (e.g. a device without a user).
    pub skipped: Vec<SkippedReport>,
    /// Failures not tied to one fleet (ListFleets, the state table's run
    /// lease).
    pub failures: Vec<Failure>,
    /// Restores not done because warden itself revoked the domain (state
    /// table): until released or until the revoke's hold has passed.
    pub held: Vec<HeldReport>,
    /// Why this run did nothing at all (another sweep holds the run lease).
    pub not_run: Option<String>,
    /// Sums over the fleets.
    pub totals: Totals,
}

/// A restore left undone: warden revoked the domain (`docs/state.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldReport {
    pub fleet_arn: String,
    pub domain: String,
    /// The restore rules.
    pub rules: Vec<String>,
    /// The rule that revoked it, when and why.
    pub revoked_by: String,
    pub revoked_at: Timestamp,
    pub cause: String,
    /// Until when; `None`: until `warden state release domain DOMAIN`.
    pub hold_until: Option<Timestamp>,
}

impl std::fmt::Display for HeldReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "domain {} in {}: revoked by warden (rule {}, {}, cause {}); ",
            self.domain, self.fleet_arn, self.revoked_by, self.revoked_at, self.cause
        )?;
        match self.hold_until {
            Some(t) => write!(f, "held until {t}"),
            None => write!(
                f,
                "held until released (`warden state release domain {}`)",
                self.domain
            ),
        }
    }
}

/// Sums over the fleets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub devices_examined: usize,
    pub domains_examined: usize,
    pub users_signed_out: usize,
    pub domains_revoked: usize,
    pub domains_restored: usize,
    pub audit_streams_set: usize,
    pub dry_run_actions: usize,
    pub findings: usize,
    pub failures: usize,
    pub refusals: usize,
}

/// One fleet.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetReport {
    pub fleet_arn: String,
    pub fleet_name: Option<String>,
    /// FleetStatus from ListFleets.
    pub status: Option<String>,
    /// AuditStreamArn as found (before any change).
    pub audit_stream_arn: Option<String>,
    /// Devices ListDevices returned.
    pub devices_listed: usize,
    /// Devices described and evaluated.
    pub devices_examined: usize,
    /// Domains ListDomains returned.
    pub domains_listed: usize,
    /// Domains evaluated (all but the transitional ones).
    pub domains_examined: usize,
    /// Domains in a transitional state (ASSOCIATING, DISASSOCIATING): left
    /// alone this run.
    pub domains_left_alone: Vec<DomainState>,
    /// Users signed out (done, or already signed out).
    pub users_signed_out: Vec<String>,
    /// Domains whose access was revoked (or already was).
    pub domains_revoked: Vec<String>,
    /// Domains whose access was restored (or already was).
    pub domains_restored: Vec<String>,
    /// The stream the fleet was pointed at, when set this run.
    pub audit_stream_set: Option<String>,
    /// Actions planned as dry-run: what would have been done.
    pub dry_run_actions: Vec<String>,
    /// Every action for this fleet with its outcome (`done`, `already`,
    /// `dry-run`, `failed-permanent`, `failed-transient`, `not-started`).
    pub actions: Vec<ActionLine>,
    /// What needs a human: audit-stream problems, stuck domains, ...
    pub findings: Vec<Finding>,
    /// Calls or actions that failed for this fleet.
    pub failures: Vec<Failure>,
    /// Why parts of the fleet were not examined (fleet not ACTIVE, no rules).
    pub notes: Vec<String>,
}

/// One action and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionLine {
    /// Action kind (`sign-out-user`, ...).
    pub action: String,
    /// Its target within the fleet: a user, a domain, or `fleet`.
    pub subject: String,
    pub outcome: String,
    /// The rules that asked for it.
    pub rules: Vec<String>,
    /// How many devices / domains / fleets caused it.
    pub causes: usize,
    /// Stream set, "already" detail, or error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A domain and its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainState {
    pub domain: String,
    pub status: String,
}

/// Something a human should look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "finding", rename_all = "kebab-case")]
pub enum Finding {
    /// An ACTIVE fleet sends its audit events nowhere.
    NoAuditStream {
        /// The stream it should use, when known.
        expected: Option<String>,
    },
    /// An ACTIVE fleet sends its audit events to another stream.
    AuditStreamMismatch { found: String, expected: String },
    /// A domain PENDING_VALIDATION or FAILED_* for longer than allowed
    /// (age since its CreatedTime: the API gives no status-change time).
    DomainStuck {
        domain: String,
        status: String,
        created: Timestamp,
        age: String,
    },
    /// The fleet itself failed to create or delete.
    FleetFailed { status: String },
    /// An ACTIVE device whose OS version cannot be read as a version: no
    /// minimum-version rule can judge it.
    UnreadableOsVersion {
        device_id: String,
        user: Option<String>,
        os_version: Option<String>,
    },
}

impl Finding {
    /// The kebab-case kind (metric dimension).
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::NoAuditStream { .. } => "no-audit-stream",
            Finding::AuditStreamMismatch { .. } => "audit-stream-mismatch",
            Finding::DomainStuck { .. } => "domain-stuck",
            Finding::FleetFailed { .. } => "fleet-failed",
            Finding::UnreadableOsVersion { .. } => "unreadable-os-version",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::NoAuditStream { expected: Some(e) } => {
                write!(f, "no audit stream (expected {e})")
            }
            Finding::NoAuditStream { expected: None } => write!(f, "no audit stream"),
            Finding::AuditStreamMismatch { found, expected } => {
                write!(f, "audit stream is {found}, expected {expected}")
            }
            Finding::DomainStuck {
                domain,
                status,
                age,
                ..
            } => write!(f, "domain {domain} {status} for {age}"),
            Finding::FleetFailed { status } => write!(f, "fleet is {status}"),
            Finding::UnreadableOsVersion {
                device_id,
                os_version,
                ..
            } => write!(
                f,
                "device {device_id}: OS version {} is not a version",
                os_version.as_deref().unwrap_or("(absent)")
            ),
        }
    }
}

/// A call or an action that failed (shared with the other sweep).
pub use warden_core::aws::executor::ReportedFailure as Failure;

/// A refused action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusalReport {
    /// Action kind (`sign-out-user`, ...).
    pub action: String,
    /// Its target, e.g. `user bob in arn:...`.
    pub target: String,
    /// The fleet it was for.
    pub fleet_arn: Option<String>,
    pub rules: Vec<String>,
    /// Why, in words.
    pub reason: String,
}

/// A rule action that could not be formed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedReport {
    pub rule: String,
    pub action: String,
    pub subject: String,
    pub reason: String,
}

impl SweepReport {
    /// The fleet's report, if it was swept.
    pub fn fleet(&self, arn: &str) -> Option<&FleetReport> {
        self.fleets.iter().find(|f| f.fleet_arn == arn)
    }

    /// A human rendering, a few lines per fleet.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "fleet-sweep at {}{}",
            self.now.map(|t| t.to_string()).unwrap_or_default(),
            if self.dry_run { " (dry-run)" } else { "" }
        )?;
        writeln!(
            out,
            "fleets: {} listed, {} swept, {} with failures",
            self.fleets_listed, self.fleets_swept, self.fleets_failed
        )?;
        for f in &self.fleets {
            writeln!(
                out,
                "- {} [{}] {}",
                f.fleet_name.as_deref().unwrap_or("?"),
                f.status.as_deref().unwrap_or("?"),
                f.fleet_arn
            )?;
            writeln!(
                out,
                "    audit stream: {}",
                f.audit_stream_arn.as_deref().unwrap_or("(none)")
            )?;
            writeln!(
                out,
                "    devices: {} listed, {} examined; domains: {} listed, {} examined",
                f.devices_listed, f.devices_examined, f.domains_listed, f.domains_examined
            )?;
            for d in &f.domains_left_alone {
                writeln!(out, "    left alone: domain {} [{}]", d.domain, d.status)?;
            }
            for a in f.actions.iter().filter(|a| a.outcome != "dry-run") {
                writeln!(
                    out,
                    "    {}: {} {}{} (rules: {}; {} cause{})",
                    a.outcome,
                    a.action,
                    a.subject,
                    a.detail
                        .as_deref()
                        .map(|d| format!(" [{d}]"))
                        .unwrap_or_default(),
                    a.rules.join(", "),
                    a.causes,
                    if a.causes == 1 { "" } else { "s" }
                )?;
            }
            for a in &f.dry_run_actions {
                writeln!(out, "    would: {a}")?;
            }
            for x in &f.findings {
                writeln!(out, "    finding: {x}")?;
            }
            for x in &f.failures {
                writeln!(out, "    FAILED: {x}")?;
            }
            for n in &f.notes {
                writeln!(out, "    note: {n}")?;
            }
        }
        for arn in &self.unknown_fleets {
            writeln!(out, "unknown fleet (not returned by ListFleets): {arn}")?;
        }
        for r in &self.refusals {
            writeln!(
                out,
                "REFUSED {} {} (rules: {}): {}",
                r.action,
                r.target,
                r.rules.join(", "),
                r.reason
            )?;
        }
        for s in &self.skipped {
            writeln!(
                out,
                "skipped {} of rule {} for {}: {}",
                s.action, s.rule, s.subject, s.reason
            )?;
        }
        for h in &self.held {
            writeln!(out, "not restored (rules: {}): {h}", h.rules.join(", "))?;
        }
        for x in &self.failures {
            writeln!(out, "FAILED: {x}")?;
        }
        if let Some(why) = &self.not_run {
            writeln!(out, "not run: {why}")?;
        }
        let t = &self.totals;
        writeln!(
            out,
            "totals: {} devices and {} domains examined; {} users signed out, {} domains revoked, {} restored, {} audit streams set; {} dry-run actions; {} findings, {} refusals, {} failures",
            t.devices_examined,
            t.domains_examined,
            t.users_signed_out,
            t.domains_revoked,
            t.domains_restored,
            t.audit_streams_set,
            t.dry_run_actions,
            t.findings,
            t.refusals,
            t.failures
        )
    }
}
