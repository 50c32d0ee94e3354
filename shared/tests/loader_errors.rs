//! Bad policy input: each a clear, located error; none panics.

use warden_core::{Policy, PolicyError};

fn errors(yaml: &str) -> Vec<PolicyError> {
    match Policy::from_yaml_str(yaml, "p.yaml") {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e.0,
    }
}

fn one(yaml: &str) -> PolicyError {
    let e = errors(yaml);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    e.into_iter().next().unwrap()
}

const HEAD: &str = "rules:\n  - name: r\n";

#[test]
fn malformed_yaml_is_located() {
    let e = one("rules:\n  - name: [unclosed\n");
    assert_eq!(e.file, "p.yaml");
    assert!(e.location.line >= 2, "{e}");
    assert!(e.message.contains("invalid YAML"), "{e}");
}

#[test]
fn typo_in_action_suggests_the_right_name() {
    let e = one(&format!(
        "{HEAD}    on: audit-event\n    where: {{user: x}}\n    actions: [sigh-out-user]\n"
    ));
    assert_eq!(e.rule.as_deref(), Some("r"));
    assert_eq!(e.field.as_deref(), Some("actions[0]"));
    assert_eq!((e.location.line, e.location.column), (5, 15));
    assert_eq!(e.suggestion.as_deref(), Some("sign-out-user"));
    let text = e.to_string();
    assert!(
        text.starts_with(
            "p.yaml:5:15: rule `r`: field `actions[0]`: unknown action `sigh-out-user`"
        ),
        "{text}"
    );
    assert!(text.ends_with("did you mean `sign-out-user`?"), "{text}");
}

#[test]
fn unknown_keys_fields_and_operators_suggest() {
    // `wehre` is unknown, and `where` then missing: both are reported.
    let all = errors(&format!(
        "{HEAD}    on: audit-event\n    wehre: {{user: x}}\n    actions: [sign-out-user]\n"
    ));
    assert!(
        all.iter().any(|e| e.suggestion.as_deref() == Some("where")),
        "{all:#?}"
    );

    let e = one(&format!(
        "{HEAD}    on: audit-event\n    where: {{usr: x}}\n    actions: [sign-out-user]\n"
    ));
    assert_eq!(e.suggestion.as_deref(), Some("user"), "{e}");
    assert_eq!(e.field.as_deref(), Some("where.usr"));

    let e = one(&format!(
        "{HEAD}    on: audit-event\n    where: {{user: {{not_in: [x]}}}}\n    actions: [sign-out-user]\n"
    ));
    assert_eq!(e.suggestion.as_deref(), Some("not-in"), "{e}");

    let e = one(&format!(
        "{HEAD}    on: audit-evnt\n    where: {{user: x}}\n    actions: [sign-out-user]\n"
    ));
    assert_eq!(e.suggestion.as_deref(), Some("audit-event"), "{e}");
}

#[test]
fn wrong_types_bad_regex_cidr_tz() {
    let cases = [
        ("where: {user: {regex: '(unclosed'}}", "bad regex"),
        ("where: {source_ip: {in-cidr: [10.0.0.0/33]}}", "not a CIDR"),
        (
            "where: {time: {weekday: [sat], tz: Mars/Olympus}}",
            "unknown time zone",
        ),
        (
            "where: {time: {between: ['25:00', '07:00']}}",
            "not a time of day",
        ),
        ("where: {age: {gt: 30y}}", "unknown unit"),
        (
            "where: {user: {in-cidr: [10.0.0.0/8]}}",
            "does not apply to a text field",
        ),
        (
            "where: {source_ip: {glob: '10.*'}}",
            "does not apply to an IP address field",
        ),
        ("where: {user: {equals: [a, b]}}", "use `in` for a list"),
        ("where: {user: {in: []}}", "empty list"),
        ("where: {user: {exists: maybe}}", "true or false"),
        ("where: 42", "expected a condition"),
        ("where: {any: {user: x}}", "takes a list"),
        ("where: {raw.: x}", "empty"),
    ];
    for (cond, want) in cases {
        let yaml = format!("{HEAD}    on: audit-event\n    {cond}\n    actions: [sign-out-user]\n");
        let errs = errors(&yaml);
        assert!(
            errs.iter()
                .any(|e| e.message.contains(want) && e.location.line == 4),
            "for `{cond}` wanted `{want}` on line 4, got {errs:#?}"
        );
        assert!(errs.iter().all(|e| e.rule.as_deref() == Some("r")));
    }
}

