//! One threshold window's state and the step that records a hit in it.
//!
//! Both stores run exactly this code on exactly this state (the DynamoDB
//! store keeps it, serialised, in one item per rule and key), so a sequence
//! of hits gives the same outcomes however it is cut into batches.
//!
//! Semantics of `count N within W`:
//!
//! * A hit is identified by its [`EventId`]; a hit already held is a
//!   [`HitOutcome::Duplicate`] and changes nothing.
//! * The window holds the hits of the last `W` behind the newest hit seen;
//!   an older hit is [`HitOutcome::Stale`].
//! * The threshold fires when some span of length `W` holds `N` hits, the
//!   new one among them: the new hit is the firing's cause. The hits up to
//!   the end of that span are then consumed: the threshold fires again only
//!   on `N` hits after it (a burst fires once; a burst that goes on fires
//!   again every `N` hits).
//! * A hit at or before the end of the last firing's span is stale.
//! * The completing hit of each of the last few firings is remembered in
//!   full: when it is re-delivered, the same firing is reported again with
//!   `replayed: true`, so a failed action is retried by re-delivery.
//!
//! So a window never holds `N` hits after a step: an item stays below
//! `N` × ~40 bytes.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::{limits, EventId, Firing, Hit, HitOutcome, ThresholdSpec};

/// A remembered firing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fired {
    /// The completing hit's digest ([`EventId::digest`]): a re-delivery of
    /// it (same digest, same time) replays the firing.
    id: u64,
    /// Its time (ms).
    at: i64,
    /// The end of the span that fired (ms): hits up to it are consumed.
    end: i64,
    /// The span's first hit (ms).
    start: i64,
    /// Hits in the span.
    count: u32,
}

/// The state of one (rule, key) window: the hits that still count, the
/// newest hit seen, and the last firings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowState {
    /// Hits that count towards the next firing: (ms, digest), sorted.
    hits: Vec<(i64, u64)>,
    /// The newest hit time seen (ms).
    newest: Option<i64>,
    /// The last firings, oldest first.
    fired: Vec<Fired>,
}

/// The stored form (CBOR): format, newest, hit times as deltas (the first
/// back from `newest`, then each from the one before: small numbers, one
/// to three bytes each), hit digests, firings as (digest, at, end, start
/// back from `newest`, count). About 13 bytes per open hit, a third of the
/// JSON form it replaces, so a window of 50 hits stays under one write
/// unit.
type Wire = (
    u8,
    Option<i64>,
    Vec<u64>,
    Vec<u64>,
    Vec<(u64, i64, i64, i64, u32)>,
);

/// The format written by [`WindowState::to_bytes`].
const WIRE_FORMAT: u8 = 1;

/// The first stored form (JSON in the `st` attribute), still read.
#[derive(Deserialize)]
struct LegacyState {
    #[serde(rename = "h", default)]
    hits: Vec<(i64, u64)>,
    #[serde(rename = "n", default)]
    newest: Option<i64>,
    #[serde(rename = "f", default)]
    fired: Vec<LegacyFired>,
}

#[derive(Deserialize)]
struct LegacyFired {
    s: String,
    q: String,
    i: u32,
    t: i64,
    e: i64,
    b: i64,
    c: u32,
}

/// The result of [`WindowState::step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowStep {
    /// What became of the hit.
    pub outcome: HitOutcome,
    /// Whether the state changed (a write is needed).
    pub changed: bool,
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MIN)
}

fn window_ms(within: SignedDuration) -> i64 {
    i64::try_from(within.as_millis()).unwrap_or(i64::MAX)
}

