//! The `audit-stream` Lambda binary: JSON logs, configuration and state built
//! once at cold start, then one call to the shared handler per Kinesis batch.

use audit_stream::{build, report_init_error, Config, KinesisEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    warden_core::aws::logging::init_json();
    let handler = match Config::from_env(&warden_core::env::process()) {
        Ok(config) => build(&config).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let handler = match handler {
        Ok(h) => h,
        Err(message) => {
            tracing::error!(error = %message, "audit-stream cannot start");
            report_init_error("Runtime.ConfigError", &message);
            return Err(message.into());
        }
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisEvent>| async move { handler.handle(event).await },
    ))
    .await
}
