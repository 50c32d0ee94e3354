//! Test support: start the emulator on a free loopback port and build real
//! SDK clients pointed at it. No test ever talks to a real AWS endpoint.
#![allow(dead_code)]

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_types::sdk_config::SharedCredentialsProvider;
use warden_emulator::{Emulator, Fixture, RunningEmulator};

pub async fn start(fixture: Fixture) -> RunningEmulator {
    Emulator::new(fixture)
        .start_local()
        .await
        .expect("emulator starts on loopback")
}

pub async fn start_json(fixture: &str) -> RunningEmulator {
    start(Fixture::from_json(fixture).expect("valid fixture")).await
}

/// SDK config for the emulator: fixed region, static test credentials, the
/// loopback endpoint, and the given retry policy.
pub fn sdk_config(emu: &RunningEmulator, retry: RetryConfig) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(emu.endpoint_url())
        .credentials_provider(SharedCredentialsProvider::new(
            aws_sdk_worklink::config::Credentials::new("AKIDTEST", "secret", None, None, "test"),
        ))
        .retry_config(retry)
        .build()
}

/// Clients with retries off, so each test sees the emulator's first answer.
pub fn worklink(emu: &RunningEmulator) -> aws_sdk_worklink::Client {
    aws_sdk_worklink::Client::new(&sdk_config(emu, RetryConfig::disabled()))
}

pub fn wsi(emu: &RunningEmulator) -> aws_sdk_workspacesinstances::Client {
    aws_sdk_workspacesinstances::Client::new(&sdk_config(emu, RetryConfig::disabled()))
}
