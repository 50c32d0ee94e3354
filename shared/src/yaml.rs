//! A small located YAML tree, built with `saphyr` (every node keeps its line
//! and column so later, semantic errors can point at it).

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::error::Location;

/// Policy files larger than this are refused (a policy is a few KiB).
pub const MAX_POLICY_BYTES: usize = 4 * 1024 * 1024;
/// Deepest nesting accepted (flow brackets, or compact `- - -` sequences).
const MAX_DEPTH: usize = 128;

/// One YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub loc: Location,
    /// Its value.
    pub kind: NodeKind,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (plain or quoted).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with string keys, in file order.
    Map(Vec<(String, Node, Location)>),
}

impl Node {
    /// A short name of the node's type for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The scalar as text (strings, numbers and booleans), for places that
    /// take a string but where YAML may have typed the value (`1.0`, `true`).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Convert to JSON (for test-case events and resources).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v, _)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A YAML syntax problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where in the file (line and column).
    pub loc: Location,
    /// What is wrong there.
    pub message: String,
}

/// Parse one YAML document into a located tree. An empty file is `Null`.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(YamlError {
            loc: Location { line: 1, column: 1 },
            message: format!(
                "file is {} bytes, over the {MAX_POLICY_BYTES}-byte limit for a policy",
                text.len()
            ),
        });
    }
    check_depth(text)?;
    let docs = MarkedYaml::load_from_str(text).map_err(|e| YamlError {
        loc: loc(e.marker().line(), e.marker().col()),
        message: format!("invalid YAML: {}", e.info()),
    })?;
    let mut docs = docs.into_iter();
    let Some(first) = docs.next() else {
        return Ok(Node {
            loc: Location { line: 1, column: 1 },
            kind: NodeKind::Null,
        });
    };
    if let Some(second) = docs.next() {
        return Err(YamlError {
            loc: loc(second.span.start.line(), second.span.start.col()),
            message: "a policy file holds one YAML document; found a second one".into(),
        });
    }
    convert(&first, 0)
}

fn loc(line: usize, col: usize) -> Location {
    Location {
        line: u32::try_from(line).unwrap_or(u32::MAX).max(1),
        column: u32::try_from(col.saturating_add(1)).unwrap_or(u32::MAX),
    }
}

/// Refuse pathological nesting before the parser builds (and later drops,
/// recursively) a very deep tree.
fn check_depth(text: &str) -> Result<(), YamlError> {
    let mut flow: usize = 0;
    for (lineno, line) in text.lines().enumerate() {
        let mut compact = 0usize;
        let mut leading = true;
        let bytes = line.as_bytes();
        for (col, &b) in bytes.iter().enumerate() {
            match b {
                b'[' | b'{' => flow += 1,
                b']' | b'}' => flow = flow.saturating_sub(1),
                b'-' | b'?' if leading && bytes.get(col + 1).is_none_or(|n| *n == b' ') => {
                    compact += 1
                }
                b' ' => {}
                _ => leading = false,
            }
            if flow > MAX_DEPTH || compact > MAX_DEPTH {
                return Err(YamlError {
                    loc: loc(lineno + 1, col),
                    message: format!("nesting deeper than {MAX_DEPTH} levels"),
                });
            }
        }
    }
    Ok(())
}

fn convert(node: &MarkedYaml<'_>, depth: usize) -> Result<Node, YamlError> {
    let at = loc(node.span.start.line(), node.span.start.col());
    if depth > MAX_DEPTH {
        return Err(YamlError {
            loc: at,
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    let kind = match &node.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(s, _, _) => NodeKind::Str(s.to_string()),
        YamlData::Sequence(items) => NodeKind::Seq(
            items
                .iter()
                .map(|n| convert(n, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map.iter() {
                let kloc = loc(k.span.start.line(), k.span.start.col());
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    YamlData::Representation(s, _, _) => s.to_string(),
                    _ => {
                        return Err(YamlError {
                            loc: kloc,
                            message: "mapping keys must be plain strings".into(),
                        })
                    }
                };
                entries.push((key, convert(v, depth + 1)?, kloc));
            }
            NodeKind::Map(entries)
        }
        YamlData::Tagged(_, inner) => return convert(inner, depth + 1),
        YamlData::Alias(_) => {
            return Err(YamlError {
                loc: at,
                message: "YAML aliases (`*name`) are not supported in policy files".into(),
            })
        }
        YamlData::BadValue => {
            return Err(YamlError {
                loc: at,
                message: "invalid YAML value".into(),
            })
        }
    };
    Ok(Node { loc: at, kind })
}

fn scalar(s: &Scalar<'_>) -> NodeKind {
    match s {
        Scalar::Null => NodeKind::Null,
        Scalar::Boolean(b) => NodeKind::Bool(*b),
        Scalar::Integer(i) => NodeKind::Int(*i),
        Scalar::FloatingPoint(f) => NodeKind::Float(f.into_inner()),
        Scalar::String(s) => NodeKind::Str(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nodes_and_keeps_order() {
        let n = parse("a: 1\nb:\n  - x\n  - on\n").unwrap();
        let NodeKind::Map(entries) = n.kind else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0, "a");
        assert_eq!(entries[1].2, Location { line: 2, column: 1 });
        let NodeKind::Seq(items) = &entries[1].1.kind else {
            panic!("not a seq")
        };
        assert_eq!(items[1].loc, Location { line: 4, column: 5 });
        // YAML 1.2: `on` is a string, not a boolean.
        assert_eq!(items[1].kind, NodeKind::Str("on".into()));
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.loc.line >= 1, "{e:?}");
        assert!(parse("a: 1\na: 2\n")
            .unwrap_err()
            .message
            .contains("duplicated key"));
        assert!(parse(&"[".repeat(10_000))
            .unwrap_err()
            .message
            .contains("nesting"));
        assert!(parse(&"- ".repeat(10_000))
            .unwrap_err()
            .message
            .contains("nesting"));
        // Aliases resolve (saphyr bounds their expansion: no billion laughs).
        assert!(parse("a: &x 1\nb: *x\n").is_ok());
        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            laughs.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1));
        }
        assert!(parse(&laughs).is_err());
    }
}
