//! [`MemoryStateStore`]: the state in one process's memory, for unit tests
//! and the demo. Each call runs under one lock, so it is atomic like the
//! DynamoDB store's transactions.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use jiff::{SignedDuration, Timestamp};

use super::window::WindowState;
use super::{
    budget_period, limits, normalise_domain, validate_batch, BudgetGrant, BudgetRequest,
    BudgetView, LeaseOutcome, LeaseView, LedgerEntry, LedgerKey, Revocation, StateError,
    StateFuture, StateSnapshot, StateStore, WindowHits, WindowKey, WindowOutcome, WindowView,
};

#[derive(Debug, Default)]
struct Inner {
    windows: HashMap<WindowKey, WindowState>,
    /// (kind, period start) -> (used, max, period end).
    budgets: HashMap<(String, Timestamp), (u32, u32, Timestamp)>,
    /// Executed actions -> expiry.
    ledger: HashMap<LedgerKey, Timestamp>,
    /// (fleet, domain) -> revocation.
    revocations: HashMap<(String, String), Revocation>,
    /// Lease name -> (owner, expiry).
    leases: HashMap<String, (String, Timestamp)>,
    /// Hour bucket start (Unix seconds) -> distinct users noted in it.
    population: HashMap<i64, std::collections::HashSet<String>>,
    /// While set, every call fails with it (tests of failure handling).
    failure: Option<StateError>,
    /// Calls made (each method call counts one).
    calls: u64,
}

/// The state in memory: one process only, lost when it ends.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    inner: Mutex<Inner>,
}

impl MemoryStateStore {
    /// An empty store.
    pub fn new() -> MemoryStateStore {
        MemoryStateStore::default()
    }

    /// Makes every following call fail with `error` (`None`: succeed
    /// again), to test how callers treat a throttled or unreachable store.
    pub fn set_failure(&self, error: Option<StateError>) {
        self.lock().failure = error;
    }

    /// Calls made so far (one per method call).
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock, after counting the call and applying an injected failure.
    fn enter(&self) -> Result<MutexGuard<'_, Inner>, StateError> {
        let mut g = self.lock();
        g.calls += 1;
        match &g.failure {
            Some(e) => Err(e.clone()),
            None => Ok(g),
        }
    }
}

fn invalid(operation: &str, message: String) -> StateError {
    StateError::Invalid {
        store: "memory".into(),
        operation: operation.into(),
        message,
    }
}

