//! Fault injection as the SDK experiences it: throttling surfaces as
//! TooManyRequestsException without retries, the SDK's standard retry
//! recovers from partial throttling and cleared faults (the call log shows
//! every attempt), and injected latency shows up in elapsed time.

#![allow(deprecated)] // the SDK marks every WorkLink call deprecated (service retired)

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_worklink::operation::sign_out_user::SignOutUserError;
use aws_sdk_worklink::Client;
use warden_emulator::worklink::DeviceStatus;
use warden_emulator::{FaultRule, Faults, FaultsConfig, Injected, RunningEmulator, Service};

const SAMPLE: &str = include_str!("../../events/emulator/worklink-sample.json");
const CORP: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";

fn retrying(emu: &RunningEmulator, attempts: u32) -> Client {
    let retry = RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(20));
    Client::new(&common::sdk_config(emu, retry))
}

fn sign_out_rule(throttle_rate: f64, server_error_rate: f64, seed: u64) -> FaultsConfig {
    FaultsConfig {
        rules: vec![FaultRule {
            service: Some(Service::WorkLink),
            operation: Some("SignOutUser".into()),
            throttle_rate,
            server_error_rate,
            latency_ms: 0,
        }],
        seed,
    }
}

fn bob_status(emu: &RunningEmulator) -> DeviceStatus {
    emu.shared()
        .worklink()
        .fleet(CORP)
        .and_then(|f| {
            f.devices
                .iter()
                .find(|d| d.username == "bob")
                .map(|d| d.status)
        })
        .expect("bob's device")
}

/// (error code or None, injected) for each SignOutUser attempt, in order.
fn attempts(emu: &RunningEmulator) -> Vec<(Option<String>, bool)> {
    emu.shared()
        .calls
        .of("SignOutUser")
        .into_iter()
        .map(|c| (c.error, c.injected))
        .collect()
}

#[tokio::test]
async fn full_throttling_without_retries_is_too_many_requests() {
    let emu = common::start_json(SAMPLE).await;
    emu.shared().faults.set(sign_out_rule(1.0, 0.0, 3));
    let err = common::worklink(&emu)
        .sign_out_user()
        .fleet_arn(CORP)
        .username("bob")
        .send()
        .await
        .expect_err("throttled");
    let raw_status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw_status, Some(429));
    assert!(matches!(
        err.into_service_error(),
        SignOutUserError::TooManyRequestsException(_)
    ));
    assert_eq!(
        attempts(&emu),
        [(Some("TooManyRequestsException".to_string()), true)]
    );
    assert_eq!(bob_status(&emu), DeviceStatus::Active, "nothing ran");
}

#[tokio::test]
async fn standard_retry_gives_up_after_max_attempts() {
    let emu = common::start_json(SAMPLE).await;
    emu.shared().faults.set(sign_out_rule(1.0, 0.0, 3));
    let err = retrying(&emu, 3)
        .sign_out_user()
        .fleet_arn(CORP)
        .username("bob")
        .send()
        .await
        .expect_err("still throttled");
    assert!(err.into_service_error().is_too_many_requests_exception());
    assert_eq!(attempts(&emu).len(), 3, "one call plus two retries");
}

#[tokio::test]
async fn standard_retry_recovers_from_partial_throttling() {
    // Pick a seed whose draws throttle the first one or two attempts, by
    // asking a Faults with the same config what it will decide.
    let (seed, expected_throttles) = (0..1000u64)
        .find_map(|seed| {
            let probe = Faults::new(sign_out_rule(0.5, 0.0, seed));
            let n = (0..5)
                .take_while(|_| {
                    probe.decide(Service::WorkLink, "SignOutUser").inject
                        == Some(Injected::Throttle)
                })
                .count();
            (1..=2).contains(&n).then_some((seed, n))
        })
        .expect("some seed throttles once or twice");

    let emu = common::start_json(SAMPLE).await;
    emu.shared().faults.set(sign_out_rule(0.5, 0.0, seed));
    retrying(&emu, 5)
        .sign_out_user()
        .fleet_arn(CORP)
        .username("bob")
        .send()
        .await
        .expect("retries get through");

    let log = attempts(&emu);
    let mut want = vec![(Some("TooManyRequestsException".to_string()), true); expected_throttles];
    want.push((None, false));
    assert_eq!(log, want);
    assert_eq!(bob_status(&emu), DeviceStatus::SignedOut);
}

#[tokio::test]
async fn standard_retry_recovers_when_a_rule_is_cleared() {
    let emu = common::start_json(SAMPLE).await;
    emu.shared().faults.set(sign_out_rule(0.0, 1.0, 9));
    // Clear the rule once two failed attempts have been logged.
    let shared = Arc::clone(emu.shared());
    let clearer = tokio::spawn(async move {
        while shared.calls.of("SignOutUser").len() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        shared.faults.clear();
    });
    let retry = RetryConfig::standard()
        .with_max_attempts(6)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(100));
    Client::new(&common::sdk_config(&emu, retry))
        .sign_out_user()
        .fleet_arn(CORP)
        .username("bob")
        .send()
        .await
        .expect("recovers after the rule is cleared");
    clearer.await.expect("clearer task");

    let log = attempts(&emu);
    assert!(log.len() >= 3, "{log:?}");
    let (last, failed) = log.split_last().expect("attempts");
    assert_eq!(last, &(None, false));
    assert!(failed
        .iter()
        .all(|a| a == &(Some("InternalServerErrorException".to_string()), true)));
    assert_eq!(bob_status(&emu), DeviceStatus::SignedOut);
}

#[tokio::test]
async fn injected_latency_shows_in_elapsed_time() {
    let emu = common::start_json(SAMPLE).await;
    let wl = common::worklink(&emu);
    wl.list_fleets().send().await.expect("warm-up");

    emu.shared().faults.set(FaultsConfig {
        rules: vec![FaultRule {
            operation: Some("ListFleets".into()),
            latency_ms: 300,
            ..Default::default()
        }],
        seed: 0,
    });
    let start = Instant::now();
    wl.list_fleets().send().await.expect("slow but fine");
    let slow = start.elapsed();
    assert!(slow >= Duration::from_millis(250), "took {slow:?}");

    // Other operations are not slowed by a ListFleets rule.
    let start = Instant::now();
    wl.list_devices().fleet_arn(CORP).send().await.unwrap();
    assert!(
        start.elapsed() < slow,
        "ListDevices took {:?}",
        start.elapsed()
    );
}
