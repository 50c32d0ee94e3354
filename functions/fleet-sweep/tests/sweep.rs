//! fleet-sweep against the emulator over real HTTP (issue #6): 3 fleets, 500
//! devices across 200 users, domains in every status, one fleet without an
//! audit stream and one pointing at the wrong stream; the shipped
//! `policies/default.yaml`.
//!
//! The expected calls come from how the fixture is built (which devices are
//! made outdated, and why), never from the sweep's own output.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use fleet_sweep::{Finding, SweepConfig, SweepError, SweepOutcome, SweepRequest, Sweeper};
use serde_json::{json, Value};
use warden_core::aws::deadline::{Deadline, FailureKind};
use warden_core::aws::{AwsSettings, Clients};
use warden_core::jiff::{SignedDuration, Timestamp};
use warden_core::{Device, Policy, Resource};
use warden_emulator::{Emulator, FaultRule, FaultsConfig, Fixture, RunningEmulator, Shared};

const NOW: &str = "2026-11-23T12:00:00Z";
const ACCOUNT: &str = "123456789012";
const FLEETS: [&str; 3] = ["alpha", "bravo", "charlie"];
const WARDEN_STREAM: &str =
    "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-warden-audit";
const LEGACY_STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-legacy";
const CERT: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/0f2d9c3e-1111-4a5b-8c6d-000000000001";
const DEVICES: usize = 500;
const USERS: usize = 200;
const CHANGING: [&str; 4] = [
    "SignOutUser",
    "RevokeDomainAccess",
    "RestoreDomainAccess",
    "UpdateAuditStreamConfiguration",
];

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn arn(fleet: usize) -> String {
    format!("arn:aws:worklink::{ACCOUNT}:fleet/{}", FLEETS[fleet])
}

/// Device `k` belongs to user `k % 200`; a user's first two devices share a
/// fleet, the third (k >= 400) is in the next fleet: users with two devices
/// in one fleet, and users in two fleets.
fn fleet_of(k: usize) -> usize {
    let u = k % USERS;
    if k < 400 {
        u % 3
    } else {
        (u + 1) % 3
    }
}

fn user_of(k: usize) -> String {
    if k == 499 {
        "breakglass-1".into()
    } else {
        format!("user{:03}@example.com", k % USERS)
    }
}

/// A device the fixture makes special, and whether the default policy must
/// sign its user out.
struct Special {
    k: usize,
    os: &'static str,
    version: Option<&'static str>,
    patch: Option<&'static str>,
    signed_out: bool,
    /// The policy must sign the user out of this device's fleet.
    outdated: bool,
}

const GOOD_PATCH: Option<&str> = Some("2026-11-01");

fn specials() -> Vec<Special> {
    let s = |k, os, version, patch, signed_out, outdated| Special {
        k,
        os,
        version,
        patch,
        signed_out,
        outdated,
    };
    vec![
        // iOS below 16.0 (numeric comparison: 9.3.5 < 16.0 < 16.7.10).
        s(0, "iOS", Some("15.7.2"), GOOD_PATCH, false, true),
        // user000's second device, same fleet, also outdated: ONE sign-out.
        s(200, "iOS", Some("12.4.1"), GOOD_PATCH, false, true),
        s(4, "iOS", Some("13.0"), GOOD_PATCH, false, true),
        s(10, "iOS", Some("16.0"), GOOD_PATCH, false, false),
        s(12, "iOS", Some("16.7.10"), GOOD_PATCH, false, false),
        s(16, "iOS", Some("15.8.3"), GOOD_PATCH, false, true),
        s(22, "iOS", Some("iOS 14.2.1"), GOOD_PATCH, false, true),
        s(24, "iOS", Some("9.3.5"), GOOD_PATCH, false, true),
        s(26, "iOS", Some("15.10"), GOOD_PATCH, false, true),
        s(30, "iOS", Some("17.0"), GOOD_PATCH, false, false),
        s(36, "ios", Some("15.1"), GOOD_PATCH, false, true),
        // Android below 12.
        s(1, "Android", Some("11"), GOOD_PATCH, false, true),
        s(3, "Android", Some("12"), GOOD_PATCH, false, false),
        s(5, "Android", Some("12.4.1"), GOOD_PATCH, false, false),
        s(7, "Android", Some("10.0.1"), GOOD_PATCH, false, true),
        s(9, "Android", Some("11.1"), GOOD_PATCH, false, true),
        // user001 again, in another fleet: a second, separate sign-out.
        s(401, "Android", Some("8.1.0"), GOOD_PATCH, false, true),
        // Patch level older than 90 days (89 days is not).
        s(13, "Android", Some("14"), Some("2026-05-01"), false, true),
        s(17, "Android", Some("13"), Some("2026-08-20"), false, true),
        s(19, "Android", Some("13"), Some("2026-08-26"), false, false),
        s(38, "Android", Some("14"), None, false, false),
        // Outdated but already signed out: nothing to do.
        s(25, "iOS", Some("12.0"), GOOD_PATCH, true, false),
        // One outdated device is enough, whatever the user's other ones are.
        s(28, "iOS", Some("15.0"), GOOD_PATCH, false, true),
        // An OS version no rule can judge: a finding, no sign-out.
        s(33, "iOS", Some("unknown"), GOOD_PATCH, false, false),
        // Allow-listed (breakglass-*): refused, never signed out.
        s(499, "iOS", Some("12.0"), GOOD_PATCH, false, false),
    ]
}

