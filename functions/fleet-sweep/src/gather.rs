//! Gathering: ListFleets, then per fleet DescribeAuditStreamConfiguration,
//! ListDevices + DescribeDevice each, ListDomains, turned into the
//! [`Resource`] views rules run on. Every call goes through [`Sweeper::call`]:
//! SDK retries first, then extra rounds for what is still throttled, all
//! within the invocation's remaining time.

#![allow(deprecated)] // every WorkLink operation is marked deprecated (service retired)

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_worklink::types::{DeviceSummary, DomainSummary, FleetSummary};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use jiff::Timestamp;

use super::report::{DomainState, Failure, Finding, FleetReport};
use super::Sweeper;
use warden_core::aws::deadline::{classify, run_bounded, CallFailure, Deadline, FailureKind, Ran};
use warden_core::policy::OnKind;
use warden_core::resource::{Device, Domain, Fleet, Resource};

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

/// What one fleet's gathering produced.
pub(crate) struct Gathered {
    pub report: FleetReport,
    pub resources: Vec<Resource>,
}

/// The fleet a ListFleets entry describes, as a resource view.
pub(crate) fn fleet_view(s: &FleetSummary) -> Fleet {
    Fleet {
        fleet_arn: s.fleet_arn().unwrap_or_default().to_owned(),
        fleet_name: s.fleet_name().map(str::to_owned),
        display_name: s.display_name().map(str::to_owned),
        company_code: s.company_code().map(str::to_owned),
        status: s.fleet_status().map(|x| x.as_str().to_owned()),
        created: s.created_time().and_then(ts),
        last_updated: s.last_updated_time().and_then(ts),
        audit_stream_arn: None,
    }
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

/// Whether an OS version can be compared as a version (has a number).
fn readable_version(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.bytes().any(|b| b.is_ascii_digit()))
}

impl Sweeper {
    /// One API call: the SDK retries it (standard mode); a failure that is
    /// still transient (throttling, 5xx, timeout) gets up to
    /// `retry_rounds` more rounds with a growing pause, while time is left.
    /// The whole thing never outlives the deadline.
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

