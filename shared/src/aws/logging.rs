//! Structured logging for the functions: JSON lines on stdout (one object per
//! event, CloudWatch Logs Insights can query the fields), level from
//! `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's advanced logging controls) or
//! `WARDEN_LOG_LEVEL`, default `info`.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once; later calls are no-ops (tests).
pub fn init_json() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("WARDEN_LOG_LEVEL"))
        .unwrap_or_else(|_| "info".into())
        .to_ascii_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .try_init();
}
