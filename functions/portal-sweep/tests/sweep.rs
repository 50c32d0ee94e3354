//! portal-sweep against the emulator over real HTTP (issue #12 item 5):
//! 3 portals, 300 sessions, one portal without user access logging (and
//! without IP access settings), one that answers AccessDeniedException (the
//! emulator's `access_denied` injection); the shipped `policies/default.yaml`.
//!
//! The expected calls come from how the fixture is built (which sessions are
//! stale, deny-listed or from outside, and on which portal), never from the
//! sweep's own output.

use std::collections::{BTreeMap, BTreeSet};

use portal_sweep::{Finding, SweepConfig, SweepError, SweepOutcome, SweepRequest, Sweeper};
use serde_json::{json, Value};
use warden_core::aws::deadline::{Deadline, FailureKind};
use warden_core::aws::{AwsSettings, Clients};
use warden_core::jiff::{SignedDuration, Timestamp};
use warden_core::Policy;
use warden_emulator::{CallRecord, Emulator, Fixture, RunningEmulator, Shared};

const NOW: &str = "2026-11-23T12:00:00Z";
const ACCOUNT: &str = "123456789012";
const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-warden";
const SESSIONS_PER_PORTAL: usize = 100;
const PAGE: i32 = 25;
const CHANGING: [&str; 3] = [
    "ExpireSession",
    "CreateUserAccessLoggingSettings",
    "AssociateUserAccessLoggingSettings",
];

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn portal_id(p: usize) -> String {
    format!("{p:08x}-aaaa-4000-8000-000000000000")
}

fn portal_arn(p: usize) -> String {
    format!(
        "arn:aws:workspaces-web:us-east-1:{ACCOUNT}:portal/{}",
        portal_id(p)
    )
}

fn settings_arn(kind: &str, n: usize) -> String {
    format!("arn:aws:workspaces-web:us-east-1:{ACCOUNT}:{kind}/{n:08x}-bbbb-4000-8000-000000000000")
}

fn session_id(p: usize, k: usize) -> String {
    format!("{p:08x}-cccc-4000-8000-{k:012x}")
}

/// One session of the fixture, and what the default policy must make of it.
struct S {
    portal: usize,
    k: usize,
    user: String,
    active: bool,
    age_hours: i64,
    ip: &'static str,
}

/// Portal 0: logging to the configured stream, IP access settings.
/// Portal 1: no logging, no IP access settings.
/// Portal 2: every call denied (AccessDeniedException).
/// Sessions 0..100 on each; the first few are special, the rest are users
/// `userNNN` on the office network, started 1 to 10 hours ago, and every
/// tenth of those is already Terminated.
fn sessions() -> Vec<S> {
    let mut out = Vec::new();
    for portal in 0..3 {
        let special: Vec<(&str, bool, i64, &str)> = vec![
            // (user, active, age in hours, client address)
            ("stale-a", true, 13, "10.1.0.1"),
            // The same user's fresh session: expire-sessions ends both.
            ("stale-a", true, 1, "10.1.0.2"),
            ("stale-b", true, 30, "192.168.4.4"),
            ("departed-carl", true, 0, "10.1.0.3"),
            ("outsider", true, 2, "203.0.113.50"),
            // Stale, but on the allow-list: refused, never expired.
            ("breakglass-ops", true, 40, "10.1.0.4"),
            // Stale but already ended: not listed as Active.
            ("ended-long-ago", false, 50, "10.1.0.5"),
            // Stale on portal 0 only (fresh elsewhere).
            ("roamer", true, if portal == 0 { 20 } else { 1 }, "10.1.0.6"),
        ];
        for (k, (user, active, age, ip)) in special.into_iter().enumerate() {
            out.push(S {
                portal,
                k,
                user: user.into(),
                active,
                age_hours: age,
                ip,
            });
        }
        let first = out.len() - portal * SESSIONS_PER_PORTAL;
        for k in first..SESSIONS_PER_PORTAL {
            out.push(S {
                portal,
                k,
                user: format!("user{k:03}@example.com"),
                active: k % 10 != 0,
                age_hours: 1 + (k as i64 % 10),
                ip: "10.20.30.40",
            });
        }
    }
    out
}

/// What the default policy must expire: (portal, user) of active sessions
/// that are stale (> 12 h), deny-listed or from outside the allowed
/// networks, minus the allow-listed; and every active session of those.
fn expected_targets(all: &[S], portal: usize) -> BTreeSet<String> {
    all.iter()
        .filter(|s| s.portal == portal && s.active && !s.user.starts_with("breakglass-"))
        .filter(|s| s.age_hours > 12 || s.user.starts_with("departed-") || s.ip.starts_with("203."))
        .map(|s| s.user.clone())
        .collect()
}

