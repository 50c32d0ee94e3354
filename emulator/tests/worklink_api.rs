//! Every WorkLink operation through the real `aws_sdk_worklink::Client`
//! against the emulator on loopback: success paths, returned fields, state
//! changes, the lifecycle on the emulator clock, and pagination.

#![allow(deprecated)] // the SDK marks every WorkLink call deprecated (service retired)

mod common;

use aws_sdk_worklink::operation::describe_domain::DescribeDomainOutput;
use aws_sdk_worklink::types::{DeviceStatus, DomainStatus, FleetStatus, IdentityProviderType};
use aws_sdk_worklink::Client;
use common::{advance, all_pages, assert_fields, sent};
use jiff::Timestamp;
use warden_emulator::worklink;
use warden_emulator::{Fixture, RunningEmulator};

const SAMPLE: &str = include_str!("../../events/emulator/worklink-sample.json");
const CORP: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";
const PARTNER: &str = "arn:aws:worklink::123456789012:fleet/partner-portal";
const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-demo";
const CERT: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBkDCCATWgAwIBAgIUP5shieePgtIMtMXxe2Jca4aFT+kwCgYIKoZIzj0EAwIw\n\
HTEbMBkGA1UEAwwSZGVtby1pbnRlcm5hbC1yb290MB4XDTI2MTEyMzE2NTg1NloX\n\
pZaNwjpVOIN7W+iPU1yw8zLeLHs=\n\
-----END CERTIFICATE-----\n";

fn now(emu: &RunningEmulator) -> Timestamp {
    emu.shared().clock.now()
}

fn secs(t: Option<&aws_smithy_types::DateTime>) -> i64 {
    t.expect("timestamp present").secs()
}

/// The epoch second of an RFC 3339 time.
fn at(rfc3339: &str) -> i64 {
    rfc3339.parse::<Timestamp>().unwrap().as_second()
}

async fn sample() -> (RunningEmulator, Client) {
    let emu = common::start_json(SAMPLE).await;
    let client = common::worklink(&emu);
    (emu, client)
}

fn fleet(emu: &RunningEmulator, arn: &str) -> worklink::Fleet {
    emu.shared()
        .worklink()
        .fleet(arn)
        .cloned()
        .expect("fleet in state")
}

async fn audit_stream(wl: &Client, arn: &str) -> Option<String> {
    sent!(wl.describe_audit_stream_configuration().fleet_arn(arn))
        .audit_stream_arn()
        .map(str::to_string)
}

async fn corp_domain(wl: &Client, name: &str) -> DescribeDomainOutput {
    sent!(wl.describe_domain().fleet_arn(CORP).domain_name(name))
}

#[tokio::test]
async fn create_fleet_then_settle_then_delete() {
    let emu = common::start(Fixture {
        clock: Some("2026-01-01T00:00:00Z".parse().unwrap()),
        ..Default::default()
    })
    .await;
    let wl = common::worklink(&emu);
    let t0 = now(&emu);

    let out = sent!(wl
        .create_fleet()
        .fleet_name("new-fleet")
        .display_name("New fleet")
        .optimize_for_end_user_location(true)
        .tags("env", "test"));
    let arn = out.fleet_arn().expect("FleetArn").to_string();
    assert_eq!(arn, "arn:aws:worklink::123456789012:fleet/new-fleet");

    let md = sent!(wl.describe_fleet_metadata().fleet_arn(&arn));
    assert_eq!(md.fleet_status(), Some(&FleetStatus::Creating));
    assert_fields(
        "DescribeFleetMetadata new-fleet",
        [
            ("FleetName", md.fleet_name(), Some("new-fleet")),
            ("DisplayName", md.display_name(), Some("New fleet")),
            (
                "Tags.env",
                md.tags().and_then(|t| t.get("env")).map(String::as_str),
                Some("test"),
            ),
        ],
    );
    assert_eq!(md.optimize_for_end_user_location(), Some(true));
    assert_eq!(secs(md.created_time()), t0.as_second());
    assert!(md
        .company_code()
        .is_some_and(|c| !c.is_empty() && c.len() <= 32));

    // The service provider metadata exists from the start.
    let idp = sent!(wl
        .describe_identity_provider_configuration()
        .fleet_arn(&arn));
    assert!(idp
        .service_provider_saml_metadata()
        .is_some_and(|m| m.contains("EntityDescriptor")));
    assert_eq!(idp.identity_provider_type(), None);

    // Still CREATING just before the delay, ACTIVE after it.
    advance(&emu, 59);
    let md = sent!(wl.describe_fleet_metadata().fleet_arn(&arn));
    assert_eq!(md.fleet_status(), Some(&FleetStatus::Creating));
    advance(&emu, 1);
    let md = sent!(wl.describe_fleet_metadata().fleet_arn(&arn));
    assert_eq!(md.fleet_status(), Some(&FleetStatus::Active));
    assert_eq!(secs(md.last_updated_time()), t0.as_second() + 60);

    sent!(wl.delete_fleet().fleet_arn(&arn));
    let listed = sent!(wl.list_fleets());
    assert_eq!(listed.fleet_summary_list().len(), 1);
    assert_eq!(
        listed.fleet_summary_list()[0].fleet_status(),
        Some(&FleetStatus::Deleting)
    );
    advance(&emu, 60);
    assert!(sent!(wl.list_fleets()).fleet_summary_list().is_empty());
    assert!(emu.shared().worklink().fleets.is_empty());
}

