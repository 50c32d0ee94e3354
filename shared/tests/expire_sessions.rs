//! `expire-sessions` against the emulator's WorkSpaces Secure Browser over
//! real HTTP: exactly the user's active sessions on the one portal end (every
//! ListSessions page), none active is already done, and errors are split into
//! permanent findings and transient failures like every other action.

use serde_json::{json, Value};
use warden_core::aws::deadline::{Deadline, FailureKind};
use warden_core::aws::emf::Metrics;
use warden_core::aws::executor::{ActionRecord, Executor, Outcome};
use warden_core::aws::Clients;
use warden_core::plan::{ActionParams, PlannedAction, Target};
use warden_core::policy::ActionKind;
use warden_emulator::{Emulator, FaultRule, FaultsConfig, Fixture, RunningEmulator};

const ID_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const ID_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const ID_C: &str = "cccccccc-0000-4000-8000-00000000000c";
const ID_D: &str = "dddddddd-0000-4000-8000-00000000000d";

fn portal(id: &str) -> String {
    format!("arn:aws:workspaces-web:us-east-1:123456789012:portal/{id}")
}

/// A session id: the portal's letter, the user's number, the index.
fn sid(portal: char, user: usize, i: usize) -> String {
    format!("{portal}{user:07}-0000-4000-8000-{i:012}")
}

fn session(id: String, user: &str, status: &str, minute: usize) -> Value {
    json!({
        "session_id": id,
        "username": user,
        "status": status,
        "start_time": format!("2026-11-25T{:02}:{:02}:00Z", 8 + minute / 60, minute % 60),
        "client_ip_addresses": ["203.0.113.7"],
    })
}

/// Portal A: alice has 120 active sessions (three pages of 50) and two
/// ended ones, bob three active, alice2 (a longer name) one. Portal B:
/// alice two active. Portal C: alice only ended ones. Portal D: as B, but
/// ExpireSession is denied there.
fn fixture() -> Value {
    let mut a = Vec::new();
    for i in 0..120 {
        a.push(session(sid('a', 1, i), "alice", "Active", i));
    }
    for i in 120..122 {
        a.push(session(sid('a', 1, i), "alice", "Terminated", i));
    }
    for i in 0..3 {
        a.push(session(sid('a', 2, i), "bob", "Active", i));
    }
    a.push(session(sid('a', 3, 0), "alice2", "Active", 5));
    let b: Vec<Value> = (0..2)
        .map(|i| session(sid('b', 1, i), "alice", "Active", i))
        .collect();
    let c: Vec<Value> = (0..2)
        .map(|i| session(sid('c', 1, i), "alice", "Terminated", i))
        .collect();
    let d: Vec<Value> = (0..2)
        .map(|i| session(sid('d', 1, i), "alice", "Active", i))
        .collect();
    let p = |id: &str, sessions: Vec<Value>| json!({ "arn": portal(id), "display_name": id[..8].to_string(), "status": "Active", "sessions": sessions });
    json!({
        "clock": "2026-11-25T12:00:00Z",
        "workspaces_web": {
            "portals": [p(ID_A, a), p(ID_B, b), p(ID_C, c), p(ID_D, d)],
            "access_denied": [{ "operations": ["ExpireSession"], "resources": [ID_D] }],
        }
    })
}

async fn setup() -> (RunningEmulator, Executor) {
    let emu = Emulator::new(Fixture::from_json(&fixture().to_string()).unwrap())
        .start_local()
        .await
        .unwrap();
    let clients = Clients::local(&emu.endpoint_url(), 3).await;
    (emu, Executor::new(&clients, 4))
}

fn expire(portal_id: &str, user: &str) -> PlannedAction {
    PlannedAction {
        kind: ActionKind::ExpireSessions,
        target: Target::PortalUser {
            portal_arn: portal(portal_id),
            user: user.into(),
        },
        params: ActionParams::None,
        rules: vec!["test-rule".into()],
        causes: vec![],
        cause_count: 1,
        dry_run: false,
    }
}

