//! Compiled conditions: evaluation (fast path, no allocation), explanation
//! (slow path, for `warden policy explain` and test failures), and
//! compilation from the YAML tree.

use rustc_hash::FxHashSet;
use std::cmp::Ordering;
use std::net::IpAddr;

use ipnet::IpNet;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use regex::bytes::Regex;

use super::decode::Dec;
use super::field::{resolve, Env, Field, FieldType, Subject, Val};
use crate::error::Location;
use crate::resource::OnKind;
use crate::yaml::{Node, NodeKind};

/// A compiled condition tree.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    All(Group),
    Any(Group),
    Not(Box<Cond>),
    Leaf(Box<Leaf>),
}

/// The children of `all` / `any`: kept in file order (for `explain`) and
/// evaluated cheapest first (booleans without side effects commute).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    items: Vec<Cond>,
    order: Vec<u16>,
}

impl Cond {
    /// Whether any test in the tree reads the field named `name`.
    pub(crate) fn reads(&self, name: &str) -> bool {
        match self {
            Cond::All(g) | Cond::Any(g) => g.items.iter().any(|c| c.reads(name)),
            Cond::Not(c) => c.reads(name),
            Cond::Leaf(l) => l.field_name == name,
        }
    }
}

impl Group {
    pub(crate) fn new(items: Vec<Cond>) -> Group {
        let mut order: Vec<u16> = (0..items.len().min(u16::MAX as usize) as u16).collect();
        order.sort_by_key(|i| items[*i as usize].cost());
        Group { items, order }
    }

    #[inline]
    fn iter_fast(&self) -> impl Iterator<Item = &Cond> {
        self.order.iter().map(|i| &self.items[*i as usize])
    }
}

/// One test of one field.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub field: Field,
    pub field_name: String,
    pub op: Op,
    /// `not-*` operators: the negation of the positive test; still false
    /// when the field is absent.
    pub negate: bool,
    /// The condition as written, e.g. `source_ip not-in-cidr [10.0.0.0/8]`.
    pub text: String,
    pub loc: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Cmp::Gt => o == Ordering::Greater,
            Cmp::Gte => o != Ordering::Less,
            Cmp::Lt => o == Ordering::Less,
            Cmp::Lte => o != Ordering::Greater,
        }
    }
}

/// A set of literals (one for `equals`, many for `in`).
#[derive(Debug, Clone, Default)]
pub(crate) struct LitSet {
    strs: Vec<Box<str>>,
    hashed: Option<FxHashSet<Box<str>>>,
    nums: Vec<f64>,
    bools: Vec<bool>,
    ips: Vec<IpAddr>,
    ignore_case: bool,
}

impl LitSet {
    fn finish(mut self) -> LitSet {
        if !self.ignore_case && self.strs.len() > 8 {
            self.hashed = Some(self.strs.iter().cloned().collect());
        }
        self
    }

    fn has_str(&self, s: &str) -> bool {
        let in_strs = if let Some(h) = &self.hashed {
            h.contains(s)
        } else if self.ignore_case {
            self.strs.iter().any(|x| x.eq_ignore_ascii_case(s))
        } else {
            self.strs
                .iter()
                .any(|x| x.len() == s.len() && same(x.as_bytes(), s.as_bytes(), false))
        };
        in_strs
            || (!self.nums.is_empty()
                && s.trim()
                    .parse::<f64>()
                    .is_ok_and(|n| self.nums.contains(&n)))
            || (!self.bools.is_empty()
                && ((s == "true" && self.bools.contains(&true))
                    || (s == "false" && self.bools.contains(&false))))
    }

    fn has(&self, v: &Val<'_>) -> bool {
        match v {
            Val::Str(s) => self.has_str(s),
            Val::Num(n) => self.nums.contains(n),
            Val::Bool(b) => self.bools.contains(b),
            Val::Ip(ip) => self.ips.contains(ip),
            _ => false,
        }
    }
}