#[tokio::test]
async fn list_fleets_and_fleet_metadata() {
    let (emu, wl) = sample().await;
    let out = sent!(wl.list_fleets());
    assert_eq!(out.next_token(), None);
    let list = out.fleet_summary_list();
    let arns: Vec<_> = list.iter().filter_map(|f| f.fleet_arn()).collect();
    assert_eq!(arns, [CORP, PARTNER]);
    let corp = &list[0];
    assert_fields(
        "ListFleets corp-mobile",
        [
            ("FleetName", corp.fleet_name(), Some("corp-mobile")),
            ("DisplayName", corp.display_name(), Some("Corporate mobile")),
            ("CompanyCode", corp.company_code(), Some("c0rpm0b1le01")),
        ],
    );
    assert_eq!(corp.fleet_status(), Some(&FleetStatus::Active));
    assert_eq!(secs(corp.created_time()), at("2025-03-01T09:00:00Z"));
    assert_eq!(corp.tags().map(|t| t.len()), Some(2));

    sent!(wl
        .update_fleet_metadata()
        .fleet_arn(PARTNER)
        .display_name("Partners")
        .optimize_for_end_user_location(true));
    let md = sent!(wl.describe_fleet_metadata().fleet_arn(PARTNER));
    assert_eq!(md.display_name(), Some("Partners"));
    assert_eq!(md.optimize_for_end_user_location(), Some(true));
    assert_eq!(secs(md.last_updated_time()), now(&emu).as_second());

    // DisplayName left out (null) unsets it; the flag stays as it was.
    sent!(wl.update_fleet_metadata().fleet_arn(PARTNER));
    let f = fleet(&emu, PARTNER);
    assert_eq!(f.display_name, None);
    assert!(f.optimize_for_end_user_location);
}

#[tokio::test]
async fn audit_stream_configuration() {
    let (emu, wl) = sample().await;
    for (arn, want) in [(CORP, Some(STREAM)), (PARTNER, None)] {
        assert_eq!(audit_stream(&wl, arn).await.as_deref(), want, "{arn}");
    }

    let other = "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-partner";
    sent!(wl
        .update_audit_stream_configuration()
        .fleet_arn(PARTNER)
        .audit_stream_arn(other));
    assert_eq!(
        fleet(&emu, PARTNER).audit_stream_arn.as_deref(),
        Some(other)
    );

    // No AuditStreamArn turns the stream off.
    sent!(wl.update_audit_stream_configuration().fleet_arn(CORP));
    assert_eq!(fleet(&emu, CORP).audit_stream_arn, None);
    assert_eq!(audit_stream(&wl, CORP).await, None);
}