impl WindowState {
    /// Records one hit (see the module documentation for the semantics).
    pub fn step(&mut self, spec: ThresholdSpec, hit: &Hit) -> WindowStep {
        let t = ms(hit.at);
        let w = window_ms(spec.within);
        let digest = hit.id.digest();
        if let Some(f) = self.fired.iter().find(|f| f.id == digest && f.at == t) {
            return WindowStep {
                outcome: HitOutcome::Fired(Firing {
                    hit: hit.id.clone(),
                    at: ts(f.at),
                    window_start: ts(f.start),
                    count: f.count,
                    replayed: true,
                }),
                changed: false,
            };
        }
        if self.hits.iter().any(|(ht, d)| *d == digest && *ht == t) {
            return WindowStep {
                outcome: HitOutcome::Duplicate,
                changed: false,
            };
        }
        let consumed_to = self.fired.iter().map(|f| f.end).max();
        let too_old = self.newest.is_some_and(|n| t < n.saturating_sub(w));
        if consumed_to.is_some_and(|e| t <= e) || too_old {
            return WindowStep {
                outcome: HitOutcome::Stale,
                changed: false,
            };
        }
        let pos = self.hits.partition_point(|h| *h < (t, digest));
        self.hits.insert(pos, (t, digest));
        let newest = self.newest.map_or(t, |n| n.max(t));
        self.newest = Some(newest);
        let floor = newest.saturating_sub(w);
        let dropped = self.hits.partition_point(|(ht, _)| *ht < floor);
        self.hits.drain(..dropped);

        // Spans of length W that contain the new hit end at a hit at or
        // after it, no later than t + W. For each, count its hits (two
        // pointers over the sorted hits); the first that reaches N fires.
        let mut best = 0u32;
        let mut lo = 0usize;
        for end in 0..self.hits.len() {
            let te = self.hits[end].0;
            let from = te.saturating_sub(w);
            while self.hits[lo].0 < from {
                lo += 1;
            }
            if te < t || from > t {
                continue;
            }
            let count = u32::try_from(end + 1 - lo).unwrap_or(u32::MAX);
            if count >= spec.count {
                let start = self.hits[lo].0;
                self.fired.push(Fired {
                    id: digest,
                    at: t,
                    end: te,
                    start,
                    count,
                });
                if self.fired.len() > limits::FIRINGS_KEPT {
                    let extra = self.fired.len() - limits::FIRINGS_KEPT;
                    self.fired.drain(..extra);
                }
                let consumed = self.hits.partition_point(|(ht, _)| *ht <= te);
                self.hits.drain(..consumed);
                return WindowStep {
                    outcome: HitOutcome::Fired(Firing {
                        hit: hit.id.clone(),
                        at: hit.at,
                        window_start: ts(start),
                        count,
                        replayed: false,
                    }),
                    changed: true,
                };
            }
            best = best.max(count);
        }
        WindowStep {
            outcome: HitOutcome::Counted { count: best },
            changed: true,
        }
    }

    /// Hits in the window behind the newest hit: those that count towards
    /// the next firing.
    pub fn open(&self) -> u32 {
        u32::try_from(self.hits.len()).unwrap_or(u32::MAX)
    }

    /// The newest hit's time.
    pub fn newest(&self) -> Option<Timestamp> {
        self.newest.map(ts)
    }

    /// The last firing's time.
    pub fn last_fired(&self) -> Option<Timestamp> {
        self.fired.iter().map(|f| f.at).max().map(ts)
    }

    /// When the state may be forgotten: `keep` after the newest hit's window
    /// closed (then every hit that could still arrive is stale anyway, or a
    /// re-delivery older than `keep`).
    pub fn expires(&self, spec: ThresholdSpec, keep: SignedDuration) -> Option<Timestamp> {
        let newest = self.newest?;
        let end = newest
            .saturating_add(window_ms(spec.within))
            .saturating_add(window_ms(keep));
        Some(ts(end))
    }

