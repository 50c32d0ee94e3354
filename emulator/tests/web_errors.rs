//! Secure Browser's typed errors as the SDK sees them, and their HTTP form.

mod common;

use aws_sdk_workspacesweb::operation::associate_user_access_logging_settings::AssociateUserAccessLoggingSettingsError as AssocErr;
use aws_sdk_workspacesweb::operation::create_ip_access_settings::CreateIpAccessSettingsError as CreateIpErr;
use aws_sdk_workspacesweb::operation::create_user_access_logging_settings::CreateUserAccessLoggingSettingsError as CreateLogErr;
use aws_sdk_workspacesweb::operation::delete_user_access_logging_settings::DeleteUserAccessLoggingSettingsError as DeleteLogErr;
use aws_sdk_workspacesweb::operation::disassociate_ip_access_settings::DisassociateIpAccessSettingsError as DisassocIpErr;
use aws_sdk_workspacesweb::operation::expire_session::ExpireSessionError;
use aws_sdk_workspacesweb::operation::get_portal::GetPortalError;
use aws_sdk_workspacesweb::operation::get_session::GetSessionError;
use aws_sdk_workspacesweb::operation::list_sessions::ListSessionsError;
use aws_sdk_workspacesweb::operation::tag_resource::TagResourceError;
use aws_sdk_workspacesweb::operation::update_ip_access_settings::UpdateIpAccessSettingsError as UpdateIpErr;
use aws_sdk_workspacesweb::types::{IpRule, SessionStatus, Tag};
use common::{check, fails_as, sent};
use warden_emulator::{Fixture, RunningEmulator};

const SAMPLE: &str = include_str!("../../events/emulator/web-sample.json");
const PORTAL_A: &str =
    "arn:aws:workspaces-web:us-east-1:123456789012:portal/11111111-1111-4111-8111-111111111111";
const PORTAL_B: &str =
    "arn:aws:workspaces-web:us-east-1:123456789012:portal/22222222-2222-4222-8222-222222222222";
const MISSING: &str =
    "arn:aws:workspaces-web:us-east-1:123456789012:portal/99999999-9999-4999-8999-999999999999";
const ID_A: &str = "11111111-1111-4111-8111-111111111111";
const ID_B: &str = "22222222-2222-4222-8222-222222222222";
const SESSION: &str = "a0000000-0000-4000-8000-000000000001";
const LOGGING: &str = "arn:aws:workspaces-web:us-east-1:123456789012:userAccessLoggingSettings/aaaaaaaa-0000-4000-8000-000000000001";

async fn start_with(edit: impl FnOnce(&mut serde_json::Value)) -> RunningEmulator {
    let mut doc: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    edit(&mut doc);
    common::start(Fixture::from_json(&doc.to_string()).expect("fixture")).await
}

/// Does a validation error's message (and field list) name `field`?
macro_rules! names_field {
    ($e:expr, $field:expr) => {
        $e.message().is_some_and(|m| m.contains($field))
            && $e.field_list().iter().any(|f| f.name() == $field)
    };
}

