//! The floor audit-stream is measured against (scripts/bench-stream.sh): a
//! Lambda that parses its Kinesis event into `serde_json::Value`, base64-
//! decodes every record's `kinesis.data` and parses that into `Value` too,
//! and does nothing else. It answers with an empty partial-batch response,
//! as audit-stream does for a batch without failures. Not deployed (not in
//! template.yaml), not a default member of the workspace.

use base64::Engine as _;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let records = event.payload["Records"]
        .as_array()
        .ok_or("the event has no Records array")?;
    let mut fields = 0usize;
    for r in records {
        let data = r["kinesis"]["data"]
            .as_str()
            .ok_or("a record has no kinesis.data")?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(data)?;
        let v: Value = serde_json::from_slice(&bytes)?;
        fields += v.as_object().map_or(0, |o| o.len());
    }
    std::hint::black_box(fields);
    Ok(json!({ "batchItemFailures": [] }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