#[test]
fn actions_must_fit_on_kind_and_have_parameters() {
    let e = one(&format!(
        "{HEAD}    on: instance\n    where: {{state: ERROR_ALLOCATING}}\n    actions: [sign-out-user]\n"
    ));
    assert!(e.message.contains("does not fit `on: instance`"), "{e}");
    let e = one(&format!(
        "{HEAD}    on: instance\n    where: {{state: ERROR_ALLOCATING}}\n    actions: [tag-instance]\n"
    ));
    assert!(e.message.contains("needs `tags"), "{e}");
    let e = one(&format!(
        "{HEAD}    on: fleet\n    where: {{status: ACTIVE}}\n    actions: [{{set-audit-stream: {{stream-arn: 'arn:aws:kinesis:us-east-1:1:stream/other'}}}}]\n"
    ));
    assert!(e.message.contains("AmazonWorkLink-"), "{e}");
    let e = one(&format!(
        "{HEAD}    on: instance\n    where: {{state: x}}\n    actions: [{{mark-for-cleanup: {{grace: 0}}}}]\n"
    ));
    assert!(e.message.contains("longer than zero"), "{e}");
    let e = one(&format!(
        "{HEAD}    on: audit-event\n    where: {{user: x}}\n    actions: [{{sign-out-user: {{fleet: nope}}}}]\n"
    ));
    assert!(e.message.contains("not a fleet ARN"), "{e}");
    let e = one(&format!(
        "{HEAD}    on: domain\n    where: {{status: x}}\n    threshold: count 5 within 10m by domain\n    actions: [revoke-domain]\n"
    ));
    assert!(e.message.contains("`on: audit-event` rules only"), "{e}");
}

#[test]
fn safety_requirements() {
    let e = one(&format!(
        "{HEAD}    on: audit-event\n    actions: [sign-out-user]\n"
    ));
    assert!(e.message.contains("needs `where:`"), "{e}");
    let errs = errors(
        "rules:\n  - {name: a, on: audit-event, where: {user: x}, actions: [sign-out-user]}\n  - {name: a, on: audit-event, where: {user: y}, actions: [sign-out-user]}\n",
    );
    assert!(errs
        .iter()
        .any(|e| e.message.contains("duplicate rule name")));
    let e = one("caps: {sign-out-user: {}}\nrules:\n  - {name: a, on: audit-event, where: {user: x}, actions: [sign-out-user]}\n");
    assert!(e.message.contains("needs `max`"), "{e}");
    let e = one("caps: {sign-out-usr: {max: 1}}\nrules:\n  - {name: a, on: audit-event, where: {user: x}, actions: [sign-out-user]}\n");
    assert_eq!(e.suggestion.as_deref(), Some("sign-out-user"));
}

#[test]
fn several_errors_are_all_reported_in_file_order() {
    let errs = errors(
        "rules:\n  - {name: a, on: audit-event, where: {usr: x}, actions: [sign-out-user]}\n  - {name: b, on: audit-event, where: {user: x}, actions: [revoke-domian]}\n",
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(errs[0].rule.as_deref(), Some("a"));
    assert_eq!(errs[1].rule.as_deref(), Some("b"));
    assert_eq!(errs[1].suggestion.as_deref(), Some("revoke-domain"));
}

#[test]
fn test_case_errors() {
    let e = one(&format!(
        "{HEAD}    on: instance\n    where: {{state: x}}\n    actions: [delete-instance]\n    tests:\n      - name: t\n        instance: {{instance_id: wsinst-1, stat: x}}\n        expect: none\n"
    ));
    assert!(e.message.contains("unknown field `stat`"), "{e}");
    assert_eq!(e.suggestion.as_deref(), Some("state"));
    let e = one(&format!(
        "{HEAD}    on: instance\n    where: {{state: x}}\n    actions: [delete-instance]\n    tests:\n      - name: t\n        event: {{a: 1}}\n        expect: none\n"
    ));
    assert!(e.message.contains("on: audit-event"), "{e}");
}

#[test]
fn empty_and_non_utf8_files() {
    assert!(one("").message.contains("empty"));
    let e = Policy::from_yaml_bytes(b"rules:\n  - \xff\n", "p.yaml").unwrap_err();
    assert_eq!(e.0[0].location.line, 2);
}

#[test]
fn notify_is_a_per_rule_boolean_defaulting_to_true() {
    let base = format!(
        "{HEAD}    on: audit-event\n    where: {{user: x}}\n    actions: [sign-out-user]\n"
    );
    let p = Policy::from_yaml_str(&base, "p.yaml").unwrap();
    assert!(p.rules[0].notify);
    let p = Policy::from_yaml_str(&format!("{base}    notify: false\n"), "p.yaml").unwrap();
    assert!(!p.rules[0].notify);
    let e = one(&format!("{base}    notify: sometimes\n"));
    assert_eq!(e.field.as_deref(), Some("notify"), "{e}");
}