#[tokio::test]
async fn unknown_portals_and_sessions_are_not_found() {
    let emu = start_with(|_| {}).await;
    let c = common::web(&emu);
    check([
        (
            "GetPortal, unknown ARN",
            fails_as!(c.get_portal().portal_arn(MISSING).send(),
                GetPortalError::ResourceNotFoundException(e) if e.resource_id() == Some(MISSING)),
        ),
        (
            "ListSessions, unknown portal",
            fails_as!(c.list_sessions().portal_id("99999999-9999-4999-8999-999999999999").send(),
                ListSessionsError::ResourceNotFoundException(_)),
        ),
        (
            "GetSession, unknown session",
            fails_as!(c.get_session().portal_id(ID_B).session_id(SESSION).send(),
                GetSessionError::ResourceNotFoundException(e) if e.resource_type() == Some("session")),
        ),
        (
            "ExpireSession, unknown session",
            fails_as!(c.expire_session().portal_id(ID_B).session_id(SESSION).send(),
                ExpireSessionError::ResourceNotFoundException(_)),
        ),
        (
            "Associate, unknown settings",
            fails_as!(c.associate_user_access_logging_settings().portal_arn(PORTAL_B)
                .user_access_logging_settings_arn(LOGGING.replace("aaaaaaaa", "cccccccc")).send(),
                AssocErr::ResourceNotFoundException(_)),
        ),
        (
            "UpdateIpAccessSettings, unknown settings",
            fails_as!(c.update_ip_access_settings()
                .ip_access_settings_arn("arn:aws:workspaces-web:us-east-1:123456789012:ipAccessSettings/bbbbbbbb-0000-4000-8000-00000000dead")
                .display_name("x").send(),
                UpdateIpErr::ResourceNotFoundException(_)),
        ),
        (
            "TagResource, unknown resource",
            fails_as!(c.tag_resource().resource_arn(MISSING)
                .tags(Tag::builder().key("k").value("v").build().unwrap()).send(),
                TagResourceError::ResourceNotFoundException(_)),
        ),
    ]);
    // Nothing changed on the way.
    assert!(emu.shared().calls.snapshot().iter().all(|c| !c.ok()));
}

#[tokio::test]
async fn inputs_are_validated_as_the_model_says() {
    let emu = start_with(|_| {}).await;
    let c = common::web(&emu);
    let short = &SESSION[1..];
    check([
        (
            "35-character session id",
            fails_as!(c.expire_session().portal_id(ID_A).session_id(short).send(),
                ExpireSessionError::ValidationException(e) if names_field!(e, "sessionId")),
        ),
        (
            "35-character portal id",
            fails_as!(c.list_sessions().portal_id(&ID_A[1..]).send(),
                ListSessionsError::ValidationException(e) if names_field!(e, "portalId")),
        ),
        (
            "unknown status",
            fails_as!(c.list_sessions().portal_id(ID_A).status(SessionStatus::from("Paused")).send(),
                ListSessionsError::ValidationException(e) if names_field!(e, "status")),
        ),
        (
            "maxResults 0",
            fails_as!(c.list_sessions().portal_id(ID_A).max_results(0).send(),
                ListSessionsError::ValidationException(e) if names_field!(e, "maxResults")),
        ),
        (
            "portal ARN that is not one",
            fails_as!(c.get_portal().portal_arn("arn:aws:workspaces-web:us-east-1:123456789012:portal/xyz").send(),
                GetPortalError::ValidationException(e) if names_field!(e, "portalArn")),
        ),
        (
            "stream without the amazon-workspaces-web- prefix",
            fails_as!(c.create_user_access_logging_settings()
                .kinesis_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-audit").send(),
                CreateLogErr::ValidationException(e)
                    if names_field!(e, "kinesisStreamArn")
                        && e.message().unwrap().contains("amazon-workspaces-web-")),
        ),
        (
            "not a Kinesis stream",
            fails_as!(c.create_user_access_logging_settings()
                .kinesis_stream_arn("arn:aws:sqs:us-east-1:123456789012:amazon-workspaces-web-q").send(),
                CreateLogErr::ValidationException(e) if names_field!(e, "kinesisStreamArn")),
        ),
        (
            "bad IP range",
            fails_as!(c.create_ip_access_settings()
                .ip_rules(IpRule::builder().ip_range("10.0.0.0/40").build().unwrap()).send(),
                CreateIpErr::ValidationException(e) if names_field!(e, "ipRules[0].ipRange")),
        ),
        (
            "display name over 64",
            fails_as!(c.create_ip_access_settings().display_name("x".repeat(65))
                .ip_rules(IpRule::builder().ip_range("10.0.0.0/8").build().unwrap()).send(),
                CreateIpErr::ValidationException(e) if names_field!(e, "displayName")),
        ),
        (
            "tag key with a star",
            fails_as!(c.tag_resource().resource_arn(PORTAL_A)
                .tags(Tag::builder().key("bad*key").value("v").build().unwrap()).send(),
                TagResourceError::ValidationException(e) if names_field!(e, "tags[0].Key")),
        ),
    ]);
    assert!(emu.shared().web().user_access_logging_settings.len() == 1);
    assert!(emu.shared().web().ip_access_settings.len() == 1);
}