fn fixture(all: &[S]) -> Fixture {
    let now = now();
    let mut portals = Vec::new();
    for p in 0..3 {
        let sessions: Vec<Value> = all
            .iter()
            .filter(|s| s.portal == p)
            .map(|s| {
                json!({
                    "session_id": session_id(p, s.k),
                    "username": s.user,
                    "status": if s.active { "Active" } else { "Terminated" },
                    "start_time": now - SignedDuration::from_hours(s.age_hours) - SignedDuration::from_mins(1),
                    "client_ip_addresses": [s.ip],
                })
            })
            .collect();
        let mut portal = json!({
            "arn": portal_arn(p),
            "display_name": format!("portal {p}"),
            "status": "Active",
            "sessions": sessions,
        });
        if p != 1 {
            portal["user_access_logging_settings_arn"] =
                json!(settings_arn("userAccessLoggingSettings", 1));
            portal["ip_access_settings_arn"] = json!(settings_arn("ipAccessSettings", 1));
        }
        portals.push(portal);
    }
    let doc = json!({
        "clock": NOW,
        "workspaces_web": {
            "portals": portals,
            "user_access_logging_settings": [
                {"arn": settings_arn("userAccessLoggingSettings", 1), "kinesis_stream_arn": STREAM}
            ],
            "ip_access_settings": [
                {"arn": settings_arn("ipAccessSettings", 1), "ip_rules": [{"ip_range": "10.0.0.0/8"}]}
            ],
            "access_denied": [{"resources": [portal_arn(2)]}],
        }
    });
    Fixture::from_json(&doc.to_string()).unwrap()
}

fn config() -> SweepConfig {
    SweepConfig {
        dry_run: false,
        portal_arns: (0..3).map(portal_arn).collect(),
        access_log_stream: Some(STREAM.into()),
        page_size: PAGE,
        ..SweepConfig::default()
    }
}

fn default_policy() -> Policy {
    warden_core::shell::default_policy().unwrap()
}

async fn start(fixture: Fixture) -> RunningEmulator {
    Emulator::new(fixture).start_local().await.unwrap()
}

async fn sweeper(emu: &RunningEmulator, config: SweepConfig) -> Sweeper {
    let clients = Clients::local(&emu.endpoint_url(), AwsSettings::default().max_attempts).await;
    Sweeper::new(default_policy(), &clients, config).unwrap()
}

async fn sweep(sweeper: &Sweeper) -> SweepOutcome {
    sweeper
        .run(&SweepRequest::default(), now(), Deadline::none())
        .await
}

fn calls(shared: &Shared) -> Vec<CallRecord> {
    shared.calls.snapshot()
}

fn param(c: &CallRecord, key: &str) -> String {
    c.params[key].as_str().unwrap_or_default().to_string()
}

fn count(calls: &[CallRecord], op: &str, f: impl Fn(&CallRecord) -> bool) -> usize {
    calls.iter().filter(|c| c.operation == op && f(c)).count()
}

