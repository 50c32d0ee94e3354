//! The shared action executor against the emulator over real HTTP: every
//! action kind, idempotent "already" outcomes, dry-run, and the split between
//! permanent findings and transient failures.

use std::collections::BTreeMap;

use warden_core::aws::deadline::{Deadline, FailureKind};
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::{Executor, Outcome};
use warden_core::aws::Clients;
use warden_core::plan::{ActionParams, PlannedAction, Target};
use warden_core::policy::ActionKind;
use warden_emulator::{Emulator, FaultRule, FaultsConfig, Fixture, RunningEmulator};

const CORP: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";
const PARTNER: &str = "arn:aws:worklink::123456789012:fleet/partner-portal";

async fn setup() -> (RunningEmulator, Executor) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/emulator/demo-fixture.json"
    ))
    .unwrap();
    let emu = Emulator::new(Fixture::from_json(&text).unwrap())
        .start_local()
        .await
        .unwrap();
    let clients = Clients::local(&emu.endpoint_url(), 3).await;
    (emu, Executor::new(&clients, 4))
}

fn action(kind: ActionKind, target: Target, params: ActionParams) -> PlannedAction {
    PlannedAction {
        kind,
        target,
        params,
        rules: vec!["test-rule".into()],
        causes: vec![],
        cause_count: 1,
        dry_run: false,
    }
}

fn user(fleet: &str, user: &str) -> Target {
    Target::FleetUser {
        fleet_arn: fleet.into(),
        user: user.into(),
    }
}

fn domain(fleet: &str, domain: &str) -> Target {
    Target::FleetDomain {
        fleet_arn: fleet.into(),
        domain: domain.into(),
    }
}

fn instance(id: &str) -> Target {
    Target::Instance {
        instance_id: id.into(),
    }
}

#[tokio::test]
async fn every_kind_executes_and_repeats_are_already_done() {
    let (emu, exec) = setup().await;
    let tags: BTreeMap<String, String> = [(
        "warden:cleanup-marked-at".to_string(),
        "2026-11-23T12:00:00Z".to_string(),
    )]
    .into();
    let actions = vec![
        action(
            ActionKind::SignOutUser,
            user(CORP, "alice"),
            ActionParams::None,
        ),
        action(
            ActionKind::RevokeDomain,
            domain(CORP, "wiki.example.com"),
            ActionParams::None,
        ),
        action(
            ActionKind::RestoreDomain,
            domain(CORP, "payroll.example.com"),
            ActionParams::None,
        ),
        action(
            ActionKind::SetAuditStream,
            Target::Fleet {
                fleet_arn: PARTNER.into(),
            },
            ActionParams::AuditStream {
                stream_arn: "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-partner"
                    .into(),
            },
        ),
        action(
            ActionKind::MarkForCleanup,
            instance("wsinst-0a1b2c3d4e5f60004"),
            ActionParams::Tags { tags },
        ),
        action(
            ActionKind::DeleteInstance,
            instance("wsinst-0a1b2c3d4e5f60005"),
            ActionParams::None,
        ),
        action(
            ActionKind::UntagInstance,
            instance("wsinst-0a1b2c3d4e5f60001"),
            ActionParams::TagKeys {
                keys: vec!["team".into()],
            },
        ),
    ];
    let mut metrics = Metrics::new("test");
    let first = exec.execute(&actions, Deadline::none(), &mut metrics).await;
    for rec in &first {
        assert_eq!(rec.outcome, Outcome::Done, "{:?}", rec.action.kind);
        assert_eq!(rec.attempts, 1);
    }
    assert_eq!(
        metrics.get_by("ActionsExecuted", "Action", "SignOutUser"),
        1.0
    );

    // The state changed as asked.
    {
        let wl = emu.shared().worklink();
        let corp = wl.fleet(CORP).unwrap();
        assert!(corp
            .devices
            .iter()
            .filter(|d| d.username == "alice")
            .all(|d| d.status.as_str() == "SIGNED_OUT"));
        let status = |name: &str| {
            corp.domains
                .iter()
                .find(|d| d.domain_name == name)
                .unwrap()
                .status
                .as_str()
        };
        assert_eq!(status("wiki.example.com"), "INACTIVE");
        assert_eq!(status("payroll.example.com"), "ACTIVE");
        assert!(wl.fleet(PARTNER).unwrap().audit_stream_arn.is_some());
    }
    {
        let wsi = emu.shared().wsi();
        let marked = wsi.instance("wsinst-0a1b2c3d4e5f60004").unwrap();
        assert!(marked.tags.contains_key("warden:cleanup-marked-at"));
        assert_eq!(
            wsi.instance("wsinst-0a1b2c3d4e5f60005")
                .unwrap()
                .provision_state
                .as_str(),
            "DEALLOCATING"
        );
        assert!(!wsi
            .instance("wsinst-0a1b2c3d4e5f60001")
            .unwrap()
            .tags
            .contains_key("team"));
    }

    // Running the same plan again: revoke/restore/delete are already done.
    let second = exec.execute(&actions, Deadline::none(), &mut metrics).await;
    for rec in &second {
        assert!(
            rec.outcome.is_success(),
            "{:?}: {:?}",
            rec.action.kind,
            rec.outcome
        );
    }
    for kind in [
        ActionKind::RevokeDomain,
        ActionKind::RestoreDomain,
        ActionKind::DeleteInstance,
    ] {
        let rec = second.iter().find(|r| r.action.kind == kind).unwrap();
        assert!(
            matches!(rec.outcome, Outcome::Already { .. }),
            "{kind:?}: {:?}",
            rec.outcome
        );
    }
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let (emu, exec) = setup().await;
    let mut a = action(
        ActionKind::SignOutUser,
        user(CORP, "alice"),
        ActionParams::None,
    );
    a.dry_run = true;
    let before = emu.shared().calls.len();
    let recs = exec
        .execute(&[a], Deadline::none(), &mut Metrics::new("t"))
        .await;
    assert_eq!(recs[0].outcome, Outcome::DryRun);
    assert_eq!(recs[0].attempts, 0);
    assert_eq!(emu.shared().calls.len(), before, "no call made");
}

