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

    // The cleanup section: pass 1 marks the three errored instances, one
    // recovers, pass 2 deletes the other two and unmarks it, saying why.
    assert!(stdout.contains("Instance cleanup"), "{stdout}");
    assert!(
        stdout.contains("examined 3, marked 3, deleted 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("marked 0, deleted 2, unmarked 1"),
        "{stdout}"
    );
    for (id, code) in [
        ("wsinst-0a1b2c3d4e5f60004", "EC2_LAUNCH_FAILED"),
        ("wsinst-0a1b2c3d4e5f60005", "INVALID_IMAGE"),
        ("wsinst-0a1b2c3d4e5f60006", "EC2_TERMINATE_FAILED"),
    ] {
        let mark = format!("MARK      {id} [done]: ");
        let line = stdout.lines().find(|l| l.contains(&mark));
        assert!(
            line.is_some_and(|l| l.contains(code)),
            "mark line for {id}:\n{stdout}"
        );
    }
    for id in ["wsinst-0a1b2c3d4e5f60004", "wsinst-0a1b2c3d4e5f60006"] {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("DELETE    {id} [done]: ")));
        assert!(
            line.is_some_and(|l| l.contains("grace period") && l.contains("still ERROR_")),
            "delete line for {id}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("UNMARK    wsinst-0a1b2c3d4e5f60005 [done]: recovered (ALLOCATED)"),
        "{stdout}"
    );
}

/// The fleet-sweep section: the real sweep over the demo fixture with the
/// default policy; every fleet reported with its audit-stream finding and
/// its devices examined; a second run changes nothing.
#[test]
fn demo_prints_a_sweep_report_for_the_demo_fixture() {
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("demo")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run warden demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}");
    let section = stdout
        .split_once("fleet-sweep: default policy")
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no fleet-sweep section:\n{stdout}"));

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
        section.contains(&format!(
            "fleets: {0} listed, {0} swept, 0 with failures",
            fleets.len()
        )),
        "{section}"
    );
    for fleet in fleets {
        let arn = fleet["arn"].as_str().unwrap();
        let header = format!(
            "- {} [{}] {arn}",
            fleet["name"].as_str().unwrap(),
            fleet["status"].as_str().unwrap()
        );
        let (_, rest) = section
            .split_once(&header)
            .unwrap_or_else(|| panic!("{header:?} in:\n{section}"));
        let block = rest.split("\n- ").next().unwrap();
        let n = fleet["devices"].as_array().unwrap().len();
        assert!(
            block.contains(&format!("devices: {n} listed, {n} examined")),
            "{arn}:\n{block}"
        );
        match fleet["audit_stream_arn"].as_str() {
            None => assert!(block.contains("finding: no audit stream"), "{block}"),
            Some(s) => assert!(
                block.contains(&format!("finding: audit stream is {s}")),
                "{block}"
            ),
        }
        for d in fleet["domains"].as_array().unwrap() {
            if d["status"] == "ASSOCIATING" {
                let line = format!(
                    "left alone: domain {} [ASSOCIATING]",
                    d["domain_name"].as_str().unwrap()
                );
                assert!(block.contains(&line), "{line:?} in:\n{block}");
            }
        }
    }
    assert!(section.contains("done: sign-out-user"), "{section}");
    assert!(
        section.contains("second run: 0 state-changing calls"),
        "{section}"
    );
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

/// `warden demo > out.txt 2>&1` holds the report alone: no log line, no
/// escape code; `--verbose` adds the log lines (on stderr, still without
/// colour when stderr is not a terminal).
#[test]
fn demo_output_is_the_report_alone_unless_verbose() {
    let run = |verbose: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.arg("demo")
            .env_remove("AWS_PROFILE")
            .env_remove("WARDEN_LOG_LEVEL")
            .env_remove("NO_COLOR");
        if verbose {
            cmd.arg("--verbose");
        }
        let out = cmd.output().expect("run warden demo");
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, stderr) = run(false);
    assert_eq!(stderr, "", "no log line without --verbose");
    assert!(!stdout.contains('\u{1b}'), "no escape code in the report");
    for level in [" WARN ", " INFO ", " ERROR "] {
        assert!(!stdout.contains(level), "a log line in the report: {level}");
    }

    let (verbose_out, verbose_err) = run(true);
    assert!(
        verbose_err.contains("WARN") && verbose_err.contains("warden::"),
        "--verbose shows the logs:\n{verbose_err}"
    );
    assert!(
        !verbose_err.contains('\u{1b}'),
        "no colour when not a terminal"
    );
    assert!(!verbose_out.contains('\u{1b}'));
}

/// The Secure Browser section: portal-sweep over its fixture with the
/// default policy; the portal without logging gets it, the stale, deny-listed
/// and outside sessions end, the allow-listed user is refused; a second run
/// changes nothing.
#[test]
fn demo_sweeps_secure_browser_portals() {
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("demo")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run warden demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}");
    let section = stdout
        .split_once("WorkSpaces Secure Browser (portal-sweep)")
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no Secure Browser section:\n{stdout}"));
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/events/emulator/demo-secure-browser.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let portals = fixture["workspaces_web"]["portals"].as_array().unwrap();
    assert!(
        section.contains(&format!(
            "portals: {} swept, 0 with failures",
            portals.len()
        )),
        "{section}"
    );
    for p in portals {
        let header = format!(
            "- {} [Active] {}",
            p["display_name"].as_str().unwrap(),
            p["arn"].as_str().unwrap()
        );
        assert!(section.contains(&header), "{header:?} in:\n{section}");
    }
    for line in [
        "done: set-access-logging portal",
        "finding: no user access logging",
        "finding: no IP access settings",
        "done: expire-sessions ben@example.com",
        "done: expire-sessions departed-dave@example.com",
        "done: expire-sessions eve@partner.example",
        "REFUSED expire-sessions user breakglass-ops",
        "second run: 0 state-changing calls",
    ] {
        assert!(section.contains(line), "{line:?} in:\n{section}");
    }
    assert!(
        !section.contains("expire-sessions amy@example.com"),
        "{section}"
    );
}
