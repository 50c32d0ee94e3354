//! `warden demo` (the README's first command) runs on embedded defaults and
//! shows the state it read back through the real SDK clients.

use std::process::Command;

#[test]
fn demo_reports_fleets_and_instances_from_the_fixture() {
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("demo")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run warden demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}\n{stdout}");

    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/events/emulator/demo-fixture.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let fleets = fixture["worklink"]["fleets"].as_array().unwrap();
    assert!(
        stdout.contains(&format!("WorkLink fleets: {}", fleets.len())),
        "{stdout}"
    );
    for fleet in fleets {
        let arn = fleet["arn"].as_str().unwrap();
        assert!(stdout.contains(arn), "fleet {arn} listed:\n{stdout}");
        for device in fleet["devices"].as_array().unwrap() {
            let line = format!(
                "{} user={}",
                device["device_id"].as_str().unwrap(),
                device["username"].as_str().unwrap()
            );
            assert!(stdout.contains(&line), "device line {line:?}:\n{stdout}");
        }
    }
    let instances = fixture["workspaces_instances"]["instances"]
        .as_array()
        .unwrap();
    assert!(
        stdout.contains(&format!("WorkSpaces Instances: {}", instances.len())),
        "{stdout}"
    );
    for i in instances {
        let line = format!(
            "{} [{}]",
            i["id"].as_str().unwrap(),
            i["provision_state"].as_str().unwrap()
        );
        assert!(stdout.contains(&line), "instance line {line:?}:\n{stdout}");
        if let Some(errs) = i["workspace_instance_errors"].as_array() {
            for e in errs {
                assert!(stdout.contains(e["error_code"].as_str().unwrap()));
            }
        }
    }
}

/// The audit-stream section: the sample audit batches through the function's
/// pipeline, who was signed out, which domains revoked, and why.
#[test]
fn demo_tells_the_audit_stream_story() {
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("demo")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run warden demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let section = stdout
        .split_once("audit-stream: the sample audit batches")
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no audit-stream section:\n{stdout}"));
    for line in [
        "signed out:\n  - bob\n      why: access-from-outside-allowed-networks",
        "  - dave\n      why: repeated-failed-sign-ins",
        "cause: 5 events, the first: SignInFailed from 10.9.8.7",
        "domain access revoked:\n  - wiki.example.com\n      why: domain-access-burst",
        "cause: 50 events, the first: VisitPage https://wiki.example.com/export?page=0",
        "finding: sign-out-user user Former.Employee@example.com",
        "ResourceNotFoundException",
        "refused: sign-out-user user breakglass-admin",
        "malformed, sent to the failure sink:",
        "device dev-bob-iphone (bob): SIGNED_OUT",
        "device dev-alice-iphone (alice): ACTIVE",
        "domain wiki.example.com: INACTIVE",
    ] {
        assert!(section.contains(line), "missing {line:?} in:\n{section}");
    }
    assert_eq!(
        section
            .matches("malformed, sent to the failure sink:")
            .count(),
        6
    );
    assert_eq!(section.matches("batch item failures: none").count(), 2);
}