#[tokio::test]
async fn company_network_configuration() {
    let (emu, wl) = sample().await;
    let out = sent!(wl.describe_company_network_configuration().fleet_arn(CORP));
    assert_eq!(out.vpc_id(), Some("vpc-0a1b2c3d"));
    assert_eq!(
        out.subnet_ids(),
        ["subnet-0a1b2c3d", "subnet-0123456789abcdef0"]
    );
    assert_eq!(out.security_group_ids(), ["sg-0a1b2c3d"]);

    let out = sent!(wl
        .describe_company_network_configuration()
        .fleet_arn(PARTNER));
    assert_eq!(out.vpc_id(), None);

    sent!(wl
        .update_company_network_configuration()
        .fleet_arn(PARTNER)
        .vpc_id("vpc-0123456789abcdef0")
        .subnet_ids("subnet-11112222")
        .security_group_ids("sg-33334444")
        .security_group_ids("sg-55556666"));
    let net = fleet(&emu, PARTNER).company_network.expect("network set");
    assert_eq!(net.vpc_id, "vpc-0123456789abcdef0");
    assert_eq!(net.subnet_ids, ["subnet-11112222"]);
    assert_eq!(net.security_group_ids, ["sg-33334444", "sg-55556666"]);
}

#[tokio::test]
async fn device_policy_configuration() {
    let (emu, wl) = sample().await;
    let out = sent!(wl.describe_device_policy_configuration().fleet_arn(CORP));
    assert!(out
        .device_ca_certificate()
        .is_some_and(|c| c.starts_with("-----BEGIN CERTIFICATE-----")));

    let chain = format!("{CERT}{CERT}");
    sent!(wl
        .update_device_policy_configuration()
        .fleet_arn(PARTNER)
        .device_ca_certificate(&chain));
    let out = sent!(wl.describe_device_policy_configuration().fleet_arn(PARTNER));
    assert_eq!(out.device_ca_certificate(), Some(chain.as_str()));

    sent!(wl.update_device_policy_configuration().fleet_arn(CORP));
    assert_eq!(fleet(&emu, CORP).device_ca_certificate, None);
}

