//! fleet-sweep: the scheduled audit of WorkLink fleets (devices, domains,
//! audit-stream configuration) by policy.
//!
//! Thin shell: logging, the cold-start state
//! ([`fleet_sweep::handler::init`]: configuration, policy, clients; a failure
//! is reported to the Runtime API by the shared shell), then one
//! [`fleet_sweep::handler::handle`] per invocation. All the logic is in
//! `fleet_sweep`; see `docs/fleet-sweep.md`.

use fleet_sweep::handler::{handle, init};
use fleet_sweep::FUNCTION;
use lambda_runtime::{service_fn, Error};
use warden_core::shell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shell::init_logging();
    let sweeper = shell::start(FUNCTION, init()).await?;
    let sweeper = &sweeper;
    lambda_runtime::run(service_fn(move |event| handle(sweeper, event))).await
}
