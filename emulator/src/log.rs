//! The log of every call the emulator received: operation, key parameters,
//! outcome. Tests assert on it; `GET /_emulator/calls` serves it.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::Service;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// 1-based order of arrival.
    pub seq: u64,
    /// The emulator clock when the call was handled.
    pub time: jiff::Timestamp,
    pub service: Service,
    /// The API operation name, e.g. `SignOutUser`.
    pub operation: String,
    /// Key request parameters (ids, ARNs, names), as JSON.
    pub params: serde_json::Value,
    /// HTTP status returned.
    pub status: u16,
    /// `None` on success, else the error code returned (e.g.
    /// `ResourceNotFoundException`).
    pub error: Option<String>,
    /// True when the error was injected by fault injection.
    #[serde(default)]
    pub injected: bool,
}

impl CallRecord {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Debug, Default)]
pub struct CallLog {
    inner: Mutex<Vec<CallRecord>>,
}

/// What a handler reports for one call; the log adds seq and time.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: Service,
    pub operation: String,
    pub params: serde_json::Value,
    pub status: u16,
    pub error: Option<String>,
    pub injected: bool,
}

impl CallLog {
    pub fn record(&self, time: jiff::Timestamp, call: Call) {
        let mut calls = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let seq = calls.len() as u64 + 1;
        calls.push(CallRecord {
            seq,
            time,
            service: call.service,
            operation: call.operation,
            params: call.params,
            status: call.status,
            error: call.error,
            injected: call.injected,
        });
    }

    pub fn snapshot(&self) -> Vec<CallRecord> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Calls to one operation, in order.
    pub fn of(&self, operation: &str) -> Vec<CallRecord> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|c| c.operation == operation)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
