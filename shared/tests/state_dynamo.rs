//! `DynamoStateStore` against moto's DynamoDB (started per test on a free
//! loopback port; clients get that endpoint explicitly), plus a loopback
//! stub that answers every call with throttling, and a closed port.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warden_core::aws::{load_sdk_config, AwsSettings};
use warden_core::state::{
    BudgetRequest, DynamoStateStore, EventId, Hit, HitOutcome, LeaseOutcome, LedgerEntry,
    LedgerKey, Revocation, StateError, StateStore, ThresholdSpec, WindowHits, WindowKey,
    WindowOutcome,
};
use warden_emulator::moto::MotoServer;

async fn store_at(endpoint: String, table: &str, max_attempts: u32) -> DynamoStateStore {
    let settings = AwsSettings {
        max_attempts,
        attempt_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(10),
        ..AwsSettings::local(endpoint)
    };
    DynamoStateStore::from_config(&load_sdk_config(&settings).await, table)
}

async fn fresh(moto: &MotoServer, table: &str) -> DynamoStateStore {
    let store = store_at(moto.endpoint_url(), table, 3).await;
    assert!(
        store.create_table().await.expect("create table"),
        "new table"
    );
    store
}

fn t(sec: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + sec).unwrap()
}

fn window(rule: &str, key: &str, count: u32, shard: &str, hits: &[(u32, i64)]) -> WindowHits {
    WindowHits {
        window: WindowKey {
            rule: rule.into(),
            key: key.into(),
        },
        spec: ThresholdSpec {
            count,
            within: SignedDuration::from_mins(2),
        },
        hits: hits
            .iter()
            .map(|(seq, sec)| Hit {
                id: EventId::new(shard, format!("{seq:020}"), 0),
                at: t(*sec),
            })
            .collect(),
    }
}

fn firings(out: &[WindowOutcome]) -> Vec<(String, bool)> {
    out.iter()
        .flat_map(|w| w.firings().map(|f| (f.cause(&w.window), f.replayed)))
        .collect()
}

#[tokio::test]
async fn windows_count_each_hit_once_across_calls_in_two_round_trips() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let store = fresh(&moto, "state-windows").await;
    // Created once; a second init finds it.
    assert!(!store.create_table().await.unwrap());

    let first = [window(
        "brute",
        "alice",
        6,
        "shardId-0",
        &[(1, 0), (2, 5), (3, 10)],
    )];
    store.reset_stats();
    let out = store.record_hits(&first, t(10)).await.unwrap();
    assert!(firings(&out).is_empty());
    assert_eq!(out[0].open, 3);
    let stats = store.stats();
    assert_eq!(stats.calls.get("BatchGetItem"), Some(&1));
    assert_eq!(stats.calls.get("PutItem"), Some(&1));
    assert_eq!(stats.total_calls(), 2, "{stats:?}");
    // One small window: one write unit (nothing to read yet).
    assert_eq!((stats.write_units, stats.read_units), (1, 0.0), "{stats:?}");

    // The same hits again: nothing new, and no write call at all.
    store.reset_stats();
    let again = store.record_hits(&first, t(11)).await.unwrap();
    assert!(again[0]
        .hits
        .iter()
        .all(|(_, o)| *o == HitOutcome::Duplicate));
    assert_eq!(again[0].open, 3);
    assert_eq!(store.stats().calls.get("PutItem"), None);
    assert_eq!(store.stats().total_calls(), 1);
    // A strongly consistent read of the one window: it must see the
    // delivery before, or the re-delivery would write again.
    assert_eq!(store.stats().read_units, 1.0);

    // The other three, from another shard: the sixth hit fires, once.
    let second = [window(
        "brute",
        "alice",
        6,
        "shardId-1",
        &[(4, 20), (5, 25), (6, 30)],
    )];
    let out = store.record_hits(&second, t(30)).await.unwrap();
    let cause = format!("brute/alice/shardId-1:{:020}#0", 6);
    assert_eq!(firings(&out), vec![(cause.clone(), false)]);
    let replay = store.record_hits(&second, t(31)).await.unwrap();
    assert_eq!(firings(&replay), vec![(cause, true)]);

    // 40 keys in one batch: one read, one conditional put each.
    let many: Vec<_> = (0..40)
        .map(|i| {
            window(
                "spray",
                &format!("user{i}"),
                3,
                "shardId-0",
                &[(100 + i, 50)],
            )
        })
        .collect();
    store.reset_stats();
    let out = store.record_hits(&many, t(50)).await.unwrap();
    assert_eq!(out.len(), 40);
    let stats = store.stats();
    assert_eq!(stats.calls.get("BatchGetItem"), Some(&1), "{stats:?}");
    assert_eq!(stats.calls.get("PutItem"), Some(&40), "{stats:?}");
    assert_eq!(stats.write_units, 40, "{stats:?}");

    let snap = store.snapshot(t(60)).await.unwrap();
    assert_eq!(snap.windows.len(), 41);
    let alice = snap
        .windows
        .iter()
        .find(|w| w.window.key == "alice")
        .expect("alice's window");
    assert_eq!((alice.open, alice.last_fired), (0, Some(t(30))));
}

