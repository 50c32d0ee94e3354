//! Amazon WorkSpaces Instances, emulated over both protocols its model lists:
//! Smithy RPC v2 CBOR (what `aws-sdk-workspacesinstances` sends) and
//! awsJson1_0 (what boto3 and the AWS CLI send; see [`mod@json`]). Both run the
//! same handler (`serve`) over one state; only the codec differs.
//!
//! # Wire protocol
//!
//! `POST /service/EUCMIFrontendAPIService/operation/<Operation>` with a CBOR
//! map body (an empty body counts as an empty map). Answers carry
//! `Content-Type: application/cbor`, `smithy-protocol: rpc-v2-cbor` and an
//! `x-amzn-requestid`; success is 200 with the output map (`{}` for unit
//! outputs). Errors put the shape id
//! `com.amazonaws.workspacesinstances#<Name>` in `__type` and the text in
//! `Message`, plus the shape's members (`Reason`/`FieldList` for validation,
//! `ResourceId`/`ResourceType` for conflicts and not-found). Status: 500 for
//! `InternalServerException`, 400 for every other modelled error (the API
//! reference lists `ThrottlingException` as 400 too), 404
//! `UnknownOperationException` for an operation the service lacks or a
//! non-POST request.
//!
//! # Operations
//!
//! The reference's 13 plus `ModifyVolume`, which the SDK has. Each call runs:
//! fault injection ([`Shared::inject`]: `ThrottlingException` or
//! `InternalServerException`), the lifecycle catch-up ([`State::run_lifecycle`]),
//! the fixture's `access_denied_operations` (`AccessDeniedException`), body
//! decoding and schema validation (`schema.rs`: `ValidationException` naming
//! the member), then the operation. Every call, failed or not, is recorded in
//! the call log with its key parameters (`WorkspaceInstanceId`, `VolumeId`,
//! `Tags` as a `{key: value}` object, `TagKeys`, `ProvisionStates`,
//! `MaxResults`, `NextToken: true` when one was sent, ...).
//!
//! # Lifecycle (emulator clock, see [`Lifecycle`])
//!
//! * `CreateWorkspaceInstance` -> `ALLOCATING` (with an EC2 instance id)
//!   -> `ALLOCATED` after `allocate_seconds` (default 60). Instance types
//!   listed in `fail_instance_types` go to `ERROR_ALLOCATING` instead, with
//!   an `InsufficientInstanceCapacity` EC2 error and no EC2 instance.
//! * `DeleteWorkspaceInstance` on `ALLOCATED`, `ERROR_ALLOCATING` or
//!   `ERROR_DEALLOCATING` -> `DEALLOCATING` -> `DEALLOCATED` after
//!   `deallocate_seconds` (default 60); its volumes are detached then. A
//!   `DEALLOCATED` instance stays visible to Get/List/tag calls for
//!   `deallocated_retention_seconds` (default 3600), then is gone
//!   (`ResourceNotFoundException`). Error lists are kept as they were.
//! * `DeleteWorkspaceInstance` on an instance in transition (`ALLOCATING`,
//!   `DEALLOCATING`) -> `ConflictException` (try again later); on a
//!   `DEALLOCATED` or missing one -> `ResourceNotFoundException` (it is
//!   already deleted).
//! * State changes are applied lazily: before every call, every change due
//!   at `shared.clock.now()` is applied. Fixtures may set any state directly,
//!   with error lists, and schedule their own `transition`.
//!
//! # Other behaviour
//!
//! * Tags: at most 30 per instance. `TagResource` merges (same key
//!   overwrites); a result above 30 is a `ValidationException` on `Tags`
//!   that says so and changes nothing. `UntagResource` ignores absent keys.
//! * Volumes are `available` at once; `AssociateVolume` needs an `ALLOCATED`
//!   instance, a detached volume, a free device and, when the instance was
//!   placed in an AZ, the same AZ (else `ConflictException`).
//!   `DeleteVolume` of an attached volume is a `ConflictException`.
//!   `ModifyVolume` applies at once, at most once per
//!   `volume_modification_cooldown_seconds` per volume
//!   (`VolumeModificationRateExceededException`).
//! * `ClientToken`: a repeated create with a known token returns the first
//!   result (parameters are not compared).
//! * Pagination (`paging.rs`): `ListWorkspaceInstances` pages in id order
//!   after the last id returned, filtering by `ProvisionStates` server-side;
//!   `ListInstanceTypes` (optionally filtered by
//!   `InstanceConfigurationFilter`) and `ListRegions` page by index. Page
//!   size is `MaxResults` (1..=25), default 25. Tokens are opaque and bound
//!   to the operation and filter; a bad one is a `ValidationException`.
//! * Quotas: `limits.max_instances` / `limits.max_volumes` give
//!   `ServiceQuotaExceededException` on create.
//! * `ModifyVolume`'s `ClientToken` is accepted but not used for
//!   idempotency; `CreateVolume` without `VolumeType` makes `gp2`.
//!
//! # Fixture section (`"workspaces_instances"`)
//!
//! ```json
//! {
//!   "instances": [{"id": "wsinst-...", "provision_state": "ERROR_ALLOCATING",
//!                  "created": "2026-11-20T08:00:00Z", "ec2_instance_id": "i-...",
//!                  "tags": {"k": "v"}, "billing_mode": "HOURLY",
//!                  "workspace_instance_errors": [{"error_code": "...", "error_message": "..."}],
//!                  "ec2_instance_errors": [{"ec2_error_code": "...", "ec2_exception_type": "...",
//!                                           "ec2_error_message": "..."}],
//!                  "managed_instance": {"InstanceType": "m5.large", ...},
//!                  "transition": {"at": "...", "to": "ALLOCATED"}, "purge_at": "..."}],
//!   "volumes": [{"id": "vol-...", "availability_zone": "us-east-1a", "state": "in-use",
//!                "created": "...", "size_in_gb": 100, "volume_type": "gp3",
//!                "attachment": {"workspace_instance_id": "wsinst-...", "device": "/dev/sdf"}}],
//!   "instance_types": null, "regions": null,
//!   "lifecycle": {"allocate_seconds": 60, "deallocate_seconds": 60,
//!                 "deallocated_retention_seconds": 3600, "fail_instance_types": [],
//!                 "volume_modification_cooldown_seconds": 21600},
//!   "limits": {"max_instances": null, "max_volumes": null},
//!   "access_denied_operations": ["DeleteWorkspaceInstance"],
//!   "id_counter": 0
//! }
//! ```
//!
//! Everything is optional except each item's `id`, state and `created`.
//! Unknown fields are errors. `instance_types` / `regions` absent means the
//! built-in catalogues (30 types, 14 regions). For large fixtures build the
//! [`State`] in Rust: [`Instance::new`] and its `with_*` builders,
//! [`State::with_instance`], [`State::add_instances`].

