//! `warden state init / show / release domain` against moto's DynamoDB on a
//! loopback port; state written through the library's `DynamoStateStore`.

use std::process::Command;

use warden_core::aws::{load_sdk_config, AwsSettings};
use warden_core::jiff::{SignedDuration, Timestamp};
use warden_core::state::{
    BudgetRequest, DynamoStateStore, EventId, Hit, Revocation, StateStore, ThresholdSpec,
    WindowHits, WindowKey,
};
use warden_emulator::moto::MotoServer;

/// Runs `warden ARGS`: (stdout, stderr, exit code).
fn warden(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env_remove("WARDEN_STATE_TABLE")
        .output()
        .expect("run warden");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";

#[tokio::test]
async fn init_show_and_release_drive_the_state_table() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let url = moto.endpoint_url();
    let table = ["--table", "warden-state", "--endpoint-url", url.as_str()];
    let with = |cmd: &[&str]| -> Vec<String> {
        cmd.iter()
            .chain(table.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |cmd: &[&str]| {
        let args = with(cmd);
        warden(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let (out, err, code) = run(&["state", "init"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created table warden-state"), "{out}");
    let (out, _, code) = run(&["state", "init"]);
    assert_eq!(code, 0);
    assert!(out.contains("already exists"), "{out}");

    // Some live state, written as the functions will write it.
    let store = DynamoStateStore::from_config(
        &load_sdk_config(&AwsSettings::local(url.clone())).await,
        "warden-state",
    );
    let now = Timestamp::now();
    store
        .take_budget(
            &[BudgetRequest {
                kind: "sign-out-user".into(),
                want: 3,
                max: 50,
                per: SignedDuration::from_hours(1),
            }],
            now,
        )
        .await
        .unwrap();
    let hits = WindowHits {
        window: WindowKey {
            rule: "brute-force-sign-in".into(),
            key: "alice".into(),
        },
        spec: ThresholdSpec {
            count: 6,
            within: SignedDuration::from_mins(2),
        },
        hits: vec![Hit {
            id: EventId::new("shardId-000000000000", "1", 0),
            at: now,
        }],
    };
    store.record_hits(&[hits], now).await.unwrap();
    store
        .record_revocations(&[Revocation {
            fleet: FLEET.into(),
            domain: "hr.corp.example".into(),
            rule: "exfil-burst".into(),
            at: now,
            cause: "exfil-burst/hr.corp.example/shardId-000000000000:9#0".into(),
            hold_until: None,
        }])
        .await
        .unwrap();

    let (out, err, code) = run(&["state", "show"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("sign-out-user") && out.contains("3/50 used"),
        "{out}"
    );
    assert!(
        out.contains("brute-force-sign-in") && out.contains("1 hit(s) open"),
        "{out}"
    );
    assert!(
        out.contains("hr.corp.example in arn:aws:worklink::123456789012:fleet/corp"),
        "{out}"
    );
    assert!(out.contains("held until released"), "{out}");
    let (json, _, _) = run(&["state", "show", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON snapshot");
    assert_eq!(v["budgets"][0]["used"], 3);

    // Another fleet: nothing to release there.
    let (out, _, code) = run(&[
        "state",
        "release",
        "domain",
        "HR.corp.example",
        "--fleet",
        "arn:aws:worklink::123456789012:fleet/other",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no revocation of HR.corp.example"), "{out}");
    let (out, err, code) = run(&[
        "state",
        "release",
        "domain",
        "HR.corp.example",
        "--fleet",
        FLEET,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("released hr.corp.example"), "{out}");
    let got = store
        .revocations(&[(FLEET.into(), "hr.corp.example".into())])
        .await
        .unwrap();
    assert_eq!(got, vec![None], "the revocation is gone from the table");

    // The memory store holds nothing outside one run: refused, named.
    let (_, err, code) = warden(&["state", "show", "--table", "memory:"]);
    assert_eq!(code, 2);
    assert!(err.contains("memory store"), "{err}");
}
