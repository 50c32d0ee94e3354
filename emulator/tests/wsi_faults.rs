//! Fault injection and the clock-driven lifecycle, seen through the SDK.

mod common;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_workspacesinstances::operation::get_workspace_instance::GetWorkspaceInstanceError as GetErr;
use aws_sdk_workspacesinstances::types::ProvisionStateEnum;
use aws_sdk_workspacesinstances::Client;
use common::{advance, fails_as, provision_state, sent};
use jiff::{SignedDuration, Timestamp};
use warden_emulator::wsi::{Instance, ProvisionState, State};
use warden_emulator::{FaultRule, FaultsConfig, RunningEmulator, Service};

fn t0() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn fleet(n: usize) -> (State, Vec<String>) {
    let mut st = State::default();
    let ids = st.add_instances("f", n, ProvisionState::Allocated, t0());
    (st, ids)
}

async fn start(st: State, faults: Option<FaultsConfig>) -> RunningEmulator {
    common::start_wsi(t0(), st, faults).await
}

/// `n` allocated instances behind one fault rule with the given seed.
async fn start_faulty(n: usize, rule: FaultRule, seed: u64) -> (RunningEmulator, Vec<String>) {
    let (st, ids) = fleet(n);
    let faults = FaultsConfig {
        rules: vec![rule],
        seed,
    };
    (start(st, Some(faults)).await, ids)
}

fn rule(operation: Option<&str>, throttle_rate: f64, server_error_rate: f64) -> FaultRule {
    FaultRule {
        service: Some(Service::WorkspacesInstances),
        operation: operation.map(str::to_string),
        throttle_rate,
        server_error_rate,
        latency_ms: 0,
    }
}

fn retrying_client(emu: &RunningEmulator, attempts: u32) -> Client {
    let retry = RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5));
    Client::new(&common::sdk_config(emu, retry))
}

#[tokio::test]
async fn full_throttling_without_retries_surfaces_throttling_exception() {
    let (emu, ids) = start_faulty(1, rule(Some("GetWorkspaceInstance"), 1.0, 0.0), 3).await;
    let client = common::wsi(&emu);
    common::check([(
        "GetWorkspaceInstance, throttled",
        fails_as!(
            client.get_workspace_instance().workspace_instance_id(&ids[0]).send(),
            GetErr::ThrottlingException(t) if t.message() == "Rate exceeded"
        ),
    )]);
    let calls = emu.shared().calls.of("GetWorkspaceInstance");
    assert_eq!(calls.len(), 1, "retries are off: one attempt");
    assert!(calls[0].injected);
    assert_eq!(calls[0].params["WorkspaceInstanceId"], ids[0].as_str());
    // Only the named operation is affected.
    sent!(client.list_workspace_instances());
}

#[tokio::test]
async fn sdk_retries_partial_throttling_and_succeeds() {
    let (emu, ids) = start_faulty(10, rule(None, 0.4, 0.0), 11).await;
    let client = retrying_client(&emu, 5);
    for id in &ids {
        let out = client
            .get_workspace_instance()
            .workspace_instance_id(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{id}: {e:?}"));
        assert_eq!(out.workspace_instance_id(), Some(id.as_str()));
    }
    let calls = emu.shared().calls.of("GetWorkspaceInstance");
    let throttled = calls.iter().filter(|c| c.injected).count();
    let ok = calls.iter().filter(|c| c.ok()).count();
    assert_eq!(ok, 10);
    assert!(throttled > 0, "the seed must throttle some attempts");
    assert_eq!(calls.len(), ok + throttled);
    assert!(calls
        .iter()
        .filter(|c| c.injected)
        .all(|c| c.error.as_deref() == Some("ThrottlingException")));
    // Attempts for one instance are consecutive and end in its success.
    let mut at = 0;
    for id in &ids {
        while calls[at].params["WorkspaceInstanceId"] == id.as_str() && !calls[at].ok() {
            at += 1;
        }
        assert_eq!(calls[at].params["WorkspaceInstanceId"], id.as_str());
        assert!(calls[at].ok());
        at += 1;
    }
    assert_eq!(at, calls.len());
}

#[tokio::test]
async fn retries_give_up_after_max_attempts() {
    let (emu, ids) = start_faulty(1, rule(None, 1.0, 0.0), 1).await;
    let client = retrying_client(&emu, 3);
    let err = provision_state(&client, &ids[0]).await.unwrap_err();
    assert!(err.is_throttling_exception(), "{err:?}");
    assert_eq!(emu.shared().calls.of("GetWorkspaceInstance").len(), 3);

    // Internal errors (HTTP 500) are retried too.
    emu.shared().faults.set(FaultsConfig {
        rules: vec![rule(None, 0.0, 1.0)],
        seed: 1,
    });
    let err = client
        .delete_workspace_instance()
        .workspace_instance_id(&ids[0])
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_internal_server_exception(), "{err:?}");
    let calls = emu.shared().calls.of("DeleteWorkspaceInstance");
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c.status == 500 && c.injected));
    assert_eq!(
        emu.shared()
            .wsi()
            .instance(&ids[0])
            .unwrap()
            .provision_state,
        ProvisionState::Allocated
    );
}

