//! Admin API, outside the AWS paths, under `/_emulator/`:
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/_emulator/health` | `{"ok":true}` |
//! | GET | `/_emulator/state` | the whole state as a fixture document |
//! | PUT | `/_emulator/state` | replace the state with a fixture document |
//! | GET | `/_emulator/calls[?operation=Op]` | the call log |
//! | DELETE | `/_emulator/calls` | clear the call log |
//! | GET / PUT | `/_emulator/faults` | fault-injection config |
//! | GET | `/_emulator/clock` | `{"now": ..., "fixed": bool}` |
//! | PUT | `/_emulator/clock` | `{"now": "<RFC 3339>"}`, `{"advance": "25h"}` or `{"real": true}` |
//!
//! Errors are `{"error": "..."}` with status 400 (bad input) or 404.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::{EmuRequest, FaultsConfig, Fixture, Shared, ADMIN_PREFIX};

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": msg.into() }))).into_response()
}

fn ok_json(v: serde_json::Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRequest {
    #[serde(default)]
    now: Option<jiff::Timestamp>,
    /// A duration: friendly (`25h`, `1d 2h`) or ISO 8601 (`PT25H`).
    #[serde(default)]
    advance: Option<String>,
    #[serde(default)]
    real: bool,
}

pub async fn handle(shared: &Shared, req: EmuRequest) -> Response {
    let sub = &req.path()[ADMIN_PREFIX.len()..];
    match (req.method.clone(), sub) {
        (Method::GET, "health") => ok_json(json!({ "ok": true })),
        (Method::GET, "state") => match serde_json::to_value(shared.dump()) {
            Ok(v) => ok_json(v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        (Method::PUT, "state") | (Method::POST, "state") => {
            let text = match std::str::from_utf8(&req.body) {
                Ok(t) => t,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("body is not UTF-8: {e}")),
            };
            match Fixture::from_json(text) {
                Ok(f) => {
                    shared.load(f);
                    ok_json(json!({ "ok": true }))
                }
                Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        (Method::GET, "calls") => {
            let op = req.query().and_then(|q| {
                q.split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == "operation")
                    .map(|(_, v)| v.to_string())
            });
            let calls = match op {
                Some(op) => shared.calls.of(&op),
                None => shared.calls.snapshot(),
            };
            match serde_json::to_value(calls) {
                Ok(v) => ok_json(v),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (Method::DELETE, "calls") => {
            shared.calls.clear();
            ok_json(json!({ "ok": true }))
        }
        (Method::GET, "faults") => match serde_json::to_value(shared.faults.config()) {
            Ok(v) => ok_json(v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        (Method::PUT, "faults") | (Method::POST, "faults") => {
            let cfg: FaultsConfig = match serde_json::from_slice(&req.body) {
                Ok(c) => c,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid faults: {e}")),
            };
            if let Err(e) = cfg.validate() {
                return error(StatusCode::BAD_REQUEST, e);
            }
            shared.faults.set(cfg);
            ok_json(json!({ "ok": true }))
        }
        (Method::GET, "clock") => ok_json(json!({
            "now": shared.clock.now().to_string(),
            "fixed": shared.clock.fixed().is_some(),
        })),
        (Method::PUT, "clock") | (Method::POST, "clock") => {
            let r: ClockRequest = match serde_json::from_slice(&req.body) {
                Ok(r) => r,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("invalid clock request: {e}"),
                    )
                }
            };
            let given = r.now.is_some() as u8 + r.advance.is_some() as u8 + r.real as u8;
            if given != 1 {
                return error(
                    StatusCode::BAD_REQUEST,
                    "give exactly one of `now`, `advance` or `real`",
                );
            }
            if r.real {
                shared.clock.set(None);
            } else if let Some(now) = r.now {
                shared.clock.set(Some(now));
            } else if let Some(adv) = r.advance {
                let by: jiff::SignedDuration = match adv.parse() {
                    Ok(d) => d,
                    Err(e) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            format!("invalid `advance` duration {adv:?}: {e}"),
                        )
                    }
                };
                if let Err(e) = shared.clock.advance(by) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("cannot advance clock: {e}"),
                    );
                }
            }
            ok_json(json!({
                "now": shared.clock.now().to_string(),
                "fixed": shared.clock.fixed().is_some(),
            }))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no admin endpoint {} {}", req.method, req.path()),
        ),
    }
}
