//! Secure Browser pagination through the SDK: every page, filters, sort
//! order, tokens bound to their request, expiring while paging.

mod common;

use aws_sdk_workspacesweb::operation::list_sessions::ListSessionsError;
use aws_sdk_workspacesweb::types::{SessionSortBy, SessionStatus, SessionSummary};
use aws_sdk_workspacesweb::Client;
use common::{all_pages, fails_as, sent};
use jiff::{SignedDuration, Timestamp};
use warden_emulator::web::{self, Portal, PortalStatus, Session, State};
use warden_emulator::{Fixture, RunningEmulator};

fn t0() -> Timestamp {
    "2026-11-25T00:00:00Z".parse().unwrap()
}

fn id(prefix: u32, n: usize) -> String {
    format!("{prefix:08x}-0000-4000-8000-{n:012x}")
}

fn portal_arn(n: u32) -> String {
    web::resource_arn("us-east-1", "123456789012", "portal", &id(n, 0))
}

/// Session `n`: ten users, every third one terminated, start times that
/// repeat (every 7th pair shares an instant) so the id breaks ties.
fn session(n: usize) -> Session {
    let terminated = n.is_multiple_of(3);
    let start = t0() + SignedDuration::from_secs(((n * 37) % 500) as i64 * 60);
    Session {
        session_id: id(0xabc, n),
        username: format!("user{}", n % 10),
        status: if terminated {
            web::SessionStatus::Terminated
        } else {
            web::SessionStatus::Active
        },
        start_time: start,
        end_time: terminated.then_some(start + SignedDuration::from_secs(60)),
        client_ip_addresses: vec![format!("10.0.{}.{}", n / 200, n % 200)],
    }
}

fn portal(n: u32, sessions: usize) -> Portal {
    Portal {
        arn: portal_arn(n),
        display_name: Some(format!("portal {n}")),
        status: PortalStatus::Active,
        creation_date: None,
        authentication_type: None,
        user_access_logging_settings_arn: None,
        ip_access_settings_arn: None,
        tags: Default::default(),
        sessions: (0..sessions).map(session).collect(),
    }
}

const SESSIONS: usize = 237;

async fn start() -> (RunningEmulator, Client) {
    let st = State {
        portals: (1..=5)
            .rev()
            .map(|n| portal(n, if n == 1 { SESSIONS } else { 2 }))
            .collect(),
        ..Default::default()
    };
    let emu = common::start(Fixture {
        clock: Some(t0() + SignedDuration::from_hours(24)),
        workspaces_web: st,
        ..Default::default()
    })
    .await;
    let c = common::web(&emu);
    (emu, c)
}

/// The expected order, computed independently of the emulator.
fn expected(filter: impl Fn(&Session) -> bool, descending: bool) -> Vec<String> {
    let mut all: Vec<Session> = (0..SESSIONS).map(session).filter(|s| filter(s)).collect();
    all.sort_by(|a, b| (a.start_time, &a.session_id).cmp(&(b.start_time, &b.session_id)));
    if descending {
        all.reverse();
    }
    all.into_iter().map(|s| s.session_id).collect()
}

fn ids(
    pages: &[aws_sdk_workspacesweb::operation::list_sessions::ListSessionsOutput],
) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.sessions())
        .filter_map(SessionSummary::session_id)
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn all_pages_in_start_time_order() {
    let (emu, c) = start().await;
    let portal = id(1, 0);
    let pages = all_pages!(c.list_sessions().portal_id(&portal).max_results(20));
    assert_eq!(pages.len(), SESSIONS.div_ceil(20));
    assert!(pages[..pages.len() - 1]
        .iter()
        .all(|p| p.sessions().len() == 20));
    assert_eq!(ids(&pages), expected(|_| true, false));

    let pages = all_pages!(c
        .list_sessions()
        .portal_id(&portal)
        .sort_by(SessionSortBy::StartTimeDescending)
        .max_results(50));
    assert_eq!(ids(&pages), expected(|_| true, true));
    // Without maxResults the page is 50; the call log saw the tokens.
    let pages = all_pages!(c.list_sessions().portal_id(&portal));
    assert_eq!(pages[0].sessions().len(), web::DEFAULT_PAGE_SIZE);
    let calls = emu.shared().calls.of("ListSessions");
    assert_eq!(calls.last().unwrap().params["nextToken"], true);
}