#[tokio::test]
async fn conflicts_quotas_tags_and_access() {
    let emu = start_with(|doc| {
        let web = &mut doc["workspaces_web"];
        web["access_denied"] =
            serde_json::json!([{ "operations": ["ExpireSession"], "resources": [ID_B] }]);
        web["limits"] =
            serde_json::json!({ "max_user_access_logging_settings": 1, "max_ip_access_settings": 5 });
    })
    .await;
    let c = common::web(&emu);
    let tags: Vec<Tag> = (0..50)
        .map(|i| {
            Tag::builder()
                .key(format!("k{i}"))
                .value("v")
                .build()
                .unwrap()
        })
        .collect();
    check([
        (
            "delete settings a portal uses",
            fails_as!(c.delete_user_access_logging_settings().user_access_logging_settings_arn(LOGGING).send(),
                DeleteLogErr::ConflictException(e) if e.resource_id() == Some(LOGGING)),
        ),
        (
            "disassociate from a portal without settings",
            fails_as!(
                c.disassociate_ip_access_settings()
                    .portal_arn(PORTAL_B)
                    .send(),
                DisassocIpErr::ConflictException(_)
            ),
        ),
        (
            "one settings too many",
            fails_as!(
                c.create_user_access_logging_settings()
                    .kinesis_stream_arn(
                        "arn:aws:kinesis:us-east-1:123456789012:stream/amazon-workspaces-web-2"
                    )
                    .send(),
                CreateLogErr::ServiceQuotaExceededException(_)
            ),
        ),
        (
            "51 tags",
            fails_as!(c.tag_resource().resource_arn(PORTAL_A).set_tags(Some(tags)).send(),
                TagResourceError::TooManyTagsException(e) if e.resource_name() == Some(PORTAL_A)),
        ),
        (
            "denied on portal B",
            fails_as!(
                c.expire_session()
                    .portal_id(ID_B)
                    .session_id("b0000000-0000-4000-8000-000000000001")
                    .send(),
                ExpireSessionError::AccessDeniedException(_)
            ),
        ),
    ]);
    // The same call on portal A is allowed; portal A kept its one tag.
    sent!(c.expire_session().portal_id(ID_A).session_id(SESSION));
    let st = emu.shared().web();
    assert_eq!(st.portal(PORTAL_A).unwrap().tags.len(), 1);
    assert_eq!(st.user_access_logging_settings.len(), 1);
}

#[tokio::test]
async fn errors_on_the_wire() {
    let emu = start_with(|_| {}).await;
    let header = |h: &[(String, String)], name: &str| {
        h.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let path = format!("/portals/{ID_B}/sessions/{SESSION}");
    let (status, headers, body) = common::http(&emu, "DELETE", &path, "", b"").await;
    assert_eq!(status, 404);
    assert_eq!(
        header(&headers, "x-amzn-errortype"),
        "ResourceNotFoundException"
    );
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["resourceId"], SESSION);
    assert!(body["message"].as_str().unwrap().contains(SESSION));

    let logging = LOGGING.replace(':', "%3A");
    let (status, headers, _) = common::http(
        &emu,
        "DELETE",
        &format!("/userAccessLoggingSettings/{logging}"),
        "",
        b"",
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(header(&headers, "x-amzn-errortype"), "ConflictException");

    let (status, headers, _) = common::http(&emu, "PUT", "/portals", "", b"").await;
    assert_eq!(status, 404);
    assert_eq!(
        header(&headers, "x-amzn-errortype"),
        "UnknownOperationException"
    );

    let (status, _, body) = common::http(
        &emu,
        "POST",
        "/ipAccessSettings",
        "application/json",
        b"{oops",
    )
    .await;
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["reason"], "cannotParse");
}
