//! What the policy says about state (issue 11): `budgets:` parsed per
//! action kind, refused with the key when malformed, and present in the
//! default policy; threshold keys normalised per rule (`normalize:`).

use warden_core::jiff::{SignedDuration, Timestamp};
use warden_core::policy::{ActionKind, Budget, Policy};
use warden_core::{Context, MemoryStore};

const RULES: &str = "rules:\n  - name: r\n    on: audit-event\n    where: { event_type: SignIn }\n    actions: [sign-out-user]\n";

fn load(budgets: &str) -> Result<Policy, String> {
    Policy::from_yaml_str(&format!("{budgets}\n{RULES}"), "p.yaml").map_err(|e| e.to_string())
}

#[test]
fn budgets_are_per_action_kind() {
    let p = load(
        "budgets:\n  sign-out-user: { max: 50, per: 1h }\n  revoke-domain: { max: 0, per: 30m }",
    )
    .unwrap();
    assert_eq!(
        p.settings.budgets.get(&ActionKind::SignOutUser),
        Some(&Budget {
            max: 50,
            per: SignedDuration::from_hours(1)
        })
    );
    assert_eq!(
        p.settings.budgets[&ActionKind::RevokeDomain],
        Budget {
            max: 0,
            per: SignedDuration::from_mins(30)
        }
    );
    assert!(load("").unwrap().settings.budgets.is_empty());
}

#[test]
fn malformed_budgets_name_the_key() {
    for (yaml, want) in [
        ("budgets:\n  sign-out: { max: 5, per: 1h }", "sign-out"),
        (
            "budgets:\n  sign-out-user: { max: -1, per: 1h }",
            "budgets.sign-out-user.max",
        ),
        (
            "budgets:\n  sign-out-user: { max: 5, per: 0s }",
            "budgets.sign-out-user.per",
        ),
        (
            "budgets:\n  sign-out-user: { max: 5, per: soon }",
            "budgets.sign-out-user.per",
        ),
        (
            "budgets:\n  sign-out-user: { max: 5 }",
            "needs `max` and `per`",
        ),
        (
            "budgets:\n  sign-out-user: { per: 1h }",
            "needs `max` and `per`",
        ),
        (
            "budgets:\n  sign-out-user: { max: 5, per: 1h, burst: 2 }",
            "burst",
        ),
    ] {
        let e = load(yaml).unwrap_err();
        assert!(e.contains(want), "{yaml}: {e}");
    }
}

#[test]
fn the_default_policy_budgets_what_audit_stream_does() {
    let p = warden_core::shell::default_policy().unwrap();
    let b = &p.settings.budgets;
    for kind in [ActionKind::SignOutUser, ActionKind::RevokeDomain] {
        let budget = b
            .get(&kind)
            .unwrap_or_else(|| panic!("no budget for {kind}"));
        // Above the per-batch cap (one batch may use its whole cap), and
        // bounded: never "everyone".
        assert!(
            budget.max >= p.settings.cap(kind).max.unwrap_or(0),
            "{kind}"
        );
        assert!(budget.max <= 100 && budget.per.is_positive(), "{kind}");
    }
}

fn threshold_policy(normalize: &str) -> Policy {
    Policy::from_yaml_str(
        &format!(
            "rules:\n  - name: brute\n    on: audit-event\n    where: {{ event_type: SignInFailed }}\n    threshold: {{ count: 3, within: 10m, by: user{normalize} }}\n    actions: [sign-out-user]\n"
        ),
        "t.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// How many times the rule matched for `users`, one failed sign-in each.
fn matches(p: &Policy, users: &[&str]) -> (usize, Vec<String>) {
    let events: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let json = serde_json::json!({"eventType": "SignInFailed", "userName": u,
                "time": format!("2026-11-23T12:00:0{i}Z")})
            .to_string();
            p.decode_event(json.as_bytes(), format!("seq-{i}")).unwrap()
        })
        .collect();
    let now: Timestamp = "2026-11-23T12:05:00Z".parse().unwrap();
    let ctx = Context::new(now);
    let fired = p
        .evaluate_events(&events, &ctx, &mut MemoryStore::new())
        .matches
        .len();
    let mut keys: Vec<String> = p
        .evaluate_events_deferred(&events, &ctx, &mut warden_core::engine::Evaluation::new())
        .into_iter()
        .map(|c| c.key)
        .collect();
    keys.dedup();
    (fired, keys)
}

#[test]
fn threshold_keys_are_trimmed_and_case_folded_by_default() {
    let users = ["Alice", "alice ", " ALICE"];
    // Default: one user, three hits: the threshold fires (its 3 events).
    let (fired, keys) = matches(&threshold_policy(""), &users);
    assert_eq!((fired, keys), (3, vec!["alice".to_string()]));
    let (fired, keys) = matches(&threshold_policy(", normalize: trim-case-fold"), &users);
    assert_eq!((fired, keys.len()), (3, 1));
    // Exact keys: three users, one hit each: nothing.
    let (fired, keys) = matches(&threshold_policy(", normalize: none"), &users);
    assert_eq!((fired, keys.len()), (0, 3));
    // Trim only: `Alice` / `alice` / `ALICE` stay apart.
    let (fired, keys) = matches(&threshold_policy(", normalize: trim"), &users);
    assert_eq!(fired, 0);
    assert_eq!(keys.len(), 3);
    // A name of white space alone is no key.
    let (fired, keys) = matches(&threshold_policy(""), &["  ", " ", "   "]);
    assert_eq!((fired, keys.len()), (0, 0));
    let e = Policy::from_yaml_str(
        "rules:\n  - name: b\n    on: audit-event\n    where: { event_type: SignInFailed }\n    threshold: { count: 3, within: 10m, by: user, normalize: lower }\n    actions: [sign-out-user]\n",
        "t.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("threshold.normalize") && e.contains("trim-case-fold"),
        "{e}"
    );
}
