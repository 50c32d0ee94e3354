//! The functions' JSON log lines, one object per line on stdout, with what an
//! operator needs to pull one invocation out of a busy log group (as
//! Powertools' logger writes them):
//!
//! ```json
//! {"timestamp":"2026-11-23T12:00:00.123Z","level":"WARN","message":"action",
//!  "requestId":"8f5...","xrayTraceId":"Root=1-...","cold_start":true, ...fields}
//! ```
//!
//! `requestId` and `xrayTraceId` come from the span lambda_runtime opens
//! around each invocation (`Lambda runtime invoke`); `cold_start` is true on
//! the lines of the process's first invocation and false after. Lines
//! written outside an invocation (cold start, shutdown) carry neither.

use std::fmt;
use std::sync::Mutex;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The span target lambda_runtime opens per invocation; the log filter keeps
/// it enabled whatever the level, so every line can carry its request id.
pub const INVOKE_SPAN_TARGET: &str = "lambda_runtime::layers::trace";

/// Formats events as the JSON lines above.
#[derive(Debug, Default)]
pub struct LambdaJson {
    /// The first invocation's request id: its lines are the cold start's.
    first_request: Mutex<Option<String>>,
}

impl LambdaJson {
    /// A formatter for a new process (the next invocation is the cold one).
    pub fn new() -> LambdaJson {
        LambdaJson::default()
    }

    fn is_cold(&self, request_id: &str) -> bool {
        let mut first = self.first_request.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert_with(|| request_id.to_owned()) == request_id
    }
}

/// Collects an event's fields into a JSON map.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for LambdaJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(jiff::Timestamp::now().to_string()),
        );
        line.insert(
            "level".into(),
            Value::from(event.metadata().level().as_str()),
        );
        let mut fields = Map::new();
        event.record(&mut Fields(&mut fields));
        if let Some(m) = fields.remove("message") {
            line.insert("message".into(), m);
        }
        // The invocation's span (the innermost that has a request id).
        if let Some(scope) = ctx.event_scope() {
            for span in scope {
                let ext = span.extensions();
                let Some(formatted) = ext.get::<FormattedFields<N>>() else {
                    continue;
                };
                let Some(request_id) = span_field(formatted, "requestId") else {
                    continue;
                };
                let cold = self.is_cold(&request_id);
                line.insert("requestId".into(), Value::from(request_id));
                if let Some(trace) = span_field(formatted, "xrayTraceId") {
                    line.insert("xrayTraceId".into(), Value::from(trace));
                }
                line.insert("cold_start".into(), Value::from(cold));
                break;
            }
        }
        for (k, v) in fields {
            line.entry(k).or_insert(v);
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// One field of a span as the fields formatter wrote it: JSON (`{"requestId":
/// "..."}`) or the default `key=value` text.
fn span_field(formatted: &str, name: &str) -> Option<String> {
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(formatted) {
        return m.get(name).and_then(Value::as_str).map(str::to_owned);
    }
    formatted.split_whitespace().find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_carry_time_request_id_trace_and_cold_start() {
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .event_format(LambdaJson::new())
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(rule = "r1", count = 3u64, "before any invocation");
            for (id, trace) in [("req-1", Some("Root=1-abc")), ("req-2", None)] {
                let span = match trace {
                    Some(t) => tracing::info_span!(
                        "Lambda runtime invoke",
                        requestId = id,
                        xrayTraceId = t
                    ),
                    None => tracing::info_span!("Lambda runtime invoke", requestId = id),
                };
                let _g = span.enter();
                tracing::warn!(target: "warden::action", user = "alice", "action");
            }
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["message"], "before any invocation");
        assert_eq!(lines[0]["count"], 3);
        assert!(lines[0].get("requestId").is_none());
        assert!(lines[0]["timestamp"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok());
        assert_eq!(lines[1]["requestId"], "req-1");
        assert_eq!(lines[1]["xrayTraceId"], "Root=1-abc");
        assert_eq!(lines[1]["cold_start"], true);
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["user"], "alice");
        assert_eq!(lines[2]["requestId"], "req-2");
        assert_eq!(lines[2]["cold_start"], false);
        assert!(lines[2].get("xrayTraceId").is_none());
    }
}
