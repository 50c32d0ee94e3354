//! `warden policy validate | test | explain`, run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn warden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .env_remove("WARDEN_LOG_LEVEL")
        .output()
        .expect("warden runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn default_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/default.yaml")
}

fn scratch(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-policy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write");
    p
}

#[test]
fn validate_accepts_the_default_policy() {
    let out = warden(&["policy", "validate", default_policy().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok:"), "{}", text(&out.stdout));
}

#[test]
fn validate_locates_a_typo_and_suggests_the_name() {
    let p = scratch(
        "typo.yaml",
        "rules:\n  - name: deny\n    on: audit-event\n    where: { user: mallory }\n    actions: [sigh-out-user]\n",
    );
    let out = warden(&["policy", "validate", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let want = format!(
        "{}:5:15: rule `deny`: field `actions[0]`: unknown action `sigh-out-user`",
        p.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("did you mean `sign-out-user`?"), "{err}");
}

#[test]
fn validate_fails_on_any_bad_file_among_good_ones() {
    let bad = scratch("bad-regex.yaml", "rules:\n  - name: r\n    on: audit-event\n    where: { url: { regex: '(' } }\n    actions: [sign-out-user]\n");
    let out = warden(&[
        "policy",
        "validate",
        default_policy().to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(":4:"), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bad regex"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn test_runs_the_default_policy_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let out = warden(&["policy", "test", dir.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    let passed: usize = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("summary line: {last:?}"));
    assert!(passed >= 20, "{last}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("PASS ")).count(),
        passed
    );
}

#[test]
fn test_reports_a_failing_case_and_exits_non_zero() {
    let p = scratch(
        "failing.yaml",
        r#"rules:
  - name: outside
    on: audit-event
    where:
      source_ip: { not-in-cidr: [10.0.0.0/8] }
    actions: [sign-out-user]
    tests:
      - name: outsider is signed out
        event: { userName: bob, sourceIp: 203.0.113.1 }
        expect: [sign-out-user: { user: bob }]
      - name: wrong expectation
        event: { userName: bob, sourceIp: 10.1.1.1 }
        expect: [sign-out-user]
"#,
    );
    let out = warden(&["policy", "test", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("PASS "), "{stdout}");
    assert!(
        stdout.contains(":: outside :: wrong expectation"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected action `sign-out-user`, not in the plan"),
        "{stdout}"
    );
    assert!(
        stdout.contains("source_ip not-in-cidr [10.0.0.0/8]"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("1 passed, 1 failed"));
}

#[test]
fn test_counts_an_unloadable_file_as_failed() {
    let p = scratch("broken.yaml", "rules: [\n");
    let out = warden(&["policy", "test", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().last(), Some("0 passed, 1 failed"));
}

#[test]
fn explain_shows_the_failed_condition_and_why() {
    let ev = scratch(
        "event.json",
        r#"{"timestamp":"1795428000000","eventType":"SignIn","userName":"bob","sourceIp":"10.1.2.3"}"#,
    );
    let out = warden(&[
        "policy",
        "explain",
        "--policy",
        default_policy().to_str().unwrap(),
        "--event",
        ev.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("rule access-from-outside-allowed-networks: no match"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[FAIL] source_ip not-in-cidr [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 198.51.100.0/24]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("`source_ip` is 10.1.2.3, which is among the excluded values"),
        "{stdout}"
    );
    assert!(stdout.contains("plan:\n  plan: nothing to do"), "{stdout}");
}

#[test]
fn explain_shows_a_match_and_the_plan() {
    let ev = scratch(
        "events.jsonl",
        "{\"timestamp\":\"1795428000000\",\"eventType\":\"SignIn\",\"userName\":\"bob\",\"sourceIp\":\"203.0.113.9\"}\n{\"eventType\":\"VisitPage\",\"userName\":\"alice\"}\n",
    );
    let out = warden(&[
        "policy",
        "explain",
        "--policy",
        default_policy().to_str().unwrap(),
        "--event",
        ev.to_str().unwrap(),
        "--fleet",
        "arn:aws:worklink::123456789012:fleet/corp",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("rule access-from-outside-allowed-networks: MATCHED"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "ACTION  sign-out-user user bob in arn:aws:worklink::123456789012:fleet/corp"
        ),
        "{stdout}"
    );
    let json = warden(&[
        "policy",
        "explain",
        "--json",
        "--policy",
        default_policy().to_str().unwrap(),
        "--event",
        ev.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json report");
    assert_eq!(
        v["plan"]["skipped"][0]["kind"], "sign-out-user",
        "no fleet configured: skipped, not guessed"
    );
}

#[test]
fn explain_a_resource() {
    let r = scratch(
        "instance.json",
        r#"{"instance":{"instance_id":"wsinst-abcdef12","state":"ERROR_ALLOCATING","tags":{"warden:cleanup-marked-at":"2026-11-22T00:00:00Z"}}}"#,
    );
    let out = warden(&[
        "policy",
        "explain",
        "--policy",
        default_policy().to_str().unwrap(),
        "--resource",
        r.to_str().unwrap(),
        "--now",
        "2026-11-23T12:00:00Z",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("rule cleanup-errored-instances: MATCHED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ACTION  delete-instance instance wsinst-abcdef12"),
        "{stdout}"
    );
}

#[test]
fn explain_a_fleet_against_the_configured_audit_stream() {
    let r = scratch(
        "fleet.json",
        r#"{"fleet":{"fleet_arn":"arn:aws:worklink::123456789012:fleet/corp","status":"ACTIVE"}}"#,
    );
    let stream = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-prod";
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "policy".to_string(),
            "explain".into(),
            "--json".into(),
            "--policy".into(),
            default_policy().to_str().unwrap().into(),
            "--resource".into(),
            r.to_str().unwrap().into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = warden(&a);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json report")
    };
    // With the stream the function would be configured with: the fleet
    // without one is pointed at it.
    let v = run(args(&["--audit-stream", stream]));
    let set = &v["plan"]["actions"][0];
    assert_eq!(set["kind"], "set-audit-stream", "{v:#}");
    assert_eq!(set["params"]["stream_arn"], stream, "{v:#}");
    // Without one: skipped with the reason, never guessed.
    let v = run(args(&[]));
    assert!(v["plan"]["actions"].as_array().unwrap().is_empty(), "{v:#}");
    let skipped = &v["plan"]["skipped"][0];
    assert_eq!(skipped["kind"], "set-audit-stream", "{v:#}");
    assert!(
        skipped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("WARDEN_AUDIT_STREAM_ARN")),
        "{v:#}"
    );
}
