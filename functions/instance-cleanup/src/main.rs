//! instance-cleanup Lambda function: marks errored WorkSpaces Instances,
//! deletes them once the policy's grace period has passed, unmarks the ones
//! that recover. Thin: logging, the cold-start state
//! ([`instance_cleanup::handler::init`], a failure reported to the Runtime
//! API by the shared shell), then one [`instance_cleanup::handler::handle`]
//! per invocation.
//!
//! Invocations: an EventBridge / CloudWatch scheduled event, or a manual
//! payload `{"dry_run": bool, "max_deletions": N}` (both optional). See
//! `docs/instance-cleanup.md` for the environment variables.

use instance_cleanup::handler::{handle, init};
use instance_cleanup::FUNCTION;
use lambda_runtime::{service_fn, Error};
use warden_core::shell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shell::init_logging();
    let state = shell::start(FUNCTION, init()).await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event| handle(state, event))).await
}