/// Two takers of one budget through two clients. moto does not serialise
/// concurrent requests (two concurrent conditional UpdateItems both
/// succeeded there, 14 of 10 used), so the race is played in order: the
/// second taker's optimistic UpdateItem must fail DynamoDB's condition on
/// the server, and the store then grants only what is left. Per-item
/// atomicity of conditional writes is DynamoDB's; true concurrency is
/// tested on the memory store.
#[tokio::test]
async fn a_taker_that_loses_the_race_gets_only_what_is_left_of_the_budget() {
    let moto = MotoServer::start().expect("moto starts");
    let a = fresh(&moto, "state-race").await;
    let b = store_at(moto.endpoint_url(), "state-race", 3).await;
    let now: Timestamp = "2026-11-26T10:05:00Z".parse().unwrap();
    let req = |kind: &str| {
        [BudgetRequest {
            kind: kind.into(),
            want: 7,
            max: 10,
            per: SignedDuration::from_hours(1),
        }]
    };
    for kind in ["sign-out-user", "revoke-domain"] {
        let ga = a.take_budget(&req(kind), now).await.unwrap();
        b.reset_stats();
        let gb = b.take_budget(&req(kind), now).await.unwrap();
        assert_eq!((ga[0].granted, gb[0].granted), (7, 3), "{kind}");
        assert_eq!(gb[0].used, 10);
        let calls = b.stats().calls;
        assert_eq!(
            calls.get("UpdateItem"),
            Some(&2),
            "{kind}: lost once, then took 3"
        );
        assert_eq!(calls.get("GetItem"), Some(&1), "{kind}: {calls:?}");
        let more = a.take_budget(&req(kind), now).await.unwrap();
        assert_eq!((more[0].granted, more[0].used), (0, 10));
    }
    // The next period starts afresh.
    let next = a
        .take_budget(&req("sign-out-user"), now + SignedDuration::from_hours(1))
        .await
        .unwrap();
    assert_eq!((next[0].granted, next[0].used), (7, 7));
}

