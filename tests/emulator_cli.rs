//! `warden emulator` runs standalone: it starts on the port it is given (0:
//! a free one), loads a fixture, answers the admin API, and reports a bad
//! fixture clearly instead of starting.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn warden() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warden"))
}

/// A minimal HTTP/1.1 GET over loopback; returns (status, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to emulator");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Starts `warden emulator --port 0 --fixture <fixture>`; the child and the
/// `host:port` it listens on.
fn spawn_emulator(fixture: &std::path::Path) -> (std::process::Child, String) {
    let mut child = warden()
        .args(["emulator", "--port", "0", "--fixture"])
        .arg(fixture)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn warden emulator");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let url = first
        .strip_prefix("emulator listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    // Keep reading, so the emulator's later lines never hit a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

/// Runs `check`, then stops the child whatever happened.
fn with_child(mut child: std::process::Child, check: impl FnOnce() + std::panic::UnwindSafe) {
    let result = std::panic::catch_unwind(check);
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn standalone_emulator_serves_the_fixture() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/emulator/demo-fixture.json"
    );
    let (child, url) = spawn_emulator(std::path::Path::new(fixture));
    with_child(child, || {
        let (status, body) = http_get(&url, "/_emulator/health");
        assert_eq!(status, 200, "{body}");
        let (status, body) = http_get(&url, "/_emulator/state");
        assert_eq!(status, 200);
        let state: serde_json::Value = serde_json::from_str(&body).expect("state is JSON");
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
        assert_eq!(state["clock"], want["clock"], "fixture clock loaded");
        let (status, _) = http_get(&url, "/_emulator/nope");
        assert_eq!(status, 404);
        // Secure Browser is served from the same fixture.
        let (status, body) = http_get(&url, "/portals");
        assert_eq!(status, 200, "{body}");
        let portals: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            portals["portals"].as_array().map(Vec::len),
            want["workspaces_web"]["portals"].as_array().map(Vec::len)
        );
    });
}

/// boto3, unchanged, against `warden emulator --fixture F`: the scripts of
/// emulator/tests/boto3/ (workspaces-instances in its default JSON protocol,
/// all 14 operations; the workspaces-web tour). Skips without
/// `WARDEN_TOOLS_BIN`.
#[test]
fn boto3_against_the_standalone_emulator() {
    let Some(bin) = std::env::var_os("WARDEN_TOOLS_BIN") else {
        eprintln!("SKIPPED: WARDEN_TOOLS_BIN is not set (the project venv with boto3)");
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |name: &str| -> serde_json::Value {
        let path = root.join("events/emulator").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let mut fixture = read("wsi-sample.json");
    fixture["workspaces_web"] = read("web-sample.json")["workspaces_web"].clone();
    let dir = std::env::temp_dir().join(format!("warden-boto3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fixture.json");
    std::fs::write(&path, fixture.to_string()).unwrap();
    let (child, url) = spawn_emulator(&path);
    let python = std::path::Path::new(&bin).join("python");
    with_child(child, || {
        for script in ["wsi_all_operations.py", "web_tour.py"] {
            let out = Command::new(&python)
                .arg(root.join("emulator/tests/boto3").join(script))
                .arg(format!("http://{url}"))
                .env("AWS_CONFIG_FILE", "/dev/null")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env_remove("AWS_PROFILE")
                .env_remove("AWS_ENDPOINT_URL")
                .output()
                .expect("run python");
            assert!(
                out.status.success(),
                "{script}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (_, body) = http_get(&url, "/_emulator/calls?operation=ExpireSession");
        let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(calls.as_array().map(Vec::len), Some(2), "{body}");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_fixture_is_refused_with_its_name() {
    let dir = std::env::temp_dir().join(format!("warden-emu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"clock\": \"not a time\"}").unwrap();
    let out = warden()
        .args(["emulator", "--port", "0", "--fixture"])
        .arg(&bad)
        .output()
        .expect("run warden emulator");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json"), "error names the file: {err}");
    assert!(err.contains("clock"), "error names the field: {err}");
    let missing = dir.join("missing.json");
    let out = warden()
        .args(["emulator", "--port", "0", "--fixture"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
    let _ = std::fs::remove_dir_all(&dir);
}
