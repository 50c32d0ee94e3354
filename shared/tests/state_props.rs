//! Property: cutting a stream of threshold hits into batches in any way, and
//! re-delivering any earlier part of it between batches, gives the same
//! counts and firing points as one batch holding the whole stream.

use std::collections::BTreeSet;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use warden_core::state::{
    EventId, Hit, HitOutcome, MemoryStateStore, StateStore, ThresholdSpec, WindowHits, WindowKey,
};

/// The memory store's futures are ready at once.
fn ready<T>(f: impl Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory store never waits"),
    }
}

/// One event of the stream: which rule/key it hits, its time.
#[derive(Debug, Clone)]
struct Ev {
    rule: usize,
    key: usize,
    sec: i64,
}

const RULES: [(&str, ThresholdSpec); 2] = [
    (
        "brute",
        ThresholdSpec {
            count: 3,
            within: SignedDuration::from_secs(60),
        },
    ),
    (
        "burst",
        ThresholdSpec {
            count: 2,
            within: SignedDuration::from_secs(10),
        },
    ),
];

fn id(i: usize) -> EventId {
    // Two shards, several events per record.
    EventId::new(
        format!("shardId-{}", i % 2),
        format!("{:020}", i / 3),
        (i % 3) as u32,
    )
}

/// Groups the events `idx` as one batch: per (rule, key), in stream order.
fn batch(evs: &[Ev], idx: &[usize]) -> Vec<WindowHits> {
    let mut out: Vec<WindowHits> = Vec::new();
    for &i in idx {
        let e = &evs[i];
        let window = WindowKey {
            rule: RULES[e.rule].0.into(),
            key: format!("user{}", e.key),
        };
        let hit = Hit {
            id: id(i),
            at: Timestamp::from_second(1_790_000_000 + e.sec).unwrap(),
        };
        match out.iter_mut().find(|w| w.window == window) {
            Some(w) => w.hits.push(hit),
            None => out.push(WindowHits {
                window,
                spec: RULES[e.rule].1,
                hits: vec![hit],
            }),
        }
    }
    out
}

/// Outcome per event index, and the set of firing causes seen.
type Run = (Vec<Option<HitOutcome>>, BTreeSet<String>);

fn feed(store: &MemoryStateStore, evs: &[Ev], idx: &[usize], run: &mut Run, first_time: bool) {
    let b = batch(evs, idx);
    let now = Timestamp::from_second(1_790_000_000).unwrap();
    let out = ready(store.record_hits(&b, now)).expect("memory store");
    for w in &out {
        for (hid, o) in &w.hits {
            if let HitOutcome::Fired(f) = o {
                run.1.insert(f.cause(&w.window));
            }
            if first_time {
                let i = (0..evs.len()).find(|i| id(*i) == *hid).expect("known id");
                run.0[i] = Some(o.clone());
            }
        }
    }
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec((0..2usize, 0..3usize, 0..40i64), 1..60).prop_map(|raw| {
        // Times mostly move forward, sometimes jump back (another shard).
        let mut sec = 0i64;
        raw.into_iter()
            .map(|(rule, key, step)| {
                sec += step - 8;
                Ev {
                    rule,
                    key,
                    sec: sec.max(0),
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_cut_and_any_redelivery_gives_the_one_batch_outcomes(
        evs in events(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        redeliveries in prop::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..6),
    ) {
        let all: Vec<usize> = (0..evs.len()).collect();
        let one = MemoryStateStore::new();
        let mut expected: Run = (vec![None; evs.len()], BTreeSet::new());
        feed(&one, &evs, &all, &mut expected, true);

        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(evs.len() + 1)).collect();
        points.push(0);
        points.push(evs.len());
        points.sort_unstable();
        points.dedup();
        let cut = MemoryStateStore::new();
        let mut got: Run = (vec![None; evs.len()], BTreeSet::new());
        for (n, pair) in points.windows(2).enumerate() {
            feed(&cut, &evs, &all[pair[0]..pair[1]], &mut got, true);
            // Re-deliver a part of what was delivered so far, as Lambda does
            // after a failure (from some record to the end of the batch).
            if let Some((a, b)) = redeliveries.get(n) {
                let upto = pair[1];
                if upto > 0 {
                    let from = a.index(upto);
                    let to = from + 1 + b.index(upto - from);
                    feed(&cut, &evs, &all[from..to], &mut got, false);
                }
            }
        }
        prop_assert_eq!(&got.0, &expected.0, "per-event outcomes differ");
        prop_assert_eq!(&got.1, &expected.1, "firing causes differ");
    }
}
