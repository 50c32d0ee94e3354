//! The operations, each a plain function over the state. Handlers have
//! already settled pending transitions up to `now`.

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::model::{
    after, fleet_arn, fnv, AuthorizationProvider, CompanyNetwork, DeviceStatus, Domain,
    DomainStatus, Fleet, FleetStatus, IdentityProvider, Pending, State, WebsiteCa,
};
use super::validate as v;
use super::wire::{check, fleet_arn_field, page_request, paginate, ApiError, Body};

/// Everything an operation gets besides the state.
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub body: &'a Body,
    /// `{ResourceArn}` from `/tags/{ResourceArn}`, decoded.
    pub resource_arn: Option<&'a str>,
    /// `tagKeys` query values (UntagResource).
    pub tag_keys: &'a [String],
}

pub type OpFn = fn(&mut State, &Ctx) -> Result<Value, ApiError>;

fn empty() -> Result<Value, ApiError> {
    Ok(json!({}))
}

fn epoch(t: Timestamp) -> Value {
    super::wire::epoch(t)
}

/// Inserts `value` under `key` when it is `Some`.
fn put<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        m.insert(key.to_string(), v.into());
    }
}

fn find_fleet<'s>(st: &'s State, arn: &str) -> Result<&'s Fleet, ApiError> {
    st.fleet(arn)
        .ok_or_else(|| ApiError::not_found(format!("fleet {arn} not found")))
}

fn find_fleet_mut<'s>(st: &'s mut State, arn: &str) -> Result<&'s mut Fleet, ApiError> {
    st.fleet_mut(arn)
        .ok_or_else(|| ApiError::not_found(format!("fleet {arn} not found")))
}

/// The fleet named by FleetArn, for reading.
fn fleet_for_read<'s>(st: &'s State, c: &Ctx) -> Result<&'s Fleet, ApiError> {
    let arn = fleet_arn_field(c.body)?;
    find_fleet(st, arn)
}

/// The fleet named by FleetArn, for changing: it must be CREATING or ACTIVE.
fn fleet_for_write<'s>(st: &'s mut State, c: &Ctx) -> Result<&'s mut Fleet, ApiError> {
    let arn = fleet_arn_field(c.body)?;
    let fleet = find_fleet_mut(st, arn)?;
    match fleet.status {
        FleetStatus::Active | FleetStatus::Creating => Ok(fleet),
        other => Err(ApiError::invalid(format!(
            "fleet {arn} is {}; it cannot be changed",
            other.as_str()
        ))),
    }
}

fn display_name(body: &Body) -> Result<Option<&str>, ApiError> {
    let d = body.opt_str("DisplayName")?;
    if let Some(s) = d {
        check("DisplayName", v::max_len(s, 100))?;
    }
    Ok(d)
}

fn domain_name_field(body: &Body) -> Result<&str, ApiError> {
    let d = body.req_str("DomainName")?;
    check("DomainName", v::domain_name(d))?;
    Ok(d)
}

fn domain_mut<'f>(fleet: &'f mut Fleet, name: &str) -> Result<&'f mut Domain, ApiError> {
    let arn = fleet.arn.clone();
    fleet
        .domains
        .iter_mut()
        .find(|d| d.domain_name.eq_ignore_ascii_case(name))
        .ok_or_else(|| ApiError::not_found(format!("domain {name} not found in fleet {arn}")))
}

fn id_field<'b>(body: &'b Body, name: &str) -> Result<&'b str, ApiError> {
    let id = body.req_str(name)?;
    check(name, v::len_between(id, 1, 256))?;
    Ok(id)
}

fn identity_type(body: &Body, name: &str) -> Result<String, ApiError> {
    let t = body.req_str(name)?;
    if t != "SAML" {
        return Err(ApiError::invalid(format!("{name} must be SAML, got {t:?}")));
    }
    Ok(t.to_string())
}

