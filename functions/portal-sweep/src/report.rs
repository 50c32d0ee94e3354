//! What a sweep returns: a JSON summary per portal (the Lambda response) and
//! a human rendering of it (the demo, the CLI).

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
    /// Portals swept.
    pub portals_swept: usize,
    /// Portals with at least one failure.
    pub portals_failed: usize,
    /// Per portal, in the configured order.
    pub portals: Vec<PortalReport>,
    /// Actions refused: allow-lists, caps, a stream Secure Browser cannot
    /// write to.
    pub refusals: Vec<RefusalReport>,
    /// Rule actions that could not be formed (e.g. a session without a user).
    pub skipped: Vec<SkippedReport>,
    /// Sums over the portals.
    pub totals: Totals,
}

/// Sums over the portals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub sessions_examined: usize,
    pub sessions_described: usize,
    pub users_expired: usize,
    pub access_logging_set: usize,
    pub dry_run_actions: usize,
    pub findings: usize,
    pub failures: usize,
    pub refusals: usize,
}

/// One portal.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PortalReport {
    pub portal_arn: String,
    pub display_name: Option<String>,
    /// portalStatus from GetPortal.
    pub status: Option<String>,
    /// userAccessLoggingSettingsArn as found (before any change).
    pub access_logging_settings_arn: Option<String>,
    /// The stream those settings send to, as found.
    pub access_log_stream_arn: Option<String>,
    /// ipAccessSettingsArn as found.
    pub ip_access_settings_arn: Option<String>,
    /// Active sessions ListSessions returned and rules examined.
    pub sessions_examined: usize,
    /// Sessions GetSession was called for (a rule reads `client_ips`).
    pub sessions_described: usize,
    /// Users whose active sessions were ended (done, or none left).
    pub users_expired: Vec<String>,
    /// The stream user access logging was pointed at, when set this run.
    pub access_logging_set: Option<String>,
    /// Actions planned as dry-run: what would have been done.
    pub dry_run_actions: Vec<String>,
    /// Every action for this portal with its outcome (`done`, `already`,
    /// `dry-run`, `failed-permanent`, `failed-transient`, `not-started`).
    pub actions: Vec<ActionLine>,
    /// What needs a human: logging and IP access problems.
    pub findings: Vec<Finding>,
    /// Calls or actions that failed for this portal.
    pub failures: Vec<Failure>,
    /// Why parts of the portal were not examined.
    pub notes: Vec<String>,
}

/// One action and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionLine {
    /// Action kind (`expire-sessions`, `set-access-logging`).
    pub action: String,
    /// Its target within the portal: a user, or `portal`.
    pub subject: String,
    pub outcome: String,
    /// The rules that asked for it.
    pub rules: Vec<String>,
    /// How many sessions / portals caused it.
    pub causes: usize,
    /// Stream set, "already" detail, or error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Something a human should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "kebab-case")]
pub enum Finding {
    /// An Active portal logs user access nowhere.
    NoAccessLogging {
        /// The stream it should use, when configured.
        expected: Option<String>,
    },
    /// An Active portal logs user access to another stream.
    AccessLogStreamMismatch {
        /// The stream its settings send to (None: the settings could not
        /// be read).
        found: Option<String>,
        expected: String,
    },
    /// An Active portal without IP access settings: reachable from any
    /// address.
    NoIpAccessSettings,
}

impl Finding {
    /// The kebab-case kind (metric dimension).
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::NoAccessLogging { .. } => "no-access-logging",
            Finding::AccessLogStreamMismatch { .. } => "access-log-stream-mismatch",
            Finding::NoIpAccessSettings => "no-ip-access-settings",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::NoAccessLogging { expected: Some(e) } => {
                write!(f, "no user access logging (expected {e})")
            }
            Finding::NoAccessLogging { expected: None } => write!(f, "no user access logging"),
            Finding::AccessLogStreamMismatch { found, expected } => write!(
                f,
                "user access logs go to {}, expected {expected}",
                found.as_deref().unwrap_or("(unreadable settings)")
            ),
            Finding::NoIpAccessSettings => {
                write!(f, "no IP access settings: reachable from any address")
            }
        }
    }
}

/// A call or an action that failed (shared with the other sweep).
pub use warden_core::aws::executor::ReportedFailure as Failure;

/// A refused action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusalReport {
    pub action: String,
    pub target: String,
    pub portal_arn: Option<String>,
    pub rules: Vec<String>,
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
    /// The portal's report, if it was swept.
    pub fn portal(&self, arn: &str) -> Option<&PortalReport> {
        self.portals.iter().find(|p| p.portal_arn == arn)
    }

    /// A human rendering, a few lines per portal.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "portal-sweep at {}{}",
            self.now.map(|t| t.to_string()).unwrap_or_default(),
            if self.dry_run { " (dry-run)" } else { "" }
        )?;
        writeln!(
            out,
            "portals: {} swept, {} with failures",
            self.portals_swept, self.portals_failed
        )?;
        for p in &self.portals {
            writeln!(
                out,
                "- {} [{}] {}",
                p.display_name.as_deref().unwrap_or("?"),
                p.status.as_deref().unwrap_or("?"),
                p.portal_arn
            )?;
            writeln!(
                out,
                "    access logs: {}; IP access settings: {}",
                p.access_log_stream_arn.as_deref().unwrap_or("(none)"),
                p.ip_access_settings_arn.as_deref().unwrap_or("(none)")
            )?;
            writeln!(
                out,
                "    active sessions: {} examined, {} described",
                p.sessions_examined, p.sessions_described
            )?;
            for a in p.actions.iter().filter(|a| a.outcome != "dry-run") {
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
            for a in &p.dry_run_actions {
                writeln!(out, "    would: {a}")?;
            }
            for x in &p.findings {
                writeln!(out, "    finding: {x}")?;
            }
            for x in &p.failures {
                writeln!(out, "    FAILED: {x}")?;
            }
            for n in &p.notes {
                writeln!(out, "    note: {n}")?;
            }
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
        let t = &self.totals;
        writeln!(
            out,
            "totals: {} sessions examined ({} described); {} users' sessions expired, {} portals' logging set; {} dry-run actions; {} findings, {} refusals, {} failures",
            t.sessions_examined,
            t.sessions_described,
            t.users_expired,
            t.access_logging_set,
            t.dry_run_actions,
            t.findings,
            t.refusals,
            t.failures
        )
    }
}