/// (fleet ARN, user) pairs the default policy must sign out, from the
/// fixture's construction.
fn expected_sign_outs() -> BTreeSet<(String, String)> {
    specials()
        .iter()
        .filter(|s| s.outdated)
        .map(|s| (arn(fleet_of(s.k)), user_of(s.k)))
        .collect()
}

fn days_ago(d: i64) -> Timestamp {
    now() - SignedDuration::from_hours(24 * d)
}

/// (name, status, created days ago) for every fleet; `{f}` is the fleet name.
const DOMAINS: &[(&str, &str, i64)] = &[
    ("wiki.corp.example.com", "ACTIVE", 300),
    ("sso.example.com", "ACTIVE", 300),
    ("shadow-{f}.example.net", "ACTIVE", 40),
    ("hr.corp.example.com", "INACTIVE", 200),
    ("old-{f}.example.net", "INACTIVE", 200),
    ("new.corp.example.com", "PENDING_VALIDATION", 1),
    ("stale.corp.example.com", "PENDING_VALIDATION", 30),
    ("assoc.example.net", "ASSOCIATING", 0),
    ("leaving.example.net", "DISASSOCIATING", 2),
    ("gone.example.net", "DISASSOCIATED", 100),
    ("broken.corp.example.com", "FAILED_TO_ASSOCIATE", 20),
    ("stuck.example.net", "FAILED_TO_DISASSOCIATE", 400),
];

fn domain_name(pattern: &str, fleet: usize) -> String {
    pattern.replace("{f}", FLEETS[fleet])
}

fn fixture_json() -> Value {
    let specials: BTreeMap<usize, Special> = specials().into_iter().map(|s| (s.k, s)).collect();
    let mut fleets: Vec<Value> = (0..3)
        .map(|i| {
            let mut f = json!({
                "arn": arn(i),
                "name": FLEETS[i],
                "display_name": format!("Fleet {}", FLEETS[i]),
                "company_code": format!("cc-{}", FLEETS[i]),
                "status": "ACTIVE",
                "created_time": "2025-01-01T00:00:00Z",
                "last_updated_time": "2025-06-01T00:00:00Z",
                "devices": [],
                "domains": DOMAINS.iter().map(|(name, status, age)| json!({
                    "domain_name": domain_name(name, i),
                    "status": status,
                    "acm_certificate_arn": CERT,
                    "created_time": days_ago(*age).to_string(),
                })).collect::<Vec<_>>(),
            });
            match i {
                0 => f["audit_stream_arn"] = json!(WARDEN_STREAM),
                2 => f["audit_stream_arn"] = json!(LEGACY_STREAM),
                _ => {}
            }
            f
        })
        .collect();
    for k in 0..DEVICES {
        let user_idx = k % USERS;
        let (mut os, mut version, mut patch, mut status) = if user_idx.is_multiple_of(2) {
            ("iOS", Some("17.5.1"), GOOD_PATCH, "ACTIVE")
        } else {
            ("Android", Some("14"), GOOD_PATCH, "ACTIVE")
        };
        if let Some(s) = specials.get(&k) {
            os = s.os;
            version = s.version;
            patch = s.patch;
            if s.signed_out {
                status = "SIGNED_OUT";
            }
        }
        let mut d = json!({
            "device_id": format!("dev-{k:04}"),
            "username": user_of(k),
            "status": status,
            "manufacturer": if os.eq_ignore_ascii_case("ios") { "Apple" } else { "Google" },
            "model": if os.eq_ignore_ascii_case("ios") { "iPhone15,2" } else { "Pixel 8" },
            "operating_system": os,
            "first_accessed_time": "2025-01-01T00:00:00Z",
            "last_accessed_time": (now() - SignedDuration::from_hours((k % 20) as i64 * 24 + 1)).to_string(),
        });
        if let Some(v) = version {
            d["operating_system_version"] = json!(v);
        }
        if let Some(p) = patch {
            d["patch_level"] = json!(p);
        }
        fleets[fleet_of(k)]["devices"]
            .as_array_mut()
            .unwrap()
            .push(d);
    }
    json!({ "clock": NOW, "worklink": { "fleets": fleets } })
}

fn fixture() -> Fixture {
    Fixture::from_json(&fixture_json().to_string()).expect("the generated fixture is valid")
}

fn default_policy() -> Policy {
    Policy::from_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/default.yaml"
    )))
    .expect("policies/default.yaml loads")
}

/// The configuration a deployment has: the audit stream set (the default
/// policy's `ensure-audit-stream` follows it), dry-run as given.
fn configured() -> SweepConfig {
    SweepConfig {
        expected_audit_stream: Some(WARDEN_STREAM.into()),
        retry_pause: Duration::from_millis(1),
        ..SweepConfig::default()
    }
}

fn live() -> SweepConfig {
    SweepConfig {
        dry_run: false,
        ..configured()
    }
}

async fn clients(endpoint: &str) -> Clients {
    Clients::local(endpoint, AwsSettings::default().max_attempts).await
}

async fn start(fixture: Fixture) -> RunningEmulator {
    Emulator::new(fixture).start_local().await.unwrap()
}

async fn sweep(sweeper: &Sweeper, req: &SweepRequest) -> SweepOutcome {
    sweeper.run(req, now(), Deadline::none()).await
}

fn changing_calls(shared: &Shared) -> Vec<String> {
    shared
        .calls
        .snapshot()
        .into_iter()
        .filter(|c| CHANGING.contains(&c.operation.as_str()))
        .map(|c| format!("{} {}", c.operation, c.params))
        .collect()
}

