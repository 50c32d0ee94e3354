//! euc-warden core library (`warden-core`).
#![forbid(unsafe_code)]

pub mod env;

#[cfg(feature = "aws")]
pub mod aws;
