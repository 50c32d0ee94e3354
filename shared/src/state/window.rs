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
use serde::{Deserialize, Serialize};

#[cfg(test)]
use super::EventId;
use super::{limits, Firing, Hit, HitOutcome, ThresholdSpec};

/// A remembered firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Fired {
    /// The completing hit (shard, sequence, index).
    #[serde(rename = "s")]
    shard: String,
    #[serde(rename = "q")]
    sequence: String,
    #[serde(rename = "i")]
    index: u32,
    /// Its time (ms).
    #[serde(rename = "t")]
    at: i64,
    /// The end of the span that fired (ms): hits up to it are consumed.
    #[serde(rename = "e")]
    end: i64,
    /// The span's first hit (ms).
    #[serde(rename = "b")]
    start: i64,
    /// Hits in the span.
    #[serde(rename = "c")]
    count: u32,
}

/// The state of one (rule, key) window: the hits that still count, the
/// newest hit seen, and the last firings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowState {
    /// Hits that count towards the next firing: (ms, digest), sorted.
    #[serde(rename = "h", default)]
    hits: Vec<(i64, u64)>,
    /// The newest hit time seen (ms).
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    newest: Option<i64>,
    /// The last firings, oldest first.
    #[serde(rename = "f", default, skip_serializing_if = "Vec::is_empty")]
    fired: Vec<Fired>,
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
        if let Some(f) = self.fired.iter().find(|f| {
            f.index == hit.id.index && f.sequence == hit.id.sequence && f.shard == hit.id.shard
        }) {
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
        let digest = hit.id.digest();
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
                    shard: hit.id.shard.clone(),
                    sequence: hit.id.sequence.clone(),
                    index: hit.id.index,
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

    /// The state as stored (compact JSON).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The state from its stored form.
    pub fn decode(text: &str) -> Result<WindowState, String> {
        serde_json::from_str(text).map_err(|e| format!("window state is not readable: {e}"))
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
        let text = s.encode();
        assert_eq!(WindowState::decode(&text).unwrap(), s);
        assert!(WindowState::decode("{\"h\":7}").is_err());
        assert_eq!(
            s.expires(SPEC, SignedDuration::from_hours(24)),
            Some(at(30) + SignedDuration::from_secs(60) + SignedDuration::from_hours(24))
        );
    }
}
