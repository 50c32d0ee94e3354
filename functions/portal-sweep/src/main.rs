//! portal-sweep: the scheduled audit of WorkSpaces Secure Browser portals
//! (user access logging, IP access settings) and their sessions by policy.
//!
//! Thin shell: logging, the cold-start state
//! ([`portal_sweep::handler::init`]: configuration, policy, clients; a
//! failure is reported to the Runtime API by the shared shell), then one
//! [`portal_sweep::handler::handle`] per invocation. All the logic is in
//! `portal_sweep`; see `docs/portal-sweep.md`.

use lambda_runtime::{service_fn, Error};
use portal_sweep::handler::{handle, init};
use portal_sweep::FUNCTION;
use warden_core::shell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shell::init_logging();
    let sweeper = shell::start(FUNCTION, init()).await?;
    let sweeper = &sweeper;
    lambda_runtime::run(service_fn(move |event| handle(sweeper, event))).await
}