#[tokio::test]
async fn injected_latency_delays_the_answer() {
    let latency = FaultRule {
        latency_ms: 150,
        ..rule(None, 0.0, 0.0)
    };
    let (emu, ids) = start_faulty(1, latency, 0).await;
    let client = common::wsi(&emu);
    let started = std::time::Instant::now();
    sent!(client
        .get_workspace_instance()
        .workspace_instance_id(&ids[0]));
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn fixture_transitions_fire_when_the_clock_passes_them() {
    let id = "wsinst-scheduled01";
    let st = State::default().with_instance(
        Instance::new(id, ProvisionState::Allocating, t0()).with_transition(
            ProvisionState::ErrorAllocating,
            t0() + SignedDuration::from_secs(30),
        ),
    );
    let emu = start(st, None).await;
    let client = common::wsi(&emu);
    for (wait, want) in [
        (0, ProvisionStateEnum::Allocating),
        (29, ProvisionStateEnum::Allocating),
        (1, ProvisionStateEnum::ErrorAllocating),
    ] {
        advance(&emu, wait);
        let got = provision_state(&client, id).await;
        assert_eq!(got.unwrap(), Some(want), "after +{wait}s");
    }
    // Server-side filter sees the new state too.
    let out = sent!(client
        .list_workspace_instances()
        .provision_states(ProvisionStateEnum::ErrorAllocating));
    assert_eq!(out.workspace_instances().len(), 1);
    assert!(emu
        .shared()
        .wsi()
        .instance(id)
        .unwrap()
        .transition
        .is_none());
}

#[tokio::test]
async fn lifecycle_timings_come_from_the_fixture() {
    let mut st = State::default();
    st.lifecycle.allocate_seconds = 5;
    st.lifecycle.deallocate_seconds = 10;
    st.lifecycle.deallocated_retention_seconds = 0;
    let emu = start(st, None).await;
    let client = common::wsi(&emu);
    let id = sent!(client.create_workspace_instance().managed_instance(
        aws_sdk_workspacesinstances::types::ManagedInstanceRequest::builder()
            .instance_type("t3.medium")
            .build(),
    ))
    .workspace_instance_id()
    .unwrap()
    .to_string();
    advance(&emu, 5);
    assert_eq!(
        provision_state(&client, &id).await.unwrap(),
        Some(ProvisionStateEnum::Allocated)
    );
    sent!(client
        .delete_workspace_instance()
        .workspace_instance_id(&id));
    advance(&emu, 9);
    assert_eq!(
        provision_state(&client, &id).await.unwrap(),
        Some(ProvisionStateEnum::Deallocating)
    );
    advance(&emu, 1);
    // Zero retention: gone as soon as it is DEALLOCATED.
    let err = provision_state(&client, &id).await.unwrap_err();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
}
