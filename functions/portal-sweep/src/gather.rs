//! Gathering, per configured portal: GetPortal, GetUserAccessLoggingSettings
//! (the stream its settings send to), ListSessions (status `Active`, every
//! page) and, only when a rule reads `client_ips`, GetSession per session;
//! turned into the [`Resource`] views rules run on. Every call goes through
//! [`Sweeper::call`]: SDK retries first, then extra rounds for what is still
//! throttled, all within the invocation's remaining time.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_workspacesweb::types::{SessionStatus, SessionSummary};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use jiff::Timestamp;

use super::report::{Failure, Finding, PortalReport};
use super::Sweeper;
use warden_core::aws::deadline::{classify, run_bounded, CallFailure, Deadline, FailureKind, Ran};
use warden_core::policy::OnKind;
use warden_core::resource::{portal_id, Portal, Resource, Session};

/// The session field whose rules need GetSession.
pub(crate) const CLIENT_IPS: &str = "client_ips";

/// API calls made, by operation (each round of [`Sweeper::call`] counts).
#[derive(Debug, Default)]
pub(crate) struct CallStats {
    calls: Mutex<BTreeMap<&'static str, u64>>,
}

impl CallStats {
    fn add(&self, op: &'static str) {
        let mut m = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(op).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What one portal's gathering produced.
pub(crate) struct Gathered {
    pub report: PortalReport,
    pub resources: Vec<Resource>,
}

fn ts(t: &aws_smithy_types::DateTime) -> Option<Timestamp> {
    Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok()
}

fn failure(operation: &str, subject: impl Into<String>, f: CallFailure) -> Failure {
    Failure {
        operation: operation.to_owned(),
        subject: subject.into(),
        kind: f.kind,
        code: f.code,
        message: f.message,
    }
}

/// A session as ListSessions gives it (no client addresses).
fn session_view(portal_arn: &str, s: &SessionSummary) -> Option<Session> {
    let id = s.session_id().filter(|id| !id.is_empty())?;
    Some(Session {
        portal_arn: portal_arn.to_owned(),
        session_id: id.to_owned(),
        user: s.username().map(str::to_owned),
        status: s.status().map(|x| x.as_str().to_owned()),
        start_time: s.start_time().and_then(ts),
        end_time: s.end_time().and_then(ts),
        client_ips: Vec::new(),
    })
}

impl Sweeper {
    /// One API call: the SDK retries it (standard mode); a failure that is
    /// still transient (throttling, 5xx, timeout) gets up to `retry_rounds`
    /// more rounds with a growing pause, while time is left. The whole
    /// thing never outlives the deadline.
    pub(crate) async fn call<T, E, Fut>(
        &self,
        op: &'static str,
        deadline: Deadline,
        stats: &CallStats,
        f: impl Fn() -> Fut,
    ) -> Result<T, CallFailure>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut round = 0u32;
        loop {
            if !deadline.can_start() {
                return Err(CallFailure::out_of_time(op));
            }
            stats.add(op);
            let Some(result) = deadline.bound(f()).await else {
                return Err(CallFailure::out_of_time(op));
            };
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => classify(&e),
            };
            if err.kind == FailureKind::Permanent || round >= self.config.retry_rounds {
                return Err(err);
            }
            round += 1;
            let pause = self
                .config
                .retry_pause
                .saturating_mul(1 << (round - 1).min(8))
                .min(Duration::from_secs(2));
            if deadline.remaining().is_some_and(|left| left <= pause) {
                return Err(err);
            }
            tracing::debug!(operation = op, round, code = %err.code, "retrying after transient failure");
            tokio::time::sleep(pause).await;
        }
    }

