//! The real `fleet-sweep` binary as a process, exactly as on Lambda: it polls
//! the emulator's local Lambda Runtime API, and its SDK clients talk to the
//! WorkLink emulator through `AWS_ENDPOINT_URL`. The environment is cleared
//! first, so nothing reaches a real AWS account or a developer's profile.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use warden_emulator::function::{FunctionProcess, Launch};
use warden_emulator::runtime_api::FunctionResult;
use warden_emulator::{Emulator, Fixture};

const CORP: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";
const PARTNER: &str = "arn:aws:worklink::123456789012:fleet/partner-portal";
const WARDEN_STREAM: &str =
    "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-warden-audit";

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The binary under test: `CARGO_BIN_EXE_fleet-sweep`, checked by a probe.
///
/// With a `CARGO_TARGET_DIR` shared by several checkouts, another checkout's
/// build of its own `fleet-sweep` package can re-link
/// `target/debug/fleet-sweep` at any time. So the path is probed (a bad
/// configuration must stop it, naming the variable: the stub and the test
/// harness do not); failing that, the newest build in `deps/` that passes the
/// probe is used.
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_BIN_EXE_fleet-sweep"));
        if is_fleet_sweep(&path) {
            return path;
        }
        let deps = path.parent().map(|d| d.join("deps")).unwrap_or_default();
        let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&deps)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_none()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("fleet_sweep-"))
            })
            .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
            .collect();
        candidates.sort();
        candidates
            .into_iter()
            .rev()
            .map(|(_, p)| p)
            .find(|p| is_fleet_sweep(p))
            .unwrap_or_else(|| {
                panic!(
                    "{} is not a fleet-sweep build and none was found in {}",
                    path.display(),
                    deps.display()
                )
            })
    })
}

fn is_fleet_sweep(path: &Path) -> bool {
    Command::new(path)
        .env_clear()
        .env("WARDEN_DEVICE_CONCURRENCY", "0")
        .output()
        .is_ok_and(|o| {
            !o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains("WARDEN_DEVICE_CONCURRENCY")
        })
}

