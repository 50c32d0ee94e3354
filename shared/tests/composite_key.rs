//! Threshold keys that combine several fields (`by user, source_ip`):
//! parsing, evaluation in one batch, and the windows of the durable state
//! store keyed on the combination.

use std::future::Future;
use std::task::{Context as TaskContext, Poll, Waker};

use warden_core::jiff::Timestamp;
use warden_core::state::{
    normalise_key, EventId, Hit, HitOutcome, MemoryStateStore, StateStore, ThresholdSpec,
    WindowHits, WindowKey,
};
use warden_core::{AuditEvent, Context, Evaluation, MemoryStore, PlanOptions, Policy};

const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp";

fn policy(yaml: &str) -> Policy {
    Policy::from_yaml_str(yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(yaml: &str) -> String {
    match Policy::from_yaml_str(yaml, "t.yaml") {
        Ok(_) => panic!("loaded, expected an error:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

/// The memory store's futures are ready at once.
fn ready<T>(f: impl Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory store never waits"),
    }
}

fn rule(threshold: &str) -> String {
    format!(
        r#"
rules:
  - name: brute
    on: audit-event
    where: {{ event_type: SignInFailed }}
    threshold: {threshold}
    actions: [sign-out-user]
"#
    )
}

/// A failed sign-in of `user` from `ip` (no address when `ip` is empty).
fn fail(p: &Policy, i: usize, user: &str, ip: &str, min: u32) -> AuditEvent {
    let ip = if ip.is_empty() {
        String::new()
    } else {
        format!(r#","sourceIp":"{ip}""#)
    };
    let json = format!(
        r#"{{"eventType":"SignInFailed","userName":"{user}","fleetArn":"{FLEET}","time":"2026-11-23T11:{min:02}:00Z"{ip}}}"#
    );
    p.decode_event(json.as_bytes(), format!("seq-{i}")).unwrap()
}

fn signed_out(p: &Policy, events: &[AuditEvent]) -> Vec<String> {
    let plan = p.run_events(
        events,
        &Context::new(now()),
        &PlanOptions::default(),
        &mut MemoryStore::new(),
    );
    plan.actions.iter().map(|a| a.target.to_string()).collect()
}

#[test]
fn composite_by_parses_in_every_form() {
    for th in [
        "count 3 within 10m by user, source_ip",
        "count 3 within 10m by user,source_ip",
        "{ count: 3, within: 10m, by: \"user, source_ip\" }",
        "{ count: 3, within: 10m, by: [user, source_ip] }",
    ] {
        let p = policy(&rule(th));
        let t = p.rules[0].threshold.as_ref().unwrap();
        assert_eq!(t.by, "user, source_ip", "{th}");
        assert!(t.is_composite(), "{th}");
    }
    let single = policy(&rule("count 3 within 10m by user"));
    let t = single.rules[0].threshold.as_ref().unwrap();
    assert_eq!(t.by, "user");
    assert!(!t.is_composite());
}

#[test]
fn composite_by_refuses_unknown_repeated_and_empty_fields() {
    let e = load_err(&rule("count 3 within 10m by user, source_iq"));
    assert!(e.contains("threshold.by") && e.contains("source_iq"), "{e}");
    let e = load_err(&rule("count 3 within 10m by user, user"));
    assert!(e.contains("listed twice"), "{e}");
    let e = load_err(&rule("count 3 within 10m by user,"));
    assert!(e.contains("no empty entry"), "{e}");
    let e = load_err(&rule("{ count: 3, within: 10m, by: [] }"));
    assert!(e.contains("threshold.by"), "{e}");
    let e = load_err(&rule(
        "count 3 within 10m by user, source_ip, host, device_id, fleet_arn",
    ));
    assert!(e.contains("at most 4 fields"), "{e}");
}

#[test]
fn failures_from_many_addresses_do_not_add_up_under_a_composite_key() {
    let by_user = policy(&rule("count 3 within 10m by user"));
    let by_pair = policy(&rule("count 3 within 10m by user, source_ip"));
    // Three failures for alice, each from another address (a spray of
    // guesses from anywhere): by user alone she is signed out.
    let spread = |p: &Policy| {
        vec![
            fail(p, 0, "alice", "203.0.113.1", 1),
            fail(p, 1, "alice", "203.0.113.2", 2),
            fail(p, 2, "alice", "203.0.113.3", 3),
        ]
    };
    assert_eq!(signed_out(&by_user, &spread(&by_user)).len(), 1);
    assert!(signed_out(&by_pair, &spread(&by_pair)).is_empty());
    // Three from one address do fire; the target is still the user.
    let one = |p: &Policy| {
        vec![
            fail(p, 0, "alice", "203.0.113.9", 1),
            fail(p, 1, "bob", "203.0.113.9", 2),
            fail(p, 2, "alice", "203.0.113.9", 3),
            fail(p, 3, "alice", "203.0.113.9", 4),
        ]
    };
    assert_eq!(
        signed_out(&by_pair, &one(&by_pair)),
        [format!("user alice in {FLEET}")]
    );
    // Events without an address count together under `alice|` (as `by
    // user` would count them); they do not join a window with an address.
    let missing = vec![
        fail(&by_pair, 0, "alice", "", 1),
        fail(&by_pair, 1, "alice", "", 2),
        fail(&by_pair, 2, "alice", "203.0.113.9", 3),
    ];
    assert!(signed_out(&by_pair, &missing).is_empty());
    let missing = vec![
        fail(&by_pair, 0, "alice", "", 1),
        fail(&by_pair, 1, "alice", "", 2),
        fail(&by_pair, 2, "alice", "", 3),
    ];
    assert_eq!(signed_out(&by_pair, &missing).len(), 1);
}

#[test]
fn composite_candidates_carry_the_escaped_combination() {
    let p = policy(&rule("count 3 within 10m by user, source_ip"));
    let events = vec![
        fail(&p, 0, " Alice ", "203.0.113.9", 1),
        fail(&p, 1, "a|b", "203.0.113.9", 2),
        fail(&p, 2, "carol", "", 3),
        p.decode_event(br#"{"eventType":"SignInFailed"}"#, "seq-3")
            .unwrap(),
    ];
    let mut eval = Evaluation::new();
    let cands = p.evaluate_events_deferred(&events, &Context::new(now()), &mut eval);
    let keys: Vec<&str> = cands.iter().map(|c| c.key.as_str()).collect();
    // Each value trimmed, `|` escaped, the whole key case-folded (the
    // threshold's default `normalize`); carol's missing address empty; an
    // event with neither field dropped.
    assert_eq!(keys, ["a\\|b|203.0.113.9", "alice|203.0.113.9", "carol|"]);
}

/// The batch's candidates as the function groups them for the state store:
/// one `WindowHits` per (rule, normalised key).
fn windows(p: &Policy, events: &[AuditEvent], batch: &str) -> Vec<WindowHits> {
    let mut eval = Evaluation::new();
    let cands = p.evaluate_events_deferred(events, &Context::new(now()), &mut eval);
    let th = p.rules[0].threshold.as_ref().unwrap();
    let mut out: Vec<WindowHits> = Vec::new();
    for c in cands {
        let key = normalise_key(&c.key).into_owned();
        let hit = Hit {
            id: EventId::new("shardId-0", format!("{batch}-{}", c.subject), 1),
            at: c.at,
        };
        match out.iter_mut().find(|w| w.window.key == key) {
            Some(w) => w.hits.push(hit),
            None => out.push(WindowHits {
                window: WindowKey {
                    rule: p.rules[0].name.clone(),
                    key,
                },
                spec: ThresholdSpec {
                    count: th.count,
                    within: th.within,
                },
                hits: vec![hit],
            }),
        }
    }
    out
}

#[test]
fn state_store_windows_key_on_the_combination() {
    let p = policy(&rule("count 3 within 10m by user, source_ip"));
    let store = MemoryStateStore::new();
    // Two batches: alice from two addresses, two failures each. Under the
    // user alone that is four (fired); under the pair two and two.
    let first = windows(
        &p,
        &[
            fail(&p, 0, "alice", "203.0.113.1", 1),
            fail(&p, 1, "Alice", "203.0.113.2", 2),
        ],
        "a",
    );
    let second = windows(
        &p,
        &[
            fail(&p, 0, "alice", "203.0.113.1", 3),
            fail(&p, 1, "alice", "203.0.113.2", 4),
        ],
        "b",
    );
    let mut keys: Vec<&str> = first.iter().map(|w| w.window.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["alice|203.0.113.1", "alice|203.0.113.2"]);
    let fired = |outs: &[warden_core::state::WindowOutcome]| {
        outs.iter()
            .flat_map(|o| o.hits.iter())
            .filter(|(_, h)| matches!(h, HitOutcome::Fired(_)))
            .count()
    };
    let a = ready(store.record_hits(&first, now())).unwrap();
    let b = ready(store.record_hits(&second, now())).unwrap();
    assert_eq!(fired(&a) + fired(&b), 0);
    assert!(b.iter().all(|o| o.open == 2), "{b:?}");
    // A third failure from the first address completes that pair's window.
    let third = windows(&p, &[fail(&p, 0, "ALICE", "203.0.113.1", 5)], "c");
    let c = ready(store.record_hits(&third, now())).unwrap();
    assert_eq!(fired(&c), 1);
    assert_eq!(c[0].window.key, "alice|203.0.113.1");
}