#[tokio::test]
async fn filters_apply_across_pages() {
    let (_emu, c) = start().await;
    let portal = id(1, 0);
    let pages = all_pages!(c
        .list_sessions()
        .portal_id(&portal)
        .username("user3")
        .status(SessionStatus::Active)
        .max_results(3));
    let want = expected(
        |s| s.username == "user3" && s.status == web::SessionStatus::Active,
        false,
    );
    assert!(want.len() > 6, "the filter spans several pages");
    assert_eq!(ids(&pages), want);
    assert!(pages
        .iter()
        .flat_map(|p| p.sessions())
        .all(|s| s.status() == Some(&SessionStatus::Active) && s.username() == Some("user3")));

    let one = id(0xabc, 42);
    let out = sent!(c.list_sessions().portal_id(&portal).session_id(&one));
    assert_eq!(ids(&[out]), [one]);
    let out = sent!(c.list_sessions().portal_id(&portal).username("nobody"));
    assert!(out.sessions().is_empty() && out.next_token().is_none());
}

#[tokio::test]
async fn expiring_between_pages_skips_nothing() {
    let (emu, c) = start().await;
    let portal = id(1, 0);
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = sent!(c
            .list_sessions()
            .portal_id(&portal)
            .status(SessionStatus::Active)
            .max_results(7)
            .set_next_token(token.clone()));
        for s in out.sessions() {
            let sid = s.session_id().unwrap().to_string();
            sent!(c.expire_session().portal_id(&portal).session_id(&sid));
            seen.push(sid);
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        expected(|s| s.status == web::SessionStatus::Active, false)
    );
    let st = emu.shared().web();
    let p = st.portal(&portal_arn(1)).unwrap();
    assert!(p
        .sessions
        .iter()
        .all(|s| s.status == web::SessionStatus::Terminated));
}

#[tokio::test]
async fn tokens_are_bound_to_their_request() {
    let (_emu, c) = start().await;
    let portal = id(1, 0);
    let first = sent!(c
        .list_sessions()
        .portal_id(&portal)
        .username("user1")
        .max_results(2));
    let token = first.next_token().expect("more pages").to_string();
    let bad = |e: &ListSessionsError| match e {
        ListSessionsError::ValidationException(v) => {
            v.message().is_some_and(|m| m.contains("nextToken"))
        }
        _ => false,
    };
    common::check([
        (
            "other username",
            fails_as!(
                c.list_sessions()
                    .portal_id(&portal)
                    .username("user2")
                    .next_token(&token)
                    .send(),
                e if bad(e)
            ),
        ),
        (
            "other portal",
            fails_as!(
                c.list_sessions()
                    .portal_id(id(2, 0))
                    .username("user1")
                    .next_token(&token)
                    .send(),
                e if bad(e)
            ),
        ),
        (
            "garbled",
            fails_as!(
                c.list_sessions().portal_id(&portal).next_token("bm90IGEgdG9rZW4").send(),
                e if bad(e)
            ),
        ),
    ]);
    // Another page size with the same filters is the same request.
    let next = sent!(c
        .list_sessions()
        .portal_id(&portal)
        .username("user1")
        .max_results(5)
        .next_token(&token));
    assert_eq!(next.sessions().len(), 5);
}

#[tokio::test]
async fn portals_page_in_arn_order_and_pages_are_capped() {
    let (_emu, c) = start().await;
    let pages = all_pages!(c.list_portals().max_results(2));
    assert_eq!(pages.len(), 3);
    let arns: Vec<String> = pages
        .iter()
        .flat_map(|p| p.portals())
        .map(|p| p.portal_arn().to_string())
        .collect();
    assert_eq!(arns, (1..=5).map(portal_arn).collect::<Vec<_>>());
    let big = sent!(c.list_sessions().portal_id(id(1, 0)).max_results(5000));
    assert_eq!(big.sessions().len(), web::MAX_PAGE_SIZE);
}