async fn run(exec: &Executor, actions: &[PlannedAction]) -> (Vec<ActionRecord>, Metrics) {
    let mut metrics = Metrics::new("test");
    let recs = exec.execute(actions, Deadline::none(), &mut metrics).await;
    (recs, metrics)
}

/// (portal letter, user, status) of every session, in fixture order.
fn statuses(emu: &RunningEmulator) -> Vec<(String, String, String)> {
    emu.shared()
        .web()
        .portals
        .iter()
        .flat_map(|p| {
            let letter = p.id()[..1].to_string();
            p.sessions
                .iter()
                .map(move |s| {
                    (
                        letter.clone(),
                        s.username.clone(),
                        s.status.as_str().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn failure(rec: &ActionRecord) -> &warden_core::aws::deadline::CallFailure {
    match &rec.outcome {
        Outcome::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn only_that_users_active_sessions_on_that_portal_end() {
    let (emu, exec) = setup().await;
    let before = statuses(&emu);
    let (recs, metrics) = run(&exec, &[expire(ID_A, "alice")]).await;
    assert_eq!(recs[0].outcome, Outcome::Done);
    // Three ListSessions pages, then one ExpireSession per active session.
    assert_eq!(recs[0].attempts, 3 + 120);
    let calls = &emu.shared().calls;
    let lists = calls.of("ListSessions");
    assert_eq!(lists.len(), 3, "every page of the listing");
    for c in &lists {
        assert_eq!(c.params["portalId"], ID_A, "{c:?}");
        assert_eq!(c.params["username"], "alice", "{c:?}");
        assert_eq!(c.params["status"], "Active", "{c:?}");
    }
    let expired: Vec<String> = calls
        .of("ExpireSession")
        .iter()
        .map(|c| c.params["sessionId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expired.len(), 120);
    let mut want: Vec<String> = (0..120).map(|i| sid('a', 1, i)).collect();
    let mut got = expired.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "exactly alice's active sessions on portal A");
    assert_eq!(
        metrics.get_by("ActionsExecuted", "Action", "ExpireSession"),
        1.0
    );

    // Every other session is as it was: bob's and alice2's on A, alice's on
    // B and D; alice's on A are all ended now.
    let after = statuses(&emu);
    for (was, now) in before.iter().zip(&after) {
        if was.0 == "a" && was.1 == "alice" {
            assert_eq!(now.2, "Terminated", "{now:?}");
        } else {
            assert_eq!(was, now);
        }
    }
    assert!(after
        .iter()
        .any(|s| s == &("b".into(), "alice".into(), "Active".into())));

    // Again: nothing active is left, so it is already done, with one
    // ListSessions call and no ExpireSession.
    let (recs, _) = run(&exec, &[expire(ID_A, "alice")]).await;
    assert!(
        matches!(&recs[0].outcome, Outcome::Already { detail } if detail.contains("no active session")),
        "{:?}",
        recs[0].outcome
    );
    assert_eq!(recs[0].attempts, 1);
    assert_eq!(emu.shared().calls.of("ExpireSession").len(), 120);
}

#[tokio::test]
async fn a_user_with_only_ended_sessions_or_none_is_already_done() {
    let (emu, exec) = setup().await;
    let (recs, _) = run(&exec, &[expire(ID_C, "alice"), expire(ID_B, "nobody")]).await;
    for rec in &recs {
        assert!(
            matches!(rec.outcome, Outcome::Already { .. }),
            "{:?}",
            rec.outcome
        );
        assert!(rec.outcome.is_success());
    }
    assert!(emu.shared().calls.of("ExpireSession").is_empty());
}

#[tokio::test]
async fn dry_run_lists_nothing_and_ends_nothing() {
    let (emu, exec) = setup().await;
    let mut a = expire(ID_B, "alice");
    a.dry_run = true;
    let (recs, _) = run(&exec, &[a]).await;
    assert_eq!(recs[0].outcome, Outcome::DryRun);
    assert!(emu.shared().calls.of("ListSessions").is_empty());
    assert!(emu.shared().calls.of("ExpireSession").is_empty());
}

#[tokio::test]
async fn unknown_portal_and_denied_expiry_are_permanent() {
    let (emu, exec) = setup().await;
    let (recs, metrics) = run(
        &exec,
        &[
            expire("eeeeeeee-0000-4000-8000-00000000000e", "alice"),
            expire(ID_D, "alice"),
        ],
    )
    .await;
    let missing = failure(&recs[0]);
    assert_eq!(
        (missing.kind, missing.code.as_str()),
        (FailureKind::Permanent, "ResourceNotFoundException")
    );
    assert!(missing.message.contains("ListSessions"), "{missing}");
    let denied = failure(&recs[1]);
    assert_eq!(
        (denied.kind, denied.code.as_str()),
        (FailureKind::Permanent, "AccessDeniedException")
    );
    assert!(denied.message.contains("ExpireSession"), "{denied}");
    assert!(!recs[1].outcome.should_retry());
    assert_eq!(
        metrics.get_by("ActionsFailed", "Action", "ExpireSession"),
        2.0
    );
    // Denied on the first session: the second was not tried.
    assert_eq!(emu.shared().calls.of("ExpireSession").len(), 1);
    assert!(statuses(&emu)
        .iter()
        .filter(|s| s.0 == "d")
        .all(|s| s.2 == "Active"));
}

#[tokio::test]
async fn a_portal_arn_of_another_service_is_refused_without_a_call() {
    let (emu, exec) = setup().await;
    let mut a = expire(ID_B, "alice");
    a.target = Target::PortalUser {
        portal_arn: "arn:aws:worklink::123456789012:fleet/corp".into(),
        user: "alice".into(),
    };
    let (recs, _) = run(&exec, &[a]).await;
    let f = failure(&recs[0]);
    assert_eq!(
        (f.kind, f.code.as_str()),
        (FailureKind::Permanent, "InvalidPlan")
    );
    assert!(emu.shared().calls.is_empty(), "no call made");
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient_and_a_retry_finishes() {
    let (emu, exec) = setup().await;
    let fault = |operation: &str, throttle: f64, server: f64| FaultsConfig {
        rules: vec![FaultRule {
            operation: Some(operation.into()),
            throttle_rate: throttle,
            server_error_rate: server,
            ..Default::default()
        }],
        seed: 7,
    };
    emu.shared().faults.set(fault("ListSessions", 1.0, 0.0));
    let (recs, _) = run(&exec, &[expire(ID_B, "alice")]).await;
    let f = failure(&recs[0]);
    assert_eq!(
        (f.kind, f.code.as_str()),
        (FailureKind::Transient, "ThrottlingException")
    );
    assert_eq!(recs[0].attempts, 3, "the SDK retried up to max attempts");
    assert!(recs[0].outcome.should_retry());

    emu.shared().faults.set(fault("ExpireSession", 0.0, 1.0));
    let (recs, _) = run(&exec, &[expire(ID_B, "alice")]).await;
    let f = failure(&recs[0]);
    assert_eq!(f.kind, FailureKind::Transient, "{f}");
    assert!(f.message.contains("ExpireSession"), "{f}");
    assert!(recs[0].outcome.should_retry());

    // The retry, with the service healthy again, ends both sessions.
    emu.shared().faults.clear();
    let (recs, _) = run(&exec, &[expire(ID_B, "alice")]).await;
    assert_eq!(recs[0].outcome, Outcome::Done);
    assert!(statuses(&emu)
        .iter()
        .filter(|s| s.0 == "b")
        .all(|s| s.2 == "Terminated"));
}
