//! The `audit-stream` Lambda binary: JSON logs, configuration and state built
//! once at cold start (a failure is reported to the Runtime API by the shared
//! shell), then one call to the handler per Kinesis batch.

use audit_stream::{build, Config, KinesisEvent, FUNCTION};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use warden_core::shell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shell::init_logging();
    let init = async { build(&Config::from_env(&warden_core::env::process())?).await };
    let handler = shell::start(FUNCTION, init).await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisEvent>| async move { handler.handle(event).await },
    ))
    .await
}