fn tags_field(body: &Body) -> Result<Option<std::collections::BTreeMap<String, String>>, ApiError> {
    let tags = body.opt_str_map("Tags")?;
    if let Some(t) = &tags {
        if t.is_empty() {
            return Err(ApiError::invalid("Tags must hold at least 1 tag"));
        }
        check("Tags", v::tags(t))?;
    }
    Ok(tags)
}

// ---------------------------------------------------------------- fleets

pub fn create_fleet(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let name = c.body.req_str("FleetName")?;
    check("FleetName", v::fleet_name(name))?;
    let display = display_name(c.body)?;
    let optimize = c.body.opt_bool("OptimizeForEndUserLocation")?;
    let tags = tags_field(c.body)?.unwrap_or_default();
    if st.fleets.iter().any(|f| f.name == name) {
        return Err(ApiError::already_exists(format!(
            "a fleet named {name} already exists"
        )));
    }
    let arn = fleet_arn(&st.account_id, name);
    let company_code = format!("{:012x}", fnv(&[&arn]) & 0xffff_ffff_ffff);
    let delay = st.lifecycle.fleet_create_seconds;
    let (status, pending) = if delay == 0 {
        (FleetStatus::Active, None)
    } else {
        (
            FleetStatus::Creating,
            Some(Pending {
                status: FleetStatus::Active,
                at: after(c.now, delay),
            }),
        )
    };
    let sp_metadata = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://{company_code}.worklink.emulator.local/\">\
<md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" \
Location=\"https://{company_code}.worklink.emulator.local/saml\" index=\"0\"/>\
</md:SPSSODescriptor></md:EntityDescriptor>"
    );
    st.fleets.push(Fleet {
        arn: arn.clone(),
        name: name.to_string(),
        display_name: display.map(str::to_string),
        company_code,
        status,
        pending,
        created_time: c.now,
        last_updated_time: c.now,
        optimize_for_end_user_location: optimize.unwrap_or(false),
        audit_stream_arn: None,
        company_network: None,
        device_ca_certificate: None,
        identity_provider: IdentityProvider {
            r#type: None,
            saml_metadata: None,
            service_provider_saml_metadata: Some(sp_metadata),
        },
        tags,
        devices: Vec::new(),
        domains: Vec::new(),
        website_certificate_authorities: Vec::new(),
        website_authorization_providers: Vec::new(),
    });
    Ok(json!({ "FleetArn": arn }))
}

pub fn delete_fleet(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let arn = fleet_arn_field(c.body)?;
    let delay = st.lifecycle.fleet_delete_seconds;
    let fleet = find_fleet_mut(st, arn)?;
    if fleet.status == FleetStatus::Deleting {
        return Err(ApiError::invalid(format!(
            "fleet {arn} is already DELETING"
        )));
    }
    if delay == 0 {
        st.fleets.retain(|f| f.arn != arn);
    } else {
        fleet.status = FleetStatus::Deleting;
        fleet.last_updated_time = c.now;
        fleet.pending = Some(Pending {
            status: FleetStatus::Deleted,
            at: after(c.now, delay),
        });
    }
    empty()
}

fn fleet_summary(f: &Fleet) -> Value {
    let mut m = Map::new();
    m.insert("FleetArn".into(), json!(f.arn));
    m.insert("CreatedTime".into(), epoch(f.created_time));
    m.insert("LastUpdatedTime".into(), epoch(f.last_updated_time));
    m.insert("FleetName".into(), json!(f.name));
    put(&mut m, "DisplayName", f.display_name.clone());
    m.insert("CompanyCode".into(), json!(f.company_code));
    m.insert("FleetStatus".into(), json!(f.status.as_str()));
    if !f.tags.is_empty() {
        m.insert("Tags".into(), json!(f.tags));
    }
    Value::Object(m)
}

