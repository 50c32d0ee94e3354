//! The dependency rules of the foundation, checked on Cargo.lock so a change
//! that breaks them fails the suite: one version of each named dependency,
//! and one HTTP/TLS stack (hyper 1 + rustls 0.23), with no legacy hyper 0.14 /
//! rustls 0.21 that the frozen aws-sdk-worklink would pull by default, and no
//! OpenSSL.

use std::collections::BTreeMap;

fn lock_versions() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock is committed");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut name: Option<String> = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = ") {
            if let Some(n) = name.take() {
                out.entry(n)
                    .or_default()
                    .push(v.trim_matches('"').to_string());
            }
        }
    }
    out
}

#[test]
fn one_version_of_each_named_dependency() {
    let lock = lock_versions();
    for dep in [
        "aws-config",
        "aws-sdk-kinesis",
        "aws-sdk-worklink",
        "aws-sdk-workspacesinstances",
        "aws-sdk-sqs",
        "lambda_runtime",
        "aws_lambda_events",
        "serde",
        "serde_json",
        "tokio",
        "tracing",
    ] {
        let versions = lock
            .get(dep)
            .unwrap_or_else(|| panic!("{dep} is in Cargo.lock"));
        assert_eq!(
            versions.len(),
            1,
            "{dep} has several versions: {versions:?}"
        );
    }
}

#[test]
fn one_http_tls_stack() {
    let lock = lock_versions();
    let hyper = &lock["hyper"];
    assert!(
        hyper.iter().all(|v| v.starts_with("1.")),
        "only hyper 1.x, found {hyper:?}"
    );
    let rustls = &lock["rustls"];
    assert_eq!(rustls.len(), 1, "one rustls, found {rustls:?}");
    assert!(
        rustls[0].starts_with("0.23."),
        "modern rustls, found {rustls:?}"
    );
    for legacy in [
        "openssl",
        "openssl-sys",
        "native-tls",
        "hyper-tls",
        "hyper-rustls",
    ] {
        if legacy == "hyper-rustls" {
            let v = &lock[legacy];
            assert!(
                v.iter().all(|v| v.starts_with("0.27.")),
                "only the hyper-1 hyper-rustls, found {v:?}"
            );
        } else {
            assert!(
                !lock.contains_key(legacy),
                "{legacy} must not be in the build"
            );
        }
    }
}
