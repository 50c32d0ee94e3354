//! Errors of the policy loader/compiler and of the event decoder.
//!
//! Every policy error names the file, line and column (1-based), and when
//! known the rule and the field (a path such as `rules[2].actions[0]`), plus
//! an optional "did you mean" suggestion.

use std::fmt;

/// A position in a policy file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, serde::Serialize)]
pub struct Location {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct PolicyError {
    /// The file (as given to the loader; `<input>` for in-memory text).
    pub file: String,
    /// Where in the file.
    pub location: Location,
    /// The rule it belongs to, when inside one.
    pub rule: Option<String>,
    /// The field path, e.g. `rules[0].where.all[1].user`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The nearest valid name, for a misspelled key, action, field...
    pub suggestion: Option<String>,
}

impl PolicyError {
    fn render(&self) -> String {
        let mut s = format!("{}:{}", self.file, self.location);
        if let Some(rule) = &self.rule {
            s.push_str(&format!(": rule `{rule}`"));
        }
        if let Some(field) = &self.field {
            s.push_str(&format!(": field `{field}`"));
        }
        s.push_str(": ");
        s.push_str(&self.message);
        if let Some(sugg) = &self.suggestion {
            s.push_str(&format!("; did you mean `{sugg}`?"));
        }
        s
    }
}

/// All the problems found in one policy file (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl PolicyErrors {
    fn render(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&e.to_string());
        }
        out
    }

    /// The individual errors, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &PolicyError> {
        self.0.iter()
    }
}

/// Why one audit record could not be decoded at all. (Missing or oddly typed
/// core fields are NOT errors: they decode to `None`.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The record is not JSON.
    #[error("record {source_id}: not valid JSON: {reason}")]
    NotJson {
        /// Where the record came from (Kinesis sequence number, file:line).
        source_id: String,
        /// The parser's message.
        reason: String,
    },
    /// The record is JSON, but not an object.
    #[error("record {source_id}: expected a JSON object, found {found}")]
    NotObject {
        /// Where the record came from.
        source_id: String,
        /// What the JSON was instead (array, string, ...).
        found: &'static str,
    },
    /// The record is larger than the decoder accepts.
    #[error("record {source_id}: {size} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// Where the record came from.
        source_id: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}