fn active_ids(shared: &Shared, p: usize) -> BTreeSet<String> {
    let web = shared.web();
    web.portal(&portal_arn(p))
        .unwrap()
        .sessions
        .iter()
        .filter(|s| s.status.as_str() == "Active")
        .map(|s| s.session_id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeps_three_portals_with_exactly_the_expected_calls_and_a_second_run_changes_nothing() {
    let all = sessions();
    assert_eq!(all.len(), 300);
    let emu = start(fixture(&all)).await;
    let shared = emu.shared().clone();
    let sweeper = sweeper(&emu, config()).await;
    let before: Vec<BTreeSet<String>> = (0..3).map(|p| active_ids(&shared, p)).collect();

    let report = sweep(&sweeper).await.report;
    let log = calls(&shared);

    // Gathering: every portal once; logging settings of portal 0 (portal 1
    // has none, portal 2 is denied); sessions of 0 and 1 in pages of 25;
    // GetSession per active session (the default policy reads client_ips).
    let ops: BTreeMap<String, usize> = log.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c.operation.clone()).or_default() += 1;
        m
    });
    assert_eq!(count(&log, "GetPortal", |_| true), 3, "{ops:?}");
    assert_eq!(
        count(&log, "GetPortal", |c| c.error.as_deref()
            == Some("AccessDeniedException")),
        1
    );
    assert_eq!(
        count(&log, "GetUserAccessLoggingSettings", |_| true),
        1,
        "{ops:?}"
    );
    for (p, active) in before.iter().enumerate().take(2) {
        let n = active.len();
        let pages = n.div_ceil(PAGE as usize);
        assert_eq!(
            count(&log, "ListSessions", |c| param(c, "portalId")
                == portal_id(p)
                && c.params.get("username").is_none()),
            pages,
            "portal {p}: {n} active sessions"
        );
        assert_eq!(
            count(&log, "GetSession", |c| param(c, "portalId") == portal_id(p)),
            n,
            "portal {p}"
        );
    }
    assert_eq!(
        count(&log, "ListSessions", |c| param(c, "portalId")
            == portal_id(2)),
        0,
        "nothing more on the denied portal"
    );

    // Acting: for each targeted user, their sessions listed and each active
    // one expired; on the right portal only.
    let mut expected_expired = BTreeSet::new();
    for p in 0..2 {
        let targets = expected_targets(&all, p);
        assert!(targets.contains("roamer") == (p == 0));
        let listed: BTreeSet<String> = log
            .iter()
            .filter(|c| c.operation == "ListSessions" && param(c, "portalId") == portal_id(p))
            .filter_map(|c| {
                c.params
                    .get("username")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(
            listed, targets,
            "portal {p}: users whose sessions were listed"
        );
        for s in all
            .iter()
            .filter(|s| s.portal == p && s.active && targets.contains(&s.user))
        {
            expected_expired.insert((portal_id(p), session_id(p, s.k)));
        }
    }
    let expired: BTreeSet<(String, String)> = log
        .iter()
        .filter(|c| c.operation == "ExpireSession")
        .map(|c| (param(c, "portalId"), param(c, "sessionId")))
        .collect();
    assert_eq!(expired, expected_expired);
    assert_eq!(
        count(&log, "ExpireSession", |_| true),
        expected_expired.len(),
        "each once"
    );
    // stale-a's two sessions, stale-b, departed-carl, outsider, roamer (portal 0 only).
    assert_eq!(expected_expired.len(), 6 + 5);

    // Logging: portal 1 gets the existing settings for the stream (listed,
    // not created).
    let assoc: Vec<&CallRecord> = log
        .iter()
        .filter(|c| c.operation == "AssociateUserAccessLoggingSettings")
        .collect();
    assert_eq!(assoc.len(), 1, "{ops:?}");
    assert_eq!(param(assoc[0], "portalArn"), portal_arn(1));
    assert_eq!(
        param(assoc[0], "userAccessLoggingSettingsArn"),
        settings_arn("userAccessLoggingSettings", 1)
    );
    assert_eq!(count(&log, "CreateUserAccessLoggingSettings", |_| true), 0);
    assert_eq!(count(&log, "ListUserAccessLoggingSettings", |_| true), 1);
    // Nothing else was called.
    let known = [
        "GetPortal",
        "GetUserAccessLoggingSettings",
        "ListSessions",
        "GetSession",
        "ExpireSession",
        "ListUserAccessLoggingSettings",
        "AssociateUserAccessLoggingSettings",
    ];
    assert!(ops.keys().all(|o| known.contains(&o.as_str())), "{ops:?}");

    // The emulator's state: exactly those sessions ended; portal 2 untouched.
    for (p, was_active) in before.iter().enumerate() {
        let now_active = active_ids(&shared, p);
        let ended: BTreeSet<String> = was_active.difference(&now_active).cloned().collect();
        let want: BTreeSet<String> = expected_expired
            .iter()
            .filter(|(pid, _)| *pid == portal_id(p))
            .map(|(_, s)| s.clone())
            .collect();
        assert_eq!(ended, want, "portal {p}");
    }
    assert_eq!(
        shared
            .web()
            .portal(&portal_arn(1))
            .unwrap()
            .user_access_logging_settings_arn,
        Some(settings_arn("userAccessLoggingSettings", 1))
    );

    // The report: the failure isolated on portal 2, findings, the refusal.
    assert_eq!(report.portals_swept, 3);
    assert_eq!(report.portals_failed, 1);
    let denied = report.portal(&portal_arn(2)).unwrap();
    assert_eq!(denied.failures.len(), 1);
    assert_eq!(denied.failures[0].code, "AccessDeniedException");
    assert_eq!(denied.failures[0].kind, FailureKind::Permanent);
    let p1 = report.portal(&portal_arn(1)).unwrap();
    assert!(p1.findings.contains(&Finding::NoIpAccessSettings));
    assert!(p1.findings.contains(&Finding::NoAccessLogging {
        expected: Some(STREAM.into())
    }));
    assert_eq!(p1.access_logging_set.as_deref(), Some(STREAM));
    let p0 = report.portal(&portal_arn(0)).unwrap();
    assert!(p0.findings.is_empty(), "{:?}", p0.findings);
    assert_eq!(
        p0.users_expired,
        expected_targets(&all, 0).into_iter().collect::<Vec<_>>()
    );
    assert!(report
        .refusals
        .iter()
        .all(|r| r.target.contains("breakglass-ops")));
    assert_eq!(
        report.refusals.len(),
        2,
        "breakglass-ops on portals 0 and 1"
    );
    assert_eq!(report.totals.failures, 1);
    let text = report.render_text();
    assert!(text.contains("AccessDeniedException"), "{text}");

    // Second run: nothing left to change.
    let first = log.len();
    let again = sweep(&sweeper).await.report;
    let log2: Vec<CallRecord> = calls(&shared).into_iter().skip(first).collect();
    let changed: Vec<String> = log2
        .iter()
        .filter(|c| CHANGING.contains(&c.operation.as_str()))
        .map(|c| format!("{} {}", c.operation, c.params))
        .collect();
    assert!(changed.is_empty(), "second run changed: {changed:?}");
    assert_eq!(
        count(&log2, "ListSessions", |c| c
            .params
            .get("username")
            .is_some()),
        0
    );
    assert_eq!(again.totals.users_expired, 0);
    assert_eq!(again.totals.access_logging_set, 0);
    let p1 = again.portal(&portal_arn(1)).unwrap();
    assert_eq!(p1.findings, vec![Finding::NoIpAccessSettings]);
    assert_eq!(again.portals_failed, 1, "portal 2 still denied");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_settings_are_created_when_none_send_to_the_stream_and_dry_run_calls_nothing() {
    let all: Vec<S> = sessions().into_iter().filter(|s| s.portal == 1).collect();
    let mut fx = fixture(&all);
    fx.workspaces_web.user_access_logging_settings.clear();
    fx.workspaces_web.access_denied.clear();
    fx.workspaces_web.portals.retain(|p| p.arn == portal_arn(1));
    let emu = start(fx).await;
    let shared = emu.shared().clone();

    // Dry-run: reads only.
    let dry = sweeper(
        &emu,
        SweepConfig {
            dry_run: true,
            portal_arns: vec![portal_arn(1)],
            ..config()
        },
    )
    .await;
    let report = sweep(&dry).await.report;
    assert!(report.dry_run);
    let log = calls(&shared);
    assert!(
        log.iter().all(|c| !CHANGING.contains(&c.operation.as_str())
            && c.operation != "ListUserAccessLoggingSettings"),
        "dry-run made a change"
    );
    let p = report.portal(&portal_arn(1)).unwrap();
    assert!(
        p.dry_run_actions
            .iter()
            .any(|a| a.starts_with("set-access-logging portal -> ") && a.contains(STREAM)),
        "{:?}",
        p.dry_run_actions
    );
    assert_eq!(p.dry_run_actions.len(), 1 + expected_targets(&all, 1).len());

    // Live: created, then associated.
    let live = sweeper(
        &emu,
        SweepConfig {
            portal_arns: vec![portal_arn(1)],
            ..config()
        },
    )
    .await;
    let first = log.len();
    let report = sweep(&live).await.report;
    let log: Vec<CallRecord> = calls(&shared).into_iter().skip(first).collect();
    let created: Vec<&CallRecord> = log
        .iter()
        .filter(|c| c.operation == "CreateUserAccessLoggingSettings")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(param(created[0], "kinesisStreamArn"), STREAM);
    {
        let web = shared.web();
        assert_eq!(web.user_access_logging_settings.len(), 1);
        let made = web.user_access_logging_settings[0].arn.clone();
        assert_eq!(
            web.portal(&portal_arn(1))
                .unwrap()
                .user_access_logging_settings_arn,
            Some(made)
        );
    }
    assert_eq!(
        report
            .portal(&portal_arn(1))
            .unwrap()
            .access_logging_set
            .as_deref(),
        Some(STREAM)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_policy_that_sets_logging_needs_a_configured_stream() {
    let clients = Clients::local("http://127.0.0.1:9", 1).await;
    let e = Sweeper::new(
        default_policy(),
        &clients,
        SweepConfig {
            access_log_stream: None,
            ..config()
        },
    )
    .unwrap_err();
    assert!(matches!(e, SweepError::NoStreamConfigured { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("WARDEN_ACCESS_LOG_STREAM_ARN") && msg.contains("ensure-access-logging"),
        "{msg}"
    );
}