#[tokio::test]
async fn identity_provider_configuration() {
    let (emu, wl) = sample().await;
    let out = sent!(wl
        .describe_identity_provider_configuration()
        .fleet_arn(CORP));
    assert_eq!(
        out.identity_provider_type(),
        Some(&IdentityProviderType::Saml)
    );
    assert!(out
        .identity_provider_saml_metadata()
        .is_some_and(|m| m.contains("idp.example.com")));
    assert!(out.service_provider_saml_metadata().is_some());

    sent!(wl
        .update_identity_provider_configuration()
        .fleet_arn(PARTNER)
        .identity_provider_type(IdentityProviderType::Saml)
        .identity_provider_saml_metadata("<EntityDescriptor entityID=\"partner-idp\"/>"));
    let idp = fleet(&emu, PARTNER).identity_provider;
    assert_eq!(idp.r#type.as_deref(), Some("SAML"));
    assert_eq!(
        idp.saml_metadata.as_deref(),
        Some("<EntityDescriptor entityID=\"partner-idp\"/>")
    );
}

#[tokio::test]
async fn devices_and_sign_out() {
    let (emu, wl) = sample().await;
    let out = sent!(wl.list_devices().fleet_arn(CORP));
    let ids: Vec<_> = out.devices().iter().filter_map(|d| d.device_id()).collect();
    assert_eq!(
        ids,
        [
            "dev-alice-ipad",
            "dev-alice-iphone",
            "dev-bob-iphone",
            "dev-carol-iphone",
            "dev-dave-pixel"
        ]
    );
    assert_eq!(
        out.devices()[3].device_status(),
        Some(&DeviceStatus::SignedOut)
    );

    let d = sent!(wl
        .describe_device()
        .fleet_arn(CORP)
        .device_id("dev-bob-iphone"));
    assert_eq!(d.status(), Some(&DeviceStatus::Active));
    let what = "DescribeDevice dev-bob-iphone";
    assert_fields(
        what,
        [
            ("Username", d.username(), Some("bob")),
            ("Manufacturer", d.manufacturer(), Some("Apple")),
            ("Model", d.model(), Some("iPhone10,4")),
            ("OperatingSystem", d.operating_system(), Some("iOS")),
            (
                "OperatingSystemVersion",
                d.operating_system_version(),
                Some("15.8"),
            ),
            ("PatchLevel", d.patch_level(), Some("2023-10-25")),
        ],
    );
    assert_fields(
        what,
        [
            (
                "FirstAccessedTime",
                secs(d.first_accessed_time()),
                at("2025-03-05T08:00:00Z"),
            ),
            (
                "LastAccessedTime",
                secs(d.last_accessed_time()),
                at("2026-11-22T09:45:00Z"),
            ),
        ],
    );

    sent!(wl.sign_out_user().fleet_arn(CORP).username("alice"));
    let f = fleet(&emu, CORP);
    for (id, want) in [
        ("dev-alice-iphone", worklink::DeviceStatus::SignedOut),
        ("dev-alice-ipad", worklink::DeviceStatus::SignedOut),
        ("dev-bob-iphone", worklink::DeviceStatus::Active),
        ("dev-dave-pixel", worklink::DeviceStatus::Active),
    ] {
        let got = f
            .devices
            .iter()
            .find(|d| d.device_id == id)
            .map(|d| d.status);
        assert_eq!(got, Some(want), "{id}");
    }
    // The other fleet is untouched.
    assert!(fleet(&emu, PARTNER)
        .devices
        .iter()
        .any(|d| d.status == worklink::DeviceStatus::Active));

    // Signing out again is fine (idempotent), and the call log has both.
    sent!(wl.sign_out_user().fleet_arn(CORP).username("alice"));
    let calls = emu.shared().calls.of("SignOutUser");
    assert_eq!(calls.len(), 2);
    assert!(calls
        .iter()
        .all(|c| c.ok() && c.status == 200 && !c.injected));
    assert_eq!(
        calls[0].params,
        serde_json::json!({ "FleetArn": CORP, "Username": "alice" })
    );
}

#[tokio::test]
async fn domain_lifecycle() {
    let (emu, wl) = sample().await;
    let t0 = now(&emu);
    let acm = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555";
    sent!(wl
        .associate_domain()
        .fleet_arn(CORP)
        .domain_name("crm.example.com")
        .display_name("CRM")
        .acm_certificate_arn(acm));

    let d = corp_domain(&wl, "crm.example.com").await;
    assert_eq!(d.domain_status(), Some(&DomainStatus::Associating));
    assert_fields(
        "DescribeDomain crm.example.com",
        [
            ("DisplayName", d.display_name(), Some("CRM")),
            ("DomainName", d.domain_name(), Some("crm.example.com")),
            ("AcmCertificateArn", d.acm_certificate_arn(), Some(acm)),
        ],
    );
    assert_eq!(secs(d.created_time()), t0.as_second());

    advance(&emu, 60);
    let d = corp_domain(&wl, "crm.example.com").await;
    assert_eq!(d.domain_status(), Some(&DomainStatus::Active));

    sent!(wl
        .update_domain_metadata()
        .fleet_arn(CORP)
        .domain_name("crm.example.com")
        .display_name("Customer relations"));
    sent!(wl
        .revoke_domain_access()
        .fleet_arn(CORP)
        .domain_name("crm.example.com"));
    let listed = sent!(wl.list_domains().fleet_arn(CORP));
    let crm = listed
        .domains()
        .iter()
        .find(|d| d.domain_name() == "crm.example.com")
        .expect("listed");
    assert_eq!(crm.domain_status(), &DomainStatus::Inactive);
    assert_eq!(crm.display_name(), Some("Customer relations"));

    sent!(wl
        .restore_domain_access()
        .fleet_arn(CORP)
        .domain_name("crm.example.com"));
    let stored = |emu: &RunningEmulator| {
        fleet(emu, CORP)
            .domains
            .into_iter()
            .find(|d| d.domain_name == "crm.example.com")
            .unwrap()
    };
    assert_eq!(stored(&emu).status, worklink::DomainStatus::Active);

    sent!(wl
        .disassociate_domain()
        .fleet_arn(CORP)
        .domain_name("crm.example.com"));
    assert_eq!(stored(&emu).status, worklink::DomainStatus::Disassociating);
    advance(&emu, 60);
    emu.shared().worklink().settle(now(&emu));
    assert_eq!(stored(&emu).status, worklink::DomainStatus::Disassociated);

    // A disassociated domain can be associated again.
    sent!(wl
        .associate_domain()
        .fleet_arn(CORP)
        .domain_name("crm.example.com")
        .acm_certificate_arn(acm));
    assert_eq!(stored(&emu).status, worklink::DomainStatus::Associating);

    // The sample's ASSOCIATING domain settles at its scheduled time (12:30).
    let jira = || async {
        corp_domain(&wl, "jira.example.com")
            .await
            .domain_status()
            .cloned()
    };
    assert_eq!(jira().await, Some(DomainStatus::Associating));
    emu.shared()
        .clock
        .set(Some("2026-11-23T12:30:00Z".parse().unwrap()));
    assert_eq!(jira().await, Some(DomainStatus::Active));
}

#[tokio::test]
async fn website_certificate_authorities() {
    let (emu, wl) = sample().await;
    let out = sent!(wl
        .associate_website_certificate_authority()
        .fleet_arn(PARTNER)
        .certificate(CERT)
        .display_name("Partner root"));
    let id = out.website_ca_id().expect("WebsiteCaId").to_string();

    let d = sent!(wl
        .describe_website_certificate_authority()
        .fleet_arn(PARTNER)
        .website_ca_id(&id));
    assert_eq!(d.certificate(), Some(CERT));
    assert_eq!(d.display_name(), Some("Partner root"));
    assert_eq!(secs(d.created_time()), now(&emu).as_second());

    let listed = sent!(wl.list_website_certificate_authorities().fleet_arn(PARTNER));
    let ids: Vec<_> = listed
        .website_certificate_authorities()
        .iter()
        .filter_map(|c| c.website_ca_id())
        .collect();
    assert_eq!(ids, [id.as_str()]);
    assert_eq!(
        listed.website_certificate_authorities()[0].display_name(),
        Some("Partner root")
    );

    sent!(wl
        .disassociate_website_certificate_authority()
        .fleet_arn(PARTNER)
        .website_ca_id(&id));
    assert!(fleet(&emu, PARTNER)
        .website_certificate_authorities
        .is_empty());
}

#[tokio::test]
async fn website_authorization_providers() {
    let (emu, wl) = sample().await;
    let out = sent!(wl
        .associate_website_authorization_provider()
        .fleet_arn(CORP)
        .authorization_provider_type(aws_sdk_worklink::types::AuthorizationProviderType::Saml)
        .domain_name("auth.example.com"));
    let id = out
        .authorization_provider_id()
        .expect("AuthorizationProviderId")
        .to_string();
    let listed = sent!(wl.list_website_authorization_providers().fleet_arn(CORP));
    let p = &listed.website_authorization_providers()[0];
    assert_eq!(p.authorization_provider_id(), Some(id.as_str()));
    assert_eq!(p.domain_name(), Some("auth.example.com"));
    assert_eq!(secs(p.created_time()), now(&emu).as_second());

    sent!(wl
        .disassociate_website_authorization_provider()
        .fleet_arn(CORP)
        .authorization_provider_id(&id));
    assert!(fleet(&emu, CORP).website_authorization_providers.is_empty());
}

#[tokio::test]
async fn fleet_tags() {
    let (emu, wl) = sample().await;
    let out = sent!(wl.list_tags_for_resource().resource_arn(CORP));
    let tags = out.tags().expect("tags");
    assert_eq!(tags.get("env").map(String::as_str), Some("demo"));
    assert_eq!(tags.len(), 2);

    sent!(wl
        .tag_resource()
        .resource_arn(CORP)
        .tags("owner", "secops")
        .tags("env", "prod"));
    sent!(wl.untag_resource().resource_arn(CORP).tag_keys("team"));
    let f = fleet(&emu, CORP);
    let got: Vec<_> = f
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, [("env", "prod"), ("owner", "secops")]);
    let calls = emu.shared().calls.of("UntagResource");
    assert_eq!(
        calls[0].params,
        serde_json::json!({ "ResourceArn": CORP, "TagKeys": ["team"] })
    );
}

