//! The generated Kinesis batch the audit-stream benchmarks share: realistic
//! WorkLink audit records (90% page visits, 5% sign-ins, 3% failed sign-ins,
//! 2% sessions from outside the corporate networks), base64 in a Kinesis
//! event exactly as Lambda sends it. Deterministic (a fixed xorshift seed).

use base64::Engine as _;
use serde_json::{json, Value};

/// The fleet every record names (and the default fleet of the benches).
pub const FLEET: &str = "arn:aws:worklink::123456789012:fleet/corp-mobile";

pub struct Rng(pub u64);
impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn private_ip(rng: &mut Rng) -> String {
    format!(
        "10.{}.{}.{}",
        rng.below(250),
        rng.below(250),
        1 + rng.below(250)
    )
}

pub fn record_json(i: usize, rng: &mut Rng) -> Vec<u8> {
    let t = 1_795_428_000_000u64 + i as u64 * 250;
    let user = format!("user-{:04}@example.com", rng.below(500));
    let (kind, ip) = match rng.below(100) {
        0..=89 => ("VisitPage", private_ip(rng)),
        90..=94 => ("SignIn", private_ip(rng)),
        95..=97 => ("SignInFailed", private_ip(rng)),
        _ => ("StartSession", format!("203.0.113.{}", 1 + rng.below(250))),
    };
    let e = json!({
        "timestamp": t.to_string(),
        "eventId": format!("7f3c9a2e-{:04x}-4b1d-9e8f-{:012x}", i % 65536, i),
        "eventType": kind,
        "userName": user,
        "fleetArn": FLEET,
        "sourceIp": ip,
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148",
        "details": {
            "url": format!("https://app-{:02}.corp.example.com/wiki/spaces/ENG/pages/{}", rng.below(40), rng.below(1_000_000)),
            "title": "Quarterly planning - Confluence",
        },
    });
    e.to_string().into_bytes()
}

/// A Kinesis event of `n` records, as Lambda sends it, and the average size
/// of a record's JSON (before base64).
pub fn kinesis_event(n: usize) -> (Vec<u8>, usize) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut data_bytes = 0;
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let data = record_json(i, &mut rng);
            data_bytes += data.len();
            let seq = format!("4965432543420000000000000000000000000000000000{:010}", i);
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": format!("pk-{}", i % 97),
                    "sequenceNumber": seq,
                    "data": base64::engine::general_purpose::STANDARD.encode(&data),
                    "approximateArrivalTimestamp": 1795428000.25 + i as f64 * 0.25,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/audit-stream-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/AmazonWorkLink-bench",
            })
        })
        .collect();
    let bytes = serde_json::to_vec(&json!({ "Records": records })).unwrap();
    (bytes, data_bytes / n.max(1))
}
