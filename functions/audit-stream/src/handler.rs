//! audit-stream's state, built once at cold start ([`build`]), and the
//! Lambda handler: one Kinesis batch in, the partial-batch response out.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent};
use warden_core::aws::deadline::Deadline;
use warden_core::aws::executor::Executor;
use warden_core::aws::notify::Notifier;
use warden_core::aws::{load_sdk_config, AwsSettings, Clients};

use crate::config::{Config, ConfigError, StateTable};
use crate::envelope::{Batch, Decoding};
use crate::incoming::IncomingBatch;
use crate::processor::{ActionRunner, BatchReport, InvocationInfo, StreamProcessor};
use crate::runtime::Invoke;
use crate::sink::{FailureSink, SqsSink};
use crate::{KinesisEvent, KinesisEventResponse};

/// The function's state, built once at cold start.
#[derive(Debug)]
pub struct Handler<R, S> {
    processor: StreamProcessor<R, S>,
    reserve: Duration,
    /// The policy's field map and the limits, for [`Batch::from_slice`].
    decoding: Decoding,
}

/// The production handler: the shared executor, an SQS failure sink.
pub type LambdaHandler = Handler<Executor, SqsSink>;

/// Builds the production handler from the configuration: the policy, one SDK
/// config for every client (endpoints and credentials from the environment),
/// the executor and the SQS sink. Makes no network call.
pub async fn build(config: &Config) -> Result<LambdaHandler, ConfigError> {
    let mut policy = config.load_policy()?;
    // The rules' own test cases (`tests:`, run by `warden policy test`, never
    // by the function) are dropped: the default policy's events (with
    // `repeat:`) are the largest part of the idle heap (heaptrack,
    // docs/audit-stream.md "Performance").
    for rule in &mut policy.rules {
        rule.tests = Vec::new();
    }
    let settings = AwsSettings {
        max_attempts: config.max_attempts,
        ..AwsSettings::default()
    };
    let sdk = load_sdk_config(&settings).await;
    let clients = Clients::new(&sdk);
    let state = config.state_table.as_ref().map(|t| t.store(&sdk));
    match &config.state_table {
        Some(StateTable::Memory) => tracing::warn!(
            state_table = "memory:",
            "WARDEN_STATE_TABLE=memory: the state (threshold windows) lives in this process only: \
             lost at every cold start and not shared between concurrent instances; \
             use a DynamoDB table in production"
        ),
        Some(StateTable::Dynamo(table)) => tracing::info!(state_table = %table, "state table"),
        None => tracing::info!("no state table: the policy has no threshold rule"),
    }
    let executor = Executor::new(&clients, config.concurrency);
    let sink = SqsSink::new(
        clients.sqs.clone(),
        config.failure_queue_url.clone(),
        config.concurrency,
    );
    tracing::info!(
        policy = %policy.source,
        rules = policy.rules.len(),
        dry_run = config.dry_run,
        concurrency = config.concurrency,
        default_fleet_arn = config.default_fleet_arn.as_deref(),
        failure_queue_url = %config.failure_queue_url,
        "audit-stream ready"
    );
    let mut processor =
        StreamProcessor::new(Arc::new(policy), executor, sink, config.processor_config());
    if let Some(state) = state {
        processor = processor.with_state(state);
    }
    if let Some(notifier) = Notifier::from_settings(&config.notify, &sdk) {
        tracing::info!(
            topic = notifier.topic_arn(),
            dry_run = config.notify.dry_run,
            "notifications on"
        );
        processor = processor.with_notifier(notifier);
    }
    Ok(Handler::new(processor, config.deadline_reserve))
}

impl<R: ActionRunner, S: FailureSink> Handler<R, S> {
    /// A handler over any runner and sink (tests use an in-memory sink).
    pub fn new(processor: StreamProcessor<R, S>, reserve: Duration) -> Self {
        let decoding = Decoding::of(&processor);
        Handler {
            processor,
            reserve,
            decoding,
        }
    }