/// A compiled operator: what an [`OPS`] entry's compile step produces and
/// [`Op::test_scalar`] evaluates. Several operators share a variant (`gt`
/// and `lte` are both `Num`, `Dur` or `Time` with their [`Cmp`]).
#[derive(Debug, Clone)]
pub(crate) enum Op {
    In(LitSet),
    Pattern(Regex),
    Glob(Vec<GlobMatch>),
    Contains(Box<str>, bool, Box<memchr::memmem::Finder<'static>>),
    StartsWith(Box<str>, bool),
    EndsWith(Box<str>, bool),
    Cidr(Vec<IpNet>),
    Num(Cmp, f64),
    Dur(Cmp, SignedDuration),
    Time(Cmp, Timestamp),
    Version(Cmp, Vec<u64>),
    Weekday(u8, TimeZone),
    Between(u16, u16, TimeZone),
    Exists(bool),
}

fn contains_ic(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else {
        return true;
    };
    if h.len() < n.len() {
        return false;
    }
    let last_start = h.len() - n.len();
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lo, up, &h[..=last_start])
        .any(|i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Equal-length byte slices: a one-byte check at each end first, so most
/// mismatches never reach `memcmp`.
#[inline]
fn same(a: &[u8], b: &[u8], ic: bool) -> bool {
    if ic {
        return a.eq_ignore_ascii_case(b);
    }
    match (a.first(), b.first(), a.last(), b.last()) {
        (Some(x), Some(y), Some(u), Some(v)) => x == y && u == v && a == b,
        _ => a.len() == b.len(),
    }
}

#[inline]
fn starts_ic(s: &[u8], p: &[u8], ic: bool) -> bool {
    s.len() >= p.len() && same(&s[..p.len()], p, ic)
}

#[inline]
fn ends_ic(s: &[u8], p: &[u8], ic: bool) -> bool {
    s.len() >= p.len() && same(&s[s.len() - p.len()..], p, ic)
}

/// One glob, matched without a regex when it is a plain literal with `*` at
/// either end (`*.corp.example.com`, `svc-*`, `*admin*`, `exact`).
#[derive(Debug, Clone)]
pub(crate) enum GlobMatch {
    Exact(Box<str>, bool),
    Prefix(Box<str>, bool),
    Suffix(Box<str>, bool),
    Contains(Box<str>, bool, Box<memchr::memmem::Finder<'static>>),
    Any,
    Regex(Regex),
}

impl GlobMatch {
    /// Compile a glob (globset syntax: `*`, `?`, `[...]`, `{a,b}`, `\\`).
    pub(crate) fn new(pattern: &str, ic: bool) -> Result<GlobMatch, String> {
        let special = |c: char| matches!(c, '?' | '[' | ']' | '{' | '}' | '\\');
        if !pattern.contains(special) {
            let inner = pattern.trim_start_matches('*').trim_end_matches('*');
            if inner.is_empty() {
                return Ok(if pattern.is_empty() {
                    GlobMatch::Exact("".into(), ic)
                } else {
                    GlobMatch::Any
                });
            }
            if !inner.contains('*') {
                let lit: Box<str> = inner.into();
                return Ok(match (pattern.starts_with('*'), pattern.ends_with('*')) {
                    (false, false) => GlobMatch::Exact(lit, ic),
                    (false, true) => GlobMatch::Prefix(lit, ic),
                    (true, false) => GlobMatch::Suffix(lit, ic),
                    (true, true) => {
                        let finder =
                            Box::new(memchr::memmem::Finder::new(inner.as_bytes()).into_owned());
                        GlobMatch::Contains(lit, ic, finder)
                    }
                });
            }
        }
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .case_insensitive(ic)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("bad glob `{pattern}`: {e}"))?;
        regex::bytes::RegexBuilder::new(glob.regex())
            .size_limit(1 << 20)
            .build()
            .map(GlobMatch::Regex)
            .map_err(|e| format!("bad glob `{pattern}`: {e}"))
    }

    #[inline]
    pub(crate) fn is_match(&self, s: &str) -> bool {
        let b = s.as_bytes();
        match self {
            GlobMatch::Exact(l, ic) => b.len() == l.len() && starts_ic(b, l.as_bytes(), *ic),
            GlobMatch::Prefix(l, ic) => starts_ic(b, l.as_bytes(), *ic),
            GlobMatch::Suffix(l, ic) => ends_ic(b, l.as_bytes(), *ic),
            GlobMatch::Contains(l, ic, finder) => {
                if *ic {
                    contains_ic(s, l)
                } else {
                    finder.find(b).is_some()
                }
            }
            GlobMatch::Any => true,
            GlobMatch::Regex(re) => re.is_match(b),
        }
    }
}

/// Leading-digit components of a version: `iOS 14.2.1` -> [14, 2, 1].
pub(crate) fn version_cmp(text: &str, want: &[u64]) -> Option<Ordering> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let mut parts = text[start..].split('.');
    for w in want
        .iter()
        .chain(std::iter::repeat(&0))
        .take(want.len().max(1))
    {
        let got = match parts.next() {
            Some(p) => {
                let digits = p.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    0
                } else {
                    p[..digits].parse::<u64>().ok()?
                }
            }
            None => 0,
        };
        match got.cmp(w) {
            Ordering::Equal => {}
            o => return Some(o),
        }
    }
    // Extra non-zero components on the left make it greater.
    for p in parts {
        let digits = p.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && p[..digits].parse::<u64>().ok()? > 0 {
            return Some(Ordering::Greater);
        }
    }
    Some(Ordering::Equal)
}

fn as_time(v: &Val<'_>) -> Option<Timestamp> {
    match v {
        Val::Time(t) => Some(*t),
        Val::Str(s) => crate::time::parse_timestamp(s),
        Val::Num(n) => crate::time::timestamp_from_epoch(*n),
        _ => None,
    }
}

impl Op {
    /// An estimate of the test's cost, to run cheap tests first (with
    /// [`Op::test_scalar`], the evaluation side of an operator).
    fn cost(&self) -> u32 {
        match self {
            Op::In(set) if set.hashed.is_some() => 3,
            Op::In(set) => 1 + (set.strs.len() as u32 / 4),
            Op::Exists(_) => 0,
            Op::Contains(..) | Op::StartsWith(..) | Op::EndsWith(..) => 2,
            Op::Glob(g) => {
                2 * g.len() as u32
                    + 4 * g
                        .iter()
                        .filter(|g| matches!(g, GlobMatch::Regex(_)))
                        .count() as u32
            }
            Op::Cidr(nets) => 2 + nets.len() as u32 / 2,
            Op::Num(..) | Op::Dur(..) | Op::Time(..) => 2,
            Op::Version(..) => 4,
            Op::Pattern(_) => 8,
            Op::Weekday(..) | Op::Between(..) => 10,
        }
    }

