//! Errors as the SDK sees them: every modelled error of the operations the
//! warden functions depend on comes back as the typed variant; validation
//! messages name the field; malformed requests never crash the emulator.

#![allow(deprecated)] // the SDK marks every WorkLink call deprecated (service retired)

mod common;

use common::{check, fails_as};

use aws_config::retry::RetryConfig;
use aws_sdk_worklink::error::SdkError;
use aws_sdk_worklink::operation::describe_audit_stream_configuration::DescribeAuditStreamConfigurationError as DescribeAuditErr;
use aws_sdk_worklink::operation::describe_device::DescribeDeviceError;
use aws_sdk_worklink::operation::describe_domain::DescribeDomainError;
use aws_sdk_worklink::operation::list_devices::ListDevicesError;
use aws_sdk_worklink::operation::list_domains::ListDomainsError;
use aws_sdk_worklink::operation::list_fleets::ListFleetsError;
use aws_sdk_worklink::operation::restore_domain_access::RestoreDomainAccessError;
use aws_sdk_worklink::operation::revoke_domain_access::RevokeDomainAccessError;
use aws_sdk_worklink::operation::sign_out_user::SignOutUserError;
use aws_sdk_worklink::operation::update_audit_stream_configuration::UpdateAuditStreamConfigurationError as UpdateAuditErr;
use aws_sdk_worklink::operation::RequestId as _;
use aws_sdk_worklink::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warden_emulator::worklink::{AccessDenyRule, DomainStatus, FleetStatus};
use warden_emulator::{FaultRule, FaultsConfig, RunningEmulator};

const SAMPLE: &str = include_str!("../../events/emulator/worklink-sample.json");
const CORP: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";
const PARTNER: &str = "arn:aws:worklink::123456789012:fleet/partner-portal";
const MISSING: &str = "arn:aws:worklink::123456789012:fleet/no-such-fleet";

/// What the SDK made of an error: the typed variant's name, and the message.
type Kind = (&'static str, String);

/// Maps an SDK error to the name of its typed variant by matching on the
/// variant itself; anything not modelled is "unmodelled".
macro_rules! kind_fn {
    ($name:ident, $err:ident, [$($variant:ident),+]) => {
        fn $name<R: std::fmt::Debug + Send + Sync + 'static>(e: SdkError<$err, R>) -> Kind {
            let e = e.into_service_error();
            let msg = e.message().unwrap_or_default().to_string();
            let kind = match e {
                $($err::$variant(_) => stringify!($variant),)+
                _ => "unmodelled",
            };
            (kind, msg)
        }
    };
}

/// [`kind_fn`] for each (function, error) pair, all with the same variants.
macro_rules! kind_fns {
    ($variants:tt: $($name:ident => $err:ident),+ $(,)?) => {
        $(kind_fn!($name, $err, $variants);)+
    };
}

kind_fns!(
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
        TooManyRequestsException,
        UnauthorizedException
    ]:
    sign_out_kind => SignOutUserError,
    revoke_kind => RevokeDomainAccessError,
    restore_kind => RestoreDomainAccessError,
    list_devices_kind => ListDevicesError,
    describe_device_kind => DescribeDeviceError,
    list_domains_kind => ListDomainsError,
    describe_domain_kind => DescribeDomainError,
    describe_audit_kind => DescribeAuditErr,
    update_audit_kind => UpdateAuditErr,
);
// ListFleets takes no fleet, so it has no ResourceNotFoundException.
kind_fn!(
    list_fleets_kind,
    ListFleetsError,
    [
        InternalServerErrorException,
        InvalidRequestException,
        TooManyRequestsException,
        UnauthorizedException
    ]
);

/// The ten operations under test, each called with valid arguments, so the
/// only way to fail is an injected fault or a denied caller.
const OPS: &[&str] = &[
    "SignOutUser",
    "RevokeDomainAccess",
    "RestoreDomainAccess",
    "ListFleets",
    "ListDevices",
    "DescribeDevice",
    "ListDomains",
    "DescribeDomain",
    "DescribeAuditStreamConfiguration",
    "UpdateAuditStreamConfiguration",
];

