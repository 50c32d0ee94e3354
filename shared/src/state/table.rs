//! `WARDEN_STATE_TABLE`: where a function's durable state lives, read the
//! same way by every function that keeps state (audit-stream, fleet-sweep).

use crate::env::{Env, EnvError};

/// The variable of the state table.
pub const STATE_TABLE_VAR: &str = "WARDEN_STATE_TABLE";

/// Where the durable state lives (`WARDEN_STATE_TABLE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateTable {
    /// A DynamoDB table, by name.
    Dynamo(String),
    /// `memory:`: a [`super::MemoryStateStore`] in the process (local runs,
    /// the demo, benchmarks): lost at cold start, not shared between
    /// concurrent instances. A warning is logged at start.
    Memory,
}

impl StateTable {
    /// Parses the variable: `memory:` or a DynamoDB table name (3-255
    /// characters of `A-Z a-z 0-9 _ - .`).
    pub fn parse(value: &str) -> Result<StateTable, EnvError> {
        let v = value.trim();
        if v == "memory:" {
            return Ok(StateTable::Memory);
        }
        let valid_chars = v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !(3..=255).contains(&v.len()) || !valid_chars {
            return Err(EnvError::Invalid {
                name: STATE_TABLE_VAR.into(),
                value: value.into(),
                reason: "expected a DynamoDB table name (3-255 characters: letters, digits, `_`, `-`, `.`) or `memory:`".into(),
            });
        }
        Ok(StateTable::Dynamo(v.to_owned()))
    }

    /// The variable, when set (an empty value is unset).
    pub fn from_env<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
    ) -> Result<Option<StateTable>, EnvError> {
        env.get(STATE_TABLE_VAR)
            .map(|v| StateTable::parse(&v))
            .transpose()
    }

    /// The error of a function that needs the table and has none: names
    /// the variable and `why` (the rules or settings that need it).
    pub fn missing(why: impl std::fmt::Display) -> EnvError {
        EnvError::Missing {
            name: STATE_TABLE_VAR.into(),
            expected: format!("the DynamoDB state table, or `memory:` for a local run; {why}"),
        }
    }

    /// Builds the store (no network call).
    #[cfg(feature = "aws")]
    pub fn store(&self, sdk: &aws_config::SdkConfig) -> std::sync::Arc<dyn super::StateStore> {
        match self {
            StateTable::Dynamo(table) => {
                std::sync::Arc::new(super::DynamoStateStore::from_config(sdk, table))
            }
            StateTable::Memory => std::sync::Arc::new(super::MemoryStateStore::new()),
        }
    }

    /// Logs which store `function` uses: a warning for `memory:`.
    pub fn log_start(table: Option<&StateTable>, function: &str) {
        match table {
            Some(StateTable::Memory) => tracing::warn!(
                target: "warden::state",
                state_table = "memory:",
                "{function}: WARDEN_STATE_TABLE=memory: the state lives in this process only: \
                 lost at every cold start and not shared between concurrent instances; \
                 use a DynamoDB table in production"
            ),
            Some(StateTable::Dynamo(table)) => {
                tracing::info!(target: "warden::state", state_table = %table, "{function}: state table")
            }
            None => tracing::info!(
                target: "warden::state",
                "{function}: no state table: the policy needs none"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_is_a_table_name_or_memory() {
        assert_eq!(StateTable::parse(" memory: ").unwrap(), StateTable::Memory);
        assert_eq!(
            StateTable::parse("euc-warden-StateTable-1A2B3C").unwrap(),
            StateTable::Dynamo("euc-warden-StateTable-1A2B3C".into())
        );
        for bad in ["#poison#", "ab", "memory:x", "a b c"] {
            let e = StateTable::parse(bad).unwrap_err().to_string();
            assert!(e.contains(STATE_TABLE_VAR) && e.contains(bad), "{e}");
        }
        let e = StateTable::missing("rule `x` needs it").to_string();
        assert!(
            e.contains("WARDEN_STATE_TABLE is required") && e.contains("rule `x`"),
            "{e}"
        );
    }
}
