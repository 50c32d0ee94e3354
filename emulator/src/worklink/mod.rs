//! Amazon WorkLink, REST-JSON, as `aws-sdk-worklink` speaks it.
//!
//! Every operation of the API reference (2018-09-25) plus what the SDK adds:
//! the website authorization provider calls and fleet tags
//! (`/tags/{ResourceArn}`). Requests are `POST /<operation>` with a JSON body
//! (the tag calls are `GET`/`POST`/`DELETE /tags/{ResourceArn}`); errors
//! carry the code in the `x-amzn-ErrorType` header and in `__type`.
//!
//! Behaviour worth knowing (the reference leaves these open):
//!
//! * **Lifecycles run on the emulator clock.** CreateFleet answers with the
//!   fleet CREATING and it turns ACTIVE `lifecycle.fleet_create_seconds`
//!   later; DeleteFleet: DELETING, then the fleet is gone; AssociateDomain:
//!   ASSOCIATING then ACTIVE; DisassociateDomain: DISASSOCIATING then
//!   DISASSOCIATED (the domain stays listed and can be associated again).
//!   Each delay defaults to 60 s and can be set per fixture (0 = settles
//!   within the call). Fixtures can schedule any transition with `pending`.
//! * A fleet that is not CREATING or ACTIVE (e.g. DELETING) rejects changes
//!   with InvalidRequestException; reads still work.
//! * SignOutUser: unknown fleet, or a user with no device in the fleet, is
//!   ResourceNotFoundException. A user already signed out everywhere succeeds.
//! * RevokeDomainAccess needs an ACTIVE domain, RestoreDomainAccess an
//!   INACTIVE one; otherwise InvalidRequestException naming the status.
//! * Unknown fleet: ResourceNotFoundException, except where the SDK models no
//!   such error (ListWebsiteCertificateAuthorities and the tag calls), where
//!   it is InvalidRequestException.
//! * Pagination: lists are ordered by key (fleet ARN, device id, domain name,
//!   CA id). Default page 50, at most 100 whatever MaxResults says. NextToken
//!   is opaque, bound to the operation and fleet; a foreign or garbled one is
//!   InvalidRequestException.
//! * UnauthorizedException comes from `access_denied` rules in the state,
//!   matched on the access key id in the SigV4 `Authorization` header.
//!
//! Every call is recorded in the call log with `params` holding the key
//! request fields under their wire names (`FleetArn`, `Username`,
//! `DomainName`, `DeviceId`, `WebsiteCaId`, ...; `ResourceArn` and `TagKeys`
//! for tag calls); certificates and SAML documents are left out.

mod model;
mod ops;
mod validate;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Map, Value};

pub use model::{
    fleet_arn, AccessDenyRule, AuthorizationProvider, CompanyNetwork, Device, DeviceStatus, Domain,
    DomainStatus, Fleet, FleetStatus, IdentityProvider, Lifecycle, Pending, State, WebsiteCa,
    DEFAULT_ACCOUNT_ID,
};
pub use wire::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

use crate::log::Call;
use crate::{EmuRequest, Injected, Service, Shared};
use ops::{Ctx, OpFn};
use wire::{ApiError, Body};

/// Every operation the emulator serves, by API name.
pub const OPERATIONS: &[&str] = &[
    "AssociateDomain",
    "AssociateWebsiteAuthorizationProvider",
    "AssociateWebsiteCertificateAuthority",
    "CreateFleet",
    "DeleteFleet",
    "DescribeAuditStreamConfiguration",
    "DescribeCompanyNetworkConfiguration",
    "DescribeDevice",
    "DescribeDevicePolicyConfiguration",
    "DescribeDomain",
    "DescribeFleetMetadata",
    "DescribeIdentityProviderConfiguration",
    "DescribeWebsiteCertificateAuthority",
    "DisassociateDomain",
    "DisassociateWebsiteAuthorizationProvider",
    "DisassociateWebsiteCertificateAuthority",
    "ListDevices",
    "ListDomains",
    "ListFleets",
    "ListTagsForResource",
    "ListWebsiteAuthorizationProviders",
    "ListWebsiteCertificateAuthorities",
    "RestoreDomainAccess",
    "RevokeDomainAccess",
    "SignOutUser",
    "TagResource",
    "UntagResource",
    "UpdateAuditStreamConfiguration",
    "UpdateCompanyNetworkConfiguration",
    "UpdateDevicePolicyConfiguration",
    "UpdateDomainMetadata",
    "UpdateFleetMetadata",
    "UpdateIdentityProviderConfiguration",
];