async fn valid_call(wl: &Client, op: &str) -> Result<(), Kind> {
    match op {
        "SignOutUser" => wl
            .sign_out_user()
            .fleet_arn(CORP)
            .username("bob")
            .send()
            .await
            .map(drop)
            .map_err(sign_out_kind),
        "RevokeDomainAccess" => wl
            .revoke_domain_access()
            .fleet_arn(CORP)
            .domain_name("wiki.example.com")
            .send()
            .await
            .map(drop)
            .map_err(revoke_kind),
        "RestoreDomainAccess" => wl
            .restore_domain_access()
            .fleet_arn(CORP)
            .domain_name("payroll.example.com")
            .send()
            .await
            .map(drop)
            .map_err(restore_kind),
        "ListFleets" => wl
            .list_fleets()
            .send()
            .await
            .map(drop)
            .map_err(list_fleets_kind),
        "ListDevices" => wl
            .list_devices()
            .fleet_arn(CORP)
            .send()
            .await
            .map(drop)
            .map_err(list_devices_kind),
        "DescribeDevice" => wl
            .describe_device()
            .fleet_arn(CORP)
            .device_id("dev-bob-iphone")
            .send()
            .await
            .map(drop)
            .map_err(describe_device_kind),
        "ListDomains" => wl
            .list_domains()
            .fleet_arn(CORP)
            .send()
            .await
            .map(drop)
            .map_err(list_domains_kind),
        "DescribeDomain" => wl
            .describe_domain()
            .fleet_arn(CORP)
            .domain_name("wiki.example.com")
            .send()
            .await
            .map(drop)
            .map_err(describe_domain_kind),
        "DescribeAuditStreamConfiguration" => wl
            .describe_audit_stream_configuration()
            .fleet_arn(CORP)
            .send()
            .await
            .map(drop)
            .map_err(describe_audit_kind),
        "UpdateAuditStreamConfiguration" => wl
            .update_audit_stream_configuration()
            .fleet_arn(PARTNER)
            .audit_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-p")
            .send()
            .await
            .map(drop)
            .map_err(update_audit_kind),
        other => panic!("no call for {other}"),
    }
}

async fn sample() -> (RunningEmulator, Client) {
    let emu = common::start_json(SAMPLE).await;
    let wl = common::worklink(&emu);
    (emu, wl)
}

fn only_rule(emu: &RunningEmulator, rule: FaultRule) {
    emu.shared().faults.set(FaultsConfig {
        rules: vec![rule],
        seed: 1,
    });
}

const NOT_FOUND: &str = "ResourceNotFoundException";
const INVALID: &str = "InvalidRequestException";

/// Fails, naming the case, unless `got` is the typed error `want` and its
/// message mentions `msg_has`.
fn assert_kind(case: &str, got: Result<(), Kind>, want: &str, msg_has: &str) {
    match got {
        Ok(()) => panic!("{case}: expected {want}, got success"),
        Err((kind, msg)) => {
            assert_eq!(kind, want, "{case}: message: {msg}");
            assert!(
                msg.contains(msg_has),
                "{case}: {want} message {msg:?} should mention {msg_has:?}"
            );
        }
    }
}

/// A call's outcome reduced to what [`assert_kind`] checks.
fn outcome<T, E>(r: Result<T, E>, kind: impl FnOnce(E) -> Kind) -> Result<(), Kind> {
    r.map(drop).map_err(kind)
}

/// Whether the error's message mentions `part`.
fn says(e: &impl ProvideErrorMetadata, part: &str) -> bool {
    e.message().unwrap_or_default().contains(part)
}

#[tokio::test]
async fn valid_calls_succeed() {
    // The baseline the fault tests below rely on.
    for op in OPS {
        let (_emu, wl) = sample().await;
        valid_call(&wl, op)
            .await
            .unwrap_or_else(|e| panic!("{op}: {e:?}"));
    }
}

