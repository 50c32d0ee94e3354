//! The end-to-end audit scenario: 1,000 audit events that trigger every
//! audit rule of `policies/default.yaml` (and some that must not), plus 20
//! malformed records, with the fleet fixture they act on and the calls they
//! must cause.
//!
//! Thresholds are counted per batch (one invocation), so a threshold group
//! cut by a batch boundary could be missed. Every group that must fire holds
//! 2t-1 events in consecutive records of one shard (one partition key), so
//! however the batches fall (re-delivery after a failure moves them), one
//! side of any cut still holds t events: the outcome does not depend on
//! batching. Groups that must not fire hold fewer than t events.

use std::collections::BTreeSet;
use std::io::Write as _;

use serde_json::{json, Value};

pub const FLEET: &str = "arn:aws:worklink::123456789012:fleet/e2e";
/// 2026-11-23T08:00:00Z in epoch milliseconds.
const T0: i64 = 1_795_420_800_000;

/// One record to put on the stream.
#[derive(Debug, Clone)]
pub struct Rec {
    pub partition_key: String,
    pub data: Vec<u8>,
    /// `Some(code)` for the malformed records.
    pub malformed: Option<&'static str>,
    pub events: usize,
}

pub struct Scenario {
    pub records: Vec<Rec>,
    pub events: usize,
    pub sign_outs: BTreeSet<String>,
    /// Users signed out for whom the service answers ResourceNotFound.
    pub not_found: BTreeSet<String>,
    pub revokes: BTreeSet<String>,
    pub fixture: Value,
}

/// splitmix64: a tiny seeded generator, so the scenario is the same on
/// every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

