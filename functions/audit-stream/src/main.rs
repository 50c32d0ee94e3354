//! The `audit-stream` Lambda binary: JSON logs, configuration and state built
//! once at cold start (a failure is reported to the Runtime API by the shared
//! shell), then one call to the handler per Kinesis batch.

use audit_stream::{build, envelope, Batch, Config, FUNCTION};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use warden_core::shell;

// One thread: the handler's work is sequential per batch and its AWS calls
// are concurrent as futures, not threads; and with one thread every
// allocation comes from one malloc arena, so the memory a large batch
// freed is reused by the next one instead of being held per thread (peak
// RSS over repeated 10,000-record batches: 63 -> 50 MiB,
// scripts/bench-stream.sh with MALLOC_ARENA_MAX=1, docs/audit-stream.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shell::init_logging();
    let init = async { build(&Config::from_env(&warden_core::env::process())?).await };
    let handler = shell::start(FUNCTION, init).await?;
    let handler = &handler;
    // The body is read as a `Batch`: every record decoded while the event
    // is parsed (`audit_stream::envelope`), with the policy's field map and
    // the limits installed here.
    envelope::install(handler.decoding());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Batch>| async move {
        handler.handle_batch(event).await
    }))
    .await
}