#[tokio::test]
async fn injected_throttling_and_server_errors_are_typed() {
    let (emu, wl) = sample().await;
    for op in OPS {
        let faults = [
            (
                FaultRule {
                    throttle_rate: 1.0,
                    ..Default::default()
                },
                "TooManyRequestsException",
                "Rate exceeded",
            ),
            (
                FaultRule {
                    server_error_rate: 1.0,
                    ..Default::default()
                },
                "InternalServerErrorException",
                "temporarily unavailable",
            ),
        ];
        for (rule, want, msg_has) in faults {
            let operation = Some(op.to_string());
            only_rule(&emu, FaultRule { operation, ..rule });
            assert_kind(op, valid_call(&wl, op).await, want, msg_has);
        }
        let calls = emu.shared().calls.of(op);
        let got: Vec<_> = calls
            .iter()
            .map(|c| (c.status, c.error.as_deref(), c.injected))
            .collect();
        assert_eq!(
            got,
            [
                (429, Some("TooManyRequestsException"), true),
                (500, Some("InternalServerErrorException"), true)
            ],
            "{op}"
        );
    }
    // Injected faults change nothing.
    emu.shared().faults.clear();
    let f = emu.shared().worklink().fleet(CORP).cloned().unwrap();
    assert!(f.devices.iter().any(
        |d| d.username == "bob" && d.status == warden_emulator::worklink::DeviceStatus::Active
    ));
}

fn client_as(emu: &RunningEmulator, access_key: &str) -> Client {
    let base = common::sdk_config(emu, RetryConfig::disabled());
    let conf = aws_sdk_worklink::config::Builder::from(&base)
        .credentials_provider(aws_sdk_worklink::config::Credentials::new(
            access_key, "secret", None, None, "test",
        ))
        .build();
    Client::from_conf(conf)
}

#[tokio::test]
async fn denied_callers_get_unauthorized() {
    let (emu, wl) = sample().await;
    let writes = [
        "SignOutUser",
        "RevokeDomainAccess",
        "RestoreDomainAccess",
        "UpdateAuditStreamConfiguration",
    ];
    emu.shared().worklink().access_denied = vec![
        AccessDenyRule {
            access_key_id: "AKIDREADONLY".into(),
            operations: writes.iter().map(|op| op.to_string()).collect(),
        },
        AccessDenyRule {
            access_key_id: "AKIDNOBODY".into(),
            operations: vec![],
        },
    ];
    let nobody = client_as(&emu, "AKIDNOBODY");
    let readonly = client_as(&emu, "AKIDREADONLY");
    for op in OPS {
        let case = format!("{op} as AKIDNOBODY");
        let r = valid_call(&nobody, op).await;
        assert_kind(&case, r, "UnauthorizedException", "AKIDNOBODY");
        let r = valid_call(&readonly, op).await;
        if writes.contains(op) {
            assert_kind(
                &format!("{op} as AKIDREADONLY"),
                r,
                "UnauthorizedException",
                op,
            );
        } else {
            r.unwrap_or_else(|e| panic!("{op} should be allowed read-only: {e:?}"));
        }
    }
    // Denied calls did nothing; the default test identity is not denied.
    let domains = emu.shared().worklink().fleet(CORP).unwrap().domains.clone();
    let wiki = domains.iter().find(|d| d.domain_name == "wiki.example.com");
    assert_eq!(wiki.map(|d| d.status), Some(DomainStatus::Active));
    valid_call(&wl, "SignOutUser")
        .await
        .expect("AKIDTEST allowed");
    let denied = emu
        .shared()
        .calls
        .snapshot()
        .into_iter()
        .filter(|c| c.error.as_deref() == Some("UnauthorizedException"))
        .count();
    assert_eq!(denied, OPS.len() + 4);
}

async fn sign_out(wl: &Client, fleet: &str, user: Option<&str>) -> Result<(), Kind> {
    let call = wl.sign_out_user().fleet_arn(fleet);
    outcome(
        call.set_username(user.map(str::to_string)).send().await,
        sign_out_kind,
    )
}

