//! Property tests: arbitrary input to the policy loader and the event decoder
//! (and through evaluation and planning) never panics.

use proptest::prelude::*;
use warden_core::jiff::Timestamp;
use warden_core::{AuditEvent, Context, MemoryStore, PlanOptions, Policy};

fn default_policy() -> Policy {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/default.yaml");
    Policy::from_file(&path).expect("default policy loads")
}

/// Pieces of policy-like YAML, so generated inputs get past the parser often.
const FRAGMENTS: &[&str] = &[
    "rules:\n",
    "  - name: r\n",
    "    on: audit-event\n",
    "    on: instance\n",
    "    where:\n",
    "      user: x\n",
    "      source_ip: { not-in-cidr: [10.0.0.0/8] }\n",
    "      time: { weekday: [sat], tz: UTC }\n",
    "      age: { gt: 30d }\n",
    "      raw.a.b: { regex: '(a|b)+' }\n",
    "      any: [ {user: a}, {not: {user: b}} ]\n",
    "    actions: [sign-out-user]\n",
    "    actions: [{ mark-for-cleanup: { grace: 24h } }]\n",
    "    threshold: count 2 within 10m by user\n",
    "    tests:\n",
    "      - name: t\n",
    "        event: { userName: a }\n",
    "        expect: none\n",
    "caps: { default: { max: 1 } }\n",
    "allow: { users: ['*'] }\n",
    "{",
    "}",
    "[",
    "]",
    ": ",
    "- ",
    "&a ",
    "*a ",
    "!!str ",
    "'",
    "\"",
    "\t",
    "\n",
    "    ",
    "~",
    "null",
    "1e999",
    "-0",
    "0x10",
    "version: 1\n",
    "fields: { user: [a.b] }\n",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn loader_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = Policy::from_yaml_bytes(&bytes, "fuzz.yaml");
    }

    #[test]
    fn loader_never_panics_on_policy_like_text(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..40)) {
        let text: String = parts.iter().map(|i| FRAGMENTS[*i]).collect();
        if let Ok(p) = Policy::from_yaml_str(&text, "fuzz.yaml") {
            let _ = warden_core::testing::run_tests(&p);
        }
    }

    #[test]
    fn decoder_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = AuditEvent::decode(&bytes, "seq");
    }

    #[test]
    fn decode_evaluate_plan_never_panic_on_json_like_records(
        user in "\\PC{0,12}",
        ip in "\\PC{0,20}",
        url in "\\PC{0,40}",
        time in prop_oneof![Just("\"2026-11-23T10:00:00Z\"".to_owned()), "-?[0-9]{1,25}", "\"[0-9.-]{0,25}\"", Just("null".to_owned())],
        event_type in prop_oneof![Just("SignInFailed"), Just("SignIn"), Just("VisitPage"), Just("")],
        n in 1usize..12,
    ) {
        let policy = default_policy();
        let json = serde_json::json!({
            "eventType": event_type, "userName": user, "sourceIp": ip, "details": { "url": url },
        });
        let mut text = json.to_string();
        text.pop();
        text.push_str(&format!(",\"time\":{time}}}"));
        let events: Vec<AuditEvent> = (0..n)
            .filter_map(|i| policy.decode_event(text.as_bytes(), format!("s{i}")).ok())
            .collect();
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let ctx = Context::new(now);
        let plan = policy.run_events(&events, &ctx, &PlanOptions::default(), &mut MemoryStore::new());
        let _ = plan.summary();
        let _ = policy.explain_events(&events, &ctx, &PlanOptions::default());
    }
}