/// The binary under the shared harness (hermetic environment), every AWS
/// endpoint at `endpoint`, plus `extra` variables.
fn launch(endpoint: &str, extra: &[(&str, &str)]) -> Launch {
    Launch::new(binary(), "fleet-sweep")
        .memory_mb(512)
        .var("AWS_ENDPOINT_URL", endpoint)
        // As the template sets it (the default policy follows it).
        .var("WARDEN_AUDIT_STREAM_ARN", WARDEN_STREAM)
        // The default policy's restore rule needs the state table.
        .var("WARDEN_STATE_TABLE", "memory:")
        .vars(extra.iter().copied())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_sweeps_on_a_schedule_and_on_manual_invocations() {
    let fixture = Fixture::from_json(&repo_file("events/emulator/demo-fixture.json")).unwrap();
    let emu = Emulator::new(fixture).start_local().await.unwrap();
    let shared = emu.shared().clone();
    let function =
        FunctionProcess::start(&launch(&emu.endpoint_url(), &[]), Duration::from_secs(30))
            .await
            .unwrap_or_else(|(e, out)| panic!("not ready: {e}\n{}", out.join("\n")));
    let api = &function.api;

    // The scheduled event, on the default (dry-run) configuration.
    let scheduled = repo_file("events/scheduled-event.json");
    let inv = api
        .invoke(scheduled, Duration::from_secs(60))
        .await
        .unwrap();
    let first_request = inv.request_id.clone();
    let report = inv
        .json()
        .unwrap_or_else(|e| panic!("{e}\n{}", function.output().join("\n")));
    assert_eq!(report["dry_run"], json!(true));
    assert_eq!(report["fleets_swept"], json!(2));
    let partner = report["fleets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fleet_arn"] == json!(PARTNER))
        .expect("partner-portal in the report");
    assert_eq!(partner["findings"][0]["finding"], json!("no-audit-stream"));
    assert_eq!(partner["findings"][0]["expected"], json!(WARDEN_STREAM));
    assert!(report["totals"]["dry_run_actions"].as_u64().unwrap() > 0);
    let changing = |shared: &warden_emulator::Shared| {
        shared
            .calls
            .snapshot()
            .iter()
            .filter(|c| {
                [
                    "SignOutUser",
                    "RevokeDomainAccess",
                    "RestoreDomainAccess",
                    "UpdateAuditStreamConfiguration",
                ]
                .contains(&c.operation.as_str())
            })
            .count()
    };
    assert_eq!(changing(&shared), 0, "dry-run by default");

    // A manual invocation: one fleet, live.
    let manual = json!({ "fleet_arns": [PARTNER], "dry_run": false }).to_string();
    let inv = api.invoke(manual, Duration::from_secs(60)).await.unwrap();
    let manual_request = inv.request_id.clone();
    let report = inv.json().unwrap();
    assert_eq!(report["fleets_swept"], json!(1));
    assert_eq!(
        report["fleets"][0]["audit_stream_set"],
        json!(WARDEN_STREAM)
    );
    assert_eq!(
        shared
            .worklink()
            .fleet(PARTNER)
            .unwrap()
            .audit_stream_arn
            .as_deref(),
        Some(WARDEN_STREAM)
    );
    assert!(shared
        .calls
        .snapshot()
        .iter()
        .filter(|c| c.operation == "SignOutUser" || c.operation == "RevokeDomainAccess")
        .all(|c| c.params["FleetArn"] == json!(PARTNER)));
    assert_eq!(
        shared
            .worklink()
            .fleet(CORP)
            .unwrap()
            .audit_stream_arn
            .as_deref(),
        Some("arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-demo"),
        "the other fleet untouched"
    );

    // A payload that is neither: a function error naming the problem.
    let inv = api
        .invoke(r#"{"dryrun": false}"#, Duration::from_secs(30))
        .await
        .unwrap();
    match inv.result {
        FunctionResult::Error { error_message, .. } => {
            assert!(
                error_message.contains("unknown field `dryrun`"),
                "{error_message}"
            )
        }
        other => panic!("expected an error, got {other:?}"),
    }

    // Still serving; and its log lines are JSON: actions and EMF metrics.
    let inv = api
        .invoke(
            json!({"fleet_arns": [CORP]}).to_string(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(inv.json().unwrap()["fleets_swept"], json!(1));
    // The action's log line and the EMF document come before the answer,
    // but may still be in the pipe.
    let parse = |ls: &[String]| -> Vec<Value> {
        ls.iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    };
    let updated = |l: &Value| {
        l["operation"] == json!("UpdateAuditStreamConfiguration") && l["outcome"] == json!("done")
    };
    let metrics =
        |d: &Value| d["_aws"]["CloudWatchMetrics"].is_array() && d["FleetsSwept"].is_number();
    let lines = function
        .stdout
        .lines_once(
            |ls| {
                let json_lines = parse(ls);
                json_lines.iter().any(updated) && json_lines.iter().any(metrics)
            },
            Duration::from_secs(10),
        )
        .await;
    let json_lines = parse(&lines);
    assert!(
        json_lines.iter().any(updated),
        "an action log line:\n{}",
        lines.join("\n")
    );
    // Every line of an invocation carries the request id the Runtime API
    // handed out, a timestamp, and whether it was the cold start.
    let action = json_lines.iter().find(|l| updated(l)).unwrap();
    assert_eq!(action["requestId"], json!(manual_request), "{action}");
    assert_eq!(action["cold_start"], json!(false), "{action}");
    assert!(
        action["timestamp"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{action}"
    );
    let cold: Vec<&Value> = json_lines
        .iter()
        .filter(|l| l["requestId"] == json!(first_request))
        .collect();
    assert!(
        !cold.is_empty(),
        "lines of the first invocation:\n{}",
        lines.join("\n")
    );
    assert!(
        cold.iter().all(|l| l["cold_start"] == json!(true)),
        "{cold:?}"
    );
    let emf: Vec<&Value> = json_lines
        .iter()
        .filter(|l| l["_aws"]["CloudWatchMetrics"].is_array())
        .collect();
    assert!(
        emf.iter()
            .any(|d| d["Function"] == json!("fleet-sweep") && d["FleetsSwept"].is_number()),
        "EMF metrics:\n{}",
        lines.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misconfigured_function_stops_at_cold_start_naming_the_variable() {
    for (var, value) in [
        ("WARDEN_DEVICE_CONCURRENCY", "0"),
        (
            "WARDEN_AUDIT_STREAM_ARN",
            "arn:aws:kinesis:us-east-1:123456789012:stream/corp-audit",
        ),
        ("WARDEN_POLICY_FILE", "/nonexistent/policy.yaml"),
        // Unset: the default policy's ensure-audit-stream needs it.
        ("WARDEN_AUDIT_STREAM_ARN", ""),
        // Unset: the default policy's restore-approved-domains needs it.
        ("WARDEN_STATE_TABLE", ""),
        ("WARDEN_STATE_TABLE", "#poison#"),
    ] {
        let mut f = FunctionProcess::spawn(&launch("http://127.0.0.1:9", &[(var, value)]))
            .await
            .unwrap();
        let status = f
            .wait_exit(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("{var}={value}: still running"));
        assert!(!status.success(), "{var}={value}");
        let out = f.output_after_exit().join("\n");
        assert!(
            out.contains(var) && out.contains(value),
            "{var}={value}:\n{out}"
        );
        assert!(
            f.api.first_next().is_none(),
            "{var}={value}: never asked for work"
        );
    }
}

// ------------------------------------------ issue 11: provenance and lease

const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";
const CERT: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/0f2d9c3e-1111-4a5b-8c6d-000000000001";

/// One ACTIVE fleet on the warden stream, with the domains of the
/// provenance test: four approved INACTIVE ones, one unapproved ACTIVE one.
fn provenance_fixture() -> Fixture {
    let domain = |name: &str, status: &str| {
        json!({"domain_name": name, "status": status, "acm_certificate_arn": CERT,
               "created_time": "2025-01-01T00:00:00Z"})
    };
    Fixture::from_json(
        &json!({
            "clock": "2026-11-23T12:00:00Z",
            "worklink": {"fleets": [{
                "arn": FLEET, "name": "corp", "display_name": "Corp", "company_code": "cc-corp",
                "status": "ACTIVE", "created_time": "2025-01-01T00:00:00Z",
                "last_updated_time": "2025-06-01T00:00:00Z",
                "audit_stream_arn": WARDEN_STREAM,
                "devices": [],
                "domains": [
                    domain("hr.corp.example.com", "INACTIVE"),
                    domain("docs.corp.example.com", "INACTIVE"),
                    domain("wiki.corp.example.com", "INACTIVE"),
                    domain("mail.corp.example.com", "INACTIVE"),
                    domain("shadow-it.example.net", "ACTIVE"),
                ],
            }]}
        })
        .to_string(),
    )
    .unwrap()
}

/// The WorkLink calls that change something, as `Operation domain`.
fn changes(shared: &warden_emulator::Shared) -> Vec<String> {
    let mut v: Vec<String> = shared
        .calls
        .snapshot()
        .iter()
        .filter(|c| {
            ["RevokeDomainAccess", "RestoreDomainAccess", "SignOutUser"]
                .contains(&c.operation.as_str())
        })
        .map(|c| {
            format!(
                "{} {}",
                c.operation,
                c.params["DomainName"].as_str().unwrap_or_default()
            )
        })
        .collect();
    v.sort();
    v
}

fn revocation(
    domain: &str,
    at: warden_core::jiff::Timestamp,
    hold_until: Option<warden_core::jiff::Timestamp>,
) -> warden_core::state::Revocation {
    warden_core::state::Revocation {
        fleet: FLEET.into(),
        domain: domain.into(),
        rule: "domain-access-burst".into(),
        at,
        cause: format!("domain-access-burst/{domain}/shardId-000000000001:00042#1"),
        hold_until,
    }
}

/// Issue 11, "Done when": fleet-sweep after a stream revocation does not
/// restore; after `warden state release` (the store's
/// `release_revocation`, what the command calls) or once the revoke's
/// hold has passed it does; an INACTIVE domain warden never touched is
/// restored as before. Its own revokes are recorded with their rule. A run
/// that finds the run lease held does nothing; a finished run gives it
/// back. The real binary, the WorkLink emulator, DynamoDB on moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_leave_wardens_revocations_alone_and_runs_take_the_lease() {
    use warden_core::jiff::{SignedDuration, Timestamp};
    use warden_core::state::{DynamoStateStore, LeaseOutcome, StateStore};

    let moto = warden_emulator::moto::MotoServer::start()
        .expect("moto starts (scripts/tools.sh installs it)");
    let sdk = warden_core::aws::load_sdk_config(&warden_core::aws::AwsSettings::local(
        moto.endpoint_url(),
    ))
    .await;
    let store = DynamoStateStore::from_config(&sdk, "warden-state");
    assert!(store.create_table().await.expect("create table"));

    // What audit-stream recorded: hr revoked for a burst (no hold: until
    // released), docs held for 24 h from an hour ago, wiki held for 24 h
    // from 25 hours ago (passed). mail: never touched by warden.
    let now = Timestamp::now();
    let h = SignedDuration::from_hours;
    store
        .record_revocations(&[
            revocation("hr.corp.example.com", now - h(1), None),
            revocation("docs.corp.example.com", now - h(1), Some(now + h(23))),
            revocation("wiki.corp.example.com", now - h(25), Some(now - h(1))),
        ])
        .await
        .unwrap();

    let emu = Emulator::new(provenance_fixture())
        .start_local()
        .await
        .unwrap();
    let shared = emu.shared().clone();
    let launch = launch(
        &emu.endpoint_url(),
        &[
            ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint_url().as_str()),
            ("WARDEN_STATE_TABLE", "warden-state"),
            ("WARDEN_DRY_RUN", "false"),
        ],
    );
    let function = FunctionProcess::start(&launch, Duration::from_secs(30))
        .await
        .unwrap_or_else(|(e, out)| panic!("not ready: {e}\n{}", out.join("\n")));
    let api = &function.api;
    let sweep = || async {
        let inv = api
            .invoke(
                repo_file("events/scheduled-event.json"),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        inv.json()
            .unwrap_or_else(|e| panic!("{e}\n{}", function.output().join("\n")))
    };

    // 1. wiki (hold passed) and mail (never touched) restored; hr and docs
    //    held; the unapproved domain revoked and recorded.
    let report = sweep().await;
    assert_eq!(
        changes(&shared),
        [
            "RestoreDomainAccess mail.corp.example.com",
            "RestoreDomainAccess wiki.corp.example.com",
            "RevokeDomainAccess shadow-it.example.net",
        ],
        "{report:#}"
    );
    let held: Vec<(&str, Value)> = report["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["domain"].as_str().unwrap(), h["hold_until"].clone()))
        .collect();
    assert_eq!(held.len(), 2, "{report:#}");
    assert!(held
        .iter()
        .any(|(d, u)| *d == "hr.corp.example.com" && u.is_null()));
    assert!(held
        .iter()
        .any(|(d, u)| *d == "docs.corp.example.com" && u.is_string()));
    let own = store
        .revocations(&[(FLEET.into(), "shadow-it.example.net".into())])
        .await
        .unwrap();
    let own = own[0].as_ref().expect("fleet-sweep's revoke is recorded");
    assert_eq!(own.rule, "revoke-unapproved-domains");
    assert_eq!(own.hold_until, None);

    // 2. Released (as `warden state release domain hr.corp.example.com`):
    //    restored by the next run; docs still held.
    let released = store
        .release_revocation(None, "hr.corp.example.com")
        .await
        .unwrap();
    assert_eq!(released.len(), 1);
    shared.calls.clear();
    let report = sweep().await;
    assert_eq!(
        changes(&shared),
        ["RestoreDomainAccess hr.corp.example.com"],
        "{report:#}"
    );
    assert_eq!(report["held"].as_array().unwrap().len(), 1, "{report:#}");

    // 3. The run lease: each run gave it back (another owner takes it at
    //    once); a run that finds it held does nothing at all.
    let taken = store
        .acquire_lease("fleet-sweep", "someone-else", Timestamp::now(), h(1))
        .await
        .unwrap();
    assert!(matches!(taken, LeaseOutcome::Acquired { .. }), "{taken:?}");
    shared.calls.clear();
    let report = sweep().await;
    assert!(
        report["not_run"]
            .as_str()
            .is_some_and(|w| w.contains("someone-else")),
        "{report:#}"
    );
    assert_eq!(report["fleets_swept"], json!(0));
    assert!(
        shared.calls.snapshot().is_empty(),
        "a run that finds the lease held calls nothing: {:?}",
        shared.calls.snapshot()
    );
    assert!(store
        .release_lease("fleet-sweep", "someone-else")
        .await
        .unwrap());

    // 4. DynamoDB unreachable (moto stopped): the run fails, naming the
    //    store, and touches no fleet.
    drop(store);
    drop(moto);
    let inv = api
        .invoke(
            repo_file("events/scheduled-event.json"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    match &inv.result {
        FunctionResult::Error { error_message, .. } => assert!(
            error_message.contains("AcquireLease") && error_message.contains("warden-state"),
            "{error_message}"
        ),
        other => panic!("expected a function error, got {other:?}"),
    }
    assert!(shared.calls.snapshot().is_empty());
    emu.shutdown().await;
}