#[tokio::test]
async fn sign_out_user_errors() {
    let (emu, wl) = sample().await;
    let long = "x".repeat(257);
    // (FleetArn, Username, expected error, message fragment)
    let cases = [
        (MISSING, Some("alice"), NOT_FOUND, MISSING),
        (CORP, Some("mallory"), NOT_FOUND, "mallory"),
        // erin has devices, but in the other fleet.
        (CORP, Some("erin"), NOT_FOUND, "erin"),
        (CORP, None, INVALID, "Username"),
        ("arn:too-short", Some("alice"), INVALID, "FleetArn"),
        (CORP, Some(long.as_str()), INVALID, "Username"),
    ];
    for (fleet, user, want, msg_has) in cases {
        let case = format!("SignOutUser({fleet}, {user:?})");
        assert_kind(&case, sign_out(&wl, fleet, user).await, want, msg_has);
    }

    // A DELETING fleet refuses changes.
    emu.shared().worklink().fleet_mut(PARTNER).unwrap().status = FleetStatus::Deleting;
    let r = sign_out(&wl, PARTNER, Some("erin")).await;
    assert_kind("SignOutUser in a DELETING fleet", r, INVALID, "DELETING");

    let log: Vec<_> = emu
        .shared()
        .calls
        .of("SignOutUser")
        .into_iter()
        .map(|c| (c.status, c.error))
        .collect();
    assert_eq!(log.len(), 7);
    assert_eq!(log[0], (404, Some("ResourceNotFoundException".into())));
    assert_eq!(log[3], (400, Some("InvalidRequestException".into())));
}

/// RevokeDomainAccess or RestoreDomainAccess of one domain.
async fn domain_access(wl: &Client, op: &str, fleet: &str, domain: &str) -> Result<(), Kind> {
    match op {
        "RevokeDomainAccess" => {
            let call = wl.revoke_domain_access().fleet_arn(fleet);
            outcome(call.domain_name(domain).send().await, revoke_kind)
        }
        "RestoreDomainAccess" => {
            let call = wl.restore_domain_access().fleet_arn(fleet);
            outcome(call.domain_name(domain).send().await, restore_kind)
        }
        other => panic!("no domain access call {other}"),
    }
}

#[tokio::test]
async fn revoke_and_restore_errors() {
    let (emu, wl) = sample().await;
    const REVOKE: &str = "RevokeDomainAccess";
    const RESTORE: &str = "RestoreDomainAccess";
    // (operation, FleetArn, DomainName, expected error, message fragment)
    let cases = [
        (REVOKE, MISSING, "intranet.example.com", NOT_FOUND, MISSING),
        (
            REVOKE,
            CORP,
            "unknown.example.com",
            NOT_FOUND,
            "unknown.example.com",
        ),
        // payroll is INACTIVE already; jira is ASSOCIATING.
        (REVOKE, CORP, "payroll.example.com", INVALID, "INACTIVE"),
        (REVOKE, CORP, "jira.example.com", INVALID, "ASSOCIATING"),
        (REVOKE, CORP, "-bad.example.com", INVALID, "DomainName"),
        (RESTORE, MISSING, "payroll.example.com", NOT_FOUND, MISSING),
        (
            RESTORE,
            CORP,
            "unknown.example.com",
            NOT_FOUND,
            "unknown.example.com",
        ),
        (RESTORE, CORP, "intranet.example.com", INVALID, "ACTIVE"),
        (
            RESTORE,
            CORP,
            "legacy.example.com",
            INVALID,
            "DISASSOCIATED",
        ),
        (RESTORE, CORP, "nodot", INVALID, "DomainName"),
    ];
    for (op, fleet, domain, want, msg_has) in cases {
        let case = format!("{op}({fleet}, {domain})");
        let r = domain_access(&wl, op, fleet, domain).await;
        assert_kind(&case, r, want, msg_has);
    }

    // Nothing changed.
    let f = emu.shared().worklink().fleet(CORP).cloned().unwrap();
    let status = |n: &str| {
        f.domains
            .iter()
            .find(|d| d.domain_name == n)
            .unwrap()
            .status
    };
    assert_eq!(status("payroll.example.com"), DomainStatus::Inactive);
    assert_eq!(status("intranet.example.com"), DomainStatus::Active);
    assert_eq!(emu.shared().calls.of("RevokeDomainAccess").len(), 5);
}