mod cbor;
mod error;
pub mod json;
mod model;
mod ops;
mod paging;
mod schema;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value;
use serde_json::json;

pub use error::{ApiError, ErrorKind};
pub use model::{
    default_instance_types, default_regions, Attachment, Ec2InstanceError, Instance,
    InstanceConfiguration, InstanceTypeInfo, Lifecycle, Limits, ProvisionState, State, Transition,
    Volume, VolumeState, WorkspaceInstanceError, MAX_TAGS, OPERATIONS,
};
pub use ops::Op;
pub use paging::DEFAULT_PAGE_SIZE;
pub(crate) use schema::tag_char;

use crate::faults::Injected;
use crate::{log, EmuRequest, Service, Shared, WSI_PREFIX};

use cbor::Obj;

pub async fn handle(shared: &Shared, req: EmuRequest) -> Response {
    let name: String = req
        .path()
        .strip_prefix(WSI_PREFIX)
        .unwrap_or_default()
        .chars()
        .take(128)
        .collect();
    if req.method != Method::POST {
        let err =
            ApiError::unknown_operation(&format!("{} {name} (operations are POST)", req.method));
        return finish(shared, &name, json!({}), Err(err), false, Codec::Cbor);
    }
    serve(shared, &name, cbor::parse_body(&req.body), Codec::Cbor).await
}