/// `POST <path>` operations (the path is the SDK's, case and all).
const POST_ROUTES: &[(&str, &str, OpFn)] = &[
    ("/associateDomain", "AssociateDomain", ops::associate_domain),
    (
        "/associateWebsiteAuthorizationProvider",
        "AssociateWebsiteAuthorizationProvider",
        ops::associate_website_authorization_provider,
    ),
    (
        "/associateWebsiteCertificateAuthority",
        "AssociateWebsiteCertificateAuthority",
        ops::associate_website_certificate_authority,
    ),
    ("/createFleet", "CreateFleet", ops::create_fleet),
    ("/deleteFleet", "DeleteFleet", ops::delete_fleet),
    (
        "/describeAuditStreamConfiguration",
        "DescribeAuditStreamConfiguration",
        ops::describe_audit_stream_configuration,
    ),
    (
        "/describeCompanyNetworkConfiguration",
        "DescribeCompanyNetworkConfiguration",
        ops::describe_company_network_configuration,
    ),
    ("/describeDevice", "DescribeDevice", ops::describe_device),
    (
        "/describeDevicePolicyConfiguration",
        "DescribeDevicePolicyConfiguration",
        ops::describe_device_policy_configuration,
    ),
    ("/describeDomain", "DescribeDomain", ops::describe_domain),
    (
        "/describeFleetMetadata",
        "DescribeFleetMetadata",
        ops::describe_fleet_metadata,
    ),
    (
        "/describeIdentityProviderConfiguration",
        "DescribeIdentityProviderConfiguration",
        ops::describe_identity_provider_configuration,
    ),
    (
        "/describeWebsiteCertificateAuthority",
        "DescribeWebsiteCertificateAuthority",
        ops::describe_website_certificate_authority,
    ),
    (
        "/disassociateDomain",
        "DisassociateDomain",
        ops::disassociate_domain,
    ),
    (
        "/disassociateWebsiteAuthorizationProvider",
        "DisassociateWebsiteAuthorizationProvider",
        ops::disassociate_website_authorization_provider,
    ),
    (
        "/disassociateWebsiteCertificateAuthority",
        "DisassociateWebsiteCertificateAuthority",
        ops::disassociate_website_certificate_authority,
    ),
    ("/listDevices", "ListDevices", ops::list_devices),
    ("/listDomains", "ListDomains", ops::list_domains),
    ("/listFleets", "ListFleets", ops::list_fleets),
    (
        "/listWebsiteAuthorizationProviders",
        "ListWebsiteAuthorizationProviders",
        ops::list_website_authorization_providers,
    ),
    (
        "/listWebsiteCertificateAuthorities",
        "ListWebsiteCertificateAuthorities",
        ops::list_website_certificate_authorities,
    ),
    (
        "/restoreDomainAccess",
        "RestoreDomainAccess",
        ops::restore_domain_access,
    ),
    (
        "/revokeDomainAccess",
        "RevokeDomainAccess",
        ops::revoke_domain_access,
    ),
    ("/signOutUser", "SignOutUser", ops::sign_out_user),
    (
        "/updateAuditStreamConfiguration",
        "UpdateAuditStreamConfiguration",
        ops::update_audit_stream_configuration,
    ),
    (
        "/updateCompanyNetworkConfiguration",
        "UpdateCompanyNetworkConfiguration",
        ops::update_company_network_configuration,
    ),
    (
        "/updateDevicePolicyConfiguration",
        "UpdateDevicePolicyConfiguration",
        ops::update_device_policy_configuration,
    ),
    (
        "/updateDomainMetadata",
        "UpdateDomainMetadata",
        ops::update_domain_metadata,
    ),
    (
        "/UpdateFleetMetadata",
        "UpdateFleetMetadata",
        ops::update_fleet_metadata,
    ),
    (
        "/updateIdentityProviderConfiguration",
        "UpdateIdentityProviderConfiguration",
        ops::update_identity_provider_configuration,
    ),
];

struct Route {
    name: &'static str,
    op: OpFn,
    /// The raw (still percent-encoded) `{ResourceArn}` of a tag call.
    resource: Option<String>,
}

fn route(method: &Method, path: &str) -> Option<Route> {
    if let Some(raw) = path.strip_prefix("/tags/") {
        let (name, op): (&'static str, OpFn) = match *method {
            Method::GET => ("ListTagsForResource", ops::list_tags_for_resource),
            Method::POST => ("TagResource", ops::tag_resource),
            Method::DELETE => ("UntagResource", ops::untag_resource),
            _ => return None,
        };
        return Some(Route {
            name,
            op,
            resource: Some(raw.to_string()),
        });
    }
    if *method != Method::POST {
        return None;
    }
    POST_ROUTES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|&(_, name, op)| Route {
            name,
            op,
            resource: None,
        })
}