pub fn list_fleets(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    const OP: &str = "ListFleets";
    let page = page_request(c.body, OP, "")?;
    let mut fleets: Vec<&Fleet> = st.fleets.iter().collect();
    fleets.sort_by(|a, b| a.arn.cmp(&b.arn));
    let (items, next) = paginate(&fleets, |f| f.arn.as_str(), &page, OP, "");
    let mut out =
        json!({ "FleetSummaryList": items.iter().map(|f| fleet_summary(f)).collect::<Vec<_>>() });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

pub fn describe_fleet_metadata(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let f = fleet_for_read(st, c)?;
    let mut m = Map::new();
    m.insert("CreatedTime".into(), epoch(f.created_time));
    m.insert("LastUpdatedTime".into(), epoch(f.last_updated_time));
    m.insert("FleetName".into(), json!(f.name));
    put(&mut m, "DisplayName", f.display_name.clone());
    m.insert(
        "OptimizeForEndUserLocation".into(),
        json!(f.optimize_for_end_user_location),
    );
    m.insert("CompanyCode".into(), json!(f.company_code));
    m.insert("FleetStatus".into(), json!(f.status.as_str()));
    if !f.tags.is_empty() {
        m.insert("Tags".into(), json!(f.tags));
    }
    Ok(Value::Object(m))
}

pub fn update_fleet_metadata(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let display = display_name(c.body)?;
    let optimize = c.body.opt_bool("OptimizeForEndUserLocation")?;
    let f = fleet_for_write(st, c)?;
    // The reference: "The existing DisplayName is unset if null is passed."
    f.display_name = display.map(str::to_string);
    if let Some(o) = optimize {
        f.optimize_for_end_user_location = o;
    }
    f.last_updated_time = c.now;
    empty()
}

pub fn describe_audit_stream_configuration(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let f = fleet_for_read(st, c)?;
    let mut m = Map::new();
    put(&mut m, "AuditStreamArn", f.audit_stream_arn.clone());
    Ok(Value::Object(m))
}

pub fn update_audit_stream_configuration(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let stream = c.body.opt_str("AuditStreamArn")?;
    if let Some(s) = stream {
        check("AuditStreamArn", v::audit_stream_arn(s))?;
    }
    let f = fleet_for_write(st, c)?;
    f.audit_stream_arn = stream.map(str::to_string);
    f.last_updated_time = c.now;
    empty()
}

pub fn describe_company_network_configuration(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let f = fleet_for_read(st, c)?;
    Ok(match &f.company_network {
        Some(n) => json!({
            "VpcId": n.vpc_id,
            "SubnetIds": n.subnet_ids,
            "SecurityGroupIds": n.security_group_ids,
        }),
        None => json!({}),
    })
}

pub fn update_company_network_configuration(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let vpc = c.body.req_str("VpcId")?;
    check("VpcId", v::aws_id(vpc, "vpc"))?;
    let subnets = c.body.req_str_list("SubnetIds")?;
    for (i, s) in subnets.iter().enumerate() {
        check(&format!("SubnetIds[{i}]"), v::aws_id(s, "subnet"))?;
    }
    let groups = c.body.req_str_list("SecurityGroupIds")?;
    for (i, s) in groups.iter().enumerate() {
        check(&format!("SecurityGroupIds[{i}]"), v::aws_id(s, "sg"))?;
    }
    let f = fleet_for_write(st, c)?;
    f.company_network = Some(CompanyNetwork {
        vpc_id: vpc.to_string(),
        subnet_ids: subnets,
        security_group_ids: groups,
    });
    f.last_updated_time = c.now;
    empty()
}

pub fn describe_device_policy_configuration(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let f = fleet_for_read(st, c)?;
    let mut m = Map::new();
    put(
        &mut m,
        "DeviceCaCertificate",
        f.device_ca_certificate.clone(),
    );
    Ok(Value::Object(m))
}

pub fn update_device_policy_configuration(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let cert = c.body.opt_str("DeviceCaCertificate")?;
    if let Some(s) = cert {
        check("DeviceCaCertificate", v::certificate_chain(s, 32768))?;
    }
    let f = fleet_for_write(st, c)?;
    f.device_ca_certificate = cert.map(str::to_string);
    f.last_updated_time = c.now;
    empty()
}

pub fn describe_identity_provider_configuration(
    st: &mut State,
    c: &Ctx,
) -> Result<Value, ApiError> {
    let f = fleet_for_read(st, c)?;
    let idp = &f.identity_provider;
    let mut m = Map::new();
    put(&mut m, "IdentityProviderType", idp.r#type.clone());
    put(
        &mut m,
        "ServiceProviderSamlMetadata",
        idp.service_provider_saml_metadata.clone(),
    );
    put(
        &mut m,
        "IdentityProviderSamlMetadata",
        idp.saml_metadata.clone(),
    );
    Ok(Value::Object(m))
}

pub fn update_identity_provider_configuration(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let t = identity_type(c.body, "IdentityProviderType")?;
    let metadata = c.body.opt_str("IdentityProviderSamlMetadata")?;
    if let Some(m) = metadata {
        check("IdentityProviderSamlMetadata", v::len_between(m, 1, 204800))?;
    }
    let f = fleet_for_write(st, c)?;
    f.identity_provider.r#type = Some(t);
    f.identity_provider.saml_metadata = metadata.map(str::to_string);
    f.last_updated_time = c.now;
    empty()
}

// ---------------------------------------------------------------- devices

pub fn list_devices(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    const OP: &str = "ListDevices";
    let f = fleet_for_read(st, c)?;
    let page = page_request(c.body, OP, &f.arn)?;
    let mut devices: Vec<_> = f.devices.iter().collect();
    devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    let (items, next) = paginate(&devices, |d| d.device_id.as_str(), &page, OP, &f.arn);
    let list: Vec<Value> = items
        .iter()
        .map(|d| json!({ "DeviceId": d.device_id, "DeviceStatus": d.status.as_str() }))
        .collect();
    let mut out = json!({ "Devices": list });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

pub fn describe_device(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let id = id_field(c.body, "DeviceId")?;
    let f = fleet_for_read(st, c)?;
    let d = f
        .devices
        .iter()
        .find(|d| d.device_id == id)
        .ok_or_else(|| ApiError::not_found(format!("device {id} not found in fleet {}", f.arn)))?;
    let mut m = Map::new();
    m.insert("Status".into(), json!(d.status.as_str()));
    put(&mut m, "Model", d.model.clone());
    put(&mut m, "Manufacturer", d.manufacturer.clone());
    put(&mut m, "OperatingSystem", d.operating_system.clone());
    put(
        &mut m,
        "OperatingSystemVersion",
        d.operating_system_version.clone(),
    );
    put(&mut m, "PatchLevel", d.patch_level.clone());
    put(
        &mut m,
        "FirstAccessedTime",
        d.first_accessed_time.map(epoch),
    );
    put(&mut m, "LastAccessedTime", d.last_accessed_time.map(epoch));
    m.insert("Username".into(), json!(d.username));
    Ok(Value::Object(m))
}

/// Signs the user out of every device in the fleet. A user with no device
/// in the fleet is ResourceNotFoundException; signing out a user whose
/// devices are all signed out already succeeds and changes nothing.
pub fn sign_out_user(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let user = c.body.req_str("Username")?;
    check("Username", v::len_between(user, 1, 256))?;
    let f = fleet_for_write(st, c)?;
    let mut found = false;
    for d in f.devices.iter_mut().filter(|d| d.username == user) {
        found = true;
        d.status = DeviceStatus::SignedOut;
    }
    if !found {
        return Err(ApiError::not_found(format!(
            "user {user} has no device in fleet {}",
            f.arn
        )));
    }
    empty()
}

// ---------------------------------------------------------------- domains

pub fn associate_domain(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let name = domain_name_field(c.body)?;
    let cert = c.body.req_str("AcmCertificateArn")?;
    check("AcmCertificateArn", v::arn(cert))?;
    let display = display_name(c.body)?;
    let delay = st.lifecycle.domain_associate_seconds;
    let f = fleet_for_write(st, c)?;
    if let Some(existing) = f
        .domains
        .iter()
        .find(|d| d.domain_name.eq_ignore_ascii_case(name))
    {
        if existing.status != DomainStatus::Disassociated {
            return Err(ApiError::already_exists(format!(
                "domain {name} is already associated with fleet {} ({})",
                f.arn,
                existing.status.as_str()
            )));
        }
    }
    f.domains
        .retain(|d| !d.domain_name.eq_ignore_ascii_case(name));
    let (status, pending) = if delay == 0 {
        (DomainStatus::Active, None)
    } else {
        (
            DomainStatus::Associating,
            Some(Pending {
                status: DomainStatus::Active,
                at: after(c.now, delay),
            }),
        )
    };
    f.domains.push(Domain {
        domain_name: name.to_string(),
        display_name: display.map(str::to_string),
        status,
        pending,
        acm_certificate_arn: cert.to_string(),
        created_time: c.now,
    });
    empty()
}

pub fn disassociate_domain(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let name = domain_name_field(c.body)?;
    let delay = st.lifecycle.domain_disassociate_seconds;
    let f = fleet_for_write(st, c)?;
    let d = domain_mut(f, name)?;
    match d.status {
        DomainStatus::Associating | DomainStatus::Disassociating | DomainStatus::Disassociated => {
            Err(ApiError::invalid(format!(
                "domain {name} is {}; it cannot be disassociated now",
                d.status.as_str()
            )))
        }
        _ => {
            if delay == 0 {
                d.status = DomainStatus::Disassociated;
                d.pending = None;
            } else {
                d.status = DomainStatus::Disassociating;
                d.pending = Some(Pending {
                    status: DomainStatus::Disassociated,
                    at: after(c.now, delay),
                });
            }
            empty()
        }
    }
}

fn domain_summary(d: &Domain) -> Value {
    let mut m = Map::new();
    m.insert("DomainName".into(), json!(d.domain_name));
    put(&mut m, "DisplayName", d.display_name.clone());
    m.insert("CreatedTime".into(), epoch(d.created_time));
    m.insert("DomainStatus".into(), json!(d.status.as_str()));
    Value::Object(m)
}

pub fn list_domains(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    const OP: &str = "ListDomains";
    let f = fleet_for_read(st, c)?;
    let page = page_request(c.body, OP, &f.arn)?;
    let mut domains: Vec<_> = f.domains.iter().collect();
    domains.sort_by(|a, b| a.domain_name.cmp(&b.domain_name));
    let (items, next) = paginate(&domains, |d| d.domain_name.as_str(), &page, OP, &f.arn);
    let mut out = json!({ "Domains": items.iter().map(|d| domain_summary(d)).collect::<Vec<_>>() });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

pub fn describe_domain(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let name = domain_name_field(c.body)?;
    let f = fleet_for_read(st, c)?;
    let d = f
        .domains
        .iter()
        .find(|d| d.domain_name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ApiError::not_found(format!("domain {name} not found in fleet {}", f.arn))
        })?;
    let mut out = domain_summary(d);
    out["AcmCertificateArn"] = json!(d.acm_certificate_arn);
    Ok(out)
}

pub fn update_domain_metadata(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let name = domain_name_field(c.body)?;
    let display = display_name(c.body)?;
    let f = fleet_for_write(st, c)?;
    let d = domain_mut(f, name)?;
    d.display_name = display.map(str::to_string);
    empty()
}

/// ACTIVE -> INACTIVE; any other status is InvalidRequestException.
pub fn revoke_domain_access(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let name = domain_name_field(c.body)?;
    let f = fleet_for_write(st, c)?;
    let d = domain_mut(f, name)?;
    if d.status != DomainStatus::Active {
        return Err(ApiError::invalid(format!(
            "domain {name} is {}; only an ACTIVE domain can have its access revoked",
            d.status.as_str()
        )));
    }
    d.status = DomainStatus::Inactive;
    empty()
}

/// INACTIVE -> ACTIVE; any other status is InvalidRequestException.
pub fn restore_domain_access(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let name = domain_name_field(c.body)?;
    let f = fleet_for_write(st, c)?;
    let d = domain_mut(f, name)?;
    if d.status != DomainStatus::Inactive {
        return Err(ApiError::invalid(format!(
            "domain {name} is {}; only an INACTIVE domain can have its access restored",
            d.status.as_str()
        )));
    }
    d.status = DomainStatus::Active;
    empty()
}

// ------------------------------------------------- website certificate authorities

pub fn associate_website_certificate_authority(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let cert = c.body.req_str("Certificate")?;
    check("Certificate", v::certificate(cert))?;
    let display = display_name(c.body)?;
    let arn = fleet_for_write(st, c)?.arn.clone();
    let id = st.new_id(&arn);
    let f = find_fleet_mut(st, &arn)?;
    if f.website_certificate_authorities
        .iter()
        .any(|ca| ca.certificate.trim_end() == cert.trim_end())
    {
        return Err(ApiError::already_exists(format!(
            "this certificate is already associated with fleet {arn}"
        )));
    }
    f.website_certificate_authorities.push(WebsiteCa {
        website_ca_id: id.clone(),
        certificate: cert.to_string(),
        display_name: display.map(str::to_string),
        created_time: c.now,
    });
    Ok(json!({ "WebsiteCaId": id }))
}

pub fn describe_website_certificate_authority(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let id = id_field(c.body, "WebsiteCaId")?;
    let f = fleet_for_read(st, c)?;
    let ca = f
        .website_certificate_authorities
        .iter()
        .find(|ca| ca.website_ca_id == id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "website certificate authority {id} not found in fleet {}",
                f.arn
            ))
        })?;
    let mut m = Map::new();
    m.insert("Certificate".into(), json!(ca.certificate));
    m.insert("CreatedTime".into(), epoch(ca.created_time));
    put(&mut m, "DisplayName", ca.display_name.clone());
    Ok(Value::Object(m))
}

