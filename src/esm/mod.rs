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

use crate::progress::Progress;

/// The pipeline in this process; keeps every batch's report.
pub struct InProcessFunction<R, S> {
    processor: StreamProcessor<R, S>,
    reports: Mutex<Vec<BatchReport>>,
    keep_reports: bool,
    progress: Option<Progress>,
}

impl<R: ActionRunner, S: FailureSink> InProcessFunction<R, S> {
    /// `keep_reports`: keep each batch's report (replay prints them).
    pub fn new(processor: StreamProcessor<R, S>, keep_reports: bool) -> Self {
        InProcessFunction {
            processor,
            reports: Mutex::new(Vec::new()),
            keep_reports,
            progress: None,
        }
    }

    /// Counts every batch's records on `progress`, with the shard and the
    /// arrival time of the last record as the position.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The progress line, if any.
    pub fn progress(&self) -> Option<&Progress> {
        self.progress.as_ref()
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
        let progress = self
            .progress
            .as_ref()
            .map(|_| (event.records.len() as u64, stream_position(&event)));
        let inv = InvocationInfo {
            request_id: "local",
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:audit-stream",
            now: warden_core::jiff::Timestamp::now(),
            deadline: Deadline::after(timeout, warden_core::aws::executor::REPORT_RESERVE),
        };
        let report = self.processor.process(event, &inv).await;
        let response = report.response.clone();
        if let (Some(p), Some((n, at))) = (&self.progress, progress) {
            p.advance(n, &at);
        }
        if self.keep_reports {
            self.reports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(report);
        }
        Ok(response)
    }
}

/// `shardId-000000000001 @ 2026-11-20T10:00:00Z`: the shard and arrival
/// time of a batch's last record (how far into the stream's retention).
pub fn stream_position(event: &KinesisEvent) -> String {
    let Some(last) = event.records.last() else {
        return String::new();
    };
    let shard = last
        .event_id
        .as_deref()
        .and_then(|id| id.split_once(':'))
        .map_or("?", |(s, _)| s);
    let at = warden_core::jiff::Timestamp::from_millisecond(
        last.kinesis
            .approximate_arrival_timestamp
            .timestamp_millis(),
    )
    .map(|t| format!("{t:.0}"))
    .unwrap_or_default();
    format!("{shard} @ {at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_position_is_its_last_records_shard_and_arrival() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/events/kinesis-audit-batch.json"
        ))
        .unwrap();
        let event: KinesisEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(
            stream_position(&event),
            "shardId-000000000000 @ 2026-11-23T11:30:07Z"
        );
        assert_eq!(stream_position(&KinesisEvent::default()), "");
    }
}
