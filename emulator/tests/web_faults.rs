//! Fault injection on Secure Browser calls, seen through the SDK.

mod common;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_workspacesweb::operation::expire_session::ExpireSessionError;
use aws_sdk_workspacesweb::operation::list_portals::ListPortalsError;
use aws_sdk_workspacesweb::Client;
use common::{check, fails_as, sent};
use warden_emulator::web::SessionStatus;
use warden_emulator::{
    FaultRule, Faults, FaultsConfig, Fixture, Injected, RunningEmulator, Service,
};

const SAMPLE: &str = include_str!("../../events/emulator/web-sample.json");
const PORTAL_A: &str =
    "arn:aws:workspaces-web:us-east-1:123456789012:portal/11111111-1111-4111-8111-111111111111";
const ID_A: &str = "11111111-1111-4111-8111-111111111111";
const SESSION: &str = "a0000000-0000-4000-8000-000000000002";

fn rule(service: Service, operation: &str, throttle: f64, server: f64) -> FaultRule {
    FaultRule {
        service: Some(service),
        operation: Some(operation.to_string()),
        throttle_rate: throttle,
        server_error_rate: server,
        latency_ms: 0,
    }
}

async fn start(rules: Vec<FaultRule>, seed: u64) -> RunningEmulator {
    let mut fixture = Fixture::from_json(SAMPLE).unwrap();
    fixture.faults = Some(FaultsConfig { rules, seed });
    common::start(fixture).await
}

fn session_status(emu: &RunningEmulator) -> SessionStatus {
    let st = emu.shared().web();
    let p = st.portal(PORTAL_A).unwrap();
    p.sessions
        .iter()
        .find(|s| s.session_id == SESSION)
        .unwrap()
        .status
}

#[tokio::test]
async fn injected_errors_are_the_services_own_and_change_nothing() {
    let emu = start(
        vec![
            rule(Service::WorkspacesWeb, "ExpireSession", 1.0, 0.0),
            rule(Service::WorkspacesWeb, "ListPortals", 0.0, 1.0),
            // A rule for another service does not touch Secure Browser.
            rule(Service::WorkLink, "GetPortal", 1.0, 0.0),
        ],
        1,
    )
    .await;
    let c = common::web(&emu);
    check([
        (
            "throttled expire",
            fails_as!(
                c.expire_session()
                    .portal_id(ID_A)
                    .session_id(SESSION)
                    .send(),
                ExpireSessionError::ThrottlingException(_)
            ),
        ),
        (
            "server error on list",
            fails_as!(
                c.list_portals().send(),
                ListPortalsError::InternalServerException(_)
            ),
        ),
    ]);
    sent!(c.get_portal().portal_arn(PORTAL_A));
    assert_eq!(session_status(&emu), SessionStatus::Active);
    let calls = emu.shared().calls.snapshot();
    let summary: Vec<(&str, u16, bool)> = calls
        .iter()
        .map(|c| (c.operation.as_str(), c.status, c.injected))
        .collect();
    assert_eq!(
        summary,
        [
            ("ExpireSession", 429, true),
            ("ListPortals", 500, true),
            ("GetPortal", 200, false)
        ]
    );
}

fn retrying(emu: &RunningEmulator) -> Client {
    let retry = RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5));
    Client::new(&common::sdk_config(emu, retry))
}

#[tokio::test]
async fn the_sdk_retries_through_seeded_throttling() {
    let rules = || vec![rule(Service::WorkspacesWeb, "ExpireSession", 0.5, 0.0)];
    // The first seed whose first draw throttles, so a retry is certain.
    let seed = (0..100)
        .find(|&seed| {
            let f = Faults::new(FaultsConfig {
                rules: rules(),
                seed,
            });
            f.decide(Service::WorkspacesWeb, "ExpireSession").inject == Some(Injected::Throttle)
        })
        .expect("a seed that throttles first");
    let emu = start(rules(), seed).await;
    sent!(retrying(&emu)
        .expire_session()
        .portal_id(ID_A)
        .session_id(SESSION));
    assert_eq!(session_status(&emu), SessionStatus::Terminated);
    let calls = emu.shared().calls.of("ExpireSession");
    let (last, earlier) = calls.split_last().unwrap();
    assert!(last.ok() && !last.injected);
    assert!(
        !earlier.is_empty(),
        "seed {seed} throttles the first attempt"
    );
    assert!(earlier
        .iter()
        .all(|c| c.injected && c.error.as_deref() == Some("ThrottlingException")));
    // Same seed, same call order: the same number of attempts.
    let again = start(rules(), seed).await;
    sent!(retrying(&again)
        .expire_session()
        .portal_id(ID_A)
        .session_id(SESSION));
    assert_eq!(again.shared().calls.of("ExpireSession").len(), calls.len());
}

#[tokio::test]
async fn faults_change_at_runtime() {
    let emu = start(
        vec![rule(Service::WorkspacesWeb, "ListPortals", 1.0, 0.0)],
        0,
    )
    .await;
    let c = common::web(&emu);
    check([(
        "throttled",
        fails_as!(
            c.list_portals().send(),
            ListPortalsError::ThrottlingException(_)
        ),
    )]);
    let (status, _, _) =
        common::http(&emu, "PUT", "/_emulator/faults", "application/json", b"{}").await;
    assert_eq!(status, 200);
    assert_eq!(sent!(c.list_portals()).portals().len(), 2);
}
