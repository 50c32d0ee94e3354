//! euc-warden core library (`warden-core`).
#![forbid(unsafe_code)]

#[cfg(feature = "aws")]
pub mod aws;
