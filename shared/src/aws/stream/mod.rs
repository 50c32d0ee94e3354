//! The audit-stream pipeline, shared by the `audit-stream` Lambda function
//! and the CLI's local event-source mapping (`warden run audit-stream`,
//! `warden replay`):
//!
//! * [`record`]: one Kinesis record's data -> audit events (gzip, NDJSON,
//!   limits; malformed records with a reason).
//! * [`processor`]: one batch through decode -> evaluate -> plan -> execute,
//!   outcomes mapped back to records, the partial-batch response.
//! * [`sink`]: the failure sink (SQS), for malformed records and records
//!   past the event-source mapping's retry limit.
//! * [`wire`]: the Kinesis event exactly as Lambda sends it.
//! * [`esm`]: a local event-source mapping (Kinesis -> batches -> function).
//!
//! See `docs/audit-stream.md`.

pub mod esm;
pub mod processor;
pub mod record;
pub mod sink;
pub mod wire;

pub use esm::{
    EsmConfig, EsmError, EsmReport, FunctionError, InProcess, Invoke, LocalEsm, StartingPosition,
};
pub use processor::{
    ActionRunner, BatchFailure, BatchReport, InvocationInfo, MalformedRecord, ProcessorConfig,
    StreamProcessor, StubRunner,
};
pub use record::{decode_record_into, Malformed};
pub use sink::{Condition, FailureContext, FailureMessage, FailureSink, MemorySink, SqsSink};

/// Re-exported event types, so callers need not depend on `aws_lambda_events`.
pub use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
pub use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