pub fn disassociate_website_certificate_authority(
    st: &mut State,
    c: &Ctx,
) -> Result<Value, ApiError> {
    let id = id_field(c.body, "WebsiteCaId")?;
    let f = fleet_for_write(st, c)?;
    let before = f.website_certificate_authorities.len();
    f.website_certificate_authorities
        .retain(|ca| ca.website_ca_id != id);
    if f.website_certificate_authorities.len() == before {
        return Err(ApiError::not_found(format!(
            "website certificate authority {id} not found in fleet {}",
            f.arn
        )));
    }
    empty()
}

/// The API reference models no ResourceNotFoundException here, so an unknown
/// fleet is InvalidRequestException.
pub fn list_website_certificate_authorities(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    const OP: &str = "ListWebsiteCertificateAuthorities";
    let arn = fleet_arn_field(c.body)?;
    let f = st
        .fleet(arn)
        .ok_or_else(|| ApiError::invalid(format!("FleetArn: fleet {arn} does not exist")))?;
    let page = page_request(c.body, OP, &f.arn)?;
    let mut cas: Vec<_> = f.website_certificate_authorities.iter().collect();
    cas.sort_by(|a, b| a.website_ca_id.cmp(&b.website_ca_id));
    let (items, next) = paginate(&cas, |ca| ca.website_ca_id.as_str(), &page, OP, &f.arn);
    let list: Vec<Value> = items
        .iter()
        .map(|ca| {
            let mut m = Map::new();
            m.insert("WebsiteCaId".into(), json!(ca.website_ca_id));
            m.insert("CreatedTime".into(), epoch(ca.created_time));
            put(&mut m, "DisplayName", ca.display_name.clone());
            Value::Object(m)
        })
        .collect();
    let mut out = json!({ "WebsiteCertificateAuthorities": list });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

// ------------------------------------------------- website authorization providers

pub fn associate_website_authorization_provider(
    st: &mut State,
    c: &Ctx,
) -> Result<Value, ApiError> {
    let t = identity_type(c.body, "AuthorizationProviderType")?;
    let domain = c.body.opt_str("DomainName")?;
    if let Some(d) = domain {
        check("DomainName", v::domain_name(d))?;
    }
    let arn = fleet_for_write(st, c)?.arn.clone();
    let id = st.new_id(&arn);
    let f = find_fleet_mut(st, &arn)?;
    if f.website_authorization_providers.iter().any(|p| {
        p.authorization_provider_type == t
            && p.domain_name.as_deref().map(str::to_ascii_lowercase)
                == domain.map(str::to_ascii_lowercase)
    }) {
        return Err(ApiError::already_exists(format!(
            "a {t} authorization provider for {} already exists in fleet {arn}",
            domain.unwrap_or("(no domain)")
        )));
    }
    f.website_authorization_providers
        .push(AuthorizationProvider {
            authorization_provider_id: id.clone(),
            authorization_provider_type: t,
            domain_name: domain.map(str::to_string),
            created_time: c.now,
        });
    Ok(json!({ "AuthorizationProviderId": id }))
}

pub fn disassociate_website_authorization_provider(
    st: &mut State,
    c: &Ctx,
) -> Result<Value, ApiError> {
    let id = id_field(c.body, "AuthorizationProviderId")?;
    let f = fleet_for_write(st, c)?;
    let before = f.website_authorization_providers.len();
    f.website_authorization_providers
        .retain(|p| p.authorization_provider_id != id);
    if f.website_authorization_providers.len() == before {
        return Err(ApiError::not_found(format!(
            "authorization provider {id} not found in fleet {}",
            f.arn
        )));
    }
    empty()
}

pub fn list_website_authorization_providers(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    const OP: &str = "ListWebsiteAuthorizationProviders";
    let f = fleet_for_read(st, c)?;
    let page = page_request(c.body, OP, &f.arn)?;
    let mut providers: Vec<_> = f.website_authorization_providers.iter().collect();
    providers.sort_by(|a, b| {
        a.authorization_provider_id
            .cmp(&b.authorization_provider_id)
    });
    let (items, next) = paginate(
        &providers,
        |p| p.authorization_provider_id.as_str(),
        &page,
        OP,
        &f.arn,
    );
    let list: Vec<Value> = items
        .iter()
        .map(|p| {
            let mut m = Map::new();
            m.insert(
                "AuthorizationProviderId".into(),
                json!(p.authorization_provider_id),
            );
            m.insert(
                "AuthorizationProviderType".into(),
                json!(p.authorization_provider_type),
            );
            put(&mut m, "DomainName", p.domain_name.clone());
            m.insert("CreatedTime".into(), epoch(p.created_time));
            Value::Object(m)
        })
        .collect();
    let mut out = json!({ "WebsiteAuthorizationProviders": list });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

// ---------------------------------------------------------------- tags
// The SDK models only InvalidRequestException for the tag operations, so an
// unknown resource is InvalidRequestException too.

fn tagged_fleet<'s>(st: &'s mut State, c: &Ctx) -> Result<&'s mut Fleet, ApiError> {
    let arn = c
        .resource_arn
        .ok_or_else(|| ApiError::invalid("ResourceArn is required"))?;
    check("ResourceArn", v::len_between(arn, 20, 2048))?;
    st.fleet_mut(arn)
        .ok_or_else(|| ApiError::invalid(format!("ResourceArn: fleet {arn} does not exist")))
}

pub fn list_tags_for_resource(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let f = tagged_fleet(st, c)?;
    Ok(json!({ "Tags": f.tags }))
}

pub fn tag_resource(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    let tags = tags_field(c.body)?.ok_or_else(|| ApiError::invalid("Tags is required"))?;
    let f = tagged_fleet(st, c)?;
    let mut merged = f.tags.clone();
    merged.extend(tags);
    check("Tags", v::tags(&merged))?;
    f.tags = merged;
    empty()
}

pub fn untag_resource(st: &mut State, c: &Ctx) -> Result<Value, ApiError> {
    if c.tag_keys.is_empty() {
        return Err(ApiError::invalid("tagKeys is required"));
    }
    if c.tag_keys.len() > 50 {
        return Err(ApiError::invalid(format!(
            "tagKeys: at most 50 keys, got {}",
            c.tag_keys.len()
        )));
    }
    for k in c.tag_keys {
        check("tagKeys", v::tag_key(k))?;
    }
    let f = tagged_fleet(st, c)?;
    for k in c.tag_keys {
        f.tags.remove(k);
    }
    empty()
}