/// How a request arrived and its answer leaves: Smithy RPC v2 CBOR or
/// awsJson1_0. Everything between decoding and encoding is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    Cbor,
    Json,
}

/// Runs operation `name` on a decoded body (JSON bodies arrive converted to
/// CBOR values): fault injection, lifecycle, access rules, schema check, the
/// operation, the call log, the answer in `codec`.
pub(crate) async fn serve(
    shared: &Shared,
    name: &str,
    body: Result<Value, ApiError>,
    codec: Codec,
) -> Response {
    let Some(op) = Op::from_name(name) else {
        let err = ApiError::unknown_operation(name);
        return finish(shared, name, json!({}), Err(err), false, codec);
    };
    let params = match &body {
        Ok(v) => params_of(v),
        Err(_) => json!({ "body": "unreadable" }),
    };
    if let Some(injected) = shared.inject(Service::WorkspacesInstances, op.name()).await {
        let err = match injected {
            Injected::Throttle => ApiError::throttling(),
            Injected::ServerError => ApiError::internal(),
        };
        return finish(shared, op.name(), params, Err(err), true, codec);
    }
    let now = shared.clock.now();
    let result = {
        let mut st = shared.wsi();
        st.run_lifecycle(now);
        if st.access_denied_operations.contains(op.name()) {
            Err(ApiError::access_denied(op.name()))
        } else {
            body.and_then(|v| {
                schema::check(&v, op.schema(), "")?;
                let input = Obj::new(&v)
                    .ok_or_else(|| ApiError::cannot_parse("request body must be a CBOR map"))?;
                ops::run(op, &mut st, now, input)
            })
        }
    };
    finish(shared, op.name(), params, result, false, codec)
}

/// Records the call and builds the HTTP answer.
fn finish(
    shared: &Shared,
    operation: &str,
    params: serde_json::Value,
    result: Result<Value, ApiError>,
    injected: bool,
    codec: Codec,
) -> Response {
    let (status, error, body) = match result {
        Ok(v) => (StatusCode::OK, None, v),
        Err(e) => {
            if !injected {
                tracing::debug!(operation, code = e.kind.code(), message = %e.message, "wsi error");
            }
            let status = match (codec, e.kind) {
                // awsJson1_0 answers an unknown target with 400.
                (Codec::Json, ErrorKind::UnknownOperation) => StatusCode::BAD_REQUEST,
                _ => e.kind.status(),
            };
            (status, Some(e.kind.code().to_string()), e.to_cbor())
        }
    };
    shared.record(log::Call {
        service: Service::WorkspacesInstances,
        operation: operation.to_string(),
        params,
        status: status.as_u16(),
        error,
        injected,
    });
    let mut resp = match codec {
        Codec::Cbor => {
            let mut resp = (status, cbor::encode(&body)).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/cbor"),
            );
            h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
            resp
        }
        Codec::Json => json::response(status, &body),
    };
    let h = resp.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        h.insert("x-amzn-requestid", id);
    }
    resp
}