impl StateStore for MemoryStateStore {
    fn record_hits<'a>(
        &'a self,
        batch: &'a [WindowHits],
        _now: Timestamp,
    ) -> StateFuture<'a, Vec<WindowOutcome>> {
        Box::pin(async move {
            validate_batch("memory", batch)?;
            let mut g = self.enter()?;
            let mut out = Vec::with_capacity(batch.len());
            for w in batch {
                let state = g.windows.entry(w.window.clone()).or_default();
                let hits = w
                    .hits
                    .iter()
                    .map(|h| (h.id.clone(), state.step(w.spec, h).outcome))
                    .collect();
                out.push(WindowOutcome {
                    window: w.window.clone(),
                    hits,
                    open: state.open(),
                });
            }
            Ok(out)
        })
    }

    fn take_budget<'a>(
        &'a self,
        requests: &'a [BudgetRequest],
        now: Timestamp,
    ) -> StateFuture<'a, Vec<BudgetGrant>> {
        Box::pin(async move {
            let mut g = self.enter()?;
            let mut out = Vec::with_capacity(requests.len());
            for r in requests {
                let (start, end) = budget_period(now, r.per).ok_or_else(|| {
                    invalid(
                        "take_budget",
                        format!("budget of `{}`: period {} is not positive", r.kind, r.per),
                    )
                })?;
                let slot = g
                    .budgets
                    .entry((r.kind.clone(), start))
                    .or_insert((0, r.max, end));
                slot.1 = r.max;
                let granted = r.want.min(r.max.saturating_sub(slot.0));
                slot.0 += granted;
                out.push(BudgetGrant {
                    kind: r.kind.clone(),
                    granted,
                    used: slot.0,
                    max: r.max,
                    period_start: start,
                    period_end: end,
                });
            }
            Ok(out)
        })
    }

    fn ledger_contains<'a>(
        &'a self,
        keys: &'a [LedgerKey],
        now: Timestamp,
    ) -> StateFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let g = self.enter()?;
            Ok(keys
                .iter()
                .map(|k| g.ledger.get(k).is_some_and(|exp| now < *exp))
                .collect())
        })
    }

    fn ledger_record<'a>(&'a self, entries: &'a [LedgerEntry]) -> StateFuture<'a, usize> {
        Box::pin(async move {
            let mut g = self.enter()?;
            let mut n = 0;
            for e in entries.iter().filter(|e| !e.dry_run) {
                g.ledger
                    .insert(e.key.clone(), e.at.saturating_add(e.keep).unwrap_or(e.at));
                n += 1;
            }
            Ok(n)
        })
    }

    fn record_revocations<'a>(&'a self, revocations: &'a [Revocation]) -> StateFuture<'a, ()> {
        Box::pin(async move {
            let mut g = self.enter()?;
            for r in revocations {
                let mut r = r.clone();
                r.domain = normalise_domain(&r.domain);
                g.revocations.insert((r.fleet.clone(), r.domain.clone()), r);
            }
            Ok(())
        })
    }

    fn revocations<'a>(
        &'a self,
        domains: &'a [(String, String)],
    ) -> StateFuture<'a, Vec<Option<Revocation>>> {
        Box::pin(async move {
            let g = self.enter()?;
            Ok(domains
                .iter()
                .map(|(f, d)| {
                    g.revocations
                        .get(&(f.clone(), normalise_domain(d)))
                        .cloned()
                })
                .collect())
        })
    }

    fn release_revocation<'a>(
        &'a self,
        fleet: Option<&'a str>,
        domain: &'a str,
    ) -> StateFuture<'a, Vec<Revocation>> {
        Box::pin(async move {
            let mut g = self.enter()?;
            let domain = normalise_domain(domain);
            let keys: Vec<_> = g
                .revocations
                .keys()
                .filter(|(f, d)| *d == domain && fleet.is_none_or(|want| want == f))
                .cloned()
                .collect();
            Ok(keys
                .into_iter()
                .filter_map(|k| g.revocations.remove(&k))
                .collect())
        })
    }

    fn acquire_lease<'a>(
        &'a self,
        name: &'a str,
        owner: &'a str,
        now: Timestamp,
        ttl: SignedDuration,
    ) -> StateFuture<'a, LeaseOutcome> {
        Box::pin(async move {
            let mut g = self.enter()?;
            if let Some((holder, expires)) = g.leases.get(name) {
                if holder != owner && now < *expires {
                    return Ok(LeaseOutcome::Held {
                        owner: holder.clone(),
                        expires: *expires,
                    });
                }
            }
            let expires = now.saturating_add(ttl).unwrap_or(now);
            g.leases
                .insert(name.to_string(), (owner.to_string(), expires));
            Ok(LeaseOutcome::Acquired { expires })
        })
    }

    fn release_lease<'a>(&'a self, name: &'a str, owner: &'a str) -> StateFuture<'a, bool> {
        Box::pin(async move {
            let mut g = self.enter()?;
            if g.leases.get(name).is_some_and(|(o, _)| o == owner) {
                g.leases.remove(name);
                return Ok(true);
            }
            Ok(false)
        })
    }

    fn snapshot(&self, now: Timestamp) -> StateFuture<'_, StateSnapshot> {
        Box::pin(async move {
            let g = self.enter()?;
            let mut snap = StateSnapshot::default();
            for ((kind, start), (used, max, end)) in &g.budgets {
                if now < *end {
                    snap.budgets.push(BudgetView {
                        kind: kind.clone(),
                        used: *used,
                        max: *max,
                        period_start: *start,
                        period_end: *end,
                    });
                }
            }
            for (key, w) in &g.windows {
                let live = w
                    .newest()
                    .and_then(|n| n.saturating_add(limits::WINDOW_KEEP).ok())
                    .is_some_and(|until| now < until);
                if live {
                    snap.windows.push(WindowView {
                        window: key.clone(),
                        open: w.open(),
                        newest: w.newest(),
                        last_fired: w.last_fired(),
                    });
                }
            }
            snap.revocations = g.revocations.values().cloned().collect();
            for (name, (owner, expires)) in &g.leases {
                if now < *expires {
                    snap.leases.push(LeaseView {
                        name: name.clone(),
                        owner: owner.clone(),
                        expires: *expires,
                    });
                }
            }
            snap.ledger_entries = g.ledger.values().filter(|e| now < **e).count() as u64;
            snap.sort();
            Ok(snap)
        })
    }

    fn describe(&self) -> String {
        "memory".into()
    }

    fn note_users<'a>(&'a self, users: &'a [String], at: Timestamp) -> StateFuture<'a, usize> {
        Box::pin(async move {
            let mut g = self.enter()?;
            let (current, previous) = super::population_buckets(at);
            // Buckets older than the window are gone, as DynamoDB's TTL drops them.
            g.population.retain(|b, _| *b >= previous);
            g.population
                .entry(current)
                .or_default()
                .extend(users.iter().cloned());
            let mut all: std::collections::HashSet<&String> = std::collections::HashSet::new();
            for b in [current, previous] {
                if let Some(set) = g.population.get(&b) {
                    all.extend(set.iter());
                }
            }
            Ok(all.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EventId, Hit, HitOutcome, ThresholdSpec};
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    /// The memory store's futures never wait: poll once.
    fn ready<T>(f: impl Future<Output = T>) -> T {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the memory store never waits"),
        }
    }

    fn t(sec: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + sec).unwrap()
    }

    fn hits(rule: &str, key: &str, seqs: &[(u32, i64)]) -> WindowHits {
        WindowHits {
            window: WindowKey {
                rule: rule.into(),
                key: key.into(),
            },
            spec: ThresholdSpec {
                count: 6,
                within: SignedDuration::from_mins(2),
            },
            hits: seqs
                .iter()
                .map(|(s, sec)| Hit {
                    id: EventId::new("shardId-000000000000", s.to_string(), 0),
                    at: t(*sec),
                })
                .collect(),
        }
    }

    fn fired(out: &[WindowOutcome]) -> Vec<(String, bool)> {
        out.iter()
            .flat_map(|w| w.firings().map(|f| (f.cause(&w.window), f.replayed)))
            .collect()
    }

    #[test]
    fn three_plus_three_hits_in_two_calls_fire_once_and_redelivery_replays() {
        let s = MemoryStateStore::new();
        let first = [hits("brute", "alice", &[(1, 0), (2, 5), (3, 10)])];
        let out = ready(s.record_hits(&first, t(10))).unwrap();
        assert!(fired(&out).is_empty());
        assert_eq!(out[0].open, 3);
        let second = [hits("brute", "alice", &[(4, 20), (5, 25), (6, 30)])];
        let out = ready(s.record_hits(&second, t(30))).unwrap();
        let cause = "brute/alice/shardId-000000000000:6#0".to_string();
        assert_eq!(fired(&out), vec![(cause.clone(), false)]);
        // The same batch again: nothing counts anew, the firing replays.
        let again = ready(s.record_hits(&second, t(31))).unwrap();
        assert_eq!(fired(&again), vec![(cause, true)]);
        assert!(matches!(again[0].hits[0].1, HitOutcome::Stale));
        // The first batch again: consumed by the firing.
        let old = ready(s.record_hits(&first, t(32))).unwrap();
        assert!(old[0].hits.iter().all(|(_, o)| *o == HitOutcome::Stale));
    }

    #[test]
    fn a_key_twice_in_one_batch_or_a_bad_threshold_is_refused() {
        let s = MemoryStateStore::new();
        let twice = [hits("r", "k", &[(1, 0)]), hits("r", "k", &[(2, 1)])];
        let err = ready(s.record_hits(&twice, t(0))).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
        let mut zero = hits("r", "k", &[(1, 0)]);
        zero.spec.count = 0;
        let err = ready(s.record_hits(std::slice::from_ref(&zero), t(0))).unwrap_err();
        assert!(matches!(err, StateError::Invalid { .. }), "{err}");
    }

    #[test]
    fn budgets_grant_what_is_left_and_reset_with_the_period() {
        let s = MemoryStateStore::new();
        let req = |want| {
            [BudgetRequest {
                kind: "sign-out-user".into(),
                want,
                max: 10,
                per: SignedDuration::from_hours(1),
            }]
        };
        let now: Timestamp = "2026-11-26T10:05:00Z".parse().unwrap();
        let g = ready(s.take_budget(&req(7), now)).unwrap();
        assert_eq!((g[0].granted, g[0].used), (7, 7));
        let g = ready(s.take_budget(&req(7), now)).unwrap();
        assert_eq!((g[0].granted, g[0].used), (3, 10));
        let g = ready(s.take_budget(&req(1), now)).unwrap();
        assert_eq!(g[0].granted, 0);
        assert_eq!(
            g[0].period_end,
            "2026-11-26T11:00:00Z".parse::<Timestamp>().unwrap()
        );
        let later: Timestamp = "2026-11-26T11:00:00Z".parse().unwrap();
        let g = ready(s.take_budget(&req(4), later)).unwrap();
        assert_eq!((g[0].granted, g[0].used), (4, 4));
    }

    #[test]
    fn concurrent_takers_never_exceed_the_budget_in_sum() {
        let s = std::sync::Arc::new(MemoryStateStore::new());
        let now: Timestamp = "2026-11-26T10:05:00Z".parse().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let req = [BudgetRequest {
                        kind: "sign-out-user".into(),
                        want: 3,
                        max: 10,
                        per: SignedDuration::from_hours(1),
                    }];
                    ready(s.take_budget(&req, now)).unwrap()[0].granted
                })
            })
            .collect();
        let total: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 10);
    }

    #[test]
    fn the_ledger_remembers_executed_actions_until_they_expire_and_never_dry_runs() {
        let s = MemoryStateStore::new();
        let key = |cause: &str| LedgerKey {
            kind: "sign-out-user".into(),
            target: "fleet/alice".into(),
            cause: cause.into(),
        };
        let entry = |cause: &str, dry_run| LedgerEntry {
            key: key(cause),
            rule: "brute".into(),
            at: t(0),
            keep: SignedDuration::from_hours(24),
            dry_run,
        };
        let n = ready(s.ledger_record(&[entry("burst-1", false), entry("burst-2", true)])).unwrap();
        assert_eq!(n, 1);
        let keys = [key("burst-1"), key("burst-2"), key("burst-3")];
        assert_eq!(
            ready(s.ledger_contains(&keys, t(60))).unwrap(),
            vec![true, false, false]
        );
        assert_eq!(
            ready(s.ledger_contains(&keys, t(24 * 3600))).unwrap(),
            vec![false, false, false]
        );
    }

    #[test]
    fn revocations_hold_until_released_per_fleet_or_everywhere() {
        let s = MemoryStateStore::new();
        let rev = |fleet: &str, domain: &str| Revocation {
            fleet: fleet.into(),
            domain: domain.into(),
            rule: "exfil".into(),
            at: t(0),
            cause: "c".into(),
            hold_until: None,
        };
        ready(s.record_revocations(&[rev("f1", "HR.corp.example."), rev("f2", "hr.corp.example")]))
            .unwrap();
        let q = [
            ("f1".to_string(), "hr.corp.example".to_string()),
            ("f2".to_string(), "hr.corp.example".to_string()),
            ("f1".to_string(), "wiki.corp.example".to_string()),
        ];
        let got = ready(s.revocations(&q)).unwrap();
        assert_eq!(
            got[0].as_ref().map(|r| r.domain.as_str()),
            Some("hr.corp.example")
        );
        assert!(got[1].is_some() && got[2].is_none());
        let released = ready(s.release_revocation(Some("f1"), "hr.corp.example")).unwrap();
        assert_eq!(released.len(), 1);
        let got = ready(s.revocations(&q)).unwrap();
        assert!(got[0].is_none() && got[1].is_some());
        let released = ready(s.release_revocation(None, "HR.corp.example")).unwrap();
        assert_eq!(released.len(), 1);
        assert!(ready(s.revocations(&q))
            .unwrap()
            .iter()
            .all(Option::is_none));
    }

    #[test]
    fn a_lease_is_exclusive_until_released_or_expired() {
        let s = MemoryStateStore::new();
        let ttl = SignedDuration::from_mins(5);
        let a = ready(s.acquire_lease("fleet-sweep", "run-a", t(0), ttl)).unwrap();
        assert_eq!(a, LeaseOutcome::Acquired { expires: t(300) });
        let b = ready(s.acquire_lease("fleet-sweep", "run-b", t(10), ttl)).unwrap();
        assert_eq!(
            b,
            LeaseOutcome::Held {
                owner: "run-a".into(),
                expires: t(300)
            }
        );
        assert!(!ready(s.release_lease("fleet-sweep", "run-b")).unwrap());
        assert!(ready(s.release_lease("fleet-sweep", "run-a")).unwrap());
        let b = ready(s.acquire_lease("fleet-sweep", "run-b", t(20), ttl)).unwrap();
        assert!(matches!(b, LeaseOutcome::Acquired { .. }));
        // Expired: another owner takes it over.
        let c = ready(s.acquire_lease("fleet-sweep", "run-c", t(320), ttl)).unwrap();
        assert!(matches!(c, LeaseOutcome::Acquired { .. }));
    }

    #[test]
    fn an_injected_failure_is_an_error_never_a_zero_count() {
        let s = MemoryStateStore::new();
        s.set_failure(Some(StateError::Throttled {
            store: "memory".into(),
            operation: "record_hits".into(),
            message: "injected".into(),
        }));
        let err = ready(s.record_hits(&[hits("r", "k", &[(1, 0)])], t(0))).unwrap_err();
        assert!(err.is_retryable(), "{err}");
        s.set_failure(None);
        let out = ready(s.record_hits(&[hits("r", "k", &[(1, 0)])], t(0))).unwrap();
        assert_eq!(out[0].hits[0].1, HitOutcome::Counted { count: 1 });
        assert_eq!(s.calls(), 2);
    }

    #[test]
    fn the_population_counts_distinct_users_of_this_hour_and_the_last() {
        let s = MemoryStateStore::new();
        let users = |v: &[&str]| v.iter().map(|u| u.to_string()).collect::<Vec<_>>();
        let h = 1_764_151_200; // an hour boundary
        assert_eq!(h % 3600, 0);
        // Hour 0: alice, bob; a repeat counts once.
        assert_eq!(
            ready(s.note_users(&users(&["alice", "bob"]), t(h + 10))).unwrap(),
            2
        );
        assert_eq!(ready(s.note_users(&users(&["bob"]), t(h + 20))).unwrap(), 2);
        // Hour 1: carol is new, alice is in both buckets.
        assert_eq!(
            ready(s.note_users(&users(&["carol", "alice"]), t(h + 3600))).unwrap(),
            3
        );
        // Hour 2: hour 0 (alice, bob) fell out; hour 1 has carol, alice.
        assert_eq!(
            ready(s.note_users(&users(&["dave"]), t(h + 7200 + 5))).unwrap(),
            3
        );
        // Hour 4: both earlier buckets are gone.
        assert_eq!(ready(s.note_users(&[], t(h + 4 * 3600))).unwrap(), 0);
        s.set_failure(Some(StateError::Unreachable {
            store: "memory".into(),
            operation: "note_users".into(),
            message: "down".into(),
        }));
        assert!(ready(s.note_users(&users(&["x"]), t(h + 4 * 3600))).is_err());
    }

    #[test]
    fn the_snapshot_shows_live_state_only() {
        let s = MemoryStateStore::new();
        ready(s.record_hits(&[hits("r", "k", &[(1, 0), (2, 1)])], t(1))).unwrap();
        let req = [BudgetRequest {
            kind: "revoke-domain".into(),
            want: 1,
            max: 2,
            per: SignedDuration::from_hours(1),
        }];
        ready(s.take_budget(&req, t(1))).unwrap();
        let snap = ready(s.snapshot(t(2))).unwrap();
        assert_eq!(snap.windows.len(), 1);
        assert_eq!(snap.windows[0].open, 2);
        assert_eq!(snap.budgets.len(), 1);
        let snap = ready(s.snapshot(t(3 * 86_400))).unwrap();
        assert!(snap.windows.is_empty() && snap.budgets.is_empty());
    }
}