#[tokio::test]
async fn ledger_revocations_and_leases_round_trip_with_expiry() {
    let moto = MotoServer::start().expect("moto starts");
    let store = fresh(&moto, "state-ledger").await;

    let key = |cause: &str| LedgerKey {
        kind: "sign-out-user".into(),
        target: "arn:aws:worklink::1:fleet/corp/alice".into(),
        cause: cause.into(),
    };
    let entry = |cause: &str, dry_run| LedgerEntry {
        key: key(cause),
        rule: "brute".into(),
        at: t(0),
        keep: SignedDuration::from_hours(1),
        dry_run,
    };
    let recorded = store
        .ledger_record(&[entry("burst#1", false), entry("burst#2", true)])
        .await
        .unwrap();
    assert_eq!(recorded, 1, "dry-run is never recorded");
    let keys = [key("burst#1"), key("burst#2"), key("burst#3")];
    let seen = store.ledger_contains(&keys, t(59 * 60)).await.unwrap();
    assert_eq!(seen, vec![true, false, false]);
    let expired = store.ledger_contains(&keys, t(61 * 60)).await.unwrap();
    assert_eq!(
        expired,
        vec![false, false, false],
        "past its TTL it is gone"
    );

    let fleet = "arn:aws:worklink::123456789012:fleet/corp";
    let rev = |domain: &str, hold_until| Revocation {
        fleet: fleet.into(),
        domain: domain.into(),
        rule: "exfil-burst".into(),
        at: t(0),
        cause: "exfil-burst/hr.corp.example/shardId-0:1#0".into(),
        hold_until,
    };
    store
        .record_revocations(&[
            rev("HR.corp.example", None),
            rev("wiki.corp.example", Some(t(3600))),
        ])
        .await
        .unwrap();
    let q = |d: &str| (fleet.to_string(), d.to_string());
    let got = store
        .revocations(&[
            q("hr.corp.example."),
            q("wiki.corp.example"),
            q("mail.corp.example"),
        ])
        .await
        .unwrap();
    let hr = got[0].as_ref().expect("hr is on record");
    assert_eq!(hr.domain, "hr.corp.example");
    assert!(hr.blocks_restore(t(10 * 86_400)), "no hold: until released");
    let wiki = got[1].as_ref().expect("wiki is on record");
    assert!(wiki.blocks_restore(t(3599)) && !wiki.blocks_restore(t(3600)));
    assert!(got[2].is_none(), "never revoked by warden");

    let released = store
        .release_revocation(None, "hr.corp.example")
        .await
        .unwrap();
    assert_eq!(released.len(), 1);
    let released = store
        .release_revocation(Some(fleet), "wiki.corp.example")
        .await
        .unwrap();
    assert_eq!(released.len(), 1);
    let got = store
        .revocations(&[q("hr.corp.example"), q("wiki.corp.example")])
        .await
        .unwrap();
    assert!(got.iter().all(Option::is_none));
    assert!(store
        .release_revocation(Some(fleet), "hr.corp.example")
        .await
        .unwrap()
        .is_empty());

    let ttl = SignedDuration::from_mins(15);
    let a = store
        .acquire_lease("fleet-sweep", "run-a", t(0), ttl)
        .await
        .unwrap();
    assert_eq!(a, LeaseOutcome::Acquired { expires: t(900) });
    let b = store
        .acquire_lease("fleet-sweep", "run-b", t(60), ttl)
        .await
        .unwrap();
    assert_eq!(
        b,
        LeaseOutcome::Held {
            owner: "run-a".into(),
            expires: t(900)
        }
    );
    assert!(!store.release_lease("fleet-sweep", "run-b").await.unwrap());
    let snap = store.snapshot(t(61)).await.unwrap();
    assert_eq!(snap.leases.len(), 1);
    assert!(store.release_lease("fleet-sweep", "run-a").await.unwrap());
    let b = store
        .acquire_lease("fleet-sweep", "run-b", t(62), ttl)
        .await
        .unwrap();
    assert!(matches!(b, LeaseOutcome::Acquired { .. }));
    let c = store
        .acquire_lease("fleet-sweep", "run-c", t(62 + 900), ttl)
        .await
        .unwrap();
    assert!(
        matches!(c, LeaseOutcome::Acquired { .. }),
        "an expired lease is taken over"
    );
}

