//! Compiling a rule's `actions:` from YAML. The kinds themselves are
//! described in [`crate::action::ACTIONS`]; this file reads their
//! parameters, each parameter once ([`PARAMS`]), whichever kinds take it.

use std::collections::BTreeMap;

use jiff::SignedDuration;

use super::decode::Dec;
use crate::action::{ActionKind, ActionSpec};
use crate::arn::{FleetArn, PortalArn, StreamArn};
use crate::resource::OnKind;
use crate::yaml::{Node, NodeKind};

fn valid_tag_text(s: &str, allow_empty: bool, max: usize) -> bool {
    (allow_empty || !s.is_empty())
        && s.chars().count() <= max
        && s.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

pub(crate) fn valid_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// One action parameter: its name, what a rule must write when it is
/// required (`None`: optional), and its reader, which checks the value and
/// stores it in the spec (false: an error was reported).
struct Param {
    name: &'static str,
    required: Option<&'static str>,
    read: fn(&mut Dec<'_>, &Node, &str, &mut ActionSpec) -> bool,
}

/// Every action parameter; [`crate::action::ActionDescriptor::params`]
/// names the ones each kind takes.
const PARAMS: &[Param] = &[
    Param {
        name: "fleet",
        required: None,
        read: read_fleet,
    },
    Param {
        name: "domain",
        required: None,
        read: read_domain,
    },
    Param {
        name: "tags",
        required: Some("{key: value}"),
        read: read_tags,
    },
    Param {
        name: "keys",
        required: Some("[key, ...]"),
        read: read_keys,
    },
    Param {
        name: "grace",
        required: None,
        read: read_grace,
    },
    Param {
        name: "stream-arn",
        required: None,
        read: read_stream_arn,
    },
    Param {
        name: "hold",
        required: None,
        read: read_hold,
    },
    Param {
        name: "portal",
        required: None,
        read: read_portal,
    },
];

fn read_fleet(dec: &mut Dec<'_>, v: &Node, path: &str, spec: &mut ActionSpec) -> bool {
    let Some(s) = dec.string(v, path) else {
        return false;
    };
    match FleetArn::parse(&s) {
        Ok(_) => {
            spec.fleet = Some(s);
            true
        }
        Err(e) => {
            dec.err(v.loc, path, e);
            false
        }
    }
}

fn read_domain(dec: &mut Dec<'_>, v: &Node, path: &str, spec: &mut ActionSpec) -> bool {
    match dec.string(v, path) {
        Some(s) if valid_domain(&s) => {
            spec.domain = Some(s.to_ascii_lowercase());
            true
        }
        Some(s) => {
            dec.err(
                v.loc,
                path,
                format!("`{s}` is not a domain name such as `wiki.example.com`"),
            );
            false
        }
        None => false,
    }
}

fn read_tags(dec: &mut Dec<'_>, v: &Node, p: &str, spec: &mut ActionSpec) -> bool {
    let Some(entries) = dec.keys(v, p, &[], "") else {
        return false;
    };
    if entries.is_empty() {
        dec.err(v.loc, p, "`tags` is empty");
        return false;
    }
    let mut ok = true;
    let mut tags = BTreeMap::new();
    for (k, val, kl) in entries {
        let Some(val) = val.scalar_text() else {
            dec.err(
                val.loc,
                p,
                format!("the value of tag `{k}` must be a string"),
            );
            ok = false;
            continue;
        };
        if !valid_tag_text(k, false, 128) {
            dec.err(
                *kl,
                p,
                format!("tag key `{k}`: 1 to 128 letters, digits, spaces or _ . : / = + - @"),
            );
            ok = false;
        } else if !valid_tag_text(&val, true, 256) {
            dec.err(
                *kl,
                p,
                format!("tag value of `{k}`: up to 256 letters, digits, spaces or _ . : / = + - @"),
            );
            ok = false;
        }
        tags.insert(k.clone(), val);
    }
    spec.tags = tags;
    ok
}

fn read_keys(dec: &mut Dec<'_>, v: &Node, p: &str, spec: &mut ActionSpec) -> bool {
    let Some(keys) = dec.string_list(v, p) else {
        return false;
    };
    if keys.is_empty() {
        dec.err(v.loc, p, "`keys` is empty");
        return false;
    }
    spec.keys = keys;
    true
}

fn read_grace(dec: &mut Dec<'_>, v: &Node, p: &str, spec: &mut ActionSpec) -> bool {
    let Some(text) = v.scalar_text() else {
        dec.err(v.loc, p, "expected a duration such as `24h`");
        return false;
    };
    match crate::time::parse_duration(&text) {
        Ok(d) if d > SignedDuration::ZERO => {
            spec.grace = d;
            true
        }
        Ok(_) => {
            dec.err(v.loc, p, "the grace period must be longer than zero");
            false
        }
        Err(e) => {
            dec.err(v.loc, p, e);
            false
        }
    }
}

/// `revoke-domain: { hold: 24h }`: how long a restore rule leaves the
/// revoked domain alone (absent: until `warden state release`).
fn read_hold(dec: &mut Dec<'_>, v: &Node, p: &str, spec: &mut ActionSpec) -> bool {
    let Some(text) = v.scalar_text() else {
        dec.err(v.loc, p, "expected a duration such as `24h`");
        return false;
    };
    match crate::time::parse_duration(&text) {
        Ok(d) if d > SignedDuration::ZERO => {
            spec.hold = Some(d);
            true
        }
        Ok(_) => {
            dec.err(v.loc, p, "the hold must be longer than zero");
            false
        }
        Err(e) => {
            dec.err(v.loc, p, e);
            false
        }
    }
}

/// Absent: the function's configured stream.
fn read_stream_arn(dec: &mut Dec<'_>, v: &Node, p: &str, spec: &mut ActionSpec) -> bool {
    let Some(s) = dec.string(v, p) else {
        return false;
    };
    if let Err(e) = StreamArn::parse_worklink_audit(&s) {
        dec.err(v.loc, p, e);
        return false;
    }
    spec.stream_arn = Some(s);
    true
}

/// Absent: the event's portal (`portalArn`).
fn read_portal(dec: &mut Dec<'_>, v: &Node, p: &str, spec: &mut ActionSpec) -> bool {
    let Some(s) = dec.string(v, p) else {
        return false;
    };
    if let Err(e) = PortalArn::parse(&s) {
        dec.err(v.loc, p, e);
        return false;
    }
    spec.portal = Some(s);
    true
}

/// Compile one entry of `actions:` (`- sign-out-user` or
/// `- revoke-domain: {domain: x}`), checking it fits `on`.
pub(crate) fn compile(
    dec: &mut Dec<'_>,
    node: &Node,
    path: &str,
    on: OnKind,
) -> Option<ActionSpec> {
    let (name, params, name_loc) = match &node.kind {
        NodeKind::Str(s) => (s.as_str(), None, node.loc),
        NodeKind::Map(entries) if entries.len() == 1 => {
            let (k, v, l) = &entries[0];
            (k.as_str(), Some(v), *l)
        }
        _ => {
            dec.err(
                node.loc,
                path,
                "an action is a name (`- sign-out-user`) or a one-key mapping with its parameters (`- revoke-domain: {domain: wiki.example.com}`)",
            );
            return None;
        }
    };
    let Some(kind) = ActionKind::from_name(name) else {
        let sugg = crate::suggest::nearest(name, ActionKind::ALL.iter().map(|k| k.name()));
        dec.err_sugg(
            name_loc,
            path,
            format!(
                "unknown action `{name}`; actions: {}",
                ActionKind::ALL.map(|k| k.name()).join(", ")
            ),
            sugg,
        );
        return None;
    };
    if !kind.fits().contains(&on) {
        dec.err(
            name_loc,
            path,
            format!(
                "action `{name}` does not fit `on: {}`; it works on: {}",
                on.name(),
                kind.fits()
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    }
    let allowed = kind.descriptor().params;
    let empty = Vec::new();
    let entries = match params.map(|p| &p.kind) {
        None | Some(NodeKind::Null) => &empty,
        Some(NodeKind::Map(_)) => {
            let p = params?;
            dec.keys(p, path, allowed, &format!("parameter of `{name}`"))?
        }
        Some(_) => {
            let p = params?;
            dec.err(
                p.loc,
                path,
                format!(
                    "the parameters of `{name}` are a mapping, found {}",
                    p.type_name()
                ),
            );
            return None;
        }
    };
    let mut spec = ActionSpec::new(kind);
    let mut ok = true;
    for param in allowed
        .iter()
        .filter_map(|a| PARAMS.iter().find(|p| p.name == *a))
    {
        let value = entries
            .iter()
            .find(|(key, _, _)| key == param.name)
            .map(|(_, v, _)| v);
        match (value, param.required) {
            (Some(v), _) => {
                ok &= (param.read)(dec, v, &format!("{path}.{}", param.name), &mut spec)
            }
            (None, Some(example)) => {
                dec.err(
                    name_loc,
                    path,
                    format!("`{name}` needs `{}: {example}`", param.name),
                );
                ok = false;
            }
            (None, None) => {}
        }
    }
    ok.then_some(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_a_kind_takes_has_a_reader() {
        for d in crate::action::ACTIONS {
            for p in d.params {
                assert!(PARAMS.iter().any(|r| r.name == *p), "{}: {p}", d.name);
            }
        }
        // And every reader is used by some kind.
        for r in PARAMS {
            assert!(
                crate::action::ACTIONS
                    .iter()
                    .any(|d| d.params.contains(&r.name)),
                "{}",
                r.name
            );
        }
    }

    #[test]
    fn revoke_domain_takes_a_hold() {
        let src = |hold: &str| {
            format!(
                "rules:\n  - name: r\n    on: domain\n    where: {{ status: ACTIVE }}\n    actions:\n      - revoke-domain: {{ hold: {hold} }}\n"
            )
        };
        let p = crate::policy::Policy::from_yaml_str(&src("24h"), "p.yaml").unwrap();
        assert_eq!(
            p.rules[0].actions[0].hold,
            Some(SignedDuration::from_hours(24))
        );
        let e = crate::policy::Policy::from_yaml_str(&src("0s"), "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hold"), "{e}");
        // Only revoke-domain takes it.
        let e = crate::policy::Policy::from_yaml_str(
            "rules:\n  - name: r\n    on: domain\n    where: { status: INACTIVE }\n    actions:\n      - restore-domain: { hold: 1h }\n",
            "p.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("hold"), "{e}");
    }

    #[test]
    fn validators() {
        assert!(valid_domain("wiki.example.com"));
        assert!(!valid_domain("-bad.example.com"));
        assert!(!valid_domain("localhost"));
        assert!(valid_tag_text("warden:cleanup-marked-at", false, 128));
        assert!(!valid_tag_text("a#b", false, 128));
    }
}