    /// Every page of a list operation. `page(token)` makes one call and
    /// returns the page's items and next token.
    async fn list_all<T, E, Fut>(
        &self,
        op: &'static str,
        deadline: Deadline,
        stats: &CallStats,
        page: impl Fn(Option<String>) -> Fut,
    ) -> Result<Vec<T>, CallFailure>
    where
        Fut: Future<Output = Result<(Vec<T>, Option<String>), SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (mut got, next) = self
                .call(op, deadline, stats, || page(token.clone()))
                .await?;
            items.append(&mut got);
            match next.filter(|t| !t.is_empty()) {
                None => return Ok(items),
                Some(t) if Some(&t) == token.as_ref() => {
                    return Err(CallFailure {
                        kind: FailureKind::Transient,
                        code: "PaginationLoop".into(),
                        message: format!("{op} returned the same NextToken twice"),
                    })
                }
                Some(t) => token = Some(t),
            }
        }
    }

    /// ListFleets, all pages.
    pub(crate) async fn list_fleets(
        &self,
        deadline: Deadline,
        stats: &CallStats,
    ) -> Result<Vec<FleetSummary>, CallFailure> {
        self.list_all("ListFleets", deadline, stats, |token| async move {
            self.worklink
                .list_fleets()
                .max_results(self.config.page_size)
                .set_next_token(token)
                .send()
                .await
                .map(|o| (o.fleet_summary_list.unwrap_or_default(), o.next_token))
        })
        .await
    }

    /// Everything about one fleet. Parts (audit stream, devices, domains) run
    /// at once and fail apart: a part that fails contributes no resources,
    /// so no rule ever acts on a half-read view of it.
    pub(crate) async fn gather_fleet(
        &self,
        summary: &FleetSummary,
        now: Timestamp,
        deadline: Deadline,
        stats: &CallStats,
    ) -> Gathered {
        let mut fleet = fleet_view(summary);
        let arn = fleet.fleet_arn.clone();
        let mut report = FleetReport {
            fleet_arn: arn.clone(),
            fleet_name: fleet.fleet_name.clone(),
            status: fleet.status.clone(),
            ..FleetReport::default()
        };
        let active = fleet.status.as_deref() == Some("ACTIVE");
        if let Some(s @ ("FAILED_TO_CREATE" | "FAILED_TO_DELETE")) = fleet.status.as_deref() {
            report
                .findings
                .push(Finding::FleetFailed { status: s.into() });
        }
        let devices_wanted = active && self.policy.has_rules_for(OnKind::Device);
        if !active {
            report.notes.push(format!(
                "fleet is {}: devices and domains not examined (only an ACTIVE fleet can be changed)",
                fleet.status.as_deref().unwrap_or("of unknown status")
            ));
        } else if !devices_wanted {
            report
                .notes
                .push("the policy has no device rules: devices not examined".into());
        }

        let audit = self.call("DescribeAuditStreamConfiguration", deadline, stats, || {
            self.worklink
                .describe_audit_stream_configuration()
                .fleet_arn(&arn)
                .send()
        });
        let devices = async {
            if devices_wanted {
                Some(self.gather_devices(&arn, deadline, stats).await)
            } else {
                None
            }
        };
        let domains = async {
            if active {
                Some(self.gather_domains(&arn, now, deadline, stats).await)
            } else {
                None
            }
        };
        let (audit, devices, domains) = tokio::join!(audit, devices, domains);

        let mut resources = Vec::new();
        match audit {
            Ok(out) => {
                fleet.audit_stream_arn = out.audit_stream_arn().map(str::to_owned);
                report.audit_stream_arn = fleet.audit_stream_arn.clone();
                if active {
                    match (&fleet.audit_stream_arn, &self.expected_stream) {
                        (None, expected) => report.findings.push(Finding::NoAuditStream {
                            expected: expected.clone(),
                        }),
                        (Some(found), Some(expected)) if found != expected => {
                            report.findings.push(Finding::AuditStreamMismatch {
                                found: found.clone(),
                                expected: expected.clone(),
                            })
                        }
                        _ => {}
                    }
                }
                resources.push(Resource::Fleet(fleet));
            }
            Err(f) => report
                .failures
                .push(failure("DescribeAuditStreamConfiguration", "fleet", f)),
        }
        if let Some(part) = devices {
            report.devices_listed = part.listed;
            report.devices_examined = part.devices.len();
            report.failures.extend(part.failures);
            report.findings.extend(part.findings);
            report.notes.extend(part.notes);
            resources.extend(part.devices.into_iter().map(Resource::Device));
        }
        if let Some(part) = domains {
            report.domains_listed = part.listed;
            report.domains_examined = part.domains.len();
            report.domains_left_alone = part.left_alone;
            report.failures.extend(part.failures);
            report.findings.extend(part.findings);
            resources.extend(part.domains.into_iter().map(Resource::Domain));
        }
        Gathered { report, resources }
    }

    async fn gather_devices(
        &self,
        arn: &str,
        deadline: Deadline,
        stats: &CallStats,
    ) -> DevicesPart {
        let mut part = DevicesPart::default();
        let listed: Vec<DeviceSummary> = match self
            .list_all("ListDevices", deadline, stats, |token| async move {
                self.worklink
                    .list_devices()
                    .fleet_arn(arn)
                    .max_results(self.config.page_size)
                    .set_next_token(token)
                    .send()
                    .await
                    .map(|o| (o.devices.unwrap_or_default(), o.next_token))
            })
            .await
        {
            Ok(v) => v,
            Err(f) => {
                part.failures.push(failure("ListDevices", "fleet", f));
                return part;
            }
        };
        part.listed = listed.len();
        let mut ids: Vec<String> = Vec::with_capacity(listed.len());
        let mut not_described = 0usize;
        for d in &listed {
            let Some(id) = d.device_id().filter(|id| !id.is_empty()) else {
                continue;
            };
            let signed_out = d.device_status().map(|s| s.as_str()) == Some("SIGNED_OUT");
            if signed_out && !self.config.describe_signed_out {
                not_described += 1;
                continue;
            }
            ids.push(id.to_owned());
        }
        if not_described > 0 {
            part.notes.push(format!(
                "{not_described} SIGNED_OUT devices not described (WARDEN_DESCRIBE_SIGNED_OUT=false)"
            ));
        }
        let described = run_bounded(
            ids.clone(),
            self.config.device_concurrency,
            deadline,
            |id: String| async move {
                self.call("DescribeDevice", deadline, stats, || {
                    self.worklink
                        .describe_device()
                        .fleet_arn(arn)
                        .device_id(&id)
                        .send()
                })
                .await
            },
        )
        .await;
        let mut gone = 0usize;
        let mut not_started = 0usize;
        for (id, r) in ids.into_iter().zip(described) {
            match r {
                Ran::Done(Ok(out)) => {
                    let device = Device {
                        fleet_arn: arn.to_owned(),
                        device_id: id,
                        status: out.status().map(|s| s.as_str().to_owned()),
                        user: out.username().map(str::to_owned),
                        manufacturer: out.manufacturer().map(str::to_owned),
                        model: out.model().map(str::to_owned),
                        os: out.operating_system().map(str::to_owned),
                        os_version: out.operating_system_version().map(str::to_owned),
                        patch_level: out.patch_level().map(str::to_owned),
                        first_accessed: out.first_accessed_time().and_then(ts),
                        last_accessed: out.last_accessed_time().and_then(ts),
                    };
                    if device.status.as_deref() == Some("ACTIVE")
                        && !readable_version(device.os_version.as_deref())
                    {
                        part.findings.push(Finding::UnreadableOsVersion {
                            device_id: device.device_id.clone(),
                            user: device.user.clone(),
                            os_version: device.os_version.clone(),
                        });
                    }
                    part.devices.push(device);
                }
                // Removed between ListDevices and DescribeDevice: nothing to judge.
                Ran::Done(Err(f)) if f.code == "ResourceNotFoundException" => gone += 1,
                Ran::Done(Err(f)) if f.code == CallFailure::OUT_OF_TIME => not_started += 1,
                Ran::Done(Err(f)) => {
                    part.failures
                        .push(failure("DescribeDevice", format!("device {id}"), f))
                }
                Ran::NotStarted => not_started += 1,
            }
        }
        if gone > 0 {
            part.notes.push(format!(
                "{gone} devices disappeared between ListDevices and DescribeDevice"
            ));
        }
        if not_started > 0 {
            part.failures.push(Failure {
                operation: "DescribeDevice".into(),
                subject: format!("{not_started} devices"),
                kind: FailureKind::Transient,
                code: "NotStarted".into(),
                message: "too little time left in this invocation; not examined this run".into(),
            });
        }
        part
    }

    async fn gather_domains(
        &self,
        arn: &str,
        now: Timestamp,
        deadline: Deadline,
        stats: &CallStats,
    ) -> DomainsPart {
        let mut part = DomainsPart::default();
        let listed: Vec<DomainSummary> = match self
            .list_all("ListDomains", deadline, stats, |token| async move {
                self.worklink
                    .list_domains()
                    .fleet_arn(arn)
                    .max_results(self.config.page_size)
                    .set_next_token(token)
                    .send()
                    .await
                    .map(|o| (o.domains.unwrap_or_default(), o.next_token))
            })
            .await
        {
            Ok(v) => v,
            Err(f) => {
                part.failures.push(failure("ListDomains", "fleet", f));
                return part;
            }
        };
        part.listed = listed.len();
        for d in listed {
            let status = d.domain_status().as_str().to_owned();
            let name = d.domain_name().to_owned();
            if matches!(status.as_str(), "ASSOCIATING" | "DISASSOCIATING") {
                part.left_alone.push(DomainState {
                    domain: name,
                    status,
                });
                continue;
            }
            let created = ts(d.created_time());
            if status == "PENDING_VALIDATION" || status.starts_with("FAILED_") {
                if let Some(c) = created {
                    let age = now.duration_since(c);
                    if age > self.config.domain_stuck_after {
                        part.findings.push(Finding::DomainStuck {
                            domain: name.clone(),
                            status: status.clone(),
                            created: c,
                            age: warden_core::time::format_duration(
                                jiff::SignedDuration::from_secs(age.as_secs() / 86_400 * 86_400),
                            ),
                        });
                    }
                }
            }
            part.domains.push(Domain {
                fleet_arn: arn.to_owned(),
                domain: name,
                display_name: d.display_name().map(str::to_owned),
                status: Some(status),
                created,
            });
        }
        part
    }
}

#[derive(Default)]
struct DevicesPart {
    listed: usize,
    devices: Vec<Device>,
    failures: Vec<Failure>,
    findings: Vec<Finding>,
    notes: Vec<String>,
}

#[derive(Default)]
struct DomainsPart {
    listed: usize,
    domains: Vec<Domain>,
    left_alone: Vec<DomainState>,
    failures: Vec<Failure>,
    findings: Vec<Finding>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_without_a_number_are_unreadable() {
        assert!(readable_version(Some("16.7.10")));
        assert!(readable_version(Some("iOS 17")));
        assert!(!readable_version(Some("unknown")));
        assert!(!readable_version(Some("")));
        assert!(!readable_version(None));
    }
}
