//! Runs the test cases that rules carry (`warden policy test`).
//!
//! Each case evaluates ONLY its own rule against the case's input, with the
//! policy's and the rule's allow-lists applied and caps off, at the case's
//! `now` (default: the latest event time, else 2026-01-01T00:00:00Z), with a
//! default fleet of [`TEST_DEFAULT_FLEET`] and a configured audit stream of
//! [`TEST_AUDIT_STREAM`] (the target of a `set-audit-stream` that names no
//! `stream-arn`). The planned actions must be
//! exactly the expected ones (kinds, and any target fields given).

use jiff::Timestamp;
use serde::Serialize;

use crate::engine::{Context, MemoryStore};
use crate::error::Location;
use crate::plan::{PlanOptions, PlannedAction, Target};
use crate::policy::{ExpectedAction, Policy, Rule, TestCase};

/// The default fleet ARN in rule test cases.
pub const TEST_DEFAULT_FLEET: &str = "arn:aws:worklink::123456789012:fleet/test-default";

/// The configured audit stream in rule test cases.
pub const TEST_AUDIT_STREAM: &str =
    "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-test-default";

/// The outcome of one test case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    /// The policy file.
    pub file: String,
    /// The rule.
    pub rule: String,
    /// The case.
    pub case: String,
    /// Where the case is.
    pub location: Location,
    /// Whether it passed.
    pub passed: bool,
    /// Why it failed (empty when passed).
    pub failures: Vec<String>,
}

fn target_fields(t: &Target) -> Vec<(&'static str, &str)> {
    match t {
        Target::FleetUser { fleet_arn, user } => vec![("fleet", fleet_arn), ("user", user)],
        Target::FleetDomain { fleet_arn, domain } => vec![("fleet", fleet_arn), ("domain", domain)],
        Target::Instance { instance_id } => vec![("instance", instance_id)],
        Target::Fleet { fleet_arn } => vec![("fleet", fleet_arn)],
        Target::PortalUser { portal_arn, user } => vec![("portal", portal_arn), ("user", user)],
    }
}

fn fits(exp: &ExpectedAction, act: &PlannedAction) -> bool {
    exp.kind == act.kind
        && exp.fields.iter().all(|(k, v)| {
            target_fields(&act.target)
                .iter()
                .any(|(name, got)| name == k && got == v)
        })
}

fn render_expected(e: &ExpectedAction) -> String {
    if e.fields.is_empty() {
        e.kind.name().to_owned()
    } else {
        format!(
            "{} {{{}}}",
            e.kind,
            e.fields
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn compare(
    what: &str,
    expected: &[ExpectedAction],
    got: &[&PlannedAction],
    failures: &mut Vec<String>,
) {
    let mut used = vec![false; got.len()];
    for e in expected {
        match got
            .iter()
            .enumerate()
            .find(|(i, a)| !used[*i] && fits(e, a))
        {
            Some((i, _)) => used[i] = true,
            None => failures.push(format!(
                "expected {what} `{}`, not in the plan",
                render_expected(e)
            )),
        }
    }
    for (i, a) in got.iter().enumerate() {
        if !used[i] {
            failures.push(format!("unexpected {what} `{} {}`", a.kind, a.target));
        }
    }
}

fn case_now(case: &TestCase) -> Timestamp {
    case.now
        .or_else(|| case.events.iter().filter_map(|e| e.time).max())
        .or_else(|| crate::policy::decode::TEST_DEFAULT_NOW.parse().ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Run one case of one rule.
pub fn run_case(policy: &Policy, rule_index: usize, rule: &Rule, case: &TestCase) -> CaseOutcome {
    let ctx = Context::new(case_now(case))
        .with_default_fleet(TEST_DEFAULT_FLEET)
        .with_audit_stream(Some(TEST_AUDIT_STREAM));
    let opts = PlanOptions {
        enforce_caps: false,
        ..PlanOptions::default()
    };
    let plan = if !case.events.is_empty() {
        let mut eval = policy.evaluate_events(&case.events, &ctx, &mut MemoryStore::new());
        eval.retain_rule(rule_index);
        policy.plan_events(&eval, &case.events, &ctx, &opts)
    } else {
        let mut eval = policy.evaluate_resources(&case.resources, &ctx);
        eval.retain_rule(rule_index);
        policy.plan_resources(&eval, &case.resources, &ctx, &opts)
    };
    let mut failures = Vec::new();
    let actions: Vec<&PlannedAction> = plan.actions.iter().collect();
    compare("action", &case.expect, &actions, &mut failures);
    if let Some(refused) = &case.refused {
        let got: Vec<&PlannedAction> = plan.refusals.iter().map(|r| &r.action).collect();
        compare("refusal", refused, &got, &mut failures);
    }
    if !failures.is_empty() {
        for s in &plan.skipped {
            failures.push(format!("note: skipped {}: {}", s.kind, s.reason));
        }
        // Say why the rule did or did not match each input.
        let report = if case.events.is_empty() {
            policy.explain_resources(&case.resources, &ctx, &opts)
        } else {
            policy.explain_events(&case.events, &ctx, &opts)
        };
        for ex in &report.explanations {
            if let Some(r) = ex.rules.get(rule_index) {
                let failed: Vec<String> = r
                    .conditions
                    .iter()
                    .filter(|c| !c.passed && c.reason.is_some())
                    .map(|c| {
                        format!(
                            "`{}` failed: {}",
                            c.text,
                            c.reason.clone().unwrap_or_default()
                        )
                    })
                    .collect();
                if !failed.is_empty() {
                    failures.push(format!("note: {}: {}", ex.subject, failed.join("; ")));
                } else if let Some(n) = &r.note {
                    failures.push(format!("note: {}: {}", ex.subject, n));
                }
            }
        }
    }
    CaseOutcome {
        file: policy.source.clone(),
        rule: rule.name.clone(),
        case: case.name.clone(),
        location: case.location,
        passed: failures.is_empty(),
        failures,
    }
}

/// Run every test case of every rule, in file order.
pub fn run_tests(policy: &Policy) -> Vec<CaseOutcome> {
    policy
        .rules
        .iter()
        .enumerate()
        .flat_map(|(i, rule)| rule.tests.iter().map(move |c| run_case(policy, i, rule, c)))
        .collect()
}
