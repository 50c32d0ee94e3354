//! The two ways the local event-source mapping reaches the function:
//! in this process (the same pipeline the Lambda binary runs), or the real
//! `audit-stream` binary as a child process under a local Lambda Runtime API
//! ([`BinaryFunction`]).

use std::sync::Mutex;
use std::time::Duration;

pub use audit_stream::esm::BinaryFunction;
use audit_stream::{
    ActionRunner, BatchReport, FailureSink, FunctionError, InvocationInfo, Invoke, KinesisEvent,
    KinesisEventResponse, StreamProcessor,
};
use warden_core::aws::deadline::Deadline;

/// The pipeline in this process; keeps every batch's report.
pub struct InProcessFunction<R, S> {
    processor: StreamProcessor<R, S>,
    reports: Mutex<Vec<BatchReport>>,
    keep_reports: bool,
}

impl<R: ActionRunner, S: FailureSink> InProcessFunction<R, S> {
    /// `keep_reports`: keep each batch's report (replay prints them).
    pub fn new(processor: StreamProcessor<R, S>, keep_reports: bool) -> Self {
        InProcessFunction {
            processor,
            reports: Mutex::new(Vec::new()),
            keep_reports,
        }
    }

    /// The reports kept so far.
    pub fn take_reports(&self) -> Vec<BatchReport> {
        std::mem::take(&mut *self.reports.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl<R: ActionRunner, S: FailureSink> Invoke for InProcessFunction<R, S> {
    async fn invoke(
        &self,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<KinesisEventResponse, FunctionError> {
        // Parsed exactly as lambda_runtime parses the payload.
        let event: KinesisEvent = serde_json::from_slice(&payload).map_err(|e| FunctionError {
            error_type: "Runtime.UnmarshalError".into(),
            message: e.to_string(),
        })?;
        drop(payload);
        let inv = InvocationInfo {
            request_id: "local",
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
            now: warden_core::jiff::Timestamp::now(),
            deadline: Deadline::after(timeout, warden_core::aws::executor::REPORT_RESERVE),
        };
        let report = self.processor.process(event, &inv).await;
        let response = report.response.clone();
        if self.keep_reports {
            self.reports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(report);
        }
        Ok(response)
    }
}