#[tokio::test]
async fn list_and_describe_errors() {
    let (_emu, wl) = sample().await;
    // A ListDevices token, to replay against other requests.
    let page = wl
        .list_devices()
        .fleet_arn(CORP)
        .max_results(1)
        .send()
        .await
        .expect("first page");
    let token = page.next_token().expect("more devices").to_string();
    let long_domain = format!("{}.example.com", "a".repeat(60));
    let stream = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-x";
    let devices = || wl.list_devices();
    let device = || wl.describe_device();
    let domains = || wl.list_domains();
    let domain = || wl.describe_domain().fleet_arn(CORP);
    let audit = || wl.describe_audit_stream_configuration();
    let set_audit = |fleet: &str| wl.update_audit_stream_configuration().fleet_arn(fleet);

    // (case, outcome, expected error, message fragment), called in order.
    let cases = [
        (
            "ListFleets MaxResults=0",
            outcome(
                wl.list_fleets().max_results(0).send().await,
                list_fleets_kind,
            ),
            INVALID,
            "MaxResults",
        ),
        (
            "ListFleets garbled token",
            outcome(
                wl.list_fleets().next_token("garbled-token").send().await,
                list_fleets_kind,
            ),
            INVALID,
            "NextToken",
        ),
        (
            "ListFleets malformed token",
            outcome(
                wl.list_fleets().next_token("not a token!").send().await,
                list_fleets_kind,
            ),
            INVALID,
            "NextToken",
        ),
        (
            "ListDevices unknown fleet",
            outcome(devices().fleet_arn(MISSING).send().await, list_devices_kind),
            NOT_FOUND,
            MISSING,
        ),
        (
            "ListDevices with another fleet's token",
            outcome(
                devices().fleet_arn(PARTNER).next_token(&token).send().await,
                list_devices_kind,
            ),
            INVALID,
            "NextToken",
        ),
        (
            "ListDomains with a ListDevices token",
            outcome(
                domains().fleet_arn(CORP).next_token(&token).send().await,
                list_domains_kind,
            ),
            INVALID,
            "NextToken",
        ),
        (
            "ListDevices without FleetArn",
            outcome(devices().send().await, list_devices_kind),
            INVALID,
            "FleetArn",
        ),
        (
            "DescribeDevice of the other fleet's device",
            outcome(
                device()
                    .fleet_arn(CORP)
                    .device_id("dev-erin-iphone")
                    .send()
                    .await,
                describe_device_kind,
            ),
            NOT_FOUND,
            "dev-erin-iphone",
        ),
        (
            "DescribeDevice unknown fleet",
            outcome(
                device()
                    .fleet_arn(MISSING)
                    .device_id("dev-bob-iphone")
                    .send()
                    .await,
                describe_device_kind,
            ),
            NOT_FOUND,
            MISSING,
        ),
        (
            "DescribeDevice without DeviceId",
            outcome(device().fleet_arn(CORP).send().await, describe_device_kind),
            INVALID,
            "DeviceId",
        ),
        (
            "ListDomains unknown fleet",
            outcome(domains().fleet_arn(MISSING).send().await, list_domains_kind),
            NOT_FOUND,
            MISSING,
        ),
        (
            "ListDomains MaxResults=-3",
            outcome(
                domains().fleet_arn(CORP).max_results(-3).send().await,
                list_domains_kind,
            ),
            INVALID,
            "MaxResults",
        ),
        (
            "DescribeDomain of the other fleet's domain",
            outcome(
                domain()
                    .domain_name("portal.partner.example.net")
                    .send()
                    .await,
                describe_domain_kind,
            ),
            NOT_FOUND,
            "portal.partner.example.net",
        ),
        (
            "DescribeDomain too long a name",
            outcome(
                domain().domain_name(&long_domain).send().await,
                describe_domain_kind,
            ),
            INVALID,
            "DomainName",
        ),
        (
            "DescribeAuditStreamConfiguration unknown fleet",
            outcome(audit().fleet_arn(MISSING).send().await, describe_audit_kind),
            NOT_FOUND,
            MISSING,
        ),
        (
            "DescribeAuditStreamConfiguration without FleetArn",
            outcome(audit().send().await, describe_audit_kind),
            INVALID,
            "FleetArn",
        ),
        (
            "UpdateAuditStreamConfiguration unknown fleet",
            outcome(
                set_audit(MISSING).audit_stream_arn(stream).send().await,
                update_audit_kind,
            ),
            NOT_FOUND,
            MISSING,
        ),
    ];
    for (case, got, want, msg_has) in cases {
        assert_kind(case, got, want, msg_has);
    }
    for bad in [
        "arn:aws:kinesis:us-east-1:123456789012:stream/not-worklink",
        "arn:aws:sqs:us-east-1:123456789012:AmazonWorkLink-x",
        "not-an-arn",
    ] {
        let r = set_audit(CORP).audit_stream_arn(bad).send().await;
        let case = format!("UpdateAuditStreamConfiguration AuditStreamArn {bad}");
        assert_kind(
            &case,
            outcome(r, update_audit_kind),
            INVALID,
            "AuditStreamArn",
        );
    }
}