    /// Everything about one portal. A part that fails contributes no
    /// resources, so no rule ever acts on a half-read view: a portal whose
    /// logging settings cannot be read is not judged on them, a portal whose
    /// sessions cannot all be listed has none of them judged.
    pub(crate) async fn gather_portal(
        &self,
        arn: &str,
        deadline: Deadline,
        stats: &CallStats,
    ) -> Gathered {
        let mut report = PortalReport {
            portal_arn: arn.to_owned(),
            ..PortalReport::default()
        };
        let mut resources = Vec::new();
        let got = self
            .call("GetPortal", deadline, stats, || {
                self.web.get_portal().portal_arn(arn).send()
            })
            .await;
        let out = match got {
            Ok(out) => out,
            Err(f) => {
                report.failures.push(failure("GetPortal", "portal", f));
                return Gathered { report, resources };
            }
        };
        let Some(p) = out.portal() else {
            report.failures.push(Failure {
                operation: "GetPortal".into(),
                subject: "portal".into(),
                kind: FailureKind::Transient,
                code: "EmptyResponse".into(),
                message: "GetPortal returned no portal".into(),
            });
            return Gathered { report, resources };
        };
        let mut portal = Portal {
            portal_arn: arn.to_owned(),
            display_name: p.display_name().map(str::to_owned),
            status: p.portal_status().map(|s| s.as_str().to_owned()),
            authentication_type: p.authentication_type().map(|s| s.as_str().to_owned()),
            created: p.creation_date().and_then(ts),
            access_logging_settings_arn: p
                .user_access_logging_settings_arn()
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
            access_log_stream_arn: None,
            ip_access_settings_arn: p
                .ip_access_settings_arn()
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
        };
        report.display_name = portal.display_name.clone();
        report.status = portal.status.clone();
        report.access_logging_settings_arn = portal.access_logging_settings_arn.clone();
        report.ip_access_settings_arn = portal.ip_access_settings_arn.clone();
        let active = portal.status.as_deref() == Some("Active");
        let sessions_wanted = active && self.policy.has_rules_for(OnKind::Session);
        if !active {
            report.notes.push(format!(
                "portal is {}: logging, IP access and sessions not examined",
                portal.status.as_deref().unwrap_or("of unknown status")
            ));
        } else if !sessions_wanted {
            report
                .notes
                .push("the policy has no session rules: sessions not examined".into());
        }

        let logging = async {
            match &portal.access_logging_settings_arn {
                Some(settings) if active => Some(
                    self.call("GetUserAccessLoggingSettings", deadline, stats, || {
                        self.web
                            .get_user_access_logging_settings()
                            .user_access_logging_settings_arn(settings)
                            .send()
                    })
                    .await,
                ),
                _ => None,
            }
        };
        let sessions = async {
            if sessions_wanted {
                Some(self.gather_sessions(arn, deadline, stats).await)
            } else {
                None
            }
        };
        let (logging, sessions) = tokio::join!(logging, sessions);

        let mut portal_readable = true;
        match logging {
            None => {}
            Some(Ok(out)) => {
                portal.access_log_stream_arn = out
                    .user_access_logging_settings()
                    .and_then(|s| s.kinesis_stream_arn())
                    .map(str::to_owned);
            }
            Some(Err(f)) => {
                portal_readable = false;
                report
                    .failures
                    .push(failure("GetUserAccessLoggingSettings", "portal", f));
            }
        }
        report.access_log_stream_arn = portal.access_log_stream_arn.clone();
        if active && portal_readable {
            let expected = self.config.access_log_stream.as_deref();
            match (&portal.access_logging_settings_arn, expected) {
                (None, e) => report.findings.push(Finding::NoAccessLogging {
                    expected: e.map(str::to_owned),
                }),
                (Some(_), Some(e)) if portal.access_log_stream_arn.as_deref() != Some(e) => {
                    report.findings.push(Finding::AccessLogStreamMismatch {
                        found: portal.access_log_stream_arn.clone(),
                        expected: e.to_owned(),
                    })
                }
                _ => {}
            }
            if portal.ip_access_settings_arn.is_none() {
                report.findings.push(Finding::NoIpAccessSettings);
            }
        }
        if portal_readable {
            resources.push(Resource::Portal(portal));
        }
        if let Some(part) = sessions {
            report.sessions_examined = part.sessions.len();
            report.sessions_described = part.described;
            report.failures.extend(part.failures);
            report.notes.extend(part.notes);
            resources.extend(part.sessions.into_iter().map(Resource::Session));
        }
        Gathered { report, resources }
    }