    /// The state as stored (CBOR, see [`Wire`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let base = self.newest.unwrap_or(0);
        let mut prev = base;
        let mut deltas = Vec::with_capacity(self.hits.len());
        for (i, (t, _)) in self.hits.iter().enumerate() {
            let d = if i == 0 { base - t } else { t - prev };
            deltas.push(u64::try_from(d).unwrap_or(0));
            prev = *t;
        }
        let digests = self.hits.iter().map(|(_, d)| *d).collect();
        let fired = self
            .fired
            .iter()
            .map(|f| (f.id, base - f.at, base - f.end, base - f.start, f.count))
            .collect();
        let wire: Wire = (WIRE_FORMAT, self.newest, deltas, digests, fired);
        let mut out = Vec::with_capacity(16 + 13 * self.hits.len());
        match ciborium::into_writer(&wire, &mut out) {
            Ok(()) => out,
            // Writing integers into a Vec cannot fail.
            Err(_) => Vec::new(),
        }
    }

    /// The state from [`WindowState::to_bytes`]'s form.
    pub fn from_bytes(bytes: &[u8]) -> Result<WindowState, String> {
        let (format, newest, deltas, digests, fired): Wire = ciborium::from_reader(bytes)
            .map_err(|e| format!("window state is not readable: {e}"))?;
        if format != WIRE_FORMAT {
            return Err(format!(
                "window state has format {format}, this version reads {WIRE_FORMAT}"
            ));
        }
        if deltas.len() != digests.len() {
            return Err(format!(
                "window state holds {} hit times but {} digests",
                deltas.len(),
                digests.len()
            ));
        }
        if newest.is_none() && !(deltas.is_empty() && fired.is_empty()) {
            return Err("window state has hits but no newest time".into());
        }
        let base = newest.unwrap_or(0);
        let bad = || "window state holds a time out of range".to_string();
        let mut hits = Vec::with_capacity(deltas.len());
        let mut prev = base;
        for (i, (d, digest)) in deltas.into_iter().zip(digests).enumerate() {
            let d = i64::try_from(d).map_err(|_| bad())?;
            let t = if i == 0 {
                base.checked_sub(d)
            } else {
                prev.checked_add(d)
            }
            .ok_or_else(bad)?;
            hits.push((t, digest));
            prev = t;
        }
        if hits.windows(2).any(|w| w[0] > w[1]) {
            return Err("window state holds hits out of order".into());
        }
        let back = |d: i64| base.checked_sub(d).ok_or_else(bad);
        let fired = fired
            .into_iter()
            .map(|(id, at, end, start, count)| {
                Ok(Fired {
                    id,
                    at: back(at)?,
                    end: back(end)?,
                    start: back(start)?,
                    count,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(WindowState {
            hits,
            newest,
            fired,
        })
    }

    /// The state from the first stored form (JSON, written before the
    /// CBOR form; firings then named their hit in full).
    pub fn from_legacy_json(text: &str) -> Result<WindowState, String> {
        let legacy: LegacyState =
            serde_json::from_str(text).map_err(|e| format!("window state is not readable: {e}"))?;
        let mut hits = legacy.hits;
        hits.sort_unstable();
        Ok(WindowState {
            hits,
            newest: legacy.newest,
            fired: legacy
                .fired
                .into_iter()
                .map(|f| Fired {
                    id: EventId::new(f.s, f.q, f.i).digest(),
                    at: f.t,
                    end: f.e,
                    start: f.b,
                    count: f.c,
                })
                .collect(),
        })
    }

    /// Whether the window holds this event's hit.
    #[cfg(test)]
    pub(crate) fn holds(&self, id: &EventId) -> bool {
        let d = id.digest();
        self.hits.iter().any(|(_, hd)| *hd == d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(sec: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + sec).unwrap()
    }

    fn hit(seq: u32, sec: i64) -> Hit {
        Hit {
            id: EventId::new("shardId-000000000000", format!("{seq:05}"), 0),
            at: at(sec),
        }
    }

    const SPEC: ThresholdSpec = ThresholdSpec {
        count: 3,
        within: SignedDuration::from_secs(60),
    };

    fn run(state: &mut WindowState, hits: &[Hit]) -> Vec<HitOutcome> {
        hits.iter().map(|h| state.step(SPEC, h).outcome).collect()
    }

    #[test]
    fn fires_once_on_the_nth_hit_within_the_window_then_counts_afresh() {
        let mut s = WindowState::default();
        let out = run(
            &mut s,
            &[hit(1, 0), hit(2, 10), hit(3, 20), hit(4, 25), hit(5, 30)],
        );
        assert_eq!(out[0], HitOutcome::Counted { count: 1 });
        assert_eq!(out[1], HitOutcome::Counted { count: 2 });
        let HitOutcome::Fired(f) = &out[2] else {
            panic!("third hit fires: {out:?}")
        };
        assert_eq!((f.count, f.window_start, f.replayed), (3, at(0), false));
        assert_eq!(out[3], HitOutcome::Counted { count: 1 });
        assert_eq!(out[4], HitOutcome::Counted { count: 2 });
        assert_eq!(s.open(), 2);
    }

    #[test]
    fn hits_further_apart_than_the_window_never_fire() {
        let mut s = WindowState::default();
        let out = run(&mut s, &[hit(1, 0), hit(2, 50), hit(3, 101), hit(4, 152)]);
        assert!(
            out.iter().all(|o| !matches!(o, HitOutcome::Fired(_))),
            "{out:?}"
        );
        assert_eq!(s.open(), 2, "152's window holds 101 and 152");
    }

    #[test]
    fn duplicates_change_nothing_and_a_redelivered_firing_replays() {
        let mut s = WindowState::default();
        run(&mut s, &[hit(1, 0), hit(2, 10)]);
        let before = s.clone();
        assert_eq!(s.step(SPEC, &hit(2, 10)).outcome, HitOutcome::Duplicate);
        assert_eq!(s, before);
        let HitOutcome::Fired(first) = s.step(SPEC, &hit(3, 20)).outcome else {
            panic!("fires")
        };
        let step = s.step(SPEC, &hit(3, 20));
        assert!(!step.changed);
        assert_eq!(
            step.outcome,
            HitOutcome::Fired(Firing {
                replayed: true,
                ..first
            })
        );
        // The consumed hits of the burst are stale when re-delivered.
        assert_eq!(s.step(SPEC, &hit(1, 0)).outcome, HitOutcome::Stale);
    }

    #[test]
    fn a_late_hit_completing_an_earlier_span_fires() {
        let mut s = WindowState::default();
        // 0 and 50 arrive, then 30 (late, from another shard): 0..=50 holds 3.
        run(&mut s, &[hit(1, 0), hit(2, 50)]);
        let HitOutcome::Fired(f) = s.step(SPEC, &hit(3, 30)).outcome else {
            panic!("the late hit completes the span")
        };
        assert_eq!(f.window_start, at(0));
        assert_eq!(s.open(), 0);
        // A hit older than the newest minus the window is stale.
        let mut s = WindowState::default();
        run(&mut s, &[hit(1, 100)]);
        assert_eq!(s.step(SPEC, &hit(2, 30)).outcome, HitOutcome::Stale);
        assert!(!s.holds(&hit(2, 30).id));
    }

    #[test]
    fn state_round_trips_through_its_stored_form() {
        let mut s = WindowState::default();
        run(&mut s, &[hit(1, 0), hit(2, 10), hit(3, 20), hit(4, 30)]);
        let bytes = s.to_bytes();
        assert_eq!(WindowState::from_bytes(&bytes).unwrap(), s);
        assert!(WindowState::from_bytes(b"\x07").is_err());
        assert!(WindowState::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(WindowState::from_legacy_json("{\"h\":7}").is_err());
        assert_eq!(
            s.expires(SPEC, SignedDuration::from_hours(24)),
            Some(at(30) + SignedDuration::from_secs(60) + SignedDuration::from_hours(24))
        );
    }

    #[test]
    fn the_first_stored_form_is_still_read() {
        // As the JSON form stored it: two open hits and one firing named in
        // full; a re-delivery of the firing's hit replays it.
        let fired = hit(3, 20);
        let json = format!(
            r#"{{"h":[[{},{}],[{},{}]],"n":{},"f":[{{"s":"shardId-000000000000","q":"00003","i":0,"t":{},"e":{},"b":{},"c":3}}]}}"#,
            at(40).as_millisecond(),
            hit(5, 40).id.digest(),
            at(30).as_millisecond(),
            hit(4, 30).id.digest(),
            at(40).as_millisecond(),
            at(20).as_millisecond(),
            at(20).as_millisecond(),
            at(0).as_millisecond(),
        );
        let mut s = WindowState::from_legacy_json(&json).unwrap();
        assert_eq!(s.open(), 2);
        assert!(s.holds(&hit(4, 30).id) && s.holds(&hit(5, 40).id));
        let HitOutcome::Fired(f) = s.step(SPEC, &fired).outcome else {
            panic!("the remembered firing replays")
        };
        assert!(f.replayed);
        assert_eq!((f.count, f.window_start), (3, at(0)));
        // And it round-trips through the current form.
        assert_eq!(WindowState::from_bytes(&s.to_bytes()).unwrap(), s);
    }

    #[test]
    fn a_full_window_of_fifty_hits_fits_one_write_unit() {
        let spec = ThresholdSpec {
            count: 50,
            within: SignedDuration::from_secs(60),
        };
        let mut s = WindowState::default();
        for i in 0..49 {
            // Kinesis-sized sequence numbers, hits ~1 s apart.
            let h = Hit {
                id: EventId::new(
                    "shardId-000000000003",
                    format!("4961540981468279428093127168{i:028}"),
                    0,
                ),
                at: at(i),
            };
            s.step(spec, &h);
        }
        assert_eq!(s.open(), 49);
        let bytes = s.to_bytes();
        assert!(bytes.len() <= 49 * 13 + 16, "{} bytes", bytes.len());
        assert!(bytes.len() < 700, "{} bytes", bytes.len());
        assert_eq!(WindowState::from_bytes(&bytes).unwrap(), s);
    }
}
