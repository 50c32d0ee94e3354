//! The `audit-stream` Lambda binary: JSON logs, configuration and state built
//! once at cold start (a failure is reported to the Runtime API by the shared
//! shell), then one call to the handler per Kinesis batch, through the
//! invocation loop of [`audit_stream::runtime`] (the body read once into a
//! reused buffer and parsed as a `Batch`, every record decoded while the
//! event is parsed).

use audit_stream::{build, runtime, Config, FUNCTION};
use lambda_runtime::Error;
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
    runtime::run(&handler).await
}
