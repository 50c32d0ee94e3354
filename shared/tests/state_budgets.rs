//! The policy's `budgets:` (issue 11 item 2): parsed per action kind,
//! refused with the key and line when malformed; the default policy has
//! budgets for what audit-stream does.

use warden_core::jiff::SignedDuration;
use warden_core::policy::{ActionKind, Budget, Policy};

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