fn calls_by_op(shared: &Shared) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in shared.calls.snapshot() {
        *m.entry(c.operation).or_default() += 1;
    }
    m
}

fn param(c: &warden_emulator::CallRecord, key: &str) -> String {
    c.params[key].as_str().unwrap_or_default().to_string()
}

fn domain_status(shared: &Shared, fleet: usize, name: &str) -> String {
    let wl = shared.worklink();
    wl.fleet(&arn(fleet))
        .unwrap()
        .domains
        .iter()
        .find(|d| d.domain_name == name)
        .unwrap_or_else(|| panic!("domain {name}"))
        .status
        .as_str()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_makes_exactly_the_expected_calls_and_a_second_run_changes_nothing() {
    let emu = start(fixture()).await;
    let shared = emu.shared().clone();
    let before = shared.worklink().clone();
    let sweeper = Sweeper::new(
        default_policy(),
        &clients(&emu.endpoint_url()).await,
        live(),
    )
    .unwrap();
    assert_eq!(
        sweeper.expected_stream(),
        Some(WARDEN_STREAM),
        "taken from the policy"
    );

    let out = sweep(&sweeper, &SweepRequest::default()).await;
    let report = &out.report;

    // Exactly these SignOutUser calls: one per fleet+user, however many
    // devices matched (user000 has two outdated devices in alpha).
    let expected = expected_sign_outs();
    assert_eq!(expected.len(), 14);
    let sign_outs: Vec<(String, String)> = shared
        .calls
        .of("SignOutUser")
        .iter()
        .map(|c| {
            assert!(c.ok(), "{c:?}");
            (param(c, "FleetArn"), param(c, "Username"))
        })
        .collect();
    assert_eq!(
        sign_outs.len(),
        expected.len(),
        "no duplicates: {sign_outs:?}"
    );
    assert_eq!(sign_outs.into_iter().collect::<BTreeSet<_>>(), expected);

    // Domains: the unapproved ACTIVE one revoked, the approved INACTIVE one
    // restored, in every fleet; nothing else touched.
    let revokes: BTreeSet<(String, String)> = shared
        .calls
        .of("RevokeDomainAccess")
        .iter()
        .map(|c| (param(c, "FleetArn"), param(c, "DomainName")))
        .collect();
    let restores: BTreeSet<(String, String)> = shared
        .calls
        .of("RestoreDomainAccess")
        .iter()
        .map(|c| (param(c, "FleetArn"), param(c, "DomainName")))
        .collect();
    assert_eq!(
        revokes,
        (0..3)
            .map(|i| (arn(i), format!("shadow-{}.example.net", FLEETS[i])))
            .collect()
    );
    assert_eq!(
        restores,
        (0..3)
            .map(|i| (arn(i), "hr.corp.example.com".to_string()))
            .collect()
    );
    assert_eq!(shared.calls.of("RevokeDomainAccess").len(), 3);
    assert_eq!(shared.calls.of("RestoreDomainAccess").len(), 3);

    // Audit streams: bravo (none) and charlie (legacy) repointed; alpha not.
    let updates: Vec<(String, String)> = shared
        .calls
        .of("UpdateAuditStreamConfiguration")
        .iter()
        .map(|c| (param(c, "FleetArn"), param(c, "AuditStreamArn")))
        .collect();
    assert_eq!(
        updates.into_iter().collect::<BTreeSet<_>>(),
        [
            (arn(1), WARDEN_STREAM.to_string()),
            (arn(2), WARDEN_STREAM.to_string())
        ]
        .into()
    );

    // Gathering: every page, every device described once.
    let ops = calls_by_op(&shared);
    assert_eq!(ops["ListFleets"], 1);
    assert_eq!(ops["DescribeAuditStreamConfiguration"], 3);
    assert_eq!(ops["ListDevices"], 6, "167/167/166 devices at 100 a page");
    assert_eq!(ops["DescribeDevice"], DEVICES);
    assert_eq!(ops["ListDomains"], 3);
    let described: BTreeSet<String> = shared
        .calls
        .of("DescribeDevice")
        .iter()
        .map(|c| param(c, "DeviceId"))
        .collect();
    assert_eq!(described.len(), DEVICES);

    // Resulting state: devices of signed-out users are SIGNED_OUT, every
    // other device as it was; domains and streams as planned.
    {
        let wl = shared.worklink();
        for (i, fleet) in wl.fleets.iter().enumerate() {
            let old = &before.fleets[i];
            for (d, was) in fleet.devices.iter().zip(&old.devices) {
                let signed = expected.contains(&(fleet.arn.clone(), d.username.clone()));
                let want = if signed {
                    "SIGNED_OUT"
                } else {
                    was.status.as_str()
                };
                assert_eq!(d.status.as_str(), want, "{} {}", fleet.arn, d.device_id);
            }
        }
        assert_eq!(
            wl.fleets[0].audit_stream_arn.as_deref(),
            Some(WARDEN_STREAM)
        );
        assert_eq!(
            wl.fleets[1].audit_stream_arn.as_deref(),
            Some(WARDEN_STREAM)
        );
        assert_eq!(
            wl.fleets[2].audit_stream_arn.as_deref(),
            Some(WARDEN_STREAM)
        );
    }
    for (i, fleet) in FLEETS.iter().enumerate() {
        for (name, status, _) in DOMAINS {
            let name = domain_name(name, i);
            let want = match name.as_str() {
                n if n.starts_with("shadow-") => "INACTIVE",
                "hr.corp.example.com" => "ACTIVE",
                _ => status,
            };
            assert_eq!(domain_status(&shared, i, &name), want, "{name} in {fleet}");
        }
    }

    // The report: per fleet counts, findings, refusals.
    assert!(!report.dry_run);
    assert_eq!(
        (
            report.fleets_listed,
            report.fleets_swept,
            report.fleets_failed
        ),
        (3, 3, 0)
    );
    assert_eq!(report.totals.devices_examined, DEVICES);
    assert_eq!(report.totals.users_signed_out, 14);
    assert_eq!(report.totals.domains_revoked, 3);
    assert_eq!(report.totals.domains_restored, 3);
    assert_eq!(report.totals.audit_streams_set, 2);
    assert_eq!(report.totals.failures, 0, "{}", report.render_text());
    for (i, name) in FLEETS.iter().enumerate() {
        let f = report.fleet(&arn(i)).unwrap();
        let want_users: Vec<String> = expected
            .iter()
            .filter(|(a, _)| *a == arn(i))
            .map(|(_, u)| u.clone())
            .collect();
        assert_eq!(f.users_signed_out, want_users, "{name}");
        assert_eq!(f.devices_listed, f.devices_examined);
        assert_eq!(f.domains_listed, DOMAINS.len());
        assert_eq!(
            f.domains_examined,
            DOMAINS.len() - 2,
            "transitional ones left alone"
        );
        let left: Vec<(&str, &str)> = f
            .domains_left_alone
            .iter()
            .map(|d| (d.domain.as_str(), d.status.as_str()))
            .collect();
        assert_eq!(
            left,
            [
                ("assoc.example.net", "ASSOCIATING"),
                ("leaving.example.net", "DISASSOCIATING")
            ]
        );
        assert_eq!(f.domains_revoked, [format!("shadow-{name}.example.net")]);
        assert_eq!(f.domains_restored, ["hr.corp.example.com"]);
        // Stuck domains: PENDING_VALIDATION 30 d and FAILED_* (20 d, 400 d)
        // are findings; PENDING_VALIDATION for 1 d is not.
        let stuck: BTreeSet<(&str, &str)> = f
            .findings
            .iter()
            .filter_map(|x| match x {
                Finding::DomainStuck { domain, status, .. } => {
                    Some((domain.as_str(), status.as_str()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            stuck,
            [
                ("stale.corp.example.com", "PENDING_VALIDATION"),
                ("broken.corp.example.com", "FAILED_TO_ASSOCIATE"),
                ("stuck.example.net", "FAILED_TO_DISASSOCIATE"),
            ]
            .into()
        );
    }
    let alpha = report.fleet(&arn(0)).unwrap();
    assert!(alpha.findings.contains(&Finding::UnreadableOsVersion {
        device_id: "dev-0033".into(),
        user: Some(user_of(33)),
        os_version: Some("unknown".into()),
    }));
    assert_eq!(alpha.audit_stream_set, None);
    let bravo = report.fleet(&arn(1)).unwrap();
    assert!(bravo.findings.contains(&Finding::NoAuditStream {
        expected: Some(WARDEN_STREAM.into())
    }));
    assert_eq!(bravo.audit_stream_set.as_deref(), Some(WARDEN_STREAM));
    let charlie = report.fleet(&arn(2)).unwrap();
    assert!(charlie.findings.contains(&Finding::AuditStreamMismatch {
        found: LEGACY_STREAM.into(),
        expected: WARDEN_STREAM.into()
    }));
    assert_eq!(
        charlie.audit_stream_arn.as_deref(),
        Some(LEGACY_STREAM),
        "as found"
    );
    // The break-glass account: refused loudly, never called.
    assert_eq!(report.refusals.len(), 1, "{:?}", report.refusals);
    let r = &report.refusals[0];
    assert_eq!(r.action, "sign-out-user");
    assert!(
        r.target.contains("breakglass-1") && r.reason.contains("allow-listed"),
        "{r:?}"
    );
    assert_eq!(r.fleet_arn.as_deref(), Some(arn(fleet_of(499)).as_str()));

    // Metrics, flushed once by the function.
    let m = &out.metrics;
    assert_eq!(
        m.get_by("ApiCalls", "Operation", "DescribeDevice"),
        DEVICES as f64
    );
    assert_eq!(m.get_by("ActionsExecuted", "Action", "SignOutUser"), 14.0);
    assert_eq!(m.get_by("ActionsRefused", "Action", "SignOutUser"), 1.0);
    assert_eq!(m.get("DevicesExamined"), DEVICES as f64);
    assert_eq!(m.get_by("Findings", "Finding", "domain-stuck"), 9.0);
    // The JSON response is the report.
    let body = serde_json::to_value(report).unwrap();
    assert_eq!(body["totals"]["users_signed_out"], 14);
    assert_eq!(
        body["fleets"][1]["findings"][0]["finding"],
        "no-audit-stream"
    );

    // Second run: nothing changes state; the findings that remain remain.
    let changed_first = changing_calls(&shared).len();
    assert_eq!(changed_first, 14 + 3 + 3 + 2);
    let again = sweep(&sweeper, &SweepRequest::default()).await.report;
    assert_eq!(
        changing_calls(&shared).len(),
        changed_first,
        "{:?}",
        changing_calls(&shared)
    );
    assert_eq!(again.totals.users_signed_out, 0);
    assert_eq!(
        again.totals.domains_revoked + again.totals.domains_restored,
        0
    );
    assert_eq!(again.totals.audit_streams_set, 0);
    assert_eq!(again.totals.failures, 0);
    assert!(again
        .fleets
        .iter()
        .all(|f| !f.findings.iter().any(|x| matches!(
            x,
            Finding::NoAuditStream { .. } | Finding::AuditStreamMismatch { .. }
        ))));
    assert_eq!(again.refusals.len(), 1, "the break-glass refusal stays");
    assert_eq!(again.totals.findings, 9 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_what_it_would_do_and_changes_nothing() {
    let emu = start(fixture()).await;
    let shared = emu.shared().clone();
    let before = shared.worklink().clone();
    let c = clients(&emu.endpoint_url()).await;
    // The default configuration is dry-run.
    assert!(configured().dry_run);
    let sweeper = Sweeper::new(default_policy(), &c, configured()).unwrap();
    let report = sweep(&sweeper, &SweepRequest::default()).await.report;
    assert!(report.dry_run);
    assert!(
        changing_calls(&shared).is_empty(),
        "{:?}",
        changing_calls(&shared)
    );
    assert_eq!(*shared.worklink(), before);
    assert_eq!(report.totals.dry_run_actions, 14 + 3 + 3 + 2);
    assert_eq!(report.totals.users_signed_out, 0);
    let bravo = report.fleet(&arn(1)).unwrap();
    assert!(
        bravo
            .dry_run_actions
            .iter()
            .any(|a| a.starts_with("set-audit-stream fleet -> ") && a.contains(WARDEN_STREAM)),
        "{:?}",
        bravo.dry_run_actions
    );
    assert!(report
        .render_text()
        .contains("would: sign-out-user user004@example.com (rules: outdated-devices; 1 cause)"));

    // A manual invocation can turn dry-run off for one run, and limit fleets.
    let live_alpha = SweepRequest {
        fleet_arns: Some(vec![arn(0)]),
        dry_run: Some(false),
    };
    let report = sweep(&sweeper, &live_alpha).await.report;
    assert!(!report.dry_run);
    assert_eq!(report.fleets_swept, 1);
    let changed = changing_calls(&shared);
    assert!(!changed.is_empty());
    assert!(changed.iter().all(|c| c.contains(&arn(0))), "{changed:?}");
}

fn policy_with(replace: &str, with: &str) -> Policy {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/default.yaml"
    ))
    .unwrap();
    assert!(text.contains(replace), "the default policy has `{replace}`");
    Policy::from_yaml_str(&text.replace(replace, with), "default.yaml (edited)").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_over_the_sign_out_cap_refuses_all_its_sign_outs() {
    let emu = start(fixture()).await;
    let shared = emu.shared().clone();
    let policy = policy_with("sign-out-user: { max: 25 }", "sign-out-user: { max: 13 }");
    let sweeper = Sweeper::new(policy, &clients(&emu.endpoint_url()).await, live()).unwrap();
    let report = sweep(&sweeper, &SweepRequest::default()).await.report;
    assert!(
        shared.calls.of("SignOutUser").is_empty(),
        "14 > 13: none at all"
    );
    let capped: Vec<_> = report
        .refusals
        .iter()
        .filter(|r| r.action == "sign-out-user" && r.reason.contains("cap exceeded"))
        .collect();
    assert_eq!(capped.len(), 14, "{:?}", report.refusals);
    assert!(
        capped[0].reason.contains("14 planned, limit 13"),
        "{}",
        capped[0].reason
    );
    // Other kinds are under their caps and still run.
    assert_eq!(shared.calls.of("RevokeDomainAccess").len(), 3);
    assert_eq!(report.totals.users_signed_out, 0);
    assert!(report.render_text().contains("REFUSED sign-out-user"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_percentage_sign_out_cap_is_of_the_users_of_each_fleet() {
    // 14 sign-outs. The sweep examined about 200 user names (5 %: 10, which
    // refused them all before the population); the fleets hold about 300
    // fleet + user pairs (5 %: 15).
    let emu = start(fixture()).await;
    let shared = emu.shared().clone();
    let policy = policy_with(
        "sign-out-user: { max: 25 }",
        "sign-out-user: { max: 25, max-percent: 5 }",
    );
    let sweeper = Sweeper::new(policy, &clients(&emu.endpoint_url()).await, live()).unwrap();
    let report = sweep(&sweeper, &SweepRequest::default()).await.report;
    assert_eq!(
        shared.calls.of("SignOutUser").len(),
        14,
        "{:?}",
        report.refusals
    );

    // 4 % of the population is 12: every sign-out refused, the reason
    // naming the population.
    let emu = start(fixture()).await;
    let shared = emu.shared().clone();
    let policy = policy_with(
        "sign-out-user: { max: 25 }",
        "sign-out-user: { max: 25, max-percent: 4 }",
    );
    let sweeper = Sweeper::new(policy, &clients(&emu.endpoint_url()).await, live()).unwrap();
    let report = sweep(&sweeper, &SweepRequest::default()).await.report;
    assert!(shared.calls.of("SignOutUser").is_empty());
    let capped: Vec<_> = report
        .refusals
        .iter()
        .filter(|r| r.action == "sign-out-user" && r.reason.contains("cap exceeded"))
        .collect();
    assert_eq!(capped.len(), 14, "{:?}", report.refusals);
    // 300 pairs: users 000-199 in one fleet, 000-098 and breakglass-1 in
    // a second one (devices 400-499).
    assert!(
        capped[0]
            .reason
            .contains("14 planned, limit 12 (max 25, max-percent 4% of a population of 300)"),
        "{}",
        capped[0].reason
    );
}

/// The emulator scopes faults by operation or caller, not by fleet. This
/// puts a middleware in front of its router that answers every call naming
/// `fleet` with UnauthorizedException (HTTP 403), as IAM does for a fleet
/// the function's role may not touch.
async fn start_denying(fixture: Fixture, fleet: String) -> (Arc<Shared>, String) {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::StatusCode;
    use axum::middleware::Next;
    use axum::response::IntoResponse;

    let emu = Emulator::new(fixture);
    let shared = emu.shared().clone();
    let app = emu.router().layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let fleet = fleet.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let names_fleet = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .is_some_and(|v| v["FleetArn"] == json!(fleet));
                if names_fleet {
                    return (
                        StatusCode::FORBIDDEN,
                        [
                            ("x-amzn-errortype", "UnauthorizedException"),
                            ("content-type", "application/json"),
                        ],
                        r#"{"message":"not authorized for this fleet"}"#,
                    )
                        .into_response();
                }
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (shared, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_fleet_does_not_stop_the_others() {
    let (shared, url) = start_denying(fixture(), arn(1)).await;
    let sweeper = Sweeper::new(default_policy(), &clients(&url).await, live()).unwrap();
    let out = sweep(&sweeper, &SweepRequest::default()).await;
    let report = out.report;

    assert_eq!((report.fleets_swept, report.fleets_failed), (3, 1));
    let bravo = report.fleet(&arn(1)).unwrap();
    let failed_ops: BTreeSet<&str> = bravo
        .failures
        .iter()
        .map(|f| f.operation.as_str())
        .collect();
    assert_eq!(
        failed_ops,
        [
            "DescribeAuditStreamConfiguration",
            "ListDevices",
            "ListDomains"
        ]
        .into()
    );
    assert!(bravo
        .failures
        .iter()
        .all(|f| f.code == "UnauthorizedException" && f.kind == FailureKind::Permanent));
    assert_eq!(bravo.devices_examined, 0);
    assert!(bravo.users_signed_out.is_empty() && bravo.audit_stream_set.is_none());
    assert!(report
        .render_text()
        .contains("FAILED: ListDevices fleet: UnauthorizedException"));

    // Alpha and charlie: swept and acted on in full.
    let expected = expected_sign_outs();
    let others: BTreeSet<(String, String)> =
        expected.into_iter().filter(|(a, _)| *a != arn(1)).collect();
    let sign_outs: BTreeSet<(String, String)> = shared
        .calls
        .of("SignOutUser")
        .iter()
        .map(|c| (param(c, "FleetArn"), param(c, "Username")))
        .collect();
    assert_eq!(sign_outs, others);
    for i in [0, 2] {
        let f = report.fleet(&arn(i)).unwrap();
        assert!(f.failures.is_empty(), "{:?}", f.failures);
        assert_eq!(f.domains_revoked.len(), 1);
    }
    // Nothing reached the emulator for bravo.
    assert!(shared
        .calls
        .snapshot()
        .iter()
        .all(|c| c.params["FleetArn"] != json!(arn(1))));
    assert_eq!(out.metrics.get("FleetsFailed"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_within_the_run() {
    let emu = start(fixture()).await;
    let shared = emu.shared().clone();
    shared.faults.set(FaultsConfig {
        rules: vec![
            FaultRule {
                operation: Some("DescribeDevice".into()),
                throttle_rate: 0.5,
                ..Default::default()
            },
            FaultRule {
                operation: Some("SignOutUser".into()),
                throttle_rate: 0.6,
                ..Default::default()
            },
            FaultRule {
                operation: Some("ListDevices".into()),
                server_error_rate: 0.5,
                ..Default::default()
            },
        ],
        seed: 6,
    });
    // 2 attempts, so the sweep's own rounds are needed too.
    let c = Clients::local(&emu.endpoint_url(), 2).await;
    let config = SweepConfig {
        retry_rounds: 10,
        ..live()
    };
    let sweeper = Sweeper::new(default_policy(), &c, config).unwrap();
    let report = sweep(&sweeper, &SweepRequest::default()).await.report;

    let injected = shared
        .calls
        .snapshot()
        .iter()
        .filter(|c| c.injected)
        .count();
    assert!(injected > 100, "faults were injected: {injected}");
    assert_eq!(report.totals.failures, 0, "{}", report.render_text());
    assert_eq!(report.totals.devices_examined, DEVICES);
    let done: BTreeSet<(String, String)> = shared
        .calls
        .of("SignOutUser")
        .iter()
        .filter(|c| c.ok())
        .map(|c| (param(c, "FleetArn"), param(c, "Username")))
        .collect();
    assert_eq!(done, expected_sign_outs());
}

#[tokio::test]
async fn no_time_left_sweeps_nothing_and_says_so() {
    let emu = start(fixture()).await;
    let sweeper = Sweeper::new(
        default_policy(),
        &clients(&emu.endpoint_url()).await,
        live(),
    )
    .unwrap();
    let spent = Deadline::after(Duration::ZERO, Duration::from_secs(1));
    let report = sweeper
        .run(&SweepRequest::default(), now(), spent)
        .await
        .report;
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].code, "DeadlineExceeded");
    assert_eq!(report.failures[0].operation, "ListFleets");
    assert!(emu.shared().calls.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_filter_limits_the_sweep_and_names_unknown_fleets() {
    let mut fx = fixture_json();
    // A fourth fleet being deleted: listed, its devices and domains untouched.
    let mut deleting = fx["worklink"]["fleets"][0].clone();
    deleting["arn"] = json!(format!("arn:aws:worklink::{ACCOUNT}:fleet/delta"));
    deleting["name"] = json!("delta");
    deleting["status"] = json!("DELETING");
    deleting.as_object_mut().unwrap().remove("audit_stream_arn");
    fx["worklink"]["fleets"]
        .as_array_mut()
        .unwrap()
        .push(deleting);
    let emu = start(Fixture::from_json(&fx.to_string()).unwrap()).await;
    let shared = emu.shared().clone();
    let sweeper = Sweeper::new(
        default_policy(),
        &clients(&emu.endpoint_url()).await,
        live(),
    )
    .unwrap();
    let delta = format!("arn:aws:worklink::{ACCOUNT}:fleet/delta");
    let nowhere = format!("arn:aws:worklink::{ACCOUNT}:fleet/nowhere");
    let req = SweepRequest {
        fleet_arns: Some(vec![delta.clone(), nowhere.clone()]),
        dry_run: None,
    };
    let report = sweep(&sweeper, &req).await.report;
    assert_eq!(report.fleets_listed, 4);
    assert_eq!(report.fleets_swept, 1);
    assert_eq!(report.unknown_fleets, [nowhere]);
    let d = report.fleet(&delta).unwrap();
    assert_eq!(d.status.as_deref(), Some("DELETING"));
    assert_eq!(d.devices_examined + d.domains_examined, 0);
    assert!(
        d.notes.iter().any(|n| n.contains("DELETING")),
        "{:?}",
        d.notes
    );
    assert!(
        d.findings.is_empty(),
        "no audit-stream finding for a fleet going away"
    );
    let ops = calls_by_op(&shared);
    assert_eq!(ops.get("ListDevices"), None);
    assert_eq!(ops.get("DescribeDevice"), None);
    assert_eq!(ops["DescribeAuditStreamConfiguration"], 1);
    assert!(changing_calls(&shared).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_status_rules_sign_out_once_per_fleet_and_user() {
    // A policy with the issue's other device rules: not accessed for N days.
    let policy = Policy::from_yaml_str(
        r#"
version: 1
caps: { sign-out-user: { max: 100 } }
rules:
  - name: idle-devices
    on: device
    where: { status: ACTIVE, idle: { gt: 60d } }
    actions: [sign-out-user]
"#,
        "idle.yaml",
    )
    .unwrap();
    let mut fx = fixture_json();
    // Idle 61 and 100 days (two devices of user003 in alpha), 59 days (no).
    let set_idle = |fx: &mut Value, k: usize, days: i64| {
        let id = format!("dev-{k:04}");
        for d in fx["worklink"]["fleets"][fleet_of(k)]["devices"]
            .as_array_mut()
            .unwrap()
        {
            if d["device_id"] == json!(id) {
                d["last_accessed_time"] = json!(days_ago(days).to_string());
            }
        }
    };
    set_idle(&mut fx, 3, 61);
    set_idle(&mut fx, 203, 100);
    set_idle(&mut fx, 8, 59);
    set_idle(&mut fx, 11, 365);
    let emu = start(Fixture::from_json(&fx.to_string()).unwrap()).await;
    let shared = emu.shared().clone();
    let unconfigured = SweepConfig {
        expected_audit_stream: None,
        ..live()
    };
    let sweeper = Sweeper::new(policy, &clients(&emu.endpoint_url()).await, unconfigured).unwrap();
    let report = sweep(&sweeper, &SweepRequest::default()).await.report;
    let sign_outs: Vec<(String, String)> = shared
        .calls
        .of("SignOutUser")
        .iter()
        .map(|c| (param(c, "FleetArn"), param(c, "Username")))
        .collect();
    let mut want = vec![
        (arn(fleet_of(3)), user_of(3)),
        (arn(fleet_of(11)), user_of(11)),
    ];
    want.sort();
    let mut got = sign_outs.clone();
    got.sort();
    assert_eq!(
        got, want,
        "user003 once for two idle devices; 59 days is not idle"
    );
    assert_eq!(report.totals.users_signed_out, 2);
    // No audit-stream rule, no configured stream: a missing stream is still
    // a finding, a different one cannot be judged.
    assert_eq!(sweeper.expected_stream(), None);
    assert!(report
        .fleet(&arn(1))
        .unwrap()
        .findings
        .contains(&Finding::NoAuditStream { expected: None }));
    assert!(!report
        .fleet(&arn(2))
        .unwrap()
        .findings
        .iter()
        .any(|f| matches!(f, Finding::AuditStreamMismatch { .. })));
}

#[tokio::test]
async fn audit_streams_not_named_amazonworklink_are_refused_with_a_clear_error() {
    // In the policy: the loader refuses it, naming the file and the line.
    let err = Policy::from_yaml_str(&stream_policy("corp-audit"), "bad.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.yaml:8") && err.contains("AmazonWorkLink-"),
        "{err}"
    );

    // In the configuration: refused at cold start, naming the variable.
    let env = warden_core::env::Env::new(|k: &str| {
        (k == "WARDEN_AUDIT_STREAM_ARN")
            .then(|| "arn:aws:kinesis:us-east-1:123456789012:stream/corp-audit".to_string())
    });
    let err = SweepConfig::from_env(&env).unwrap_err().to_string();
    assert!(
        err.contains("WARDEN_AUDIT_STREAM_ARN")
            && err.contains("corp-audit")
            && err.contains("does not begin with `AmazonWorkLink-`"),
        "{err}"
    );

    // Configured and policy streams that disagree: refused at cold start.
    let emu = start(fixture()).await;
    let c = clients(&emu.endpoint_url()).await;
    let config = SweepConfig {
        expected_audit_stream: Some(LEGACY_STREAM.into()),
        ..live()
    };
    let named =
        Policy::from_yaml_str(&stream_policy("AmazonWorkLink-warden-audit"), "named.yaml").unwrap();
    let err = Sweeper::new(named.clone(), &c, config).unwrap_err();
    assert!(matches!(err, SweepError::StreamConflict { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("WARDEN_AUDIT_STREAM_ARN") && msg.contains("pin-stream"),
        "{msg}"
    );
    // Without a configured stream, the one the policy names is expected.
    let unset = SweepConfig {
        expected_audit_stream: None,
        ..live()
    };
    let sweeper = Sweeper::new(named, &c, unset.clone()).unwrap();
    assert_eq!(sweeper.expected_stream(), Some(WARDEN_STREAM));

    // The default policy's rule names no stream: it follows the configured
    // one, and without one the function refuses to start, naming the rule
    // and the variable.
    let err = Sweeper::new(default_policy(), &c, unset).unwrap_err();
    assert!(matches!(err, SweepError::NoStreamConfigured { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("WARDEN_AUDIT_STREAM_ARN") && msg.contains("ensure-audit-stream"),
        "{msg}"
    );
}

/// A policy whose one rule points fleets at `stream/<name>` (line 8).
fn stream_policy(name: &str) -> String {
    format!(
        r#"version: 1
rules:
  - name: pin-stream
    on: fleet
    where:
      status: ACTIVE
    actions:
      - set-audit-stream: {{ stream-arn: "arn:aws:kinesis:us-east-1:123456789012:stream/{name}" }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_policy_points_fleets_at_the_configured_stream() {
    // A deployment's own stream, not one the policy names.
    let own = "arn:aws:kinesis:eu-west-1:210987654321:stream/AmazonWorkLink-prod-audit";
    let emu = start(fixture()).await;
    let shared = emu.shared().clone();
    let config = SweepConfig {
        expected_audit_stream: Some(own.into()),
        ..live()
    };
    let sweeper = Sweeper::new(
        default_policy(),
        &clients(&emu.endpoint_url()).await,
        config,
    )
    .unwrap();
    assert_eq!(sweeper.expected_stream(), Some(own));
    let report = sweep(&sweeper, &SweepRequest::default()).await.report;
    let updates: Vec<(String, String)> = shared
        .calls
        .of("UpdateAuditStreamConfiguration")
        .iter()
        .map(|c| (param(c, "FleetArn"), param(c, "AuditStreamArn")))
        .collect();
    // Every ACTIVE fleet was on another stream or none: all three move.
    assert_eq!(updates.len(), 3, "{updates:?}");
    assert!(updates.iter().all(|(_, s)| s == own), "{updates:?}");
    assert!(report
        .fleet(&arn(0))
        .unwrap()
        .findings
        .contains(&Finding::AuditStreamMismatch {
            found: WARDEN_STREAM.into(),
            expected: own.into()
        }));
    // Next run: all on the configured stream, nothing to change.
    let again = sweep(&sweeper, &SweepRequest::default()).await.report;
    assert!(
        again.fleets.iter().all(|f| f.audit_stream_set.is_none()),
        "{again:?}"
    );
    assert_eq!(shared.calls.of("UpdateAuditStreamConfiguration").len(), 3);
}

/// The default policy's minimum OS versions, on real-world version strings:
/// numeric per component, missing components are zero, a leading name or a
/// build suffix is ignored.
#[test]
fn version_comparison_on_real_world_os_version_strings() {
    let policy = default_policy();
    let cases: &[(&str, &str, bool)] = &[
        ("iOS", "12.4.1", true),
        ("iOS", "13.0", true),
        ("iOS", "15.7.9", true),
        ("iOS", "15.10", true),
        ("iOS", "9.3.5", true),
        ("iOS", "16", false),
        ("iOS", "16.0", false),
        ("iOS", "16.0.0", false),
        ("iOS", "16.0.1", false),
        ("iOS", "16.7.10", false),
        ("iOS", "17.1 (21B74)", false),
        ("iOS", "iOS 15.8", true),
        ("iOS", "iOS 18.2", false),
        ("iOS", "unknown", false),
        ("Android", "11", true),
        ("Android", "11.0.0", true),
        ("Android", "8.1.0", true),
        ("Android", "12", false),
        ("Android", "12.0", false),
        ("Android", "12.4.1", false),
        ("Android", "13", false),
        ("Android", "14.0.0_r21", false),
    ];
    let devices: Vec<Resource> = cases
        .iter()
        .enumerate()
        .map(|(i, (os, v, _))| {
            Resource::Device(Device {
                fleet_arn: arn(0),
                device_id: format!("d-{i}"),
                status: Some("ACTIVE".into()),
                user: Some(format!("u{i}")),
                os: Some((*os).into()),
                os_version: Some((*v).into()),
                patch_level: Some("2026-11-20".into()),
                ..Device::default()
            })
        })
        .collect();
    let ctx = warden_core::Context::new(now());
    let plan = policy.run_resources(&devices, &ctx, &warden_core::PlanOptions::default());
    let signed: BTreeSet<String> = plan
        .actions
        .iter()
        .filter_map(|a| match &a.target {
            warden_core::Target::FleetUser { user, .. } => Some(user.clone()),
            _ => None,
        })
        .collect();
    for (i, (os, v, outdated)) in cases.iter().enumerate() {
        assert_eq!(
            signed.contains(&format!("u{i}")),
            *outdated,
            "{os} {v:?} should {}be below the minimum",
            if *outdated { "" } else { "not " }
        );
    }
}
