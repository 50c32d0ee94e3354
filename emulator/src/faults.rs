//! Fault injection: per operation, a throttling rate, a server-error rate and
//! an added latency. Set from the fixture at start and changed at runtime
//! through the admin API or in-process. Random draws come from a seeded
//! generator so a run with the same seed and call order is repeatable.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Service;

/// One rule. `service` and `operation` default to every service / operation;
/// the most specific matching rule wins (operation beats service beats none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Probability in [0, 1] of answering with the service's throttling error.
    #[serde(default)]
    pub throttle_rate: f64,
    /// Probability in [0, 1] of answering with the service's internal error.
    #[serde(default)]
    pub server_error_rate: f64,
    /// Added latency before answering, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsConfig {
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Seed of the random draws; the same seed repeats the same faults.
    #[serde(default)]
    pub seed: u64,
}

impl FaultsConfig {
    /// Checks rates are probabilities; names the offending rule.
    pub fn validate(&self) -> Result<(), String> {
        for (i, r) in self.rules.iter().enumerate() {
            for (name, v) in [
                ("throttle_rate", r.throttle_rate),
                ("server_error_rate", r.server_error_rate),
            ] {
                if !(0.0..=1.0).contains(&v) || v.is_nan() {
                    return Err(format!(
                        "faults.rules[{i}].{name} must be in [0, 1], got {v}"
                    ));
                }
            }
            if r.throttle_rate + r.server_error_rate > 1.0 {
                return Err(format!(
                    "faults.rules[{i}]: throttle_rate + server_error_rate must not exceed 1"
                ));
            }
        }
        Ok(())
    }
}

/// An error to answer with instead of running the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    Throttle,
    ServerError,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub latency: Duration,
    pub inject: Option<Injected>,
}

#[derive(Debug)]
pub struct Faults {
    inner: Mutex<(FaultsConfig, fastrand::Rng)>,
}

impl Faults {
    pub fn new(config: FaultsConfig) -> Self {
        let rng = fastrand::Rng::with_seed(config.seed);
        Faults {
            inner: Mutex::new((config, rng)),
        }
    }

    pub fn set(&self, config: FaultsConfig) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.1 = fastrand::Rng::with_seed(config.seed);
        g.0 = config;
    }

    pub fn config(&self) -> FaultsConfig {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    pub fn clear(&self) {
        self.set(FaultsConfig::default());
    }

    pub fn decide(&self, service: Service, operation: &str) -> Decision {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (config, rng) = &mut *g;
        let rule = config
            .rules
            .iter()
            .filter(|r| r.service.is_none_or(|s| s == service))
            .filter(|r| r.operation.as_deref().is_none_or(|o| o == operation))
            .max_by_key(|r| (r.operation.is_some(), r.service.is_some()));
        let Some(rule) = rule else {
            return Decision {
                latency: Duration::ZERO,
                inject: None,
            };
        };
        let draw = rng.f64();
        let inject = if draw < rule.throttle_rate {
            Some(Injected::Throttle)
        } else if draw < rule.throttle_rate + rule.server_error_rate {
            Some(Injected::ServerError)
        } else {
            None
        };
        Decision {
            latency: Duration::from_millis(rule.latency_ms),
            inject,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_rule_wins() {
        let f = Faults::new(FaultsConfig {
            rules: vec![
                FaultRule {
                    latency_ms: 5,
                    ..Default::default()
                },
                FaultRule {
                    operation: Some("SignOutUser".into()),
                    throttle_rate: 1.0,
                    ..Default::default()
                },
            ],
            seed: 1,
        });
        let d = f.decide(Service::WorkLink, "SignOutUser");
        assert_eq!(d.inject, Some(Injected::Throttle));
        assert_eq!(d.latency, Duration::ZERO);
        let d = f.decide(Service::WorkLink, "ListFleets");
        assert_eq!(d.inject, None);
        assert_eq!(d.latency, Duration::from_millis(5));
    }

    #[test]
    fn rates_are_roughly_honoured_and_seeded() {
        let cfg = FaultsConfig {
            rules: vec![FaultRule {
                throttle_rate: 0.2,
                server_error_rate: 0.05,
                ..Default::default()
            }],
            seed: 7,
        };
        let count = |f: &Faults| {
            (0..10_000)
                .map(|_| f.decide(Service::WorkspacesInstances, "X").inject)
                .fold((0, 0), |(t, s), d| match d {
                    Some(Injected::Throttle) => (t + 1, s),
                    Some(Injected::ServerError) => (t, s + 1),
                    None => (t, s),
                })
        };
        let (t, s) = count(&Faults::new(cfg.clone()));
        assert!((1800..2200).contains(&t), "throttles {t}");
        assert!((380..620).contains(&s), "server errors {s}");
        assert_eq!(count(&Faults::new(cfg)), (t, s), "same seed, same draws");
    }

    #[test]
    fn invalid_rates_are_named() {
        let cfg = FaultsConfig {
            rules: vec![FaultRule {
                throttle_rate: 1.5,
                ..Default::default()
            }],
            seed: 0,
        };
        let err = cfg.validate().unwrap_err();
        assert!(err.contains("faults.rules[0].throttle_rate"), "{err}");
    }
}
