//! Engine and planner semantics: dedup, thresholds, fleet defaulting,
//! allow-lists, caps (whole kind refused), dry-run, conflicts, time windows.

use std::collections::BTreeMap;

use warden_core::jiff::Timestamp;
use warden_core::{
    ActionKind, ActionParams, AuditEvent, Context, Instance, MemoryStore, Plan, PlanOptions,
    Policy, RefusalReason, Resource, Target,
};

const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";
const DEFAULT_FLEET: &str = "arn:aws:worklink::123456789012:fleet/default";

fn policy(yaml: &str) -> Policy {
    Policy::from_yaml_str(yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn ev(p: &Policy, i: usize, json: &str) -> AuditEvent {
    p.decode_event(json.as_bytes(), format!("seq-{i}")).unwrap()
}

/// Evaluate and plan resources as the functions do (caps on, not forced
/// dry-run).
fn run_resources(p: &Policy, resources: &[Resource], ctx: &Context) -> Plan {
    p.run_resources(resources, ctx, &PlanOptions::default())
}

fn run(p: &Policy, events: &[AuditEvent]) -> Plan {
    let ctx = Context::new(now()).with_default_fleet(DEFAULT_FLEET);
    p.run_events(
        events,
        &ctx,
        &PlanOptions::default(),
        &mut MemoryStore::new(),
    )
}

const DENY: &str = r#"
rules:
  - name: deny
    on: audit-event
    where: { user: { in: [mallory, trudy, "breakglass-1"] } }
    actions: [sign-out-user]
  - name: deny-too
    on: audit-event
    where: { user: mallory }
    actions: [sign-out-user]
"#;

#[test]
fn one_sign_out_per_fleet_and_user_with_all_causes_and_rules() {
    let p = policy(DENY);
    let events: Vec<_> = (0..7)
        .map(|i| {
            ev(
                &p,
                i,
                &format!(r#"{{"userName":"mallory","fleetArn":"{FLEET}","eventId":"e{i}"}}"#),
            )
        })
        .collect();
    let plan = run(&p, &events);
    assert_eq!(plan.actions.len(), 1, "{}", plan.summary());
    let a = &plan.actions[0];
    assert_eq!(a.kind, ActionKind::SignOutUser);
    assert_eq!(
        a.target,
        Target::FleetUser {
            fleet_arn: FLEET.into(),
            user: "mallory".into()
        }
    );
    assert_eq!(a.rules, vec!["deny", "deny-too"]);
    assert_eq!(a.cause_count, 7);
    assert!(!a.dry_run);
}

#[test]
fn fleet_arn_comes_from_action_then_event_then_default() {
    let p = policy(
        r#"
rules:
  - name: explicit
    on: audit-event
    where: { user: a }
    actions: [{ sign-out-user: { fleet: "arn:aws:worklink::123456789012:fleet/explicit" } }]
  - name: implicit
    on: audit-event
    where: { user: { in: [b, c] } }
    actions: [sign-out-user]
"#,
    );
    let events = vec![
        ev(
            &p,
            0,
            &format!(r#"{{"userName":"a","fleetArn":"{FLEET}"}}"#),
        ),
        ev(
            &p,
            1,
            &format!(r#"{{"userName":"b","fleetArn":"{FLEET}"}}"#),
        ),
        ev(&p, 2, r#"{"userName":"c"}"#),
    ];
    let plan = run(&p, &events);
    let fleets: BTreeMap<String, String> = plan
        .actions
        .iter()
        .map(|a| match &a.target {
            Target::FleetUser { fleet_arn, user } => (user.clone(), fleet_arn.clone()),
            t => panic!("{t:?}"),
        })
        .collect();
    assert_eq!(fleets["a"], "arn:aws:worklink::123456789012:fleet/explicit");
    assert_eq!(fleets["b"], FLEET);
    assert_eq!(fleets["c"], DEFAULT_FLEET);

    // No default configured: the action is skipped, not guessed.
    let ctx = Context::new(now());
    let plan = p.run_events(
        &events[2..],
        &ctx,
        &PlanOptions::default(),
        &mut MemoryStore::new(),
    );
    assert!(plan.actions.is_empty());
    assert_eq!(plan.skipped.len(), 1);
    assert!(plan.skipped[0].reason.contains("no fleet ARN"));
}

#[test]
fn global_and_rule_allow_lists_refuse_with_reasons() {
    let p = policy(
        r#"
allow: { users: ["BreakGlass-*"] }
rules:
  - name: r1
    on: audit-event
    where: { user: { in: [mallory, trudy, breakglass-1] } }
    allow: { users: [trudy] }
    actions: [sign-out-user]
"#,
    );
    let events: Vec<_> = ["mallory", "trudy", "breakglass-1"]
        .iter()
        .enumerate()
        .map(|(i, u)| {
            ev(
                &p,
                i,
                &format!(r#"{{"userName":"{u}","fleetArn":"{FLEET}"}}"#),
            )
        })
        .collect();
    let plan = run(&p, &events);
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.refusals.len(), 2, "{}", plan.summary());
    let reasons: Vec<String> = plan.refusals.iter().map(|r| r.reason.to_string()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("global allow.users: `BreakGlass-*`")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("rule r1 allow.users: `trudy`")),
        "{reasons:?}"
    );
}

#[test]
fn a_rule_allow_list_does_not_protect_from_other_rules() {
    let p = policy(
        r#"
rules:
  - name: lenient
    on: audit-event
    where: { user: trudy }
    allow: { users: [trudy] }
    actions: [sign-out-user]
  - name: strict
    on: audit-event
    where: { user: trudy }
    actions: [sign-out-user]
"#,
    );
    let plan = run(&p, &[ev(&p, 0, r#"{"userName":"trudy"}"#)]);
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].rules, vec!["strict"]);
}

fn users(p: &Policy, n: usize, offset: usize) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            ev(
                p,
                i + offset,
                &format!(r#"{{"userName":"u{}","eventType":"Bad"}}"#, i + offset),
            )
        })
        .collect()
}

#[test]
fn absolute_cap_refuses_the_whole_kind() {
    let p = policy(
        r#"
caps: { sign-out-user: { max: 3 } }
rules:
  - name: bad
    on: audit-event
    where: { event_type: Bad }
    actions: [sign-out-user]
"#,
    );
    let plan = run(&p, &users(&p, 3, 0));
    assert_eq!(plan.actions.len(), 3, "at the cap is fine");
    let plan = run(&p, &users(&p, 4, 0));
    assert!(
        plan.actions.is_empty(),
        "never partly executed: {}",
        plan.summary()
    );
    assert_eq!(plan.refusals.len(), 4);
    assert!(plan.refusals.iter().all(|r| matches!(
        r.reason,
        RefusalReason::CapExceeded {
            planned: 4,
            limit: 3,
            ..
        }
    )));
    assert_eq!(plan.capped_kinds(), vec![ActionKind::SignOutUser]);
    assert!(plan.summary().contains("REFUSED sign-out-user"));
}

#[test]
fn percentage_cap_counts_distinct_users_examined() {
    let p = policy(
        r#"
caps: { sign-out-user: { max: 100, max-percent: 10 } }
rules:
  - name: bad
    on: audit-event
    where: { event_type: Bad }
    actions: [sign-out-user]
"#,
    );
    // 2 bad users among 20 seen: 10% -> allowed.
    let mut events = users(&p, 2, 0);
    events.extend((0..18).map(|i| {
        ev(
            &p,
            100 + i,
            &format!(r#"{{"userName":"ok{i}","eventType":"Fine"}}"#),
        )
    }));
    assert_eq!(run(&p, &events).actions.len(), 2);
    // 3 bad users among 20 seen: 15% -> refused.
    let mut events = users(&p, 3, 0);
    events.extend((0..17).map(|i| {
        ev(
            &p,
            100 + i,
            &format!(r#"{{"userName":"ok{i}","eventType":"Fine"}}"#),
        )
    }));
    let plan = run(&p, &events);
    assert!(plan.actions.is_empty());
    assert!(matches!(
        plan.refusals[0].reason,
        RefusalReason::CapExceeded {
            planned: 3,
            limit: 2,
            examined: 20,
            ..
        }
    ));
}

#[test]
fn builtin_default_cap_applies_when_none_is_set() {
    let p = policy(
        r#"
rules:
  - name: bad
    on: audit-event
    where: { event_type: Bad }
    actions: [sign-out-user]
"#,
    );
    assert_eq!(run(&p, &users(&p, 10, 0)).actions.len(), 10);
    assert!(run(&p, &users(&p, 11, 0)).actions.is_empty());
}

#[test]
fn caps_apply_per_kind() {
    let p = policy(
        r#"
caps: { revoke-domain: { max: 1 }, sign-out-user: { max: 5 } }
rules:
  - name: bad
    on: audit-event
    where: { event_type: Bad }
    actions: [sign-out-user, revoke-domain]
"#,
    );
    let events: Vec<_> = (0..2)
        .map(|i| {
            ev(
                &p,
                i,
                &format!(
                    r#"{{"userName":"u{i}","eventType":"Bad","url":"https://h{i}.example.com/"}}"#
                ),
            )
        })
        .collect();
    let plan = run(&p, &events);
    assert_eq!(plan.actions.len(), 2, "{}", plan.summary());
    assert!(plan
        .actions
        .iter()
        .all(|a| a.kind == ActionKind::SignOutUser));
    assert_eq!(plan.capped_kinds(), vec![ActionKind::RevokeDomain]);
}

#[test]
fn dry_run_per_rule_global_and_context() {
    let yaml = r#"
rules:
  - name: trial
    on: audit-event
    where: { user: a }
    dry-run: true
    actions: [sign-out-user]
  - name: live
    on: audit-event
    where: { user: b }
    actions: [sign-out-user]
  - name: also-live
    on: audit-event
    where: { user: a, event_type: X }
    actions: [sign-out-user]
"#;
    let p = policy(yaml);
    let plan = run(
        &p,
        &[
            ev(&p, 0, r#"{"userName":"a"}"#),
            ev(&p, 1, r#"{"userName":"b"}"#),
        ],
    );
    let dry: BTreeMap<String, bool> = plan
        .actions
        .iter()
        .map(|a| match &a.target {
            Target::FleetUser { user, .. } => (user.clone(), a.dry_run),
            _ => unreachable!(),
        })
        .collect();
    assert!(dry["a"]);
    assert!(!dry["b"]);
    // A live rule wanting the same action makes it live.
    let plan = run(&p, &[ev(&p, 0, r#"{"userName":"a","eventType":"X"}"#)]);
    assert!(!plan.actions[0].dry_run);
    // Forced by the context, or by the policy.
    let ctx = Context::new(now()).with_default_fleet(DEFAULT_FLEET);
    let plan = p.run_events(
        &[ev(&p, 1, r#"{"userName":"b"}"#)],
        &ctx,
        &PlanOptions::default().with_dry_run(true),
        &mut MemoryStore::new(),
    );
    assert!(plan.actions[0].dry_run);
    let p = policy(&format!("dry-run: true\n{yaml}"));
    assert!(run(&p, &[ev(&p, 1, r#"{"userName":"b"}"#)]).actions[0].dry_run);
}

#[test]
fn thresholds_are_order_independent_and_list_the_window_as_causes() {
    let p = policy(
        r#"
rules:
  - name: burst
    on: audit-event
    where: { event_type: SignInFailed }
    threshold: { count: 3, within: 10m, by: user }
    actions: [sign-out-user]
"#,
    );
    let times = ["10:09", "10:00", "10:05", "11:00"];
    let events: Vec<_> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            ev(
                &p,
                i,
                &format!(
                    r#"{{"eventType":"SignInFailed","userName":"x","time":"2026-11-23T{t}:00Z"}}"#
                ),
            )
        })
        .collect();
    let plan = run(&p, &events);
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(
        plan.actions[0].cause_count, 3,
        "the 11:00 event is outside the window"
    );
    // Two distinct windows of 2 do not add up.
    let times = ["10:00", "10:01", "10:30", "10:31"];
    let events: Vec<_> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            ev(
                &p,
                i,
                &format!(
                    r#"{{"eventType":"SignInFailed","userName":"x","time":"2026-11-23T{t}:00Z"}}"#
                ),
            )
        })
        .collect();
    assert!(run(&p, &events).actions.is_empty());
}

#[test]
fn threshold_store_carries_counts_across_calls() {
    let p = policy(
        r#"
rules:
  - name: burst
    on: audit-event
    where: { event_type: SignInFailed }
    threshold: count 2 within 10m by user
    actions: [sign-out-user]
"#,
    );
    let ctx = Context::new(now()).with_default_fleet(DEFAULT_FLEET);
    let mut store = MemoryStore::new();
    let e1 = ev(
        &p,
        1,
        r#"{"eventType":"SignInFailed","userName":"x","time":"2026-11-23T10:00:00Z"}"#,
    );
    let e2 = ev(
        &p,
        2,
        r#"{"eventType":"SignInFailed","userName":"x","time":"2026-11-23T10:01:00Z"}"#,
    );
    assert!(p
        .run_events(&[e1], &ctx, &PlanOptions::default(), &mut store)
        .actions
        .is_empty());
    assert_eq!(
        p.run_events(&[e2], &ctx, &PlanOptions::default(), &mut store)
            .actions
            .len(),
        1
    );
}

#[test]
fn time_windows_in_a_named_zone() {
    let p = policy(
        r#"
timezone: Europe/Paris
rules:
  - name: night
    on: audit-event
    where: { time: { between: ["22:00", "06:00"] } }
    actions: [sign-out-user]
  - name: weekend-tokyo
    on: audit-event
    where: { time: { weekday: [sat, sun], tz: Asia/Tokyo } }
    actions: [{ revoke-domain: { domain: wiki.example.com } }]
"#,
    );
    // 2026-11-20 is a Friday. 21:30 UTC = 22:30 Paris (night) = Sat 06:30 Tokyo.
    let plan = run(
        &p,
        &[ev(
            &p,
            0,
            r#"{"userName":"a","time":"2026-11-20T21:30:00Z"}"#,
        )],
    );
    let kinds: Vec<ActionKind> = plan.actions.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![ActionKind::SignOutUser, ActionKind::RevokeDomain]
    );
    // 12:00 UTC Friday: neither.
    let plan = run(
        &p,
        &[ev(
            &p,
            0,
            r#"{"userName":"a","time":"2026-11-20T12:00:00Z"}"#,
        )],
    );
    assert!(plan.actions.is_empty());
}

#[test]
fn raw_paths_globs_regexes_and_numbers() {
    let p = policy(
        r#"
fields: { user: [actor.login] }
rules:
  - name: r
    on: audit-event
    where:
      all:
        - raw.details.title: { regex: "(?i)payroll" }
        - host: { glob: "*.corp.example.com" }
        - raw.details.bytes: { gt: 1000 }
        - not: { user_agent: { contains: curl, ignore-case: true } }
    actions: [revoke-domain]
"#,
    );
    let hit = ev(
        &p,
        0,
        r#"{"actor":{"login":"z"},"details":{"title":"PAYROLL export","bytes":5000,"url":"https://hr.corp.example.com/x"}}"#,
    );
    assert_eq!(hit.user.as_deref(), Some("z"));
    let plan = run(&p, &[hit]);
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(
        plan.actions[0].target,
        Target::FleetDomain {
            fleet_arn: DEFAULT_FLEET.into(),
            domain: "hr.corp.example.com".into()
        }
    );
    let miss = ev(
        &p,
        1,
        r#"{"details":{"title":"payroll","bytes":5000,"url":"https://hr.corp.example.com/x"},"userAgent":"CURL/8"}"#,
    );
    assert!(run(&p, &[miss]).actions.is_empty());
}

fn inst(id: &str, state: &str, tags: &[(&str, &str)]) -> Resource {
    Resource::Instance(Instance {
        instance_id: id.into(),
        state: Some(state.into()),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Instance::default()
    })
}

#[test]
fn mark_for_cleanup_lifecycle() {
    let p = policy(
        r#"
rules:
  - name: cleanup
    on: instance
    where: { state: { in: [ERROR_ALLOCATING, ERROR_DEALLOCATING] } }
    actions: [{ mark-for-cleanup: { grace: 24h } }]
"#,
    );
    let key = warden_core::resource::DEFAULT_CLEANUP_TAG;
    let t0 = now();
    let ctx0 = Context::new(t0);
    let plan = run_resources(
        &p,
        &[inst("wsinst-aaaaaaaa", "ERROR_ALLOCATING", &[])],
        &ctx0,
    );
    assert_eq!(plan.actions[0].kind, ActionKind::MarkForCleanup);
    let ActionParams::Tags { tags } = &plan.actions[0].params else {
        panic!("{:?}", plan.actions[0].params)
    };
    let mark = tags[key].clone();
    assert_eq!(mark, t0.to_string());
    // Advance time instead of sleeping.
    let marked = inst("wsinst-aaaaaaaa", "ERROR_ALLOCATING", &[(key, &mark)]);
    let ctx23 = Context::new(t0 + warden_core::jiff::SignedDuration::from_hours(23));
    let plan = run_resources(&p, std::slice::from_ref(&marked), &ctx23);
    assert!(plan.actions.is_empty());
    assert_eq!(plan.waiting, 1);
    let ctx24 = Context::new(t0 + warden_core::jiff::SignedDuration::from_hours(24));
    let plan = run_resources(&p, &[marked], &ctx24);
    assert_eq!(plan.actions[0].kind, ActionKind::DeleteInstance);
    // A garbled mark re-marks (never an early delete).
    let plan = run_resources(
        &p,
        &[inst(
            "wsinst-aaaaaaaa",
            "ERROR_ALLOCATING",
            &[(key, "soon")],
        )],
        &ctx24,
    );
    assert_eq!(plan.actions[0].kind, ActionKind::MarkForCleanup);
}

#[test]
fn delete_cap_counts_instances_examined() {
    let p = policy(
        r#"
caps: { delete-instance: { max: 50, max-percent: 50, min-population: 0 } }
rules:
  - name: nuke
    on: instance
    where: { state: ERROR_ALLOCATING }
    actions: [delete-instance]
"#,
    );
    let mut rs: Vec<Resource> = (0..3)
        .map(|i| inst(&format!("wsinst-e{i:07}"), "ERROR_ALLOCATING", &[]))
        .collect();
    rs.extend((0..3).map(|i| inst(&format!("wsinst-o{i:07}"), "ALLOCATED", &[])));
    assert_eq!(
        run_resources(&p, &rs, &Context::new(now())).actions.len(),
        3
    );
    rs.pop();
    let plan = run_resources(&p, &rs, &Context::new(now()));
    assert!(plan.actions.is_empty(), "3 of 5 is over 50%");
}

#[test]
fn revoke_and_restore_of_one_domain_conflict() {
    let p = policy(
        r#"
caps: { default: { max: 100 } }
rules:
  - name: revoke
    on: domain
    where: { status: { in: [ACTIVE, INACTIVE] } }
    actions: [revoke-domain]
  - name: restore
    on: domain
    where: { status: INACTIVE }
    actions: [restore-domain]
"#,
    );
    let d = Resource::Domain(warden_core::Domain {
        fleet_arn: FLEET.into(),
        domain: "wiki.example.com".into(),
        status: Some("INACTIVE".into()),
        ..Default::default()
    });
    let plan = run_resources(&p, &[d], &Context::new(now()));
    assert!(plan.actions.is_empty(), "{}", plan.summary());
    assert_eq!(plan.refusals.len(), 2);
    assert!(plan
        .refusals
        .iter()
        .all(|r| matches!(r.reason, RefusalReason::Conflict { .. })));
}

#[test]
fn explain_names_failed_conditions() {
    let p = policy(
        r#"
rules:
  - name: outside
    on: audit-event
    where:
      event_type: SignIn
      source_ip: { not-in-cidr: [10.0.0.0/8] }
    actions: [sign-out-user]
"#,
    );
    let e = ev(
        &p,
        0,
        r#"{"eventType":"SignIn","sourceIp":"10.9.9.9","userName":"a"}"#,
    );
    let report = p.explain_events(&[e], &Context::new(now()), &PlanOptions::default());
    let r = &report.explanations[0].rules[0];
    assert!(!r.matched);
    let failed: Vec<_> = r
        .conditions
        .iter()
        .filter(|c| !c.passed && c.reason.is_some())
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].text.contains("source_ip not-in-cidr"));
    assert!(failed[0].reason.as_deref().unwrap().contains("10.9.9.9"));
    assert!(report.plan.actions.is_empty());
}

#[test]
fn event_type_index_does_not_change_results() {
    // The same rule set, once indexable by event type and once not.
    let indexed = policy(
        r#"
rules:
  - { name: a, on: audit-event, where: { event_type: { in: [X, Y] }, user: u }, actions: [sign-out-user] }
  - { name: b, on: audit-event, where: { user: v }, actions: [sign-out-user] }
"#,
    );
    let unindexed = policy(
        r#"
rules:
  - { name: a, on: audit-event, where: { any: [{ event_type: X }, { event_type: Y }], user: u }, actions: [sign-out-user] }
  - { name: b, on: audit-event, where: { user: v }, actions: [sign-out-user] }
"#,
    );
    let inputs = [
        r#"{"eventType":"X","userName":"u"}"#,
        r#"{"eventType":"Z","userName":"u"}"#,
        r#"{"userName":"u"}"#,
        r#"{"eventType":"Y","userName":"v"}"#,
        r#"{"userName":"v"}"#,
    ];
    for p in [&indexed, &unindexed] {
        let events: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, j)| ev(p, i, j))
            .collect();
        let eval = p.evaluate_events(&events, &Context::new(now()), &mut MemoryStore::new());
        let got: Vec<(u32, u32)> = eval.matches.iter().map(|m| (m.subject, m.rule)).collect();
        assert_eq!(got, vec![(0, 0), (3, 1), (4, 1)]);
    }
}

#[test]
fn default_policy_loads_and_its_tests_pass() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/default.yaml");
    let p = Policy::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let outcomes = warden_core::testing::run_tests(&p);
    assert!(outcomes.len() >= 20);
    for o in &outcomes {
        assert!(o.passed, "{} :: {}: {:?}", o.rule, o.case, o.failures);
    }
}

#[test]
fn deferred_evaluation_leaves_thresholds_to_the_caller() {
    let p = policy(
        r#"
rules:
  - name: deny
    on: audit-event
    where: { user: { in: [mallory] } }
    actions: [sign-out-user]
  - name: burst
    on: audit-event
    where: { event_type: SignInFailed }
    threshold: count 2 within 10m by user
    actions: [sign-out-user]
"#,
    );
    let ctx = Context::new(now()).with_default_fleet(DEFAULT_FLEET);
    let events = vec![
        ev(
            &p,
            0,
            r#"{"eventType":"SignInFailed","userName":"Bob","time":"2026-11-23T10:01:00Z"}"#,
        ),
        ev(&p, 1, r#"{"eventType":"SignIn","userName":"mallory"}"#),
        ev(
            &p,
            2,
            r#"{"eventType":"SignInFailed","userName":"alice","time":"2026-11-23T10:00:00Z"}"#,
        ),
        ev(&p, 3, r#"{"eventType":"SignInFailed"}"#),
    ];
    let mut eval = warden_core::Evaluation::new();
    let cands = p.evaluate_events_deferred(&events, &ctx, &mut eval);
    // Only the non-threshold rule's match; the threshold rule's events are
    // candidates (sorted by rule, key normalised: trimmed and case-folded
    // by default, time), the one without a user dropped.
    assert_eq!(
        eval.matches,
        [warden_core::Match {
            subject: 1,
            rule: 0
        }]
    );
    let got: Vec<(u32, &str, u32)> = cands
        .iter()
        .map(|c| (c.rule, c.key.as_str(), c.subject))
        .collect();
    assert_eq!(got, [(1, "alice", 2), (1, "bob", 0)]);
    assert_eq!(cands[0].at, "2026-11-23T10:00:00Z".parse().unwrap());
    // The caller's verdict joins the matches, in order.
    eval.add_matches([warden_core::Match {
        subject: 0,
        rule: 1,
    }]);
    assert_eq!(
        eval.matches
            .iter()
            .map(|m| (m.subject, m.rule))
            .collect::<Vec<_>>(),
        [(0, 1), (1, 0)]
    );
}
