//! The local Lambda Runtime API drives the real `lambda_runtime` client:
//! events go in through `invoke`, responses and handler errors come back.

use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use warden_emulator::runtime_api::{self, FunctionResult};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload["fail"] == json!(true) {
        return Err("asked to fail".into());
    }
    let left = event
        .context
        .deadline()
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    Ok(json!({
        "echo": event.payload,
        "request_id": event.context.request_id,
        "deadline_left_ms": left.as_millis() as u64,
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drives_the_real_lambda_runtime_client() {
    let api = runtime_api::start_local().await.unwrap();
    // This test binary is its own process: the env is ours to set.
    std::env::set_var("AWS_LAMBDA_RUNTIME_API", api.address());
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "local");
    std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    let function = tokio::spawn(lambda_runtime::run(service_fn(handler)));

    api.wait_ready(Duration::from_secs(10)).await.unwrap();
    assert!(api.first_next().is_some());

    let first = api
        .invoke(r#"{"n": 1}"#, Duration::from_secs(10))
        .await
        .unwrap();
    let body = first.json().unwrap();
    assert_eq!(body["echo"], json!({"n": 1}));
    assert_eq!(body["request_id"], json!(first.request_id));
    let left = body["deadline_left_ms"].as_u64().unwrap();
    assert!(
        left > 5_000 && left <= 10_000,
        "deadline passed through: {left}"
    );

    let second = api
        .invoke(r#"{"fail": true}"#, Duration::from_secs(10))
        .await
        .unwrap();
    match &second.result {
        FunctionResult::Error { error_message, .. } => {
            assert!(error_message.contains("asked to fail"), "{error_message}")
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    assert_ne!(first.request_id, second.request_id);

    // Still serving after an error.
    let third = api
        .invoke(r#"{"n": 3}"#, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(third.json().unwrap()["echo"], json!({"n": 3}));
    function.abort();
}
