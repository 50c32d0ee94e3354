//! The `audit-stream` Lambda function: the Amazon WorkLink audit stream
//! (Kinesis) to sign-outs and domain revocations.
//!
//! Everything only this function does lives here; warden-core holds what the
//! functions share (policy, planner, executor, deadline, clients, EMF).
//!
//! * [`config`]: the environment, validated at cold start (errors name the
//!   variable; the common settings come from [`warden_core::shell`]), and
//!   the `WARDEN_CAPS` overrides ([`warden_core::overrides`]).
//! * [`handler`]: the state built once ([`build`]) and the Lambda handler.
//! * [`record`]: one Kinesis record's data -> audit events (gzip, NDJSON,
//!   limits; malformed records with a reason).
//! * [`processor`]: one batch through decode -> evaluate -> plan -> execute,
//!   outcomes mapped back to records, the partial-batch response.
//! * [`sink`]: the failure sink (SQS), for malformed records and records
//!   past the event-source mapping's retry limit.
//! * [`wire`]: the Kinesis event exactly as Lambda sends it.
//! * [`envelope`]: the compact form of it the Lambda binary reads.
//! * [`runtime`]: the Lambda binary's invocation loop (the body handed over
//!   as it arrives).
//! * [`incoming`]: the event parsed as its body arrives, record by record.
//! * [`esm`] (feature `esm`): a local event-source mapping (Kinesis ->
//!   batches -> function), used by the `warden` CLI and the tests.
//!
//! See `docs/audit-stream.md`.

pub mod config;
pub mod envelope;
#[cfg(feature = "esm")]
pub mod esm;
pub mod handler;
pub mod incoming;
pub mod processor;
pub mod record;
pub mod runtime;
pub mod sink;
pub mod wire;

pub use config::{apply_caps, parse_caps, CapOverride, Config, ConfigError, PolicySource};
pub use envelope::{Batch, Decoding, Envelope, InvalidData};
#[cfg(feature = "esm")]
pub use esm::{
    EsmConfig, EsmError, EsmReport, FunctionError, InProcess, Invoke, LocalEsm, StartingPosition,
};
pub use handler::{build, Handler, LambdaHandler};
pub use processor::FUNCTION_NAME as FUNCTION;
pub use processor::{
    ActionRunner, BatchFailure, BatchReport, Budget, Decoded, InvocationInfo, MalformedRecord,
    Planned, ProcessorConfig, StageTimes, StreamProcessor, StubRunner,
};
pub use record::{decode_record_into, Malformed};
pub use sink::{Condition, FailureContext, FailureMessage, FailureSink, MemorySink, SqsSink};

/// Re-exported event types, so callers need not depend on `aws_lambda_events`.
pub use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
pub use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
