//! From the located YAML tree to a compiled [`Policy`], collecting every
//! error (with file, line, column, rule, field and suggestion) on the way.

use std::collections::{BTreeMap, HashSet};

use jiff::tz::TimeZone;

use super::action;
use super::condition::CondCompiler;
use super::{
    AllowList, Cap, ExpectedAction, Index, OnKind, Policy, Rule, Settings, TestCase, Threshold,
    BUILTIN_DEFAULT_CAP,
};
use crate::action::ActionKind;
use crate::error::{Location, PolicyError, PolicyErrors};
use crate::event::{AuditEvent, CoreField, FieldMap, JsonPath};
use crate::resource::{
    Device, Domain, Fleet, Instance, Portal, Resource, Session, DEFAULT_CLEANUP_TAG,
};
use crate::yaml::{self, Node, NodeKind};

type Entries = [(String, Node, Location)];

/// Error collector and small typed readers.
pub(crate) struct Dec<'f> {
    pub file: &'f str,
    pub errors: Vec<PolicyError>,
    pub rule: Option<String>,
    /// Some rule reads a `raw.` path of audit events (so decoded events
    /// must keep their whole JSON: [`FieldMap::reads_raw`]).
    pub reads_raw: bool,
}

impl Dec<'_> {
    pub(crate) fn err(&mut self, loc: Location, path: &str, msg: impl Into<String>) {
        self.err_sugg(loc, path, msg, None);
    }

    pub(crate) fn err_sugg(
        &mut self,
        loc: Location,
        path: &str,
        msg: impl Into<String>,
        sugg: Option<&str>,
    ) {
        self.errors.push(PolicyError {
            file: self.file.to_owned(),
            location: loc,
            rule: self.rule.clone(),
            field: (!path.is_empty()).then(|| path.to_owned()),
            message: msg.into(),
            suggestion: sugg.map(str::to_owned),
        });
    }

    /// The entries of a mapping; unknown keys are reported (with a
    /// suggestion) unless `allowed` is empty (free-form mappings).
    pub(crate) fn keys<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
        what: &str,
    ) -> Option<&'n Entries> {
        let NodeKind::Map(entries) = &node.kind else {
            self.err(
                node.loc,
                path,
                format!("expected a mapping, found {}", node.type_name()),
            );
            return None;
        };
        if !allowed.is_empty() {
            for (k, _, kl) in entries {
                if !allowed.contains(&k.as_str()) {
                    let sugg = crate::suggest::nearest(k, allowed.iter().copied());
                    let field = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    self.err_sugg(
                        *kl,
                        &field,
                        format!(
                            "unknown {what} `{k}`; expected one of: {}",
                            allowed.join(", ")
                        ),
                        sugg,
                    );
                }
            }
        }
        Some(entries)
    }

    pub(crate) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Str(s) => Some(s.clone()),
            _ => {
                self.err(
                    node.loc,
                    path,
                    format!("expected a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.kind {
            NodeKind::Bool(b) => Some(b),
            _ => {
                self.err(
                    node.loc,
                    path,
                    format!("expected true or false, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// A list of strings (a single string is a list of one).
    pub(crate) fn string_list(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Str(_) => vec![node],
            _ => {
                self.err(
                    node.loc,
                    path,
                    format!("expected a list of strings, found {}", node.type_name()),
                );
                return None;
            }
        };
        let mut out = Vec::new();
        for (i, it) in items.iter().enumerate() {
            match it.scalar_text() {
                Some(s) => out.push(s),
                None => {
                    self.err(
                        it.loc,
                        &format!("{path}[{i}]"),
                        format!("expected a string, found {}", it.type_name()),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }
}

fn get<'n>(entries: &'n Entries, key: &str) -> Option<&'n Node> {
    entries.iter().find(|(k, _, _)| k == key).map(|(_, v, _)| v)
}

const TOP_KEYS: &[&str] = &[
    "version",
    "description",
    "dry-run",
    "timezone",
    "cleanup-tag",
    "fields",
    "allow",
    "caps",
    "budgets",
    "rules",
];
const RULE_KEYS: &[&str] = &[
    "name",
    "description",
    "on",
    "where",
    "threshold",
    "actions",
    "dry-run",
    "allow",
    "tests",
    "notify",
];
const ALLOW_KEYS: &[&str] = &["users", "domains", "instance-ids", "instance-tags"];
const CAP_KEYS: &[&str] = &["max", "max-percent", "min-population"];
const BUDGET_KEYS: &[&str] = &["max", "per"];
const TEST_KEYS: &[&str] = &[
    "name",
    "now",
    "event",
    "events",
    "device",
    "domain",
    "fleet",
    "instance",
    "portal",
    "session",
    "resources",
    "expect",
    "refused",
    "repeat",
];
const EXPECT_FIELDS: &[&str] = &["fleet", "user", "domain", "instance", "portal"];

/// Default `now` of a test case without events' times.
pub(crate) const TEST_DEFAULT_NOW: &str = "2026-01-01T00:00:00Z";

pub(crate) fn load(text: &str, file: &str) -> Result<Policy, PolicyErrors> {
    let mut dec = Dec {
        file,
        errors: Vec::new(),
        rule: None,
        reads_raw: false,
    };
    let root = match yaml::parse(text) {
        Ok(n) => n,
        Err(e) => {
            dec.err(e.loc, "", e.message);
            return Err(PolicyErrors(dec.errors));
        }
    };
    if matches!(root.kind, NodeKind::Null) {
        dec.err(
            root.loc,
            "",
            "the policy is empty; expected a mapping with `rules:`",
        );
        return Err(PolicyErrors(dec.errors));
    }
    let Some(top) = dec.keys(&root, "", TOP_KEYS, "top-level key") else {
        return Err(PolicyErrors(dec.errors));
    };

    if let Some(v) = get(top, "version") {
        if !matches!(v.kind, NodeKind::Int(1)) {
            dec.err(v.loc, "version", "only `version: 1` exists");
        }
    }
    if let Some(v) = get(top, "description") {
        dec.string(v, "description");
    }
    let dry_run = get(top, "dry-run")
        .and_then(|v| dec.bool(v, "dry-run"))
        .unwrap_or(false);
    let (tz, tz_name) = match get(top, "timezone") {
        None => (TimeZone::UTC, "UTC".to_owned()),
        Some(v) => {
            match dec.string(v, "timezone") {
                Some(name) => match TimeZone::get(&name) {
                    Ok(tz) => (tz, name),
                    Err(_) => {
                        dec.err(v.loc, "timezone", format!("unknown time zone `{name}`; use an IANA name such as `Europe/Paris`"));
                        (TimeZone::UTC, "UTC".to_owned())
                    }
                },
                None => (TimeZone::UTC, "UTC".to_owned()),
            }
        }
    };
    let cleanup_tag = match get(top, "cleanup-tag") {
        None => DEFAULT_CLEANUP_TAG.to_owned(),
        Some(v) => dec.string(v, "cleanup-tag").unwrap_or_default(),
    };
    let mut fields = FieldMap::default();
    if let Some(v) = get(top, "fields") {
        field_map(&mut dec, v, &mut fields);
    }
    let allow = get(top, "allow")
        .map(|v| allow_list(&mut dec, v, "allow"))
        .unwrap_or_default();
    let (caps, default_cap) = get(top, "caps")
        .map(|v| caps(&mut dec, v))
        .unwrap_or((BTreeMap::new(), BUILTIN_DEFAULT_CAP));
    let budgets = get(top, "budgets")
        .map(|v| budgets(&mut dec, v))
        .unwrap_or_default();

    let mut rules = Vec::new();
    match get(top, "rules") {
        None => dec.err(root.loc, "rules", "missing `rules:` (a list of rules)"),
        Some(v) => match &v.kind {
            NodeKind::Seq(items) => {
                if items.is_empty() {
                    dec.err(v.loc, "rules", "`rules` is empty");
                }
                let mut names: HashSet<String> = HashSet::new();
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) = rule(&mut dec, item, i, &fields, &tz) {
                        if !names.insert(r.name.clone()) {
                            dec.rule = Some(r.name.clone());
                            dec.err(
                                r.location,
                                "name",
                                format!("duplicate rule name `{}`", r.name),
                            );
                        }
                        rules.push(r);
                    }
                    dec.rule = None;
                }
            }
            _ => dec.err(
                v.loc,
                "rules",
                format!("`rules` is a list, found {}", v.type_name()),
            ),
        },
    }

    if !dec.errors.is_empty() {
        let mut errors = dec.errors;
        errors.sort_by_key(|e| e.location);
        return Err(PolicyErrors(errors));
    }
    let index = Index::new(&mut rules);
    fields.set_reads_raw(dec.reads_raw);
    Ok(Policy {
        source: file.to_owned(),
        settings: Settings {
            dry_run,
            allow,
            caps,
            default_cap,
            cleanup_tag,
            timezone: tz_name,
            budgets,
        },
        rules,
        fields,
        index,
    })
}

fn field_map(dec: &mut Dec<'_>, node: &Node, fields: &mut FieldMap) {
    let names: Vec<&str> = CoreField::ALL.iter().map(|f| f.name()).collect();
    let Some(entries) = dec.keys(node, "fields", &names, "core field") else {
        return;
    };
    for (k, v, _) in entries {
        let Some(field) = CoreField::from_name(k) else {
            continue;
        };
        let path = format!("fields.{k}");
        let Some(list) = dec.string_list(v, &path) else {
            continue;
        };
        let mut paths = Vec::new();
        for p in list {
            let p = p.strip_prefix("raw.").unwrap_or(&p).to_owned();
            match JsonPath::parse(&p) {
                Ok(jp) => paths.push(jp),
                Err(e) => dec.err(v.loc, &path, e),
            }
        }
        fields.prepend(field, paths);
    }
}

fn glob_regex(
    dec: &mut Dec<'_>,
    pattern: &str,
    loc: Location,
    path: &str,
) -> Option<super::condition::GlobMatch> {
    match super::condition::GlobMatch::new(pattern, true) {
        Ok(g) => Some(g),
        Err(e) => {
            dec.err(loc, path, e);
            None
        }
    }
}

pub(crate) fn allow_list(dec: &mut Dec<'_>, node: &Node, path: &str) -> AllowList {
    let mut out = AllowList::default();
    if matches!(node.kind, NodeKind::Null) {
        return out;
    }
    let Some(entries) = dec.keys(node, path, ALLOW_KEYS, "allow-list") else {
        return out;
    };
    for (k, v, _) in entries {
        let p = format!("{path}.{k}");
        if k == "instance-tags" {
            let Some(tags) = dec.keys(v, &p, &[], "") else {
                continue;
            };
            for (tk, tv, tl) in tags {
                let Some(text) = tv.scalar_text() else {
                    dec.err(
                        tv.loc,
                        &p,
                        format!(
                            "the value of `{tk}` must be a string glob (`\"*\"` for any value)"
                        ),
                    );
                    continue;
                };
                if let Some(re) = glob_regex(dec, &text, *tl, &p) {
                    out.instance_tags.push((tk.clone(), text, re));
                }
            }
            continue;
        }
        let Some(list) = dec.string_list(v, &p) else {
            continue;
        };
        let mut compiled = Vec::new();
        for s in list {
            if let Some(re) = glob_regex(dec, &s, v.loc, &p) {
                compiled.push((s, re));
            }
        }
        match k.as_str() {
            "users" => out.users = compiled,
            "domains" => out.domains = compiled,
            "instance-ids" => out.instance_ids = compiled,
            _ => {}
        }
    }
    out
}

/// `budgets: { sign-out-user: { max: 50, per: 1h } }`.
fn budgets(dec: &mut Dec<'_>, node: &Node) -> BTreeMap<ActionKind, super::Budget> {
    let names: Vec<&str> = ActionKind::ALL.iter().map(|k| k.name()).collect();
    let mut map = BTreeMap::new();
    let Some(entries) = dec.keys(node, "budgets", &names, "budget (an action name)") else {
        return map;
    };
    for (k, v, _) in entries {
        let p = format!("budgets.{k}");
        let Some(fields) = dec.keys(v, &p, BUDGET_KEYS, "budget setting") else {
            continue;
        };
        let max = match get(fields, "max").map(|m| (m, &m.kind)) {
            Some((_, NodeKind::Int(i))) if (0..=i64::from(u32::MAX)).contains(i) => Some(*i as u32),
            Some((m, _)) => {
                dec.err(
                    m.loc,
                    &format!("{p}.max"),
                    "expected a whole number of actions, 0 or more",
                );
                None
            }
            None => {
                dec.err(
                    v.loc,
                    &p,
                    "a budget needs `max` and `per` (e.g. `{ max: 50, per: 1h }`)",
                );
                None
            }
        };
        let per = match get(fields, "per") {
            Some(d) => match d.scalar_text().map(|t| crate::time::parse_duration(&t)) {
                Some(Ok(per)) if per.is_positive() => Some(per),
                Some(Err(e)) => {
                    dec.err(d.loc, &format!("{p}.per"), e);
                    None
                }
                _ => {
                    dec.err(
                        d.loc,
                        &format!("{p}.per"),
                        "expected a positive duration such as `1h`",
                    );
                    None
                }
            },
            None => {
                if max.is_some() {
                    dec.err(
                        v.loc,
                        &p,
                        "a budget needs `max` and `per` (e.g. `{ max: 50, per: 1h }`)",
                    );
                }
                None
            }
        };
        if let (Some(max), Some(per), Some(kind)) = (max, per, ActionKind::from_name(k)) {
            map.insert(kind, super::Budget { max, per });
        }
    }
    map
}

fn caps(dec: &mut Dec<'_>, node: &Node) -> (BTreeMap<ActionKind, Cap>, Cap) {
    let mut names: Vec<&str> = ActionKind::ALL.iter().map(|k| k.name()).collect();
    names.push("default");
    let mut map = BTreeMap::new();
    let mut default = BUILTIN_DEFAULT_CAP;
    let Some(entries) = dec.keys(node, "caps", &names, "cap (an action name or `default`)") else {
        return (map, default);
    };
    for (k, v, _) in entries {
        let p = format!("caps.{k}");
        let Some(fields) = dec.keys(v, &p, CAP_KEYS, "cap setting") else {
            continue;
        };
        let mut cap = Cap {
            max: None,
            max_percent: None,
            min_population: None,
        };
        if let Some(m) = get(fields, "max") {
            match m.kind {
                NodeKind::Int(i) if (0..=i64::from(u32::MAX)).contains(&i) => {
                    cap.max = Some(i as u32)
                }
                _ => dec.err(
                    m.loc,
                    &format!("{p}.max"),
                    "expected a whole number of actions, 0 or more",
                ),
            }
        }
        if let Some(m) = get(fields, "max-percent") {
            let pct = match m.kind {
                NodeKind::Int(i) => Some(i as f64),
                NodeKind::Float(f) => Some(f),
                _ => None,
            };
            match pct {
                Some(p) if (0.0..=100.0).contains(&p) => cap.max_percent = Some(p),
                _ => dec.err(
                    m.loc,
                    &format!("{p}.max-percent"),
                    "expected a percentage from 0 to 100",
                ),
            }
        }
        if let Some(m) = get(fields, "min-population") {
            match m.kind {
                NodeKind::Int(i) if (0..=i64::from(u32::MAX)).contains(&i) => {
                    cap.min_population = Some(i as u32)
                }
                _ => dec.err(
                    m.loc,
                    &format!("{p}.min-population"),
                    "expected a whole number of targets, 0 or more",
                ),
            }
            if cap.max_percent.is_none() {
                dec.err(
                    m.loc,
                    &format!("{p}.min-population"),
                    "`min-population` only applies with `max-percent`",
                );
            }
        }
        if cap.max.is_none() && cap.max_percent.is_none() {
            dec.err(v.loc, &p, "a cap needs `max`, `max-percent` or both");
            continue;
        }
        if k == "default" {
            default = cap;
        } else if let Some(kind) = ActionKind::from_name(k) {
            map.insert(kind, cap);
        }
    }
    (map, default)
}

fn rule(
    dec: &mut Dec<'_>,
    node: &Node,
    i: usize,
    fields: &FieldMap,
    tz: &TimeZone,
) -> Option<Rule> {
    dec.rule = Some(format!("rules[{i}]"));
    let entries = dec.keys(node, "", RULE_KEYS, "rule key")?;
    let name = match get(entries, "name") {
        None => {
            dec.err(node.loc, "name", "a rule needs a `name`");
            None
        }
        Some(v) => match dec.string(v, "name") {
            Some(n)
                if !n.is_empty()
                    && n.len() <= 128
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                Some(n)
            }
            Some(n) => {
                dec.err(
                    v.loc,
                    "name",
                    format!("rule name `{n}`: use 1 to 128 letters, digits, `-`, `_` or `.`"),
                );
                None
            }
            None => None,
        },
    };
    if let Some(n) = &name {
        dec.rule = Some(n.clone());
    }
    let before = dec.errors.len();
    let description = get(entries, "description").and_then(|v| dec.string(v, "description"));
    let on = match get(entries, "on") {
        None => {
            dec.err(
                node.loc,
                "on",
                format!(
                    "a rule needs `on:` ({})",
                    OnKind::ALL.map(|k| k.name()).join(", ")
                ),
            );
            None
        }
        Some(v) => match dec.string(v, "on") {
            Some(s) => match OnKind::from_name(&s) {
                Some(k) => Some(k),
                None => {
                    let sugg = crate::suggest::nearest(&s, OnKind::ALL.iter().map(|k| k.name()));
                    dec.err_sugg(
                        v.loc,
                        "on",
                        format!(
                            "unknown `on` kind `{s}`; expected one of: {}",
                            OnKind::ALL.map(|k| k.name()).join(", ")
                        ),
                        sugg,
                    );
                    None
                }
            },
            None => None,
        },
    };
    let on = on?;
    let condition = match get(entries, "where") {
        None => {
            dec.err(node.loc, "where", "a rule needs `where:` conditions (rules that match everything are refused for safety)");
            None
        }
        Some(v) => {
            let mut cc = CondCompiler {
                dec,
                on,
                default_tz: tz.clone(),
            };
            cc.compile(v, "where")
        }
    };
    let threshold = get(entries, "threshold").and_then(|v| threshold(dec, v, on));
    let mut actions = Vec::new();
    match get(entries, "actions") {
        None => dec.err(node.loc, "actions", "a rule needs `actions:` (a list)"),
        Some(v) => match &v.kind {
            NodeKind::Seq(items) if !items.is_empty() => {
                let mut kinds = HashSet::new();
                for (j, item) in items.iter().enumerate() {
                    let p = format!("actions[{j}]");
                    if let Some(a) = action::compile(dec, item, &p, on) {
                        if !kinds.insert(a.kind()) {
                            dec.err(
                                item.loc,
                                &p,
                                format!("action `{}` is listed twice", a.kind()),
                            );
                        }
                        actions.push(a);
                    }
                }
            }
            _ => dec.err(v.loc, "actions", "`actions` is a non-empty list"),
        },
    }
    let dry_run = get(entries, "dry-run")
        .and_then(|v| dec.bool(v, "dry-run"))
        .unwrap_or(false);
    let allow = get(entries, "allow")
        .map(|v| allow_list(dec, v, "allow"))
        .unwrap_or_default();
    let notify = get(entries, "notify")
        .and_then(|v| dec.bool(v, "notify"))
        .unwrap_or(true);
    let mut tests = Vec::new();
    if let Some(v) = get(entries, "tests") {
        match &v.kind {
            NodeKind::Seq(items) => {
                for (j, item) in items.iter().enumerate() {
                    if let Some(t) = test_case(dec, item, &format!("tests[{j}]"), on, fields) {
                        tests.push(t);
                    }
                }
            }
            _ => dec.err(v.loc, "tests", "`tests` is a list of test cases"),
        }
    }
    if dec.errors.len() > before {
        return None;
    }
    Some(Rule {
        name: name?,
        description,
        on,
        location: node.loc,
        condition,
        fast_condition: None,
        typed: false,
        threshold,
        actions,
        dry_run,
        allow,
        tests,
        notify,
    })
}

/// `threshold: {count: 5, within: 10m, by: user}` or
/// `threshold: count 5 within 10m by user`.
fn threshold(dec: &mut Dec<'_>, node: &Node, on: OnKind) -> Option<Threshold> {
    if on != OnKind::AuditEvent {
        dec.err(
            node.loc,
            "threshold",
            "`threshold` applies to `on: audit-event` rules only",
        );
        return None;
    }
    let mut normalize = crate::state::KeyNormalisation::default();
    let (count, within, by) = match &node.kind {
        NodeKind::Str(s) => {
            let words: Vec<&str> = s.split_whitespace().collect();
            match words.as_slice() {
                ["count", n, "within", d, "by", f @ ..] if !f.is_empty() => {
                    match n.parse::<i64>() {
                        Ok(n) => (n, d.to_string(), split_by(&f.join(" "))),
                        Err(_) => {
                            dec.err(node.loc, "threshold", format!("`{n}` is not a count"));
                            return None;
                        }
                    }
                }
                _ => {
                    dec.err(node.loc, "threshold", "expected `count N within DURATION by FIELD[, FIELD...]`, e.g. `count 5 within 10m by user` or `... by user, source_ip`");
                    return None;
                }
            }
        }
        NodeKind::Map(_) => {
            let entries = dec.keys(
                node,
                "threshold",
                &["count", "within", "by", "normalize"],
                "threshold key",
            )?;
            if let Some(v) = get(entries, "normalize") {
                let text = v.scalar_text().unwrap_or_default();
                normalize = match crate::state::KeyNormalisation::from_name(&text) {
                    Some(n) => n,
                    None => {
                        dec.err(
                            v.loc,
                            "threshold.normalize",
                            format!(
                                "`{text}` is not a key normalisation; use one of {}",
                                crate::state::KeyNormalisation::NAMES.join(", ")
                            ),
                        );
                        return None;
                    }
                };
            }
            let count = match get(entries, "count").map(|v| (&v.kind, v.loc)) {
                Some((NodeKind::Int(i), _)) => *i,
                Some((_, l)) => {
                    dec.err(l, "threshold.count", "expected a whole number");
                    return None;
                }
                None => {
                    dec.err(node.loc, "threshold.count", "missing `count`");
                    return None;
                }
            };
            let within = match get(entries, "within") {
                Some(v) => dec.string(v, "threshold.within")?,
                None => {
                    dec.err(
                        node.loc,
                        "threshold.within",
                        "missing `within` (e.g. `10m`)",
                    );
                    return None;
                }
            };
            let by = match get(entries, "by") {
                Some(v) => match &v.kind {
                    NodeKind::Str(s) => split_by(s),
                    _ => dec.string_list(v, "threshold.by")?,
                },
                None => {
                    dec.err(node.loc, "threshold.by", "missing `by` (e.g. `user`)");
                    return None;
                }
            };
            (count, within, by)
        }
        _ => {
            dec.err(
                node.loc,
                "threshold",
                format!(
                    "expected a mapping or `count N within D by FIELD`, found {}",
                    node.type_name()
                ),
            );
            return None;
        }
    };
    if !(1..=1_000_000).contains(&count) {
        dec.err(
            node.loc,
            "threshold.count",
            "the count must be from 1 to 1000000",
        );
        return None;
    }
    let within = match crate::time::parse_duration(&within) {
        Ok(d) if d > jiff::SignedDuration::ZERO => d,
        Ok(_) => {
            dec.err(
                node.loc,
                "threshold.within",
                "the window must be longer than zero",
            );
            return None;
        }
        Err(e) => {
            dec.err(node.loc, "threshold.within", e);
            return None;
        }
    };
    let by: Vec<String> = by.iter().map(|f| f.trim().to_owned()).collect();
    if by.is_empty() || by.iter().any(String::is_empty) {
        dec.err(
            node.loc,
            "threshold.by",
            "expected one field or a comma-separated list of fields (e.g. `user` or `user, source_ip`), with no empty entry",
        );
        return None;
    }
    if by.len() > MAX_BY_FIELDS {
        dec.err(
            node.loc,
            "threshold.by",
            format!(
                "at most {MAX_BY_FIELDS} fields in a composite key, found {}",
                by.len()
            ),
        );
        return None;
    }
    let mut by_fields = Vec::with_capacity(by.len());
    for (i, name) in by.iter().enumerate() {
        if by[..i].contains(name) {
            dec.err(
                node.loc,
                "threshold.by",
                format!("`{name}` is listed twice in the key"),
            );
            return None;
        }
        match super::field::resolve(on, name) {
            Ok((f, _)) => {
                dec.reads_raw |= matches!(f, super::field::Field::Raw(_));
                by_fields.push(f)
            }
            Err((msg, sugg)) => {
                dec.err_sugg(node.loc, "threshold.by", msg, sugg);
                return None;
            }
        }
    }
    Some(Threshold {
        count: count as u32,
        within,
        by: by.join(", "),
        by_fields,
        normalize,
    })
}

/// The most fields a threshold's composite `by` key may combine.
const MAX_BY_FIELDS: usize = 4;

/// `user, source_ip` -> `[user, source_ip]` (entries trimmed; empty entries
/// kept so that the caller can refuse them).
fn split_by(text: &str) -> Vec<String> {
    text.split(',').map(|f| f.trim().to_owned()).collect()
}

fn test_case(
    dec: &mut Dec<'_>,
    node: &Node,
    path: &str,
    on: OnKind,
    fields: &FieldMap,
) -> Option<TestCase> {
    let entries = dec.keys(node, path, TEST_KEYS, "test-case key")?;
    let name = match get(entries, "name") {
        Some(v) => dec.string(v, &format!("{path}.name"))?,
        None => {
            dec.err(
                node.loc,
                &format!("{path}.name"),
                "a test case needs a `name`",
            );
            return None;
        }
    };
    let now = match get(entries, "now") {
        None => None,
        Some(v) => {
            let t = v
                .scalar_text()
                .and_then(|s| crate::time::parse_timestamp(&s));
            if t.is_none() {
                dec.err(
                    v.loc,
                    &format!("{path}.now"),
                    "expected an RFC 3339 time such as `2026-11-23T12:00:00Z`",
                );
                return None;
            }
            t
        }
    };
    let mut events = Vec::new();
    let mut resources = Vec::new();
    let mut ok = true;
    for (k, v, kl) in entries {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "event" | "events" => {
                if on != OnKind::AuditEvent {
                    dec.err(*kl, &p, format!("`{k}` is input for `on: audit-event` rules; this rule is `on: {}` (use `{}:`)", on.name(), on.name()));
                    ok = false;
                    continue;
                }
                let items: Vec<&Node> = match (&v.kind, k.as_str()) {
                    (NodeKind::Seq(items), "events") => items.iter().collect(),
                    (NodeKind::Map(_), "event") => vec![v],
                    _ => {
                        dec.err(
                            v.loc,
                            &p,
                            if k == "event" {
                                "`event` is one JSON/YAML object"
                            } else {
                                "`events` is a list of objects"
                            },
                        );
                        ok = false;
                        continue;
                    }
                };
                for it in items {
                    let source = format!("{}:{}", dec.file, it.loc.line);
                    match AuditEvent::from_json(it.to_json(), source, fields) {
                        Ok(e) => events.push(e),
                        Err(e) => {
                            dec.err(it.loc, &p, e.to_string());
                            ok = false;
                        }
                    }
                }
            }
            "device" | "domain" | "fleet" | "instance" | "portal" | "session" => {
                match resource(dec, k, v, &p, on) {
                    Some(r) => resources.push(r),
                    None => ok = false,
                }
            }
            "resources" => {
                let NodeKind::Seq(items) = &v.kind else {
                    dec.err(
                        v.loc,
                        &p,
                        "`resources` is a list of `{device|domain|fleet|instance|portal|session: {...}}`",
                    );
                    ok = false;
                    continue;
                };
                for (j, it) in items.iter().enumerate() {
                    let ip = format!("{p}[{j}]");
                    match &it.kind {
                        NodeKind::Map(e) if e.len() == 1 => {
                            match resource(dec, &e[0].0, &e[0].1, &ip, on) {
                                Some(r) => resources.push(r),
                                None => ok = false,
                            }
                        }
                        _ => {
                            dec.err(
                                it.loc,
                                &ip,
                                "each resource is `{device|domain|fleet|instance: {...}}`",
                            );
                            ok = false;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(v) = get(entries, "repeat") {
        match v.kind {
            NodeKind::Int(n) if (1..=10_000).contains(&n) && !events.is_empty() => {
                let base = std::mem::take(&mut events);
                for k in 0..n {
                    for e in &base {
                        let mut e = e.clone();
                        e.source_id = format!("{}#{}", e.source_id, k + 1).into();
                        events.push(e);
                    }
                }
            }
            _ => {
                dec.err(
                    v.loc,
                    &format!("{path}.repeat"),
                    "`repeat` is a count from 1 to 10000 of copies of `events`",
                );
                ok = false;
            }
        }
    }
    if events.is_empty() && resources.is_empty() && ok {
        dec.err(
            node.loc,
            path,
            format!(
                "a test case needs input: {}",
                if on == OnKind::AuditEvent {
                    "`event:` or `events:`".to_owned()
                } else {
                    format!("`{}:` or `resources:`", on.name())
                }
            ),
        );
        return None;
    }
    let expect = match get(entries, "expect") {
        None => {
            dec.err(
                node.loc,
                &format!("{path}.expect"),
                "a test case needs `expect:` (a list of actions, or `none`)",
            );
            return None;
        }
        Some(v) => expected(dec, v, &format!("{path}.expect"), on)?,
    };
    let refused = match get(entries, "refused") {
        None => None,
        Some(v) => Some(expected(dec, v, &format!("{path}.refused"), on)?),
    };
    ok.then_some(TestCase {
        name,
        location: node.loc,
        now,
        events,
        resources,
        expect,
        refused,
    })
}

fn resource(dec: &mut Dec<'_>, kind: &str, v: &Node, path: &str, on: OnKind) -> Option<Resource> {
    let Some(k) = OnKind::from_name(kind).filter(|k| *k != OnKind::AuditEvent) else {
        let sugg = crate::suggest::nearest(
            kind,
            ["device", "domain", "fleet", "instance", "portal", "session"],
        );
        dec.err_sugg(v.loc, path, format!("unknown resource kind `{kind}`"), sugg);
        return None;
    };
    if k != on {
        dec.err(
            v.loc,
            path,
            format!("a `{kind}` cannot be input to an `on: {}` rule", on.name()),
        );
        return None;
    }
    let json = v.to_json();
    let r = match k {
        OnKind::Device => serde_json::from_value::<Device>(json).map(Resource::Device),
        OnKind::Domain => serde_json::from_value::<Domain>(json).map(Resource::Domain),
        OnKind::Fleet => serde_json::from_value::<Fleet>(json).map(Resource::Fleet),
        OnKind::Portal => serde_json::from_value::<Portal>(json).map(Resource::Portal),
        OnKind::Session => serde_json::from_value::<Session>(json).map(Resource::Session),
        _ => serde_json::from_value::<Instance>(json).map(Resource::Instance),
    };
    match r {
        Ok(r) => Some(r),
        Err(e) => {
            // serde's message names the field ("unknown field `x`, expected one of ...").
            let msg = e.to_string();
            let sugg = msg
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next())
                .and_then(|bad| {
                    let names: Vec<&'static str> = super::field::field_names(k).collect();
                    crate::suggest::nearest(bad, names.into_iter().chain(["errors", "tags"]))
                });
            dec.err_sugg(v.loc, path, format!("bad `{kind}`: {msg}"), sugg);
            None
        }
    }
}

fn expected(dec: &mut Dec<'_>, node: &Node, path: &str, on: OnKind) -> Option<Vec<ExpectedAction>> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Null => return Some(Vec::new()),
        NodeKind::Str(s) if s == "none" => return Some(Vec::new()),
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let (name, fields_node, nl) = match &it.kind {
            NodeKind::Str(s) => (s.clone(), None, it.loc),
            NodeKind::Map(e) if e.len() == 1 => (e[0].0.clone(), Some(&e[0].1), e[0].2),
            _ => {
                dec.err(it.loc, &p, "an expected action is a name or `{name: {user: ..., domain: ..., fleet: ..., instance: ...}}`");
                return None;
            }
        };
        let Some(kind) = ActionKind::from_name(&name) else {
            let sugg = crate::suggest::nearest(&name, ActionKind::ALL.iter().map(|k| k.name()));
            dec.err_sugg(nl, &p, format!("unknown action `{name}`"), sugg);
            return None;
        };
        if !kind.fits().contains(&on) {
            dec.err(
                nl,
                &p,
                format!(
                    "action `{name}` cannot result from an `on: {}` rule",
                    on.name()
                ),
            );
            return None;
        }
        let mut fields = BTreeMap::new();
        if let Some(f) = fields_node.filter(|f| !matches!(f.kind, NodeKind::Null)) {
            let entries = dec.keys(f, &p, EXPECT_FIELDS, "target field")?;
            for (k, v, _) in entries {
                fields.insert(k.clone(), v.scalar_text().unwrap_or_default());
            }
        }
        out.push(ExpectedAction { kind, fields });
    }
    Some(out)
}