/// The access key id from a SigV4 `Authorization` header.
fn access_key_id(req: &EmuRequest) -> Option<String> {
    let auth = req.headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    cred.split('/').next().map(str::to_string)
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

fn request_id() -> String {
    let n = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// Parsed request pieces, or the validation error to answer with.
struct Parsed {
    body: Body,
    resource_arn: Option<String>,
    tag_keys: Vec<String>,
}

fn parse(req: &EmuRequest, route: &Route) -> Result<Parsed, ApiError> {
    let body = if route.resource.is_some() && req.method != Method::POST {
        Body::empty()
    } else {
        Body::parse(&req.body)?
    };
    let resource_arn = match &route.resource {
        Some(raw) => Some(wire::percent_decode(raw)?),
        None => None,
    };
    let tag_keys = if route.name == "UntagResource" {
        wire::query_values(req.query(), "tagKeys")?
    } else {
        Vec::new()
    };
    Ok(Parsed {
        body,
        resource_arn,
        tag_keys,
    })
}

fn log_params(parsed: &Result<Parsed, ApiError>, route: &Route) -> Value {
    let mut m = Map::new();
    match parsed {
        Ok(p) => {
            m = p.body.log_params();
            if let Some(arn) = &p.resource_arn {
                m.insert("ResourceArn".into(), json!(arn));
            }
            if route.name == "UntagResource" {
                m.insert("TagKeys".into(), json!(p.tag_keys));
            }
        }
        Err(_) => {
            if let Some(raw) = &route.resource {
                m.insert("ResourceArn".into(), json!(raw));
            }
        }
    }
    Value::Object(m)
}

pub async fn handle(shared: &Shared, req: EmuRequest) -> Response {
    let rid = request_id();
    let Some(route) = route(&req.method, req.path()) else {
        let err = ApiError::unknown_operation(req.method.as_str(), req.path());
        shared.record(Call {
            service: Service::WorkLink,
            operation: "UnknownOperation".into(),
            params: json!({ "method": req.method.as_str(), "path": req.path() }),
            status: err.status.as_u16(),
            error: Some(err.code.to_string()),
            injected: false,
        });
        return wire::error_response(&err, &rid);
    };

    let parsed = parse(&req, &route);
    let params = log_params(&parsed, &route);
    let injected = shared.inject(Service::WorkLink, route.name).await;

    let outcome = match injected {
        Some(Injected::Throttle) => Err(ApiError::throttled()),
        Some(Injected::ServerError) => Err(ApiError::internal()),
        None => parsed.and_then(|p| run(shared, &req, &route, &p)),
    };

    let (status, error) = match &outcome {
        Ok(_) => (200, None),
        Err(e) => (e.status.as_u16(), Some(e.code.to_string())),
    };
    shared.record(Call {
        service: Service::WorkLink,
        operation: route.name.to_string(),
        params,
        status,
        error,
        injected: injected.is_some(),
    });
    match outcome {
        Ok(body) => wire::ok_response(body, &rid),
        Err(e) => {
            tracing::debug!(operation = route.name, code = e.code, message = %e.message, "worklink error");
            wire::error_response(&e, &rid)
        }
    }
}

fn run(shared: &Shared, req: &EmuRequest, route: &Route, p: &Parsed) -> Result<Value, ApiError> {
    let now = shared.clock.now();
    let mut state = shared.worklink();
    if let Some(key) = access_key_id(req) {
        if state
            .access_denied
            .iter()
            .any(|r| r.denies(&key, route.name))
        {
            return Err(ApiError::unauthorized(format!(
                "{key} is not authorized to perform worklink:{}",
                route.name
            )));
        }
    }
    state.settle(now);
    let ctx = Ctx {
        now,
        body: &p.body,
        resource_arn: p.resource_arn.as_deref(),
        tag_keys: &p.tag_keys,
    };
    (route.op)(&mut state, &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_routed_once() {
        let mut routed: Vec<&str> = POST_ROUTES.iter().map(|(_, n, _)| *n).collect();
        routed.extend(["ListTagsForResource", "TagResource", "UntagResource"]);
        routed.sort_unstable();
        let mut all = OPERATIONS.to_vec();
        all.sort_unstable();
        assert_eq!(routed, all);
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(&Method::POST, "/signOutUser").map(|r| r.name),
            Some("SignOutUser")
        );
        assert!(route(&Method::GET, "/signOutUser").is_none());
        assert!(route(&Method::POST, "/updateFleetMetadata").is_none());
        assert_eq!(
            route(&Method::DELETE, "/tags/arn%3Ax").map(|r| r.name),
            Some("UntagResource")
        );
    }
}
