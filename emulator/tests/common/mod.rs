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

/// A table row as described by [`check`]: the case, then `Ok(())` if the call
/// came back as expected, else what came back instead.
pub type Row<'a> = (&'a str, Result<(), String>);

/// Fails on the first row whose call did not come back as expected.
pub fn check<'a>(rows: impl IntoIterator<Item = Row<'a>>) {
    for (case, r) in rows {
        if let Err(got) = r {
            panic!("{case}: {got}");
        }
    }
}

/// Awaits a call that must fail with a service error matching the pattern
/// (and guard); the row result for [`check`].
#[allow(unused_macros)] // not every test file uses it
macro_rules! fails_as {
    ($call:expr, $pat:pat $(if $guard:expr)?) => {
        match $call.await {
            Ok(out) => Err(format!("expected an error, got {out:?}")),
            Err(e) => {
                let e = e.into_service_error();
                if matches!(&e, $pat $(if $guard)?) {
                    Ok(())
                } else {
                    Err(format!("unexpected error {e:?}"))
                }
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use fails_as;
