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

#[test]
fn standalone_emulator_serves_the_fixture() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/emulator/demo-fixture.json"
    );
    let mut child = warden()
        .args(["emulator", "--port", "0", "--fixture", fixture])
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
    let result = std::panic::catch_unwind(|| {
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
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
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