    /// The positive test on one scalar value.
    #[inline]
    fn test_scalar(&self, v: &Val<'_>) -> bool {
        match self {
            Op::In(set) => set.has(v),
            Op::Pattern(re) => matches!(v, Val::Str(s) if re.is_match(s.as_bytes())),
            Op::Glob(globs) => matches!(v, Val::Str(s) if globs.iter().any(|g| g.is_match(s))),
            Op::Contains(p, ic, finder) => {
                matches!(v, Val::Str(s) if if *ic { contains_ic(s, p) } else { finder.find(s.as_bytes()).is_some() })
            }
            Op::StartsWith(p, ic) => {
                matches!(v, Val::Str(s) if starts_ic(s.as_bytes(), p.as_bytes(), *ic))
            }
            Op::EndsWith(p, ic) => {
                matches!(v, Val::Str(s) if ends_ic(s.as_bytes(), p.as_bytes(), *ic))
            }
            Op::Cidr(nets) => {
                let ip = match v {
                    Val::Ip(ip) => Some(*ip),
                    Val::Str(s) => crate::event::parse_ip(s),
                    _ => None,
                };
                ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
            }
            Op::Num(c, want) => {
                let n = match v {
                    Val::Num(n) => Some(*n),
                    Val::Str(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                n.and_then(|n| n.partial_cmp(want))
                    .is_some_and(|o| c.holds(o))
            }
            Op::Dur(c, want) => matches!(v, Val::Dur(d) if c.holds(d.cmp(want))),
            Op::Time(c, want) => as_time(v).is_some_and(|t| c.holds(t.cmp(want))),
            Op::Version(c, want) => {
                matches!(v, Val::Str(s) if version_cmp(s, want).is_some_and(|o| c.holds(o)))
            }
            Op::Weekday(mask, tz) => as_time(v).is_some_and(|t| {
                let day = tz.to_datetime(t).weekday().to_monday_zero_offset();
                mask & (1 << day) != 0
            }),
            Op::Between(start, end, tz) => as_time(v).is_some_and(|t| {
                let dt = tz.to_datetime(t);
                let m = dt.hour() as u16 * 60 + dt.minute() as u16;
                if start <= end {
                    *start <= m && m < *end
                } else {
                    m >= *start || m < *end
                }
            }),
            Op::Exists(_) => true,
        }
    }

    /// The positive test on a value (lists: any element).
    #[inline]
    fn test(&self, v: &Val<'_>) -> bool {
        match v {
            Val::ErrCodes(errs) => errs
                .iter()
                .filter_map(|e| e.code.as_deref())
                .any(|s| self.test_scalar(&Val::Str(s))),
            Val::ErrMsgs(errs) => errs
                .iter()
                .filter_map(|e| e.message.as_deref())
                .any(|s| self.test_scalar(&Val::Str(s))),
            Val::JsonList(items) => items
                .iter()
                .any(|i| self.test_scalar(&Val::from_json(Some(i)))),
            Val::IpList(ips) => ips.iter().any(|ip| self.test_scalar(&Val::Ip(*ip))),
            other => self.test_scalar(other),
        }
    }
}

impl Leaf {
    #[inline]
    fn eval_val(&self, v: &Val<'_>) -> bool {
        if let Op::Exists(want) = self.op {
            return v.is_missing() != want;
        }
        if v.is_missing() {
            return false;
        }
        self.op.test(v) != self.negate
    }
}

impl Cond {
    /// Fast path: does the subject satisfy the condition?
    #[inline]
    pub(crate) fn eval(&self, s: Subject<'_>, env: &Env<'_>) -> bool {
        match self {
            Cond::All(g) => g.iter_fast().all(|c| c.eval(s, env)),
            Cond::Any(g) => g.iter_fast().any(|c| c.eval(s, env)),
            Cond::Not(c) => !c.eval(s, env),
            Cond::Leaf(l) => l.eval_val(&l.field.get(s, env)),
        }
    }

    /// Slow path: evaluate every node (no short-circuit) and record why.
    pub(crate) fn explain(
        &self,
        s: Subject<'_>,
        env: &Env<'_>,
        depth: usize,
        out: &mut Vec<CondTrace>,
    ) -> bool {
        let (label, children): (&str, Vec<&Cond>) = match self {
            Cond::All(g) => ("all of", g.items.iter().collect()),
            Cond::Any(g) => ("any of", g.items.iter().collect()),
            Cond::Not(c) => ("not", vec![&**c]),
            Cond::Leaf(l) => {
                let v = l.field.get(s, env);
                let passed = l.eval_val(&v);
                let reason = if passed {
                    format!("`{}` is {}", l.field_name, v.render())
                } else if v.is_missing() && !matches!(l.op, Op::Exists(_)) {
                    format!("`{}` is absent, so the test cannot hold", l.field_name)
                } else if l.negate {
                    format!(
                        "`{}` is {}, which is among the excluded values",
                        l.field_name,
                        v.render()
                    )
                } else {
                    format!(
                        "`{}` is {}, which does not satisfy it",
                        l.field_name,
                        v.render()
                    )
                };
                out.push(CondTrace {
                    depth,
                    text: l.text.clone(),
                    line: l.loc.line,
                    passed,
                    reason: Some(reason),
                });
                return passed;
            }
        };
        let slot = out.len();
        out.push(CondTrace {
            depth,
            text: label.into(),
            line: 0,
            passed: false,
            reason: None,
        });
        let results: Vec<bool> = children
            .iter()
            .map(|c| c.explain(s, env, depth + 1, out))
            .collect();
        let passed = match self {
            Cond::All(_) => results.iter().all(|r| *r),
            Cond::Any(_) => results.iter().any(|r| *r),
            _ => !results.first().copied().unwrap_or(false),
        };
        out[slot].passed = passed;
        passed
    }

    /// An estimate of evaluation cost, to test cheap conditions first.
    fn cost(&self) -> u32 {
        match self {
            Cond::All(g) | Cond::Any(g) => g
                .items
                .iter()
                .map(Cond::cost)
                .sum::<u32>()
                .saturating_add(1),
            Cond::Not(c) => c.cost(),
            Cond::Leaf(l) => {
                let field = match &l.field {
                    Field::Raw(_) => 4,
                    Field::Known(
                        super::field::FieldId::InMarked | super::field::FieldId::InMarkAge,
                    ) => 6,
                    Field::Known(super::field::FieldId::DevPatchLevelAge) => 6,
                    _ => 1,
                };
                field + l.op.cost()
            }
        }
    }

    /// If the condition requires `event_type` to be one of a fixed set of
    /// exact strings: that set (for pre-indexing rules by event type), and
    /// the rest of the condition to evaluate once the index has guaranteed
    /// the type (`None`: nothing left to test).
    pub(crate) fn split_event_types(&self) -> Option<(Vec<String>, Option<Cond>)> {
        fn types(c: &Cond) -> Option<Vec<String>> {
            match c {
                Cond::Leaf(l) => match (&l.field, &l.op, l.negate) {
                    (Field::Known(super::field::FieldId::EvEventType), Op::In(set), false)
                        if !set.ignore_case
                            && set.nums.is_empty()
                            && set.bools.is_empty()
                            && !set.strs.is_empty() =>
                    {
                        Some(set.strs.iter().map(|s| s.to_string()).collect())
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        match self {
            Cond::Leaf(_) => types(self).map(|t| (t, None)),
            Cond::All(g) => {
                let (pos, t) = g
                    .items
                    .iter()
                    .enumerate()
                    .find_map(|(i, c)| types(c).map(|t| (i, t)))?;
                let mut rest = g.items.clone();
                rest.remove(pos);
                Some((t, (!rest.is_empty()).then(|| flatten_all(rest))))
            }
            _ => None,
        }
    }
}

/// One line of a condition explanation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CondTrace {
    /// Nesting depth (0 = top).
    pub depth: usize,
    /// The condition as written (`source_ip not-in-cidr [...]`) or the
    /// combinator (`all of`, `any of`, `not`).
    pub text: String,
    /// Its line in the policy file (0 for combinators).
    pub line: u32,
    /// Whether it held.
    pub passed: bool,
    /// The value seen, and why it did or did not hold.
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------
// Compilation from YAML.

/// One condition operator, described once: its names (the base name, then
/// its `not-` form if it has one), the field types it applies to (raw
/// fields, [`FieldType::Dynamic`], take every operator) and how its operand
/// compiles to an [`Op`], which [`Op::test_scalar`] evaluates.
struct OpDescriptor {
    names: &'static [&'static str],
    types: &'static [FieldType],
    compile: fn(&mut CondCompiler<'_, '_>, &Operand<'_>) -> Option<Op>,
}

/// What an operator's compile step gets: the operator's base name (several
/// operators share a compile step), the operand and the field's context.
struct Operand<'a> {
    base: &'a str,
    v: &'a Node,
    ty: FieldType,
    ic: bool,
    tz: Option<&'a (TimeZone, String)>,
    path: &'a str,
}

use FieldType::{Bool, Duration, Ip, Number, Str, StrList, Time};

/// Every condition operator, in the order error messages list them.
static OPS: &[OpDescriptor] = &[
    OpDescriptor {
        names: &["equals", "not-equals"],
        types: &[Str, StrList, Ip, Duration, Number, Bool],
        compile: compile_in,
    },
    OpDescriptor {
        names: &["in", "not-in"],
        types: &[Str, StrList, Ip, Duration, Number],
        compile: compile_in,
    },
    OpDescriptor {
        names: &["glob", "not-glob"],
        types: &[Str, StrList],
        compile: compile_glob,
    },
    OpDescriptor {
        names: &["regex", "not-regex"],
        types: &[Str, StrList],
        compile: compile_regex,
    },
    OpDescriptor {
        names: &["contains"],
        types: &[Str, StrList],
        compile: compile_text,
    },
    OpDescriptor {
        names: &["starts-with"],
        types: &[Str, StrList],
        compile: compile_text,
    },
    OpDescriptor {
        names: &["ends-with"],
        types: &[Str, StrList],
        compile: compile_text,
    },
    OpDescriptor {
        names: &["in-cidr", "not-in-cidr"],
        types: &[Ip],
        compile: compile_cidr,
    },
    OpDescriptor {
        names: &["gt"],
        types: &[Time, Duration, Number],
        compile: compile_compare,
    },
    OpDescriptor {
        names: &["gte"],
        types: &[Time, Duration, Number],
        compile: compile_compare,
    },
    OpDescriptor {
        names: &["lt"],
        types: &[Time, Duration, Number],
        compile: compile_compare,
    },
    OpDescriptor {
        names: &["lte"],
        types: &[Time, Duration, Number],
        compile: compile_compare,
    },
    OpDescriptor {
        names: &["version-gt"],
        types: &[Str],
        compile: compile_version,
    },
    OpDescriptor {
        names: &["version-gte"],
        types: &[Str],
        compile: compile_version,
    },
    OpDescriptor {
        names: &["version-lt"],
        types: &[Str],
        compile: compile_version,
    },
    OpDescriptor {
        names: &["version-lte"],
        types: &[Str],
        compile: compile_version,
    },
    OpDescriptor {
        names: &["weekday"],
        types: &[Time],
        compile: compile_weekday,
    },
    OpDescriptor {
        names: &["between"],
        types: &[Time],
        compile: compile_between,
    },
    OpDescriptor {
        names: &["exists"],
        types: &[Str, StrList, Ip, Time, Duration, Number, Bool],
        compile: compile_exists,
    },
    OpDescriptor {
        names: &["absent"],
        types: &[Str, StrList, Ip, Time, Duration, Number, Bool],
        compile: compile_exists,
    },
];

/// Keys of an operator mapping that modify its operators (`tz`,
/// `ignore-case`) rather than test anything.
const MODIFIERS: &[&str] = &["tz", "ignore-case"];

/// Every name an operator mapping accepts: operators, their `not-` forms,
/// then the modifiers.
pub(crate) fn operator_names() -> Vec<&'static str> {
    OPS.iter()
        .flat_map(|d| d.names.iter().copied())
        .chain(MODIFIERS.iter().copied())
        .collect()
}

/// The operator named `op`, and whether `op` is its `not-` form.
fn find_op(op: &str) -> Option<(&'static OpDescriptor, bool)> {
    OPS.iter().find_map(|d| match d.names {
        [base, ..] if *base == op => Some((d, false)),
        [_, negated] if *negated == op => Some((d, true)),
        _ => None,
    })
}

const COMBINATORS: &[&str] = &["all", "any", "not"];

/// Render an operand compactly for condition texts.
fn render_node(n: &Node) -> String {
    match &n.kind {
        NodeKind::Seq(items) => format!(
            "[{}]",
            items.iter().map(render_node).collect::<Vec<_>>().join(", ")
        ),
        NodeKind::Map(_) => "{...}".into(),
        NodeKind::Null => "null".into(),
        _ => n.scalar_text().unwrap_or_default(),
    }
}

pub(crate) struct CondCompiler<'d, 'f> {
    pub dec: &'d mut Dec<'f>,
    pub on: OnKind,
    pub default_tz: TimeZone,
}

impl CondCompiler<'_, '_> {
    /// `where:` is a mapping (every key must hold) or a list (all must hold).
    pub(crate) fn compile(&mut self, node: &Node, path: &str) -> Option<Cond> {
        match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.compile(item, &format!("{path}[{i}]")) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                if items.is_empty() {
                    self.dec.err(
                        node.loc,
                        path,
                        "an empty list of conditions; remove it or add conditions",
                    );
                    return None;
                }
                ok.then(|| flatten_all(out))
            }
            NodeKind::Map(entries) => {
                if entries.is_empty() {
                    self.dec.err(node.loc, path, "an empty condition mapping");
                    return None;
                }
                let mut out = Vec::new();
                let mut ok = true;
                for (key, value, kloc) in entries {
                    let sub = format!("{path}.{key}");
                    let c = match key.as_str() {
                        "all" | "any" => self.combinator(key, value, &sub),
                        "not" => self.compile(value, &sub).map(|c| Cond::Not(Box::new(c))),
                        field => self.field(field, value, *kloc, &sub),
                    };
                    match c {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                ok.then(|| flatten_all(out))
            }
            _ => {
                self.dec.err(
                    node.loc,
                    path,
                    format!(
                        "expected a condition (a mapping such as `user: alice` or `any: [...]`), found {}",
                        node.type_name()
                    ),
                );
                None
            }
        }
    }

    fn combinator(&mut self, key: &str, value: &Node, path: &str) -> Option<Cond> {
        let NodeKind::Seq(items) = &value.kind else {
            self.dec.err(
                value.loc,
                path,
                format!(
                    "`{key}` takes a list of conditions, found {}",
                    value.type_name()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.dec
                .err(value.loc, path, format!("`{key}` with no conditions"));
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.compile(item, &format!("{path}[{i}]")) {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(if key == "all" {
            Cond::All(Group::new(out))
        } else {
            Cond::Any(Group::new(out))
        })
    }

    fn field(&mut self, name: &str, value: &Node, kloc: Location, path: &str) -> Option<Cond> {
        let (field, ty) = match resolve(self.on, name) {
            Ok(f) => {
                self.dec.reads_raw |= matches!(f.0, Field::Raw(_));
                f
            }
            Err((msg, sugg)) => {
                // A misspelled combinator is likelier than a field.
                let sugg =
                    sugg.or_else(|| crate::suggest::nearest(name, COMBINATORS.iter().copied()));
                self.dec.err_sugg(kloc, path, msg, sugg);
                return None;
            }
        };
        let leaf = |op: Op, negate: bool, text: String, loc: Location| {
            Cond::Leaf(Box::new(Leaf {
                field: field.clone(),
                field_name: name.to_owned(),
                op,
                negate,
                text,
                loc,
            }))
        };
        match &value.kind {
            NodeKind::Map(ops) => {
                // Modifiers first.
                let mut tz = None;
                let mut ignore_case = false;
                for (k, v, _) in ops {
                    match k.as_str() {
                        "tz" => tz = self.tz(v, &format!("{path}.tz")),
                        "ignore-case" => match v.kind {
                            NodeKind::Bool(b) => ignore_case = b,
                            _ => self.dec.err(
                                v.loc,
                                &format!("{path}.ignore-case"),
                                "expected true or false",
                            ),
                        },
                        _ => {}
                    }
                }
                let mut out = Vec::new();
                let mut ok = true;
                for (k, v, oloc) in ops {
                    if k == "tz" || k == "ignore-case" {
                        continue;
                    }
                    let opath = format!("{path}.{k}");
                    match self.op(k, v, ty, ignore_case, tz.as_ref(), *oloc, &opath) {
                        Some((op, negate)) => {
                            let text = format!("{name} {k} {}", render_node(v));
                            out.push(leaf(op, negate, text, *oloc));
                        }
                        None => ok = false,
                    }
                }
                if ok && out.is_empty() {
                    self.dec.err(
                        value.loc,
                        path,
                        format!(
                            "no operator given for `{name}`; use one of: {}",
                            operator_names().join(", ")
                        ),
                    );
                    return None;
                }
                ok.then(|| flatten_all(out))
            }
            NodeKind::Seq(_) => {
                let (op, neg) = self.op("in", value, ty, false, None, value.loc, path)?;
                Some(leaf(
                    op,
                    neg,
                    format!("{name} in {}", render_node(value)),
                    value.loc,
                ))
            }
            _ => {
                let (op, neg) = self.op("equals", value, ty, false, None, value.loc, path)?;
                Some(leaf(
                    op,
                    neg,
                    format!("{name} equals {}", render_node(value)),
                    value.loc,
                ))
            }
        }
    }

    fn tz(&mut self, v: &Node, path: &str) -> Option<(TimeZone, String)> {
        let name = match &v.kind {
            NodeKind::Str(s) => s.clone(),
            _ => {
                self.dec.err(
                    v.loc,
                    path,
                    "expected a time zone name such as `Europe/Paris`",
                );
                return None;
            }
        };
        match TimeZone::get(&name) {
            Ok(tz) => Some((tz, name)),
            Err(_) => {
                self.dec.err(v.loc, path, format!("unknown time zone `{name}`; use an IANA name such as `Europe/Paris` or `UTC`"));
                None
            }
        }
    }

    /// Compile one operator of a field's condition: look it up in [`OPS`],
    /// check it applies to the field's type, compile its operand.
    #[allow(clippy::too_many_arguments)]
    fn op(
        &mut self,
        op: &str,
        v: &Node,
        ty: FieldType,
        ic: bool,
        tz: Option<&(TimeZone, String)>,
        loc: Location,
        path: &str,
    ) -> Option<(Op, bool)> {
        let Some((desc, negate)) = find_op(op) else {
            let names = operator_names();
            if MODIFIERS.contains(&op) {
                self.dec
                    .err(loc, path, format!("operator `{op}` is not supported here"));
                return None;
            }
            let sugg = crate::suggest::nearest(op, names.iter().copied());
            self.dec.err_sugg(
                loc,
                path,
                format!("unknown operator `{op}`; operators: {}", names.join(", ")),
                sugg,
            );
            return None;
        };
        if ty != FieldType::Dynamic && !desc.types.contains(&ty) {
            let shown: Vec<&str> = OPS
                .iter()
                .filter(|d| d.types.contains(&ty))
                .flat_map(|d| d.names.iter().copied())
                .collect();
            self.dec.err(
                loc,
                path,
                format!(
                    "operator `{op}` does not apply to {}; use one of: {}",
                    ty.describe(),
                    shown.join(", ")
                ),
            );
            return None;
        }
        let operand = Operand {
            base: desc.names[0],
            v,
            ty,
            ic,
            tz,
            path,
        };
        let op = (desc.compile)(self, &operand)?;
        Some((op, negate))
    }

    fn zone(&self, tz: Option<&(TimeZone, String)>) -> TimeZone {
        tz.map_or_else(|| self.default_tz.clone(), |(z, _)| z.clone())
    }

    fn regex(&mut self, pattern: &str, ic: bool, loc: Location, path: &str) -> Option<Regex> {
        match regex::bytes::RegexBuilder::new(pattern)
            .case_insensitive(ic)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 21)
            .build()
        {
            Ok(r) => Some(r),
            Err(e) => {
                let msg = e.to_string();
                let first = msg.lines().last().unwrap_or("invalid").trim();
                self.dec
                    .err(loc, path, format!("bad regex `{pattern}`: {first}"));
                None
            }
        }
    }

    fn strings(&mut self, v: &Node, path: &str) -> Option<Vec<String>> {
        let items: Vec<&Node> = match &v.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![v],
        };
        let mut out = Vec::new();
        for it in items {
            match it.scalar_text() {
                Some(s) => out.push(s),
                None => {
                    self.dec.err(
                        it.loc,
                        path,
                        format!("expected a string, found {}", it.type_name()),
                    );
                    return None;
                }
            }
        }
        if out.is_empty() {
            self.dec.err(v.loc, path, "an empty list");
            return None;
        }
        Some(out)
    }

    fn litset(&mut self, v: &Node, ty: FieldType, ic: bool, path: &str) -> Option<LitSet> {
        let items: Vec<&Node> = match &v.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![v],
        };
        if items.is_empty() {
            self.dec.err(
                v.loc,
                path,
                "an empty list matches nothing; remove the condition or add values",
            );
            return None;
        }
        let mut set = LitSet {
            ignore_case: ic,
            ..LitSet::default()
        };
        for it in items {
            match (ty, &it.kind) {
                (_, NodeKind::Seq(_) | NodeKind::Map(_) | NodeKind::Null) => {
                    self.dec.err(
                        it.loc,
                        path,
                        format!("expected a plain value, found {}", it.type_name()),
                    );
                    return None;
                }
                (FieldType::Ip, _) => match it.scalar_text().and_then(|s| s.parse::<IpAddr>().ok())
                {
                    Some(ip) => set.ips.push(ip),
                    None => {
                        self.dec.err(
                            it.loc,
                            path,
                            "expected an IP address (use `in-cidr` for networks)",
                        );
                        return None;
                    }
                },
                (FieldType::Number, _) => set.nums.push(self.number(it, path)?),
                (FieldType::Duration, _) => {
                    self.dec
                        .err(it.loc, path, "compare durations with gt/gte/lt/lte");
                    return None;
                }
                (FieldType::Bool, NodeKind::Bool(b)) => set.bools.push(*b),
                (FieldType::Bool, _) => {
                    self.dec.err(it.loc, path, "expected true or false");
                    return None;
                }
                (FieldType::Dynamic, NodeKind::Int(i)) => set.nums.push(*i as f64),
                (FieldType::Dynamic, NodeKind::Float(f)) => set.nums.push(*f),
                (FieldType::Dynamic, NodeKind::Bool(b)) => set.bools.push(*b),
                (_, _) => set.strs.push(it.scalar_text().unwrap_or_default().into()),
            }
        }
        Some(set.finish())
    }

    fn number(&mut self, v: &Node, path: &str) -> Option<f64> {
        match v.kind {
            NodeKind::Int(i) => Some(i as f64),
            NodeKind::Float(f) => Some(f),
            _ => {
                self.dec.err(
                    v.loc,
                    path,
                    format!("expected a number, found {}", v.type_name()),
                );
                None
            }
        }
    }

    fn duration(&mut self, v: &Node, path: &str) -> Option<SignedDuration> {
        let text = match &v.kind {
            NodeKind::Str(s) => s.clone(),
            NodeKind::Int(0) => "0".into(),
            _ => {
                self.dec.err(
                    v.loc,
                    path,
                    format!(
                        "expected a duration such as `30d` or `10m`, found {}",
                        v.type_name()
                    ),
                );
                return None;
            }
        };
        match crate::time::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.dec.err(v.loc, path, e);
                None
            }
        }
    }

    fn timestamp(&mut self, v: &Node, path: &str) -> Option<Timestamp> {
        let t = v
            .scalar_text()
            .and_then(|s| crate::time::parse_timestamp(&s));
        if t.is_none() {
            self.dec.err(
                v.loc,
                path,
                "expected an RFC 3339 time such as `2026-01-01T00:00:00Z`",
            );
        }
        t
    }
}

// ---------------------------------------------------------------------------
// The compile steps of the operators in `OPS`.

/// `equals` (one value) and `in` (a list): a literal set.
fn compile_in(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    if o.base == "equals" && matches!(o.v.kind, NodeKind::Seq(_)) {
        c.dec.err(
            o.v.loc,
            o.path,
            "`equals` takes one value; use `in` for a list",
        );
        return None;
    }
    Some(Op::In(c.litset(o.v, o.ty, o.ic, o.path)?))
}

/// `glob`: one pattern or a list.
fn compile_glob(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    let pats = c.strings(o.v, o.path)?;
    let mut globs = Vec::new();
    for p in &pats {
        match GlobMatch::new(p, o.ic) {
            Ok(g) => globs.push(g),
            Err(e) => {
                c.dec.err(o.v.loc, o.path, e);
                return None;
            }
        }
    }
    Some(Op::Glob(globs))
}

/// `regex`: one pattern.
fn compile_regex(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    let NodeKind::Str(s) = &o.v.kind else {
        c.dec.err(
            o.v.loc,
            o.path,
            format!("`regex` takes a string, found {}", o.v.type_name()),
        );
        return None;
    };
    Some(Op::Pattern(c.regex(s, o.ic, o.v.loc, o.path)?))
}

/// `contains`, `starts-with`, `ends-with`: one text.
fn compile_text(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    let v = o.v;
    let Some(s) = v
        .scalar_text()
        .filter(|_| !matches!(v.kind, NodeKind::Bool(_)))
    else {
        c.dec.err(
            v.loc,
            o.path,
            format!("`{}` takes a string, found {}", o.base, v.type_name()),
        );
        return None;
    };
    let s: Box<str> = s.into();
    Some(match o.base {
        "contains" => {
            let finder = Box::new(memchr::memmem::Finder::new(s.as_bytes()).into_owned());
            Op::Contains(s, o.ic, finder)
        }
        "starts-with" => Op::StartsWith(s, o.ic),
        _ => Op::EndsWith(s, o.ic),
    })
}

/// `in-cidr`: CIDRs or addresses.
fn compile_cidr(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    let items = c.strings(o.v, o.path)?;
    let mut nets = Vec::new();
    for s in items {
        match parse_net(&s) {
            Ok(n) => nets.push(n),
            Err(e) => {
                c.dec.err(o.v.loc, o.path, e);
                return None;
            }
        }
    }
    Some(Op::Cidr(nets))
}

/// The comparison a `gt`/`gte`/`lt`/`lte` (or `version-` ...) name asks for.
fn cmp_of(name: &str) -> Cmp {
    match name.trim_start_matches("version-") {
        "gt" => Cmp::Gt,
        "gte" => Cmp::Gte,
        "lt" => Cmp::Lt,
        _ => Cmp::Lte,
    }
}

/// `gt`, `gte`, `lt`, `lte`: a duration, time or number by the field's type;
/// on a raw field a number or an RFC 3339 time.
fn compile_compare(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    let (v, path, base) = (o.v, o.path, o.base);
    let cmp = cmp_of(base);
    Some(match o.ty {
        FieldType::Duration => Op::Dur(cmp, c.duration(v, path)?),
        FieldType::Time => Op::Time(cmp, c.timestamp(v, path)?),
        FieldType::Number => Op::Num(cmp, c.number(v, path)?),
        _ => match &v.kind {
            NodeKind::Int(i) => Op::Num(cmp, *i as f64),
            NodeKind::Float(f) => Op::Num(cmp, *f),
            NodeKind::Str(s) => match crate::time::parse_timestamp(s) {
                Some(t) if !s.trim().bytes().all(|b| b.is_ascii_digit()) => Op::Time(cmp, t),
                _ => {
                    c.dec.err(v.loc, path, format!("`{base}` on a raw field takes a number or an RFC 3339 time; `{s}` is neither (durations apply to age fields)"));
                    return None;
                }
            },
            _ => {
                c.dec.err(
                    v.loc,
                    path,
                    format!("`{base}` takes a number, found {}", v.type_name()),
                );
                return None;
            }
        },
    })
}

/// `version-gt` ...: a dotted numeric version.
fn compile_version(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    let text = o.v.scalar_text().unwrap_or_default();
    let parts: Result<Vec<u64>, _> = text.split('.').map(str::parse::<u64>).collect();
    match parts {
        Ok(p) if !p.is_empty() => Some(Op::Version(cmp_of(o.base), p)),
        _ => {
            c.dec.err(o.v.loc, o.path, format!("`{}` takes a dotted numeric version such as \"14.2\" (quote it), found `{text}`", o.base));
            None
        }
    }
}

/// `weekday`: day names, in the field's time zone.
fn compile_weekday(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    let days = c.strings(o.v, o.path)?;
    let mut mask = 0u8;
    for d in days {
        match crate::time::parse_weekday(&d) {
            Ok(i) => mask |= 1 << i,
            Err(e) => {
                c.dec.err(o.v.loc, o.path, e);
                return None;
            }
        }
    }
    Some(Op::Weekday(mask, c.zone(o.tz)))
}

/// `between`: two times of day (the window may cross midnight).
fn compile_between(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    let bounds = c.strings(o.v, o.path)?;
    let [a, b] = bounds.as_slice() else {
        c.dec.err(o.v.loc, o.path, "`between` takes two times of day, e.g. [\"19:00\", \"07:00\"] (a window may cross midnight)");
        return None;
    };
    let (a, b) = match (
        crate::time::parse_time_of_day(a),
        crate::time::parse_time_of_day(b),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            c.dec.err(o.v.loc, o.path, e);
            return None;
        }
    };
    Some(Op::Between(a, b, c.zone(o.tz)))
}

/// `exists` / `absent`: true or false.
fn compile_exists(c: &mut CondCompiler<'_, '_>, o: &Operand<'_>) -> Option<Op> {
    match o.v.kind {
        NodeKind::Bool(b) => Some(Op::Exists(if o.base == "exists" { b } else { !b })),
        _ => {
            c.dec
                .err(o.v.loc, o.path, format!("`{}` takes true or false", o.base));
            None
        }
    }
}

fn flatten_all(mut v: Vec<Cond>) -> Cond {
    if v.len() == 1 {
        v.pop().unwrap_or(Cond::All(Group::new(Vec::new())))
    } else {
        Cond::All(Group::new(v))
    }
}

/// A CIDR (`10.0.0.0/8`) or a single address (as /32 or /128).
pub(crate) fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(format!(
        "`{s}` is not a CIDR such as `10.0.0.0/8` or an IP address"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_table_names_round_trip() {
        let names = operator_names();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "duplicate operator name");
        for d in OPS {
            assert!(!d.types.is_empty() && !d.types.contains(&FieldType::Dynamic));
            assert!(matches!(find_op(d.names[0]), Some((f, false)) if f.names == d.names));
            if let [_, negated] = d.names {
                assert_eq!(*negated, format!("not-{}", d.names[0]));
                assert!(matches!(find_op(negated), Some((f, true)) if f.names == d.names));
            }
        }
        assert!(find_op("not-contains").is_none() && find_op("tz").is_none());
        // The list error messages show (kept from before the table).
        assert_eq!(
            names.join(" "),
            "equals not-equals in not-in glob not-glob regex not-regex contains starts-with \
             ends-with in-cidr not-in-cidr gt gte lt lte version-gt version-gte version-lt \
             version-lte weekday between exists absent tz ignore-case"
        );
    }

    #[test]
    fn every_operator_compiles_on_a_field_of_its_types() {
        let operand = |name: &str| match name {
            "equals" | "contains" | "starts-with" | "ends-with" | "glob" | "regex" => "x",
            "in" => "[x]",
            "in-cidr" => "10.0.0.0/8",
            "gt" | "gte" | "lt" | "lte" => "1",
            "weekday" => "[mon]",
            "between" => "[\"09:00\", \"17:00\"]",
            "exists" | "absent" => "true",
            v if v.starts_with("version-") => "\"14.2\"",
            other => panic!("no sample operand for `{other}`: add one"),
        };
        for d in OPS {
            let name = d.names[0];
            let yaml = format!(
                "rules:\n  - name: r\n    on: audit-event\n    where: {{raw.a: {{{name}: {}}}}}\n    actions: [sign-out-user]\n",
                operand(name)
            );
            let p = crate::Policy::from_yaml_str(&yaml, "t.yaml");
            assert!(p.is_ok(), "{name}: {:?}", p.err());
        }
    }

    #[test]
    fn versions() {
        assert_eq!(version_cmp("14.2.1", &[14, 2]), Some(Ordering::Greater));
        assert_eq!(version_cmp("14.2", &[14, 2]), Some(Ordering::Equal));
        assert_eq!(version_cmp("iOS 13.7", &[14]), Some(Ordering::Less));
        assert_eq!(version_cmp("10", &[9, 9]), Some(Ordering::Greater));
        assert_eq!(version_cmp("unknown", &[1]), None);
        assert_eq!(version_cmp("99999999999999999999999", &[1]), None);
    }

    #[test]
    fn nets() {
        assert!(parse_net("10.0.0.0/8").is_ok());
        assert!(parse_net("10.1.2.3").is_ok());
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("corp").is_err());
    }

    #[test]
    fn globs_fast_and_slow() {
        let m = |p: &str, s: &str| GlobMatch::new(p, false).unwrap().is_match(s);
        assert!(m("*.corp.example.com", "wiki.corp.example.com"));
        assert!(!m("*.corp.example.com", "corp.example.com"));
        assert!(m("svc-*", "svc-backup"));
        assert!(m("*admin*", "the-admin-user"));
        assert!(m("exact", "exact") && !m("exact", "exactly"));
        assert!(m("*", "anything") && m("**", ""));
        assert!(m("user?@{a,b}.com", "user1@b.com"));
        assert!(!m("user?@{a,b}.com", "user1@c.com"));
        assert!(m("a*b", "a-long-b"));
        assert!(GlobMatch::new("SVC-*", true).unwrap().is_match("svc-x"));
        assert!(!GlobMatch::new("SVC-*", false).unwrap().is_match("svc-x"));
        assert!(GlobMatch::new("[", false).is_err());
    }

    #[test]
    fn ascii_case_helpers() {
        assert!(contains_ic("Hello WORLD", "o wor"));
        assert!(!contains_ic("abc", "abcd"));
    }
}
