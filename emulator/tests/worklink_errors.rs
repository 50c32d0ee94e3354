//! Errors as the SDK sees them: every modelled error of the operations the
//! warden functions depend on comes back as the typed variant; validation
//! messages name the field; malformed requests never crash the emulator.

#![allow(deprecated)] // the SDK marks every WorkLink call deprecated (service retired)

mod common;

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

kind_fn!(
    sign_out_kind,
    SignOutUserError,
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
        TooManyRequestsException,
        UnauthorizedException
    ]
);
kind_fn!(
    revoke_kind,
    RevokeDomainAccessError,
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
        TooManyRequestsException,
        UnauthorizedException
    ]
);
kind_fn!(
    restore_kind,
    RestoreDomainAccessError,
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
        TooManyRequestsException,
        UnauthorizedException
    ]
);
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
kind_fn!(
    list_devices_kind,
    ListDevicesError,
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
        TooManyRequestsException,
        UnauthorizedException
    ]
);
kind_fn!(
    describe_device_kind,
    DescribeDeviceError,
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
        TooManyRequestsException,
        UnauthorizedException
    ]
);
kind_fn!(
    list_domains_kind,
    ListDomainsError,
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
        TooManyRequestsException,
        UnauthorizedException
    ]
);
kind_fn!(
    describe_domain_kind,
    DescribeDomainError,
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
        TooManyRequestsException,
        UnauthorizedException
    ]
);
kind_fn!(
    describe_audit_kind,
    DescribeAuditErr,
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
        TooManyRequestsException,
        UnauthorizedException
    ]
);
kind_fn!(
    update_audit_kind,
    UpdateAuditErr,
    [
        InternalServerErrorException,
        InvalidRequestException,
        ResourceNotFoundException,
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

fn assert_kind(got: Result<(), Kind>, want: &str, msg_has: &str) {
    match got {
        Ok(()) => panic!("expected {want}, got success"),
        Err((kind, msg)) => {
            assert_eq!(kind, want, "message: {msg}");
            assert!(
                msg.contains(msg_has),
                "{want} message {msg:?} should mention {msg_has:?}"
            );
        }
    }
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
        only_rule(
            &emu,
            FaultRule {
                operation: Some(op.to_string()),
                throttle_rate: 1.0,
                ..Default::default()
            },
        );
        assert_kind(
            valid_call(&wl, op).await,
            "TooManyRequestsException",
            "Rate exceeded",
        );
        only_rule(
            &emu,
            FaultRule {
                operation: Some(op.to_string()),
                server_error_rate: 1.0,
                ..Default::default()
            },
        );
        assert_kind(
            valid_call(&wl, op).await,
            "InternalServerErrorException",
            "temporarily unavailable",
        );
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
    emu.shared().worklink().access_denied = vec![
        AccessDenyRule {
            access_key_id: "AKIDREADONLY".into(),
            operations: vec![
                "SignOutUser".into(),
                "RevokeDomainAccess".into(),
                "RestoreDomainAccess".into(),
                "UpdateAuditStreamConfiguration".into(),
            ],
        },
        AccessDenyRule {
            access_key_id: "AKIDNOBODY".into(),
            operations: vec![],
        },
    ];
    let nobody = client_as(&emu, "AKIDNOBODY");
    let readonly = client_as(&emu, "AKIDREADONLY");
    for op in OPS {
        assert_kind(
            valid_call(&nobody, op).await,
            "UnauthorizedException",
            "AKIDNOBODY",
        );
        let writes = [
            "SignOutUser",
            "RevokeDomainAccess",
            "RestoreDomainAccess",
            "UpdateAuditStreamConfiguration",
        ];
        let r = valid_call(&readonly, op).await;
        if writes.contains(op) {
            assert_kind(r, "UnauthorizedException", op);
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

#[tokio::test]
async fn sign_out_user_errors() {
    let (emu, wl) = sample().await;
    let call = |fleet: &'static str, user: Option<&'static str>| {
        let wl = wl.clone();
        async move {
            wl.sign_out_user()
                .fleet_arn(fleet)
                .set_username(user.map(str::to_string))
                .send()
                .await
                .map(drop)
                .map_err(sign_out_kind)
        }
    };
    assert_kind(
        call(MISSING, Some("alice")).await,
        "ResourceNotFoundException",
        MISSING,
    );
    assert_kind(
        call(CORP, Some("mallory")).await,
        "ResourceNotFoundException",
        "mallory",
    );
    // erin has devices, but in the other fleet.
    assert_kind(
        call(CORP, Some("erin")).await,
        "ResourceNotFoundException",
        "erin",
    );
    assert_kind(
        call(CORP, None).await,
        "InvalidRequestException",
        "Username",
    );
    assert_kind(
        call("arn:too-short", Some("alice")).await,
        "InvalidRequestException",
        "FleetArn",
    );
    let long = "x".repeat(257);
    let r = wl
        .sign_out_user()
        .fleet_arn(CORP)
        .username(long)
        .send()
        .await
        .map(drop)
        .map_err(sign_out_kind);
    assert_kind(r, "InvalidRequestException", "Username");

    // A DELETING fleet refuses changes.
    emu.shared().worklink().fleet_mut(PARTNER).unwrap().status = FleetStatus::Deleting;
    assert_kind(
        call(PARTNER, Some("erin")).await,
        "InvalidRequestException",
        "DELETING",
    );

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

#[tokio::test]
async fn revoke_and_restore_errors() {
    let (emu, wl) = sample().await;
    let revoke = |fleet: &'static str, domain: &'static str| {
        let wl = wl.clone();
        async move {
            wl.revoke_domain_access()
                .fleet_arn(fleet)
                .domain_name(domain)
                .send()
                .await
                .map(drop)
                .map_err(revoke_kind)
        }
    };
    let restore = |fleet: &'static str, domain: &'static str| {
        let wl = wl.clone();
        async move {
            wl.restore_domain_access()
                .fleet_arn(fleet)
                .domain_name(domain)
                .send()
                .await
                .map(drop)
                .map_err(restore_kind)
        }
    };
    assert_kind(
        revoke(MISSING, "intranet.example.com").await,
        "ResourceNotFoundException",
        MISSING,
    );
    assert_kind(
        revoke(CORP, "unknown.example.com").await,
        "ResourceNotFoundException",
        "unknown.example.com",
    );
    // payroll is INACTIVE already; jira is ASSOCIATING.
    assert_kind(
        revoke(CORP, "payroll.example.com").await,
        "InvalidRequestException",
        "INACTIVE",
    );
    assert_kind(
        revoke(CORP, "jira.example.com").await,
        "InvalidRequestException",
        "ASSOCIATING",
    );
    assert_kind(
        revoke(CORP, "-bad.example.com").await,
        "InvalidRequestException",
        "DomainName",
    );

    assert_kind(
        restore(MISSING, "payroll.example.com").await,
        "ResourceNotFoundException",
        MISSING,
    );
    assert_kind(
        restore(CORP, "unknown.example.com").await,
        "ResourceNotFoundException",
        "unknown.example.com",
    );
    assert_kind(
        restore(CORP, "intranet.example.com").await,
        "InvalidRequestException",
        "ACTIVE",
    );
    assert_kind(
        restore(CORP, "legacy.example.com").await,
        "InvalidRequestException",
        "DISASSOCIATED",
    );
    assert_kind(
        restore(CORP, "nodot").await,
        "InvalidRequestException",
        "DomainName",
    );

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

    // ListFleets
    let r = wl.list_fleets().max_results(0).send().await;
    assert_kind(
        r.map(drop).map_err(list_fleets_kind),
        "InvalidRequestException",
        "MaxResults",
    );
    let r = wl.list_fleets().next_token("garbled-token").send().await;
    assert_kind(
        r.map(drop).map_err(list_fleets_kind),
        "InvalidRequestException",
        "NextToken",
    );
    let r = wl.list_fleets().next_token("not a token!").send().await;
    assert_kind(
        r.map(drop).map_err(list_fleets_kind),
        "InvalidRequestException",
        "NextToken",
    );

    // ListDevices: unknown fleet, and a token issued for another request.
    let r = wl.list_devices().fleet_arn(MISSING).send().await;
    assert_kind(
        r.map(drop).map_err(list_devices_kind),
        "ResourceNotFoundException",
        MISSING,
    );
    let page = wl
        .list_devices()
        .fleet_arn(CORP)
        .max_results(1)
        .send()
        .await
        .expect("first page");
    let token = page.next_token().expect("more devices").to_string();
    let r = wl
        .list_devices()
        .fleet_arn(PARTNER)
        .next_token(&token)
        .send()
        .await;
    assert_kind(
        r.map(drop).map_err(list_devices_kind),
        "InvalidRequestException",
        "NextToken",
    );
    let r = wl
        .list_domains()
        .fleet_arn(CORP)
        .next_token(&token)
        .send()
        .await;
    assert_kind(
        r.map(drop).map_err(list_domains_kind),
        "InvalidRequestException",
        "NextToken",
    );
    let r = wl.list_devices().send().await;
    assert_kind(
        r.map(drop).map_err(list_devices_kind),
        "InvalidRequestException",
        "FleetArn",
    );

    // DescribeDevice
    let r = wl
        .describe_device()
        .fleet_arn(CORP)
        .device_id("dev-erin-iphone")
        .send()
        .await;
    assert_kind(
        r.map(drop).map_err(describe_device_kind),
        "ResourceNotFoundException",
        "dev-erin-iphone",
    );
    let r = wl
        .describe_device()
        .fleet_arn(MISSING)
        .device_id("dev-bob-iphone")
        .send()
        .await;
    assert_kind(
        r.map(drop).map_err(describe_device_kind),
        "ResourceNotFoundException",
        MISSING,
    );
    let r = wl.describe_device().fleet_arn(CORP).send().await;
    assert_kind(
        r.map(drop).map_err(describe_device_kind),
        "InvalidRequestException",
        "DeviceId",
    );

    // ListDomains
    let r = wl.list_domains().fleet_arn(MISSING).send().await;
    assert_kind(
        r.map(drop).map_err(list_domains_kind),
        "ResourceNotFoundException",
        MISSING,
    );
    let r = wl
        .list_domains()
        .fleet_arn(CORP)
        .max_results(-3)
        .send()
        .await;
    assert_kind(
        r.map(drop).map_err(list_domains_kind),
        "InvalidRequestException",
        "MaxResults",
    );

    // DescribeDomain
    let r = wl
        .describe_domain()
        .fleet_arn(CORP)
        .domain_name("portal.partner.example.net")
        .send()
        .await;
    assert_kind(
        r.map(drop).map_err(describe_domain_kind),
        "ResourceNotFoundException",
        "portal.partner.example.net",
    );
    let r = wl
        .describe_domain()
        .fleet_arn(CORP)
        .domain_name(format!("{}.example.com", "a".repeat(60)))
        .send()
        .await;
    assert_kind(
        r.map(drop).map_err(describe_domain_kind),
        "InvalidRequestException",
        "DomainName",
    );

    // DescribeAuditStreamConfiguration
    let r = wl
        .describe_audit_stream_configuration()
        .fleet_arn(MISSING)
        .send()
        .await;
    assert_kind(
        r.map(drop).map_err(describe_audit_kind),
        "ResourceNotFoundException",
        MISSING,
    );
    let r = wl.describe_audit_stream_configuration().send().await;
    assert_kind(
        r.map(drop).map_err(describe_audit_kind),
        "InvalidRequestException",
        "FleetArn",
    );

    // UpdateAuditStreamConfiguration
    let stream = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-x";
    let r = wl
        .update_audit_stream_configuration()
        .fleet_arn(MISSING)
        .audit_stream_arn(stream)
        .send()
        .await;
    assert_kind(
        r.map(drop).map_err(update_audit_kind),
        "ResourceNotFoundException",
        MISSING,
    );
    for bad in [
        "arn:aws:kinesis:us-east-1:123456789012:stream/not-worklink",
        "arn:aws:sqs:us-east-1:123456789012:AmazonWorkLink-x",
        "not-an-arn",
    ] {
        let r = wl
            .update_audit_stream_configuration()
            .fleet_arn(CORP)
            .audit_stream_arn(bad)
            .send()
            .await;
        assert_kind(
            r.map(drop).map_err(update_audit_kind),
            "InvalidRequestException",
            "AuditStreamArn",
        );
    }
}

#[tokio::test]
async fn other_operations_validate_and_conflict() {
    let (_emu, wl) = sample().await;
    let code = |e: &dyn ProvideErrorMetadata| e.code().map(str::to_string);

    let e = wl
        .create_fleet()
        .fleet_name("Bad_Name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some("InvalidRequestException".into()));
    assert!(e.message().unwrap_or_default().contains("FleetName"));
    let e = wl
        .create_fleet()
        .fleet_name("corp-mobile")
        .send()
        .await
        .unwrap_err();
    assert!(e
        .into_service_error()
        .is_resource_already_exists_exception());

    let acm = "arn:aws:acm:us-east-1:123456789012:certificate/abc";
    let e = wl
        .associate_domain()
        .fleet_arn(CORP)
        .domain_name("intranet.example.com")
        .acm_certificate_arn(acm)
        .send()
        .await
        .unwrap_err();
    assert!(e
        .into_service_error()
        .is_resource_already_exists_exception());
    let e = wl
        .associate_domain()
        .fleet_arn(CORP)
        .domain_name("crm.example.com")
        .acm_certificate_arn("not an arn")
        .send()
        .await
        .unwrap_err();
    assert!(e
        .message()
        .unwrap_or_default()
        .contains("AcmCertificateArn"));
    let e = wl
        .associate_domain()
        .fleet_arn(CORP)
        .domain_name("crm.example.com")
        .acm_certificate_arn(acm)
        .display_name("d".repeat(101))
        .send()
        .await
        .unwrap_err();
    assert!(e.message().unwrap_or_default().contains("DisplayName"));

    let e = wl
        .update_company_network_configuration()
        .fleet_arn(CORP)
        .vpc_id("vpc-0a1b2c3d")
        .subnet_ids("subnet-0a1b2c3d")
        .security_group_ids("sg-XYZ")
        .send()
        .await
        .unwrap_err();
    assert!(e
        .message()
        .unwrap_or_default()
        .contains("SecurityGroupIds[0]"));
    let e = wl
        .update_company_network_configuration()
        .fleet_arn(CORP)
        .vpc_id("vpc-0a1b2c3d")
        .security_group_ids("sg-0a1b2c3d")
        .send()
        .await
        .unwrap_err();
    assert!(e
        .message()
        .unwrap_or_default()
        .contains("SubnetIds is required"));

    let e = wl
        .associate_website_certificate_authority()
        .fleet_arn(CORP)
        .certificate("not a pem")
        .send()
        .await
        .unwrap_err();
    assert!(e.message().unwrap_or_default().contains("Certificate"));
    let e = wl
        .describe_website_certificate_authority()
        .fleet_arn(CORP)
        .website_ca_id("nope")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = wl
        .list_website_certificate_authorities()
        .fleet_arn(MISSING)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_invalid_request_exception());

    let e = wl
        .update_identity_provider_configuration()
        .fleet_arn(CORP)
        .identity_provider_type(aws_sdk_worklink::types::IdentityProviderType::from("OIDC"))
        .send()
        .await
        .unwrap_err();
    assert!(e
        .message()
        .unwrap_or_default()
        .contains("IdentityProviderType"));

    let e = wl
        .tag_resource()
        .resource_arn(CORP)
        .tags("aws:reserved", "x")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_invalid_request_exception());
    let e = wl
        .list_tags_for_resource()
        .resource_arn(MISSING)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_invalid_request_exception());

    let e = wl
        .delete_fleet()
        .fleet_arn(MISSING)
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    wl.delete_fleet()
        .fleet_arn(PARTNER)
        .send()
        .await
        .expect("delete");
    let e = wl
        .delete_fleet()
        .fleet_arn(PARTNER)
        .send()
        .await
        .unwrap_err();
    assert!(e.message().unwrap_or_default().contains("DELETING"));
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
