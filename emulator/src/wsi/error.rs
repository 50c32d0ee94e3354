//! The service's modelled errors and how they go on the wire.
//!
//! RPC v2 CBOR puts the error's shape id in the body's `__type` member; the
//! SDK strips the namespace (`com.amazonaws.workspacesinstances#`) and matches
//! the bare name. Messages go in `Message`, which both the SDK's generic error
//! metadata and each error shape read.

use axum::http::StatusCode;
use ciborium::Value;

use super::cbor::Out;

/// The Smithy namespace of the service's shapes.
pub const NAMESPACE: &str = "com.amazonaws.workspacesinstances";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    AccessDenied,
    Conflict,
    InternalServer,
    ResourceNotFound,
    ServiceQuotaExceeded,
    Throttling,
    Validation,
    VolumeModificationRateExceeded,
    /// Not a modelled shape: the Smithy RPC v2 answer for an operation the
    /// service does not have.
    UnknownOperation,
}

impl ErrorKind {
    /// The bare error code, as the SDK matches it and the call log records it.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::AccessDenied => "AccessDeniedException",
            ErrorKind::Conflict => "ConflictException",
            ErrorKind::InternalServer => "InternalServerException",
            ErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ErrorKind::ServiceQuotaExceeded => "ServiceQuotaExceededException",
            ErrorKind::Throttling => "ThrottlingException",
            ErrorKind::Validation => "ValidationException",
            ErrorKind::VolumeModificationRateExceeded => "VolumeModificationRateExceededException",
            ErrorKind::UnknownOperation => "UnknownOperationException",
        }
    }

    /// HTTP status per the API reference: 500 for the internal error, 400 for
    /// every other modelled error (throttling included). 404 for an unknown
    /// operation, as the RPC v2 protocol prescribes.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::UnknownOperation => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Why a `ValidationException` was raised (the model's
/// `ValidationExceptionReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    CannotParse,
    FieldValidationFailed,
    Other,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::CannotParse => "CANNOT_PARSE",
            Reason::FieldValidationFailed => "FIELD_VALIDATION_FAILED",
            Reason::Other => "OTHER",
        }
    }
}

/// One error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// `(ResourceId, ResourceType)` for conflict / not-found / quota errors.
    pub resource: Option<(String, String)>,
    /// For validation errors: the field (member path) at fault.
    pub field: Option<String>,
    pub reason: Reason,
}

impl ApiError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            resource: None,
            field: None,
            reason: Reason::Other,
        }
    }

    /// A field failed its constraints. The message names the field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            kind: ErrorKind::Validation,
            message: format!("1 validation error detected: {field}: {message}"),
            resource: None,
            field: Some(field.to_string()),
            reason: Reason::FieldValidationFailed,
        }
    }

    /// The body is not a CBOR map the service can read.
    pub fn cannot_parse(message: impl Into<String>) -> Self {
        ApiError {
            reason: Reason::CannotParse,
            ..Self::new(ErrorKind::Validation, message)
        }
    }

    /// A validation failure not tied to one field's constraint.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_string()),
            reason: Reason::Other,
            ..Self::new(ErrorKind::Validation, message)
        }
    }

    pub fn not_found(resource_type: &str, id: &str, message: impl Into<String>) -> Self {
        ApiError {
            resource: Some((id.to_string(), resource_type.to_string())),
            ..Self::new(ErrorKind::ResourceNotFound, message)
        }
    }

    pub fn conflict(resource_type: &str, id: &str, message: impl Into<String>) -> Self {
        ApiError {
            resource: Some((id.to_string(), resource_type.to_string())),
            ..Self::new(ErrorKind::Conflict, message)
        }
    }

    pub fn quota(resource_type: &str, message: impl Into<String>) -> Self {
        ApiError {
            resource: Some((String::new(), resource_type.to_string())),
            ..Self::new(ErrorKind::ServiceQuotaExceeded, message)
        }
    }

    pub fn rate_exceeded(id: &str, message: impl Into<String>) -> Self {
        ApiError {
            resource: Some((id.to_string(), "Volume".to_string())),
            ..Self::new(ErrorKind::VolumeModificationRateExceeded, message)
        }
    }

    pub fn access_denied(operation: &str) -> Self {
        Self::new(
            ErrorKind::AccessDenied,
            format!(
                "User is not authorized to perform: workspaces-instances:{operation} \
                 (denied by the emulator fixture's access_denied_operations)"
            ),
        )
    }

    pub fn throttling() -> Self {
        Self::new(ErrorKind::Throttling, "Rate exceeded")
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorKind::InternalServer,
            "An internal error occurred. Try again later.",
        )
    }

    pub fn unknown_operation(name: &str) -> Self {
        Self::new(
            ErrorKind::UnknownOperation,
            format!("the service has no operation {name:?}"),
        )
    }

    /// The CBOR error body.
    pub fn to_cbor(&self) -> Value {
        let mut out = Out::new()
            .str("__type", &format!("{NAMESPACE}#{}", self.kind.code()))
            .str("Message", &self.message);
        match self.kind {
            ErrorKind::Validation => {
                out = out.str("Reason", self.reason.as_str());
                if let Some(field) = &self.field {
                    let f = Out::new()
                        .str("Name", field)
                        .str("Reason", self.reason.as_str())
                        .str("Message", &self.message)
                        .build();
                    out = out.value("FieldList", Value::Array(vec![f]));
                }
            }
            ErrorKind::Throttling => {
                out = out
                    .str("ServiceCode", "workspaces-instances")
                    .str("QuotaCode", "RequestRate");
            }
            ErrorKind::ServiceQuotaExceeded => {
                out = out
                    .str("ServiceCode", "workspaces-instances")
                    .str("QuotaCode", "ResourceCount");
            }
            _ => {}
        }
        if let Some((id, ty)) = &self.resource {
            out = out.str("ResourceId", id).str("ResourceType", ty);
        }
        out.build()
    }
}