#[tokio::test]
async fn not_found_is_permanent_and_throttling_is_transient_after_retries() {
    let (emu, exec) = setup().await;
    let missing = action(
        ActionKind::SignOutUser,
        user("arn:aws:worklink::123456789012:fleet/nope", "alice"),
        ActionParams::None,
    );
    let recs = exec
        .execute(&[missing], Deadline::none(), &mut Metrics::new("t"))
        .await;
    match &recs[0].outcome {
        Outcome::Failed(f) => {
            assert_eq!(f.kind, FailureKind::Permanent);
            assert_eq!(f.code, "ResourceNotFoundException");
        }
        other => panic!("{other:?}"),
    }
    assert!(!recs[0].outcome.should_retry());

    emu.shared().faults.set(FaultsConfig {
        rules: vec![FaultRule {
            operation: Some("SignOutUser".into()),
            throttle_rate: 1.0,
            ..Default::default()
        }],
        seed: 1,
    });
    let mut metrics = Metrics::new("t");
    let recs = exec
        .execute(
            &[action(
                ActionKind::SignOutUser,
                user(CORP, "bob"),
                ActionParams::None,
            )],
            Deadline::none(),
            &mut metrics,
        )
        .await;
    match &recs[0].outcome {
        Outcome::Failed(f) => {
            assert_eq!(f.kind, FailureKind::Transient);
            assert_eq!(f.code, "TooManyRequestsException");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(recs[0].attempts, 3, "the SDK retried up to max attempts");
    assert!(recs[0].outcome.should_retry());
    assert_eq!(
        metrics.get_by("ActionsFailed", "Action", "SignOutUser"),
        1.0
    );
    let bob_calls = emu
        .shared()
        .calls
        .of("SignOutUser")
        .into_iter()
        .filter(|c| c.params["Username"] == "bob")
        .count();
    assert_eq!(bob_calls, 3, "three attempts reached the service");
}

#[tokio::test]
async fn nothing_starts_past_the_deadline() {
    let (emu, exec) = setup().await;
    let deadline = Deadline::after(std::time::Duration::ZERO, std::time::Duration::from_secs(1));
    let recs = exec
        .execute(
            &[action(
                ActionKind::SignOutUser,
                user(CORP, "alice"),
                ActionParams::None,
            )],
            deadline,
            &mut Metrics::new("t"),
        )
        .await;
    assert_eq!(recs[0].outcome, Outcome::NotStarted);
    assert!(recs[0].outcome.should_retry());
    assert!(emu.shared().calls.of("SignOutUser").is_empty());
}

#[tokio::test]
async fn a_call_in_flight_is_not_waited_for_past_the_reserve() {
    let (emu, exec) = setup().await;
    // SignOutUser hangs for a minute; the revoke answers at once.
    emu.shared().faults.set(FaultsConfig {
        rules: vec![FaultRule {
            operation: Some("SignOutUser".into()),
            latency_ms: 60_000,
            ..Default::default()
        }],
        seed: 1,
    });
    let deadline = Deadline::after(
        std::time::Duration::from_millis(1_500),
        std::time::Duration::from_millis(500),
    );
    let mut metrics = Metrics::new("t");
    let recs = exec
        .execute(
            &[
                action(
                    ActionKind::SignOutUser,
                    user(CORP, "alice"),
                    ActionParams::None,
                ),
                action(
                    ActionKind::RevokeDomain,
                    domain(CORP, "wiki.example.com"),
                    ActionParams::None,
                ),
            ],
            deadline,
            &mut metrics,
        )
        .await;
    // The hanging call was started, then given up at the reserve: a
    // transient failure to retry later, not a hang until Lambda kills us.
    match &recs[0].outcome {
        Outcome::Failed(f) => {
            assert_eq!(f.kind, FailureKind::Transient);
            assert_eq!(f.code, "DeadlineExceeded");
            assert!(f.message.contains("SignOutUser"), "{f}");
        }
        other => panic!("{other:?}"),
    }
    assert!(recs[0].outcome.should_retry());
    assert!(recs[0].attempts >= 1, "it was sent");
    assert_eq!(recs[1].outcome, Outcome::Done);
    assert_eq!(
        metrics.get_by("ActionsFailed", "Action", "SignOutUser"),
        1.0
    );
}

/// A revoke refused with InvalidRequest is checked with DescribeDomain. When
/// that check is itself throttled, nobody knows whether the refusal is final:
/// the revoke stays transient (retried), never a permanent finding that
/// would acknowledge the record and lose it (issue 13, point 6).
#[tokio::test]
async fn a_throttled_state_check_keeps_a_refused_revoke_transient() {
    let (emu, exec) = setup().await;
    let revoke = || {
        action(
            ActionKind::RevokeDomain,
            domain(CORP, "jira.example.com"),
            ActionParams::None,
        )
    };
    // Without the fault: refused (the domain is ASSOCIATING), and the check
    // answers that it is not INACTIVE: a permanent finding.
    let recs = exec
        .execute(&[revoke()], Deadline::none(), &mut Metrics::new("t"))
        .await;
    match &recs[0].outcome {
        Outcome::Failed(f) => {
            assert_eq!(f.code, "InvalidRequestException", "{f}");
            assert_eq!(f.kind, FailureKind::Permanent, "{f}");
        }
        other => panic!("{other:?}"),
    }

    emu.shared().faults.set(FaultsConfig {
        rules: vec![FaultRule {
            operation: Some("DescribeDomain".into()),
            throttle_rate: 1.0,
            ..Default::default()
        }],
        seed: 3,
    });
    let recs = exec
        .execute(&[revoke()], Deadline::none(), &mut Metrics::new("t"))
        .await;
    match &recs[0].outcome {
        Outcome::Failed(f) => {
            assert_eq!(f.kind, FailureKind::Transient, "{f}");
            assert!(f.message.contains("DescribeDomain"), "{f}");
        }
        other => panic!("{other:?}"),
    }
    assert!(recs[0].outcome.should_retry());
}