/// A loopback proxy to moto at `upstream` that lets a rival writer change
/// the window item `pk` (its version bumped, as a concurrent batch's write
/// would) just before forwarding each of the first `races` `PutItem`s: the
/// store's read is then stale and its conditional write must lose.
async fn racing_proxy(
    upstream: String,
    rival: aws_sdk_dynamodb::Client,
    table: &'static str,
    pk: String,
    races: usize,
) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.trim_start_matches("http://").to_string();
    let raced = std::sync::Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (upstream, rival, pk, raced) =
                (upstream.clone(), rival.clone(), pk.clone(), raced.clone());
            tokio::spawn(async move {
                let Some(request) = warden_emulator::stub::read_request(&mut sock).await else {
                    return;
                };
                let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
                if head.contains("x-amz-target: dynamodb_20120810.putitem")
                    && raced.fetch_add(1, Ordering::SeqCst) < races
                {
                    rival
                        .update_item()
                        .table_name(table)
                        .key("pk", AttributeValue::S(pk))
                        .key("sk", AttributeValue::S("w".into()))
                        .update_expression("SET #v = #v + :one")
                        .expression_attribute_names("#v", "v")
                        .expression_attribute_values(":one", AttributeValue::N("1".into()))
                        .send()
                        .await
                        .expect("the rival's write");
                }
                // One request per upstream connection, closed after the
                // response, which is passed back as it came.
                let line_end = request.windows(2).position(|w| w == b"\r\n").unwrap();
                let mut forwarded = request[..line_end + 2].to_vec();
                forwarded.extend_from_slice(b"Connection: close\r\n");
                forwarded.extend_from_slice(&request[line_end + 2..]);
                let mut up = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                up.write_all(&forwarded).await.unwrap();
                let mut response = Vec::new();
                up.read_to_end(&mut response).await.unwrap();
                let _ = sock.write_all(&response).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// The optimistic write of a window: a rival changes the item between the
/// store's read and its conditional `PutItem`; the put is refused, the
/// store reads again (consistently), recomputes and writes once more, and
/// the hits count once. A window that keeps changing is `Contention`.
#[tokio::test]
async fn a_window_write_that_loses_a_race_reads_again_and_counts_once() {
    let moto = MotoServer::start().expect("moto starts");
    let table = "state-window-race";
    let a = fresh(&moto, table).await;
    let first = [window(
        "brute",
        "mallory",
        3,
        "shardId-0",
        &[(1, 0), (2, 5)],
    )];
    a.record_hits(&first, t(5)).await.unwrap();
    let rival = aws_sdk_dynamodb::Client::new(
        &load_sdk_config(&AwsSettings::local(moto.endpoint_url())).await,
    );
    let pk = "w#brute#mallory".to_string();

    // One race: the third hit fires after one refused write.
    let proxy = racing_proxy(moto.endpoint_url(), rival.clone(), table, pk.clone(), 1).await;
    let b = store_at(proxy, table, 3).await;
    let second = [window("brute", "mallory", 3, "shardId-1", &[(3, 10)])];
    let out = b.record_hits(&second, t(10)).await.unwrap();
    let cause = format!("brute/mallory/shardId-1:{:020}#0", 3);
    assert_eq!(firings(&out), vec![(cause.clone(), false)]);
    let stats = b.stats();
    assert_eq!(stats.calls.get("PutItem"), Some(&2), "{stats:?}");
    assert_eq!(stats.calls.get("BatchGetItem"), Some(&2), "{stats:?}");
    // Read back directly: the firing is stored once; replaying it is a
    // replay, and the window holds no hit twice.
    let replay = a.record_hits(&second, t(11)).await.unwrap();
    assert_eq!(firings(&replay), vec![(cause, true)]);
    assert_eq!(replay[0].open, 0);

    // A rival on every write: six rounds, then a typed error, no outcome.
    let proxy = racing_proxy(moto.endpoint_url(), rival, table, pk, usize::MAX).await;
    let c = store_at(proxy, table, 3).await;
    let third = [window("brute", "mallory", 3, "shardId-1", &[(4, 20)])];
    let err = c.record_hits(&third, t(20)).await.unwrap_err();
    assert!(
        matches!(err, StateError::Contention { attempts: 6, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    assert!(err.to_string().contains("mallory"), "{err}");
}

#[tokio::test]
async fn a_throttled_or_unreachable_or_missing_table_is_a_typed_error_never_a_count() {
    let hits = [window("brute", "alice", 6, "shardId-0", &[(1, 0)])];

    let throttled = store_at(
        warden_emulator::stub::dynamodb_throttling().await,
        "state",
        1,
    )
    .await;
    let err = throttled.record_hits(&hits, t(0)).await.unwrap_err();
    assert!(matches!(err, StateError::Throttled { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("dynamodb table state"), "{err}");
    let req = [BudgetRequest {
        kind: "sign-out-user".into(),
        want: 1,
        max: 10,
        per: SignedDuration::from_hours(1),
    }];
    let err = throttled.take_budget(&req, t(0)).await.unwrap_err();
    assert!(matches!(err, StateError::Throttled { .. }), "{err}");

    let closed = {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let unreachable = store_at(closed, "state", 1).await;
    let err = unreachable.record_hits(&hits, t(0)).await.unwrap_err();
    assert!(matches!(err, StateError::Unreachable { .. }), "{err}");
    assert!(err.is_retryable());
    let err = unreachable.ledger_contains(&[], t(0)).await;
    assert_eq!(err, Ok(vec![]), "no keys: no call");

    let moto = MotoServer::start().expect("moto starts");
    let missing = store_at(moto.endpoint_url(), "no-such-table", 1).await;
    let err = missing.record_hits(&hits, t(0)).await.unwrap_err();
    assert!(matches!(err, StateError::Rejected { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("ResourceNotFoundException"),
        "{err}"
    );
}

#[tokio::test]
async fn the_population_counts_distinct_users_of_two_hour_buckets_in_two_calls() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let store = fresh(&moto, "state-population").await;
    let users = |v: &[&str]| v.iter().map(|u| u.to_string()).collect::<Vec<_>>();
    // t(0) is 1_790_000_000: the hour holding it starts at h.
    let h = (1_790_000_000i64).div_euclid(3600) * 3600 - 1_790_000_000;
    store.reset_stats();
    assert_eq!(
        store
            .note_users(&users(&["alice", "bob"]), t(h + 10))
            .await
            .unwrap(),
        2
    );
    let stats = store.stats();
    assert_eq!(stats.calls.get("UpdateItem"), Some(&1), "{stats:?}");
    assert_eq!(stats.calls.get("GetItem"), Some(&1), "{stats:?}");
    assert_eq!(stats.total_calls(), 2, "{stats:?}");
    // The same hour again: a repeat counts once.
    assert_eq!(
        store
            .note_users(&users(&["bob", "carol"]), t(h + 20))
            .await
            .unwrap(),
        3
    );
    // The next hour reads the previous bucket too.
    assert_eq!(
        store
            .note_users(&users(&["dave", "alice"]), t(h + 3600 + 1))
            .await
            .unwrap(),
        4
    );
    // Two hours on: the first bucket has left the window.
    assert_eq!(
        store
            .note_users(&users(&["erin"]), t(h + 7200 + 1))
            .await
            .unwrap(),
        3
    );
    // No users: both buckets are read, nothing written.
    store.reset_stats();
    assert_eq!(store.note_users(&[], t(h + 7200 + 2)).await.unwrap(), 3);
    assert_eq!(store.stats().calls.get("UpdateItem"), None);
    // The buckets do not disturb the operator's snapshot.
    store.snapshot(t(h + 7200 + 3)).await.unwrap();
}

#[tokio::test]
async fn the_population_of_an_unreachable_store_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let store = store_at(endpoint, "state", 1).await;
    let err = store
        .note_users(&["alice".to_string()], t(0))
        .await
        .expect_err("no table, no answer");
    assert!(err.is_retryable(), "{err}");
}
