//! `warden replay --from-file` and `warden policy diff` on archived audit
//! logs (gzipped NDJSON as Firehose writes them), as an operator runs them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("warden-backtest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn line(minute: u32, second: u32, event_type: &str, user: &str) -> String {
    format!(
        r#"{{"time":"2026-11-20T10:{minute:02}:{second:02}Z","eventType":"{event_type}","userName":"{user}","sourceIp":"10.1.2.3","fleetArn":"{FLEET}"}}"#
    )
}

/// A Firehose-style archive: two gzip members in one object. mallory fails
/// to sign in 6 times within 2 minutes (the default policy signs out at 5
/// within 10 minutes); bob fails 4 times; alice signs in normally. The
/// burst is split across the two members and across batches of 3 records.
fn archive(dir: &Path) -> PathBuf {
    let first: Vec<String> = vec![
        line(0, 0, "SignIn", "alice"),
        line(0, 5, "SignInFailed", "mallory"),
        line(0, 10, "SignInFailed", "bob"),
        line(0, 20, "SignInFailed", "mallory"),
        line(0, 30, "SignInFailed", "mallory"),
        line(0, 40, "SignInFailed", "bob"),
    ];
    let second: Vec<String> = vec![
        line(1, 0, "SignInFailed", "mallory"),
        line(1, 10, "SignInFailed", "bob"),
        line(1, 30, "SignInFailed", "mallory"),
        line(1, 50, "SignInFailed", "mallory"),
        line(2, 0, "SignInFailed", "bob"),
        line(2, 10, "SignIn", "alice"),
    ];
    let mut bytes = Vec::new();
    for member in [first, second] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all((member.join("\n") + "\n").as_bytes()).unwrap();
        bytes.extend(e.finish().unwrap());
    }
    let path = dir.join("part-0001.gz");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn warden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("WARDEN_LOG_LEVEL")
        .output()
        .expect("run warden")
}

fn signed_out(doc: &Value) -> Vec<String> {
    doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "sign-out-user")
        .map(|a| a["target"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn replay_from_a_gzipped_archive_names_the_brute_force_only() {
    let d = scratch("replay");
    let path = archive(&d);
    let out = warden(&[
        "replay",
        "--from-file",
        path.to_str().unwrap(),
        "--policy",
        "policies/default.yaml",
        "--format",
        "json",
        "--batch-size",
        "3",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document on stdout");
    // Not a terminal: no progress line, no escape code, on either stream.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r') && !text.contains("records/s"),
            "progress written outside a terminal: {text:?}"
        );
    }
    let users = signed_out(&doc);
    assert_eq!(users.len(), 1, "{users:?}");
    assert!(users[0].contains("mallory"), "{users:?}");
    assert!(!stdout.contains("bob\""), "bob stays under the threshold");
    let action = &doc["actions"][0];
    assert_eq!(action["rules"][0], "repeated-failed-sign-ins");
    assert_eq!(action["outcome"], "dry-run");
    assert!(action["causes"][0]
        .as_str()
        .unwrap()
        .contains("part-0001.gz:"));
    assert_eq!(doc["summary"]["records"], 12);
    assert_eq!(doc["summary"]["events"], 12);
    assert_eq!(doc["summary"]["batches"], 4, "batches of 3");

    // --until before the fifth failure: nobody.
    let out = warden(&[
        "replay",
        "--from-file",
        path.to_str().unwrap(),
        "--policy",
        "policies/default.yaml",
        "--format",
        "json",
        "--until",
        "2026-11-20T10:01:10Z",
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(signed_out(&doc).is_empty(), "{doc}");
    assert_eq!(doc["summary"]["events_outside_window"], 5);

    // Text by default, naming the user and the rule.
    let out = warden(&[
        "replay",
        "--from-file",
        d.to_str().unwrap(),
        "--policy",
        "policies/default.yaml",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mallory") && text.contains("repeated-failed-sign-ins"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn policy_diff_lists_what_a_lowered_threshold_adds_and_gates_on_it() {
    let d = scratch("diff");
    let path = archive(&d);
    let default = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.yaml"),
    )
    .unwrap();
    assert!(default.contains("threshold: count 5 within 10m by user"));
    let lowered = default.replace(
        "threshold: count 5 within 10m by user",
        "threshold: count 4 within 10m by user",
    );
    let new = d.join("new.yaml");
    std::fs::write(&new, lowered).unwrap();

    let out = warden(&[
        "policy",
        "diff",
        "policies/default.yaml",
        new.to_str().unwrap(),
        "--events",
        path.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "differences exit 1:\n{text}");
    let only_new = text.split("only with").nth(1).unwrap_or_default();
    assert!(only_new.contains("bob"), "bob is newly signed out:\n{text}");
    assert!(
        !only_new.contains("mallory"),
        "mallory is unchanged:\n{text}"
    );
    assert!(text.contains("unchanged: 1 action(s)"), "{text}");

    let out = warden(&[
        "policy",
        "diff",
        "policies/default.yaml",
        new.to_str().unwrap(),
        "--events",
        path.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let added: Vec<&str> = doc["only_new"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["target"].as_str().unwrap())
        .collect();
    assert_eq!(added.len(), 1, "{doc}");
    assert!(added[0].contains("bob"));
    assert!(doc["only_old"].as_array().unwrap().is_empty());

    // Identical policies: exit 0. A missing policy: exit 2, named.
    let out = warden(&[
        "policy",
        "diff",
        "policies/default.yaml",
        "policies/default.yaml",
        "--events",
        path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = warden(&[
        "policy",
        "diff",
        "policies/default.yaml",
        "nope.yaml",
        "--events",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml"));
    let _ = std::fs::remove_dir_all(&d);
}