#[tokio::test]
async fn other_operations_validate_and_conflict() {
    let (_emu, wl) = sample().await;
    let acm = "arn:aws:acm:us-east-1:123456789012:certificate/abc";
    let associate = |domain: &str| {
        wl.associate_domain()
            .fleet_arn(CORP)
            .domain_name(domain)
            .acm_certificate_arn(acm)
    };
    let network = || {
        wl.update_company_network_configuration()
            .fleet_arn(CORP)
            .vpc_id("vpc-0a1b2c3d")
    };
    let oidc = aws_sdk_worklink::types::IdentityProviderType::from("OIDC");
    let delete = |fleet: &str| wl.delete_fleet().fleet_arn(fleet).send();

    // Called in order; the last two rows delete the partner fleet twice.
    check([
        (
            "CreateFleet with a bad name",
            fails_as!(
                wl.create_fleet().fleet_name("Bad_Name").send(),
                e if e.code() == Some(INVALID) && says(e, "FleetName")
            ),
        ),
        (
            "CreateFleet of an existing name",
            fails_as!(
                wl.create_fleet().fleet_name("corp-mobile").send(),
                e if e.is_resource_already_exists_exception()
            ),
        ),
        (
            "AssociateDomain already associated",
            fails_as!(
                associate("intranet.example.com").send(),
                e if e.is_resource_already_exists_exception()
            ),
        ),
        (
            "AssociateDomain bad certificate ARN",
            fails_as!(
                associate("crm.example.com")
                    .acm_certificate_arn("not an arn")
                    .send(),
                e if says(e, "AcmCertificateArn")
            ),
        ),
        (
            "AssociateDomain too long a DisplayName",
            fails_as!(
                associate("crm.example.com")
                    .display_name("d".repeat(101))
                    .send(),
                e if says(e, "DisplayName")
            ),
        ),
        (
            "UpdateCompanyNetworkConfiguration bad security group",
            fails_as!(
                network()
                    .subnet_ids("subnet-0a1b2c3d")
                    .security_group_ids("sg-XYZ")
                    .send(),
                e if says(e, "SecurityGroupIds[0]")
            ),
        ),
        (
            "UpdateCompanyNetworkConfiguration without SubnetIds",
            fails_as!(
                network().security_group_ids("sg-0a1b2c3d").send(),
                e if says(e, "SubnetIds is required")
            ),
        ),
        (
            "AssociateWebsiteCertificateAuthority not a PEM",
            fails_as!(
                wl.associate_website_certificate_authority()
                    .fleet_arn(CORP)
                    .certificate("not a pem")
                    .send(),
                e if says(e, "Certificate")
            ),
        ),
        (
            "DescribeWebsiteCertificateAuthority unknown id",
            fails_as!(
                wl.describe_website_certificate_authority()
                    .fleet_arn(CORP)
                    .website_ca_id("nope")
                    .send(),
                e if e.is_resource_not_found_exception()
            ),
        ),
        (
            "ListWebsiteCertificateAuthorities unknown fleet",
            fails_as!(
                wl.list_website_certificate_authorities()
                    .fleet_arn(MISSING)
                    .send(),
                e if e.is_invalid_request_exception()
            ),
        ),
        (
            "UpdateIdentityProviderConfiguration OIDC",
            fails_as!(
                wl.update_identity_provider_configuration()
                    .fleet_arn(CORP)
                    .identity_provider_type(oidc)
                    .send(),
                e if says(e, "IdentityProviderType")
            ),
        ),
        (
            "TagResource reserved key",
            fails_as!(
                wl.tag_resource()
                    .resource_arn(CORP)
                    .tags("aws:reserved", "x")
                    .send(),
                e if e.is_invalid_request_exception()
            ),
        ),
        (
            "ListTagsForResource unknown fleet",
            fails_as!(
                wl.list_tags_for_resource().resource_arn(MISSING).send(),
                e if e.is_invalid_request_exception()
            ),
        ),
        (
            "DeleteFleet unknown fleet",
            fails_as!(delete(MISSING), e if e.is_resource_not_found_exception()),
        ),
        (
            "DeleteFleet partner (succeeds)",
            delete(PARTNER)
                .await
                .map(drop)
                .map_err(|e| format!("{e:?}")),
        ),
        (
            "DeleteFleet partner again, now DELETING",
            fails_as!(delete(PARTNER), e if says(e, "DELETING")),
        ),
    ]);
}

