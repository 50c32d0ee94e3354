//! `max-percent` caps relative to the population the function knows
//! (`Context::population`), and the `min-population` floor under which only
//! absolute caps apply.

use warden_core::jiff::Timestamp;
use warden_core::{
    ActionKind, Context, Instance, MemoryStore, Plan, PlanOptions, Policy, Population,
    RefusalReason, Resource,
};

fn policy(yaml: &str) -> Policy {
    Policy::from_yaml_str(yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn delete_policy(cap: &str) -> Policy {
    policy(&format!(
        r#"
caps: {{ delete-instance: {cap} }}
rules:
  - name: nuke
    on: instance
    where: {{ state: ERROR_ALLOCATING }}
    actions: [delete-instance]
"#
    ))
}

/// `n` errored instances (all examined, all to delete).
fn errored(n: usize) -> Vec<Resource> {
    (0..n)
        .map(|i| {
            Resource::Instance(Instance {
                instance_id: format!("wsinst-e{i:07}"),
                state: Some("ERROR_ALLOCATING".into()),
                ..Instance::default()
            })
        })
        .collect()
}

fn instances(n: usize) -> Population {
    Population {
        instances: Some(n),
        ..Population::default()
    }
}

fn plan(p: &Policy, rs: &[Resource], population: Population) -> Plan {
    let ctx = Context::new(now()).with_population(population);
    p.run_resources(rs, &ctx, &PlanOptions::default())
}

fn cap_refusal(plan: &Plan) -> Option<(usize, Option<usize>, bool)> {
    plan.refusals.iter().find_map(|r| match r.reason {
        RefusalReason::CapExceeded {
            limit,
            population,
            percent_applied,
            ..
        } => Some((limit, population, percent_applied)),
        _ => None,
    })
}

#[test]
fn a_percentage_of_the_population_allows_what_a_percentage_of_the_examined_refused() {
    let p = delete_policy("{ max: 50, max-percent: 25 }");
    let rs = errored(30);
    // Only the 30 errored instances known: 25 % of 30 is 7.
    let before = plan(&p, &rs, Population::default());
    assert!(before.actions.is_empty(), "{}", before.summary());
    assert_eq!(cap_refusal(&before), Some((7, None, true)));
    assert!(before.summary().contains("max-percent 25% of 30 examined"));
    // In a fleet of 200 instances, 30 is 15 %: allowed.
    let after = plan(&p, &rs, instances(200));
    assert_eq!(after.actions.len(), 30, "{}", after.summary());
    assert!(after.refusals.is_empty());
    // 60 of 200 is 30 %: refused, naming the population.
    let over = plan(&p, &errored(60), instances(200));
    assert!(over.actions.is_empty());
    assert_eq!(cap_refusal(&over), Some((50, Some(200), true)));
    assert!(
        over.summary()
            .contains("max-percent 25% of a population of 200"),
        "{}",
        over.summary()
    );
}

#[test]
fn a_population_smaller_than_the_examined_is_not_trusted() {
    let p = delete_policy("{ max: 50, max-percent: 25 }");
    // A stale count of 4 while 40 were examined: the base is 40 (limit 10).
    let with_healthy = |n: usize| {
        let mut rs = errored(n);
        rs.extend((rs.len()..40).map(|i| {
            Resource::Instance(Instance {
                instance_id: format!("wsinst-h{i:07}"),
                state: Some("ALLOCATED".into()),
                ..Instance::default()
            })
        }));
        rs
    };
    let pl = plan(&p, &with_healthy(11), instances(4));
    assert_eq!(cap_refusal(&pl), Some((10, Some(4), true)));
    assert_eq!(plan(&p, &with_healthy(10), instances(4)).actions.len(), 10);
}

#[test]
fn under_min_population_only_the_absolute_cap_applies() {
    // Default floor (20): a population of 8 is under it.
    let p = delete_policy("{ max: 2, max-percent: 25 }");
    // 25 % of 8 would be 2; of 4 would be 1: under the floor, max 2 holds.
    let pl = plan(&p, &errored(2), instances(4));
    assert_eq!(pl.actions.len(), 2, "{}", pl.summary());
    let pl = plan(&p, &errored(3), instances(8));
    assert!(pl.actions.is_empty());
    assert_eq!(cap_refusal(&pl), Some((2, Some(8), false)));
    assert!(
        pl.summary()
            .contains("max-percent 25% not applied: a population of 8, under min-population 20"),
        "{}",
        pl.summary()
    );
    // A floor set in the policy: at 8 and above the percentage applies.
    // 3 of 8 is under `max: 5` but over 25 % of 8 (2).
    let default_floor = delete_policy("{ max: 5, max-percent: 25 }");
    assert_eq!(
        plan(&default_floor, &errored(3), instances(8))
            .actions
            .len(),
        3
    );
    let p = delete_policy("{ max: 5, max-percent: 25, min-population: 8 }");
    let pl = plan(&p, &errored(3), instances(8));
    assert_eq!(cap_refusal(&pl), Some((2, Some(8), true)));
    assert_eq!(plan(&p, &errored(3), instances(7)).actions.len(), 3);
    // min-population 0: percentages always apply (1 of 4 only).
    let p = delete_policy("{ max: 2, max-percent: 25, min-population: 0 }");
    let pl = plan(&p, &errored(2), instances(4));
    assert_eq!(cap_refusal(&pl), Some((1, Some(4), true)));
}

#[test]
fn a_percentage_alone_under_the_floor_is_a_percentage_of_the_floor() {
    // No `max`: under the floor of 20 the limit is 25 % of 20 = 5, never
    // unlimited.
    let p = delete_policy("{ max-percent: 25 }");
    assert_eq!(plan(&p, &errored(5), instances(6)).actions.len(), 5);
    let pl = plan(&p, &errored(6), instances(6));
    assert!(pl.actions.is_empty());
    assert_eq!(cap_refusal(&pl), Some((5, Some(6), false)));
    assert!(
        pl.summary().contains("25% of 20 instead"),
        "{}",
        pl.summary()
    );
}

#[test]
fn sign_outs_use_the_user_population() {
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
    let events: Vec<_> = (0..25)
        .map(|i| {
            p.decode_event(
                format!(r#"{{"userName":"u{i}","eventType":"Bad"}}"#).as_bytes(),
                format!("seq-{i}"),
            )
            .unwrap()
        })
        .collect();
    let run = |pop: Population| {
        let ctx = Context::new(now())
            .with_default_fleet("arn:aws:worklink::123456789012:fleet/corp")
            .with_population(pop);
        p.run_events(
            &events,
            &ctx,
            &PlanOptions::default(),
            &mut MemoryStore::new(),
        )
    };
    // 25 of 25 examined: refused.
    assert!(run(Population::default()).actions.is_empty());
    // The instance population does not count for users.
    assert!(run(instances(1000)).actions.is_empty());
    // 25 of 500 users: 5 %.
    let users = Population {
        fleet_users: Some(500),
        ..Population::default()
    };
    let pl = run(users);
    assert_eq!(pl.actions.len(), 25, "{}", pl.summary());
    assert!(pl.actions.iter().all(|a| a.kind == ActionKind::SignOutUser));
}

#[test]
fn min_population_is_checked_when_loaded() {
    let err = |cap: &str| match Policy::from_yaml_str(
        &format!("caps: {{ delete-instance: {cap} }}\nrules: []\n"),
        "t.yaml",
    ) {
        Ok(_) => panic!("loaded: {cap}"),
        Err(e) => e.to_string(),
    };
    let e = err("{ max: 2, min-population: 10 }");
    assert!(e.contains("only applies with `max-percent`"), "{e}");
    let e = err("{ max-percent: 10, min-population: -1 }");
    assert!(e.contains("caps.delete-instance.min-population"), "{e}");
    let e = err("{ max-percent: 10, min-populaton: 5 }");
    assert!(e.contains("min-population"), "{e}");
    let p = delete_policy("{ max-percent: 10, min-population: 50 }");
    let cap = p.settings.cap(ActionKind::DeleteInstance);
    assert_eq!(cap.min_population, Some(50));
}
