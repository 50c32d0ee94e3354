//! Test support: start the emulator on a free loopback port and build real
//! SDK clients pointed at it. No test ever talks to a real AWS endpoint.
#![allow(dead_code)]

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_workspacesinstances::operation::get_workspace_instance::GetWorkspaceInstanceError;
use aws_sdk_workspacesinstances::types::ProvisionStateEnum;
use aws_types::sdk_config::SharedCredentialsProvider;
use jiff::{SignedDuration, Timestamp};
use warden_emulator::wsi::State;
use warden_emulator::{Emulator, FaultsConfig, Fixture, RunningEmulator};

pub async fn start(fixture: Fixture) -> RunningEmulator {
    Emulator::new(fixture)
        .start_local()
        .await
        .expect("emulator starts on loopback")
}

pub async fn start_json(fixture: &str) -> RunningEmulator {
    start(Fixture::from_json(fixture).expect("valid fixture")).await
}

/// The emulator on a fixed clock, serving the given WorkSpaces Instances
/// state and faults.
pub async fn start_wsi(
    clock: Timestamp,
    st: State,
    faults: Option<FaultsConfig>,
) -> RunningEmulator {
    start(Fixture {
        clock: Some(clock),
        faults,
        workspaces_instances: st,
        ..Default::default()
    })
    .await
}

/// Moves the emulator clock on by `secs` seconds.
pub fn advance(emu: &RunningEmulator, secs: i64) {
    emu.shared()
        .clock
        .advance(SignedDuration::from_secs(secs))
        .expect("clock advances");
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

/// GetWorkspaceInstance's ProvisionState for `id`, or the service error.
pub async fn provision_state(
    client: &aws_sdk_workspacesinstances::Client,
    id: &str,
) -> Result<Option<ProvisionStateEnum>, GetWorkspaceInstanceError> {
    client
        .get_workspace_instance()
        .workspace_instance_id(id)
        .send()
        .await
        .map(|o| o.provision_state().cloned())
        .map_err(|e| e.into_service_error())
}

/// Asserts every row's value (the middle) equals the expected one (the
/// last); a failure names `what` and the row.
pub fn assert_fields<'a, T: PartialEq + std::fmt::Debug>(
    what: &str,
    rows: impl IntoIterator<Item = (&'a str, T, T)>,
) {
    for (field, got, want) in rows {
        assert_eq!(got, want, "{what}: {field}");
    }
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

/// Sends a request (an SDK fluent builder) that must succeed and gives its
/// output; a failure names the request as written.
#[allow(unused_macros)] // not every test file uses it
macro_rules! sent {
    ($req:expr) => {
        $req.send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", stringify!($req)))
    };
}
#[allow(unused_imports)]
pub(crate) use sent;

/// Every page of a paginated request, which must all succeed.
#[allow(unused_macros)] // not every test file uses it
macro_rules! all_pages {
    ($req:expr) => {
        $req.into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap_or_else(|e| panic!("{} pages: {e:?}", stringify!($req)))
    };
}
#[allow(unused_imports)]
pub(crate) use all_pages;

/// One HTTP/1.1 exchange over a plain socket: (status, headers, body).
pub async fn http(
    emu: &RunningEmulator,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let headers: &[(&str, &str)] = if content_type.is_empty() {
        &[]
    } else {
        &[("Content-Type", content_type)]
    };
    http_with(emu, method, path, headers, body).await
}

/// [`http`] with any request headers.
pub async fn http_with(
    emu: &RunningEmulator,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = emu.addr();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    )
    .into_bytes();
    for (name, value) in headers {
        req.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(&req).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("header end");
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, raw[split + 4..].to_vec())
    })
    .await
    .unwrap()
}

/// The Secure Browser client, retries off.
pub fn web(emu: &RunningEmulator) -> aws_sdk_workspacesweb::Client {
    aws_sdk_workspacesweb::Client::new(&sdk_config(emu, RetryConfig::disabled()))
}