#[tokio::test]
async fn errors_carry_request_ids() {
    let (_emu, wl) = sample().await;
    let e = wl
        .describe_domain()
        .fleet_arn(MISSING)
        .domain_name("a.com")
        .send()
        .await
        .unwrap_err();
    assert!(e.request_id().is_some_and(|id| !id.is_empty()));
    let ok = wl.list_fleets().send().await.unwrap();
    assert!(ok.request_id().is_some());
}

/// One raw HTTP/1.1 exchange: (status, headers, body).
async fn raw(emu: &RunningEmulator, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(emu.addr())
        .await
        .expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("http response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test]
async fn malformed_requests_are_invalid_not_crashes() {
    let (emu, _wl) = sample().await;
    let cases = [
        ("/signOutUser", "{not json", "not valid JSON"),
        ("/signOutUser", "[1,2]", "JSON object"),
        (
            "/signOutUser",
            r#"{"FleetArn": 42, "Username": "bob"}"#,
            "FleetArn must be a string",
        ),
        (
            "/listDevices",
            &format!(r#"{{"FleetArn": "{CORP}", "MaxResults": "ten"}}"#),
            "MaxResults",
        ),
        (
            "/listDevices",
            &format!(r#"{{"FleetArn": "{CORP}", "MaxResults": 2.5}}"#),
            "MaxResults",
        ),
        (
            "/updateCompanyNetworkConfiguration",
            &format!(
                r#"{{"FleetArn": "{CORP}", "VpcId": "vpc-0a1b2c3d", "SubnetIds": "subnet-0a1b2c3d", "SecurityGroupIds": []}}"#
            ),
            "SubnetIds",
        ),
        (
            "/createFleet",
            r#"{"FleetName": "ok-name", "Tags": {"k": 1}}"#,
            "Tags.k",
        ),
        ("/listFleets", "\u{0}\u{1}", "not valid JSON"),
    ];
    for (path, body, want) in cases {
        let (status, head, text) = raw(&emu, "POST", path, body).await;
        assert_eq!(status, 400, "{path} {body}: {text}");
        assert!(
            head.contains("x-amzn-errortype: invalidrequestexception"),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON error body");
        assert_eq!(v["__type"], "InvalidRequestException");
        let msg = v["Message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(want),
            "{path}: {msg:?} should mention {want:?}"
        );
    }
    // Still serving, and every call was logged.
    let (status, _, _) = raw(&emu, "POST", "/listFleets", "{}").await;
    assert_eq!(status, 200);
    assert_eq!(emu.shared().calls.len(), cases.len() + 1);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let (emu, _wl) = sample().await;
    for (method, path) in [
        ("POST", "/noSuchOperation"),
        ("GET", "/listFleets"),
        ("POST", "/updateFleetMetadata"),
        ("PUT", "/tags/abc"),
    ] {
        let (status, head, body) = raw(&emu, method, path, "{}").await;
        assert_eq!(status, 404, "{method} {path}");
        assert!(head.contains("x-amzn-errortype: unknownoperationexception"));
        assert!(body.contains("UnknownOperationException"));
    }
    let calls = emu.shared().calls.of("UnknownOperation");
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[0].params["path"], "/noSuchOperation");
}