fn ev(kind: &str, user: &str, ip: &str, at_ms: i64, url: Option<&str>) -> Value {
    let mut e = json!({
        "timestamp": at_ms.to_string(),
        "eventType": kind,
        "userName": user,
        "sourceIp": ip,
    });
    if let Some(u) = url {
        e["details"] = json!({ "url": u, "title": "page" });
    }
    e
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn ndjson(events: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(e.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Records holding `events`, `per` events each, gzip'd when asked.
fn pack(pk: &str, events: &[Value], per: usize, gz: bool) -> Vec<Rec> {
    events
        .chunks(per)
        .map(|chunk| {
            let data = if chunk.len() == 1 && !gz {
                chunk[0].to_string().into_bytes()
            } else {
                ndjson(chunk)
            };
            Rec {
                partition_key: pk.to_string(),
                data: if gz { gzip(&data) } else { data },
                malformed: None,
                events: chunk.len(),
            }
        })
        .collect()
}

pub fn build() -> Scenario {
    let mut rng = Rng(0x5eed_2026);
    let mut blocks: Vec<Vec<Rec>> = Vec::new();
    let mut users: BTreeSet<String> = BTreeSet::new();
    let mut sign_outs = BTreeSet::new();
    let mut revokes = BTreeSet::new();
    let minute = 60_000;
    let at = |rng: &mut Rng| T0 + rng.below(120) as i64 * minute + rng.below(60_000) as i64;

    // repeated-failed-sign-ins: 6 attackers, 9 failures each in 160 s,
    // 3 per gzip record. 9 = 2*5-1.
    for i in 1..=6 {
        let user = format!("attacker-{i:02}");
        let t = at(&mut rng);
        let evs: Vec<Value> = (0..9)
            .map(|k| ev("SignInFailed", &user, "10.66.0.1", t + k * 20_000, None))
            .collect();
        blocks.push(pack(&user, &evs, 3, true));
        users.insert(user.clone());
        sign_outs.insert(user);
    }
    // ... a break-glass account failing as often: refused by the allow-list.
    let t = at(&mut rng);
    let evs: Vec<Value> = (0..9)
        .map(|k| {
            ev(
                "AuthenticationFailed",
                "breakglass-7",
                "10.66.0.2",
                t + k * 10_000,
                None,
            )
        })
        .collect();
    blocks.push(pack("breakglass-7", &evs, 1, false));
    users.insert("breakglass-7".into());
    // ... 8 users with 4 failures (one short), and one with 5 spread over an hour.
    for i in 1..=8 {
        let user = format!("decoy-{i:02}");
        let t = at(&mut rng);
        let evs: Vec<Value> = (0..4)
            .map(|k| ev("SignInFailed", &user, "10.66.1.1", t + k * 30_000, None))
            .collect();
        blocks.push(pack(&user, &evs, 2, false));
        users.insert(user);
    }
    let evs: Vec<Value> = (0..5)
        .map(|k| {
            ev(
                "SignInFailed",
                "slowpoke",
                "10.66.1.2",
                T0 + k * 15 * minute,
                None,
            )
        })
        .collect();
    blocks.push(pack("slowpoke", &evs, 1, false));
    users.insert("slowpoke".into());

    // access-from-outside-allowed-networks: 10 travellers, one event each.
    for i in 1..=10 {
        let user = format!("traveller-{i:02}");
        let kind = ["SignIn", "StartSession", "VisitPage"][i % 3];
        let ip = if i % 2 == 0 {
            format!("203.0.113.{i}")
        } else {
            format!("198.18.{i}.1")
        };
        let url = (kind == "VisitPage").then(|| format!("https://app-{:02}.corp.example.com/", i));
        let e = ev(kind, &user, &ip, at(&mut rng), url.as_deref());
        blocks.push(pack(&user, &[e], 1, i % 4 == 0));
        users.insert(user.clone());
        sign_outs.insert(user);
    }

    // offboarded-users: one with a device, one without (ResourceNotFound).
    let e = ev(
        "VisitPage",
        "former.employee@example.com",
        "10.1.1.1",
        at(&mut rng),
        Some("https://app-03.corp.example.com/x"),
    );
    blocks.push(pack("former.employee@example.com", &[e], 1, false));
    users.insert("former.employee@example.com".into());
    sign_outs.insert("former.employee@example.com".to_string());
    let mut e = ev(
        "SignIn",
        "contractor-2025@example.com",
        "10.1.1.2",
        at(&mut rng),
        None,
    );
    e["fleetArn"] = json!(FLEET);
    blocks.push(pack("contractor-2025@example.com", &[e], 1, false));
    sign_outs.insert("contractor-2025@example.com".to_string());
    let not_found = BTreeSet::from(["contractor-2025@example.com".to_string()]);

    // domain-access-burst: 99 hits (2*50-1) in 49 s on hr and finance;
    // 99 on sso (allow-listed); 49 on docs (one short).
    for (user, domain, n, per, fires) in [
        ("scraper-hr", "hr.corp.example.com", 99, 3, true),
        ("scraper-fin", "finance.corp.example.com", 99, 1, true),
        ("sso-heavy", "sso.example.com", 99, 1, false),
        ("docs-reader", "docs.corp.example.com", 49, 1, false),
    ] {
        let t = at(&mut rng);
        let evs: Vec<Value> = (0..n)
            .map(|k| {
                ev(
                    "VisitPage",
                    user,
                    "10.20.0.5",
                    t + k * 500,
                    Some(&format!("https://{domain}/export?page={k}")),
                )
            })
            .collect();
        blocks.push(pack(user, &evs, per, false));
        users.insert(user.to_string());
        if fires {
            revokes.insert(domain.to_string());
        }
    }

    // Noise: ordinary work from the office, never enough to fire a rule.
    let noise_users: Vec<String> = (1..=40).map(|i| format!("user-{i:03}")).collect();
    let so_far: usize = blocks.iter().flatten().map(|r| r.events).sum();
    let mut left = 1000 - so_far;
    let mut failures = std::collections::HashMap::<String, u32>::new();
    while left > 0 {
        let user = &noise_users[rng.below(noise_users.len() as u64) as usize];
        let n = (1 + rng.below(4) as usize).min(left);
        let evs: Vec<Value> = (0..n)
            .map(|_| {
                let ip = format!(
                    "10.{}.{}.{}",
                    rng.below(200),
                    rng.below(250),
                    1 + rng.below(250)
                );
                let t = at(&mut rng);
                match rng.below(10) {
                    0..=5 => ev(
                        "VisitPage",
                        user,
                        &ip,
                        t,
                        Some(&format!(
                            "https://app-{:02}.corp.example.com/p/{}",
                            1 + rng.below(20),
                            rng.below(1000)
                        )),
                    ),
                    6 | 7 => ev("SignIn", user, &ip, t, None),
                    8 => ev("StartSession", user, &ip, t, None),
                    _ => {
                        let f = failures.entry(user.clone()).or_default();
                        if *f < 2 {
                            *f += 1;
                            ev("SignInFailed", user, &ip, t, None)
                        } else {
                            ev("SignOut", user, &ip, t, None)
                        }
                    }
                }
            })
            .collect();
        let gz = rng.below(5) == 0;
        blocks.push(pack(user, &evs, n, gz));
        left -= n;
    }
    users.extend(noise_users);

    // 20 malformed records.
    let malformed: Vec<(&'static str, Vec<u8>)> = (0..20)
        .map(|i| match i % 6 {
            0 => (
                "not-json",
                format!("{{\"eventType\": \"SignIn\", \"n\": {i}").into_bytes(),
            ),
            1 => ("not-object", format!("[\"SignIn\", {i}]").into_bytes()),
            2 => ("not-utf8", vec![b'{', b'"', 0xff, 0xfe, b'"', b'}']),
            3 => ("empty", b"  \n".to_vec()),
            4 => ("bad-gzip", vec![0x1f, 0x8b, 8, 0, 1, 2, 3, i as u8]),
            _ => (
                "not-object",
                format!("{{\"eventType\":\"SignIn\",\"userName\":\"user-001\"}}\n{i}\n")
                    .into_bytes(),
            ),
        })
        .collect();
    for (i, (code, data)) in malformed.into_iter().enumerate() {
        blocks.push(vec![Rec {
            partition_key: format!("malformed-{i}"),
            data,
            malformed: Some(code),
            events: 0,
        }]);
    }

    rng.shuffle(&mut blocks);
    let records: Vec<Rec> = blocks.into_iter().flatten().collect();
    let events = records.iter().map(|r| r.events).sum();

    let devices: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({
                "device_id": format!("dev-{i:04}"),
                "username": u,
                "status": "ACTIVE",
                "operating_system": "iOS",
                "operating_system_version": "17.5",
            })
        })
        .collect();
    let mut domains: Vec<String> = (1..=20)
        .map(|i| format!("app-{i:02}.corp.example.com"))
        .collect();
    domains.extend(
        [
            "hr.corp.example.com",
            "finance.corp.example.com",
            "docs.corp.example.com",
            "sso.example.com",
        ]
        .map(String::from),
    );
    let domains: Vec<Value> = domains
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({
                "domain_name": d,
                "status": "ACTIVE",
                "acm_certificate_arn": format!("arn:aws:acm:us-east-1:123456789012:certificate/0f2d9c3e-0000-4a5b-8c6d-{i:012}"),
                "created_time": "2025-01-01T00:00:00Z",
            })
        })
        .collect();
    let fixture = json!({
        "clock": "2026-11-23T12:00:00Z",
        "worklink": {
            "account_id": "123456789012",
            "fleets": [{
                "arn": FLEET,
                "name": "e2e",
                "company_code": "e2efleet0001",
                "status": "ACTIVE",
                "created_time": "2025-01-01T00:00:00Z",
                "last_updated_time": "2025-01-01T00:00:00Z",
                "devices": devices,
                "domains": domains,
            }]
        }
    });
    Scenario {
        records,
        events,
        sign_outs,
        not_found,
        revokes,
        fixture,
    }
}