    /// The portal's active sessions (every page); their client addresses
    /// when a rule reads them. A listing that fails part way yields none.
    async fn gather_sessions(
        &self,
        arn: &str,
        deadline: Deadline,
        stats: &CallStats,
    ) -> SessionsPart {
        let mut part = SessionsPart::default();
        let id = portal_id(arn);
        let mut listed: Vec<Session> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call("ListSessions", deadline, stats, || {
                    self.web
                        .list_sessions()
                        .portal_id(id)
                        .status(SessionStatus::Active)
                        .max_results(self.config.page_size)
                        .set_next_token(token.clone())
                        .send()
                })
                .await;
            let out = match page {
                Ok(out) => out,
                Err(f) => {
                    part.failures.push(failure("ListSessions", "portal", f));
                    return part;
                }
            };
            listed.extend(out.sessions().iter().filter_map(|s| session_view(arn, s)));
            match out.next_token().filter(|t| !t.is_empty()) {
                None => break,
                Some(t) if Some(t) == token.as_deref() => {
                    part.failures.push(Failure {
                        operation: "ListSessions".into(),
                        subject: "portal".into(),
                        kind: FailureKind::Transient,
                        code: "PaginationLoop".into(),
                        message: "ListSessions returned the same nextToken twice".into(),
                    });
                    return part;
                }
                Some(t) => token = Some(t.to_owned()),
            }
        }
        // The service filters by status; a session ending between pages is
        // still listed as it was. Only `Active` ones are judged.
        listed.retain(|s| s.status.as_deref() == Some("Active"));
        if !self.policy.reads_field(OnKind::Session, CLIENT_IPS) {
            part.sessions = listed;
            return part;
        }
        let ids: Vec<String> = listed.iter().map(|s| s.session_id.clone()).collect();
        let described = run_bounded(
            ids,
            self.config.session_concurrency,
            deadline,
            |sid: String| async move {
                self.call("GetSession", deadline, stats, || {
                    self.web.get_session().portal_id(id).session_id(&sid).send()
                })
                .await
            },
        )
        .await;
        let mut gone = 0usize;
        let mut not_started = 0usize;
        let mut unreadable = 0usize;
        for (mut s, r) in listed.into_iter().zip(described) {
            match r {
                Ran::Done(Ok(out)) => {
                    part.described += 1;
                    let Some(full) = out.session() else {
                        unreadable += 1;
                        continue;
                    };
                    if full.status().map(|x| x.as_str()) != Some("Active") {
                        gone += 1;
                        continue;
                    }
                    let mut bad = false;
                    for a in full.client_ip_addresses() {
                        match a.trim().parse::<IpAddr>() {
                            Ok(ip) => s.client_ips.push(ip),
                            Err(_) => bad = true,
                        }
                    }
                    if bad {
                        // Judged on the addresses that parse; said in notes.
                        unreadable += 1;
                    }
                    part.sessions.push(s);
                }
                // Ended between ListSessions and GetSession: nothing to judge.
                Ran::Done(Err(f)) if f.code == "ResourceNotFoundException" => gone += 1,
                Ran::Done(Err(f)) if f.code == CallFailure::OUT_OF_TIME => not_started += 1,
                Ran::Done(Err(f)) => part.failures.push(failure(
                    "GetSession",
                    format!("session {}", s.session_id),
                    f,
                )),
                Ran::NotStarted => not_started += 1,
            }
        }
        if gone > 0 {
            part.notes.push(format!(
                "{gone} sessions ended between ListSessions and GetSession"
            ));
        }
        if unreadable > 0 {
            part.notes.push(format!(
                "{unreadable} sessions had client addresses that are not IP addresses (ignored)"
            ));
        }
        if not_started > 0 {
            part.failures.push(Failure {
                operation: "GetSession".into(),
                subject: format!("{not_started} sessions"),
                kind: FailureKind::Transient,
                code: "NotStarted".into(),
                message: "too little time left in this invocation; left for the next run".into(),
            });
        }
        part
    }
}

#[derive(Default)]
struct SessionsPart {
    sessions: Vec<Session>,
    described: usize,
    failures: Vec<Failure>,
    notes: Vec<String>,
}
