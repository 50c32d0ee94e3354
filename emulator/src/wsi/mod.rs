//! PLACEHOLDER: to be implemented.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::{EmuRequest, Shared};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {}

impl State {
    /// Checks a loaded fixture for consistency; the message names the item.
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

pub async fn handle(_shared: &Shared, _req: EmuRequest) -> Response {
    (StatusCode::NOT_FOUND, "not implemented").into_response()
}