/// A fresh request id (UUID layout) for `x-amzn-requestid`.
pub(crate) fn request_id() -> String {
    let n = fastrand::u128(..);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The key parameters of a request, for the call log. Values are copied as
/// sent (even invalid ones), so a test can see exactly what was asked.
fn params_of(body: &Value) -> serde_json::Value {
    let Some(o) = Obj::new(body) else {
        return json!({});
    };
    let mut m = serde_json::Map::new();
    for key in [
        "WorkspaceInstanceId",
        "VolumeId",
        "Device",
        "DisassociateMode",
        "AvailabilityZone",
        "VolumeType",
        "MaxResults",
        "SizeInGB",
        "ProvisionStates",
        "TagKeys",
        "InstanceConfigurationFilter",
    ] {
        if let Some(v) = o.get(key) {
            m.insert(key.to_string(), cbor::to_json(v));
        }
    }
    if o.get("NextToken").is_some() {
        m.insert("NextToken".into(), json!(true));
    }
    if let Some(tags) = o.get("Tags") {
        let as_map = tags.as_array().and_then(|items| {
            items
                .iter()
                .map(|t| {
                    let t = Obj::new(t)?;
                    Some((
                        t.str("Key")?.to_string(),
                        json!(t.str("Value").unwrap_or_default()),
                    ))
                })
                .collect::<Option<serde_json::Map<_, _>>>()
        });
        m.insert(
            "Tags".into(),
            as_map.map_or_else(|| cbor::to_json(tags), serde_json::Value::Object),
        );
    }
    if let Some(t) = o
        .obj("ManagedInstance")
        .and_then(|mi| mi.str("InstanceType"))
    {
        m.insert("InstanceType".into(), json!(t));
    }
    if let Some(b) = o
        .obj("BillingConfiguration")
        .and_then(|b| b.str("BillingMode"))
    {
        m.insert("BillingMode".into(), json!(b));
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Emulator, Fixture};

    const KEYS: &[&str] = &[
        "WorkspaceInstanceId",
        "VolumeId",
        "Device",
        "Tags",
        "Key",
        "Value",
        "TagKeys",
        "MaxResults",
        "NextToken",
        "ProvisionStates",
        "ManagedInstance",
        "Placement",
        "AvailabilityZone",
        "InstanceType",
        "BillingConfiguration",
        "BillingMode",
        "SizeInGB",
        "InstanceConfigurationFilter",
        "SpotOptions",
        "ValidUntilUtc",
    ];

    fn random_value(rng: &mut fastrand::Rng, depth: u32) -> Value {
        match rng.u8(..if depth > 3 { 6 } else { 9 }) {
            0 => Value::Integer(rng.i64(-5..40).into()),
            1 => Value::Text(
                [
                    "wsinst-abcdefgh1",
                    "vol-1",
                    "",
                    "ALLOCATED",
                    "us-east-1a",
                    "m5.large",
                    "x*y",
                ][rng.usize(..7)]
                .into(),
            ),
            2 => Value::Bool(rng.bool()),
            3 => Value::Null,
            4 => Value::Float(rng.f64() * 1e10),
            5 => Value::Tag(1, Box::new(Value::Integer(rng.i64(..).into()))),
            6 | 7 => Value::Map(
                (0..rng.usize(..5))
                    .map(|_| {
                        (
                            Value::Text(KEYS[rng.usize(..KEYS.len())].into()),
                            random_value(rng, depth + 1),
                        )
                    })
                    .collect(),
            ),
            _ => Value::Array(
                (0..rng.usize(..4))
                    .map(|_| random_value(rng, depth + 1))
                    .collect(),
            ),
        }
    }

    /// Random bodies, valid CBOR or not, into every operation: always an
    /// answer with a sane status, never a panic.
    #[tokio::test]
    async fn random_requests_never_panic() {
        let mut st = State::default();
        st.add_instances(
            "abcdefgh",
            3,
            ProvisionState::Allocated,
            jiff::Timestamp::UNIX_EPOCH,
        );
        let emu = Emulator::new(Fixture {
            clock: Some(jiff::Timestamp::UNIX_EPOCH),
            workspaces_instances: st,
            ..Default::default()
        });
        let shared = emu.shared();
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..3000 {
            let op = Op::ALL[rng.usize(..Op::ALL.len())];
            let body = if i % 3 == 0 {
                (0..rng.usize(..40)).map(|_| rng.u8(..)).collect()
            } else {
                let mut v = random_value(&mut rng, 0);
                if let Value::Map(m) = &mut v {
                    if rng.bool() {
                        m.push((
                            Value::Text("WorkspaceInstanceId".into()),
                            Value::Text("wsinst-abcdefgh00000001".into()),
                        ));
                    }
                }
                cbor::encode(&v)
            };
            let req = EmuRequest {
                method: Method::POST,
                uri: format!("{WSI_PREFIX}{}", op.name()).parse().unwrap(),
                headers: Default::default(),
                body: body.into(),
            };
            let resp = handle(shared, req).await;
            assert!(
                [200, 400].contains(&resp.status().as_u16()),
                "{op:?}: {}",
                resp.status()
            );
        }
        assert_eq!(shared.calls.len(), 3000);
    }
}