/// Puts `n` devices (`dev-000` ...) into a fresh fleet.
fn many_devices(n: usize) -> Fixture {
    let mut fx = Fixture::from_json(SAMPLE).expect("sample loads");
    let f = &mut fx.worklink.fleets[1];
    let template = f.devices[0].clone();
    f.devices = (0..n)
        .rev()
        .map(|i| worklink::Device {
            device_id: format!("dev-{i:03}"),
            username: format!("user{}", i % 7),
            ..template.clone()
        })
        .collect();
    fx
}

#[tokio::test]
async fn pagination_walks_every_page_in_order() {
    let emu = common::start(many_devices(23)).await;
    let wl = common::worklink(&emu);

    // By hand, 5 per page: 5 pages, the last one short.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = sent!(wl
            .list_devices()
            .fleet_arn(PARTNER)
            .max_results(5)
            .set_next_token(token.clone()));
        pages += 1;
        assert!(out.devices().len() <= 5);
        seen.extend(
            out.devices()
                .iter()
                .filter_map(|d| d.device_id())
                .map(str::to_string),
        );
        match out.next_token() {
            Some(t) => {
                assert!(t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
                token = Some(t.to_string());
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let expected: Vec<String> = (0..23).map(|i| format!("dev-{i:03}")).collect();
    assert_eq!(seen, expected);

    // The SDK paginator sees the same.
    let pages = all_pages!(wl.list_devices().fleet_arn(PARTNER).max_results(10));
    assert_eq!(pages.len(), 3);
    let via_paginator: Vec<String> = pages
        .iter()
        .flat_map(|p| p.devices().iter().filter_map(|d| d.device_id()))
        .map(str::to_string)
        .collect();
    assert_eq!(via_paginator, expected);
}

#[tokio::test]
async fn default_and_maximum_page_sizes() {
    let emu = common::start(many_devices(130)).await;
    let wl = common::worklink(&emu);
    let out = sent!(wl.list_devices().fleet_arn(PARTNER));
    assert_eq!(out.devices().len(), worklink::DEFAULT_PAGE_SIZE);
    assert!(out.next_token().is_some());
    let out = sent!(wl.list_devices().fleet_arn(PARTNER).max_results(1000));
    assert_eq!(out.devices().len(), worklink::MAX_PAGE_SIZE);
    let rest = sent!(wl
        .list_devices()
        .fleet_arn(PARTNER)
        .max_results(1000)
        .next_token(out.next_token().unwrap()));
    assert_eq!(rest.devices().len(), 30);
    assert_eq!(rest.next_token(), None);
}

#[tokio::test]
async fn pagination_of_domains_fleets_and_cas() {
    let (_emu, wl) = sample().await;
    let pages = all_pages!(wl.list_domains().fleet_arn(CORP).max_results(4));
    let names: Vec<&str> = pages
        .iter()
        .flat_map(|p| p.domains().iter().map(|d| d.domain_name()))
        .collect();
    assert_eq!(pages.len(), 2);
    assert_eq!(
        names,
        [
            "intranet.example.com",
            "jira.example.com",
            "legacy.example.com",
            "newapp.example.com",
            "payroll.example.com",
            "wiki.example.com"
        ]
    );

    let pages = all_pages!(wl.list_fleets().max_results(1));
    let arns: Vec<_> = pages
        .iter()
        .flat_map(|p| p.fleet_summary_list().iter().filter_map(|f| f.fleet_arn()))
        .collect();
    assert_eq!(arns, [CORP, PARTNER]);

    // The sample fleet has one CA; add a second.
    sent!(wl
        .associate_website_certificate_authority()
        .fleet_arn(CORP)
        .certificate(CERT.replace("LHs=", "LHt=")));
    let cas = |token: Option<String>| {
        wl.list_website_certificate_authorities()
            .fleet_arn(CORP)
            .max_results(1)
            .set_next_token(token)
    };
    let first = sent!(cas(None));
    assert_eq!(first.website_certificate_authorities().len(), 1);
    let second = sent!(cas(Some(first.next_token().expect("more CAs").to_string())));
    assert_eq!(second.website_certificate_authorities().len(), 1);
    assert_eq!(second.next_token(), None);
    assert_ne!(
        first.website_certificate_authorities()[0].website_ca_id(),
        second.website_certificate_authorities()[0].website_ca_id()
    );
}

#[tokio::test]
async fn real_clock_timestamps_parse() {
    // No fixed clock: times carry fractional seconds on the wire.
    let emu = common::start(Fixture::default()).await;
    let wl = common::worklink(&emu);
    let before = Timestamp::now().as_second();
    let arn = sent!(wl.create_fleet().fleet_name("live"))
        .fleet_arn()
        .unwrap()
        .to_string();
    let md = sent!(wl.describe_fleet_metadata().fleet_arn(&arn));
    let created = secs(md.created_time());
    assert!(
        (before..=before + 5).contains(&created),
        "{created} vs {before}"
    );
}

/// Guards the promise of this file: every operation the emulator serves is
/// called above through the SDK.
#[test]
fn every_operation_has_a_round_trip_here() {
    let source = include_str!("worklink_api.rs");
    for op in worklink::OPERATIONS {
        let mut snake = String::new();
        for (i, c) in op.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        }
        let call = format!(".{snake}()");
        assert!(source.contains(&call), "no SDK call {call} for {op}");
    }
}