    /// The pipeline.
    pub fn processor(&self) -> &StreamProcessor<R, S> {
        &self.processor
    }

    /// Processes one batch and returns the whole report (tests, the CLI).
    pub async fn process(&self, event: LambdaEvent<KinesisEvent>) -> BatchReport {
        let (payload, context) = event.into_parts();
        let inv = self.invocation(&context);
        self.processor.process(payload, &inv).await
    }

    fn invocation<'c>(&self, context: &'c lambda_runtime::Context) -> InvocationInfo<'c> {
        let deadline = if context.deadline == 0 {
            Deadline::none()
        } else {
            Deadline::at(context.deadline(), self.reserve)
        };
        InvocationInfo {
            request_id: &context.request_id,
            function_arn: &context.invoked_function_arn,
            now: jiff::Timestamp::now(),
            deadline,
        }
    }

    /// The Lambda binary's handler: the event read as a [`Batch`] (every
    /// record decoded while the body was parsed, no copy of its data), then
    /// what [`handle`](Self::handle) does. A record whose data is not
    /// base64 is a function error, as the typed event's deserialization
    /// makes it.
    pub async fn handle_batch(
        &self,
        event: LambdaEvent<Batch>,
    ) -> Result<KinesisEventResponse, lambda_runtime::Error> {
        let (batch, context) = event.into_parts();
        let inv = self.invocation(&context);
        let report = self.processor.process_batch(batch, &inv).await?;
        report
            .metrics
            .flush_stdout(jiff::Timestamp::now().as_millisecond());
        Ok(report.response)
    }

    /// The Lambda handler: processes the batch, writes the EMF metrics and
    /// returns the partial-batch response. Never an error for anything a
    /// record did; an error here would make Lambda retry the whole batch.
    pub async fn handle(
        &self,
        event: LambdaEvent<KinesisEvent>,
    ) -> Result<KinesisEventResponse, lambda_runtime::Error> {
        let report = self.process(event).await;
        report
            .metrics
            .flush_stdout(jiff::Timestamp::now().as_millisecond());
        Ok(report.response)
    }
}

/// The Lambda binary's invocation ([`crate::runtime`]): the body parsed as
/// it arrives ([`IncomingBatch`]: every record decoded as soon as its text
/// is complete), then [`handle_batch`](Handler::handle_batch). A body that
/// is not a Kinesis event, or a record whose data is not base64, is the
/// invocation's error (Lambda retries the batch, as with `lambda_runtime`'s
/// typed event).
impl<R: ActionRunner, S: FailureSink> Invoke for Handler<R, S> {
    type Response = KinesisEventResponse;
    type Body<'a>
        = IncomingBatch<'a>
    where
        Self: 'a;

    fn receive(&self, _len: Option<usize>) -> IncomingBatch<'_> {
        IncomingBatch::new(&self.decoding)
    }

    async fn invoke<'a>(
        &'a self,
        body: IncomingBatch<'a>,
        context: lambda_runtime::Context,
    ) -> Result<KinesisEventResponse, Diagnostic> {
        let batch = body.finish().map_err(|e| {
            let message = format!("the invocation is not a Kinesis event: {e}");
            tracing::error!(error = %e, "{message}; the handler is not called");
            Diagnostic {
                error_type: UNMARSHAL_ERROR.into(),
                error_message: message,
            }
        })?;
        self.handle_batch(LambdaEvent::new(batch, context))
            .await
            .map_err(|e| Diagnostic {
                error_type: BATCH_ERROR.into(),
                error_message: e.to_string(),
            })
    }
}

/// The `errorType` of a body that does not parse as a Kinesis event.
pub const UNMARSHAL_ERROR: &str = "Runtime.UnmarshalError";
/// The `errorType` of a batch refused as a whole: a record whose data is
/// not base64 ([`crate::InvalidData`]).
pub const BATCH_ERROR: &str = "AuditStream.BatchError";
