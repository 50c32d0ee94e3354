//! Progress of long runs (stream and file replays, local sweeps): a spinner
//! line on stderr with the count, the rate and the position, drawn only when
//! stderr is a terminal. Reports go to stdout and never carry it; a run whose
//! stderr is a file or a pipe writes nothing at all for progress.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the spinner redraws on its own (between updates).
const TICK: Duration = Duration::from_millis(120);

/// One run's progress line.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    unit: &'static str,
    started: Instant,
    done: Mutex<u64>,
}

impl Progress {
    /// Progress counting `unit`s (`records`), shown when stderr is a
    /// terminal.
    pub fn stderr(unit: &'static str) -> Progress {
        Progress::new(unit, std::io::stderr().is_terminal())
    }

    /// Shown only when `terminal`; hidden otherwise (every call is then a
    /// no-op apart from counting).
    pub fn new(unit: &'static str, terminal: bool) -> Progress {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}{wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(TICK);
            bar
        });
        Progress {
            bar,
            unit,
            started: Instant::now(),
            done: Mutex::new(0),
        }
    }

    /// Never shown (tests, `--quiet` paths).
    pub fn hidden(unit: &'static str) -> Progress {
        Progress::new(unit, false)
    }

    /// Whether anything is drawn.
    #[cfg(test)]
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// How many units so far.
    #[cfg(test)]
    pub fn done(&self) -> u64 {
        *self.done.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `n` more units done; `position` says where the run is now.
    pub fn advance(&self, n: u64, position: &str) {
        let done = {
            let mut d = self.done.lock().unwrap_or_else(|p| p.into_inner());
            *d += n;
            *d
        };
        if let Some(bar) = &self.bar {
            bar.set_message(message(self.unit, done, self.started.elapsed(), position));
        }
    }

    /// What the run is on (a file, a stream), before the counts.
    pub fn set_prefix(&self, prefix: &str) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}: ")
            });
        }
    }

    /// Clears the line (the report follows on stdout).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Units per second over `elapsed` (0 for no time yet).
pub fn rate(done: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        done as f64 / secs
    }
}

/// `12,345 records, 4,100 records/s, at POSITION`.
pub fn message(unit: &str, done: u64, elapsed: Duration, position: &str) -> String {
    let mut s = format!(
        "{} {unit}, {} {unit}/s",
        thousands(done),
        thousands(rate(done, elapsed).round() as u64)
    );
    if !position.is_empty() {
        s.push_str(", at ");
        s.push_str(position);
    }
    s
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_give_count_rate_and_position() {
        assert_eq!(
            message(
                "records",
                12_345,
                Duration::from_secs(3),
                "shardId-0 2026-11-20T10:00:00Z"
            ),
            "12,345 records, 4,115 records/s, at shardId-0 2026-11-20T10:00:00Z"
        );
        assert_eq!(
            message("records", 7, Duration::ZERO, ""),
            "7 records, 0 records/s"
        );
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn not_a_terminal_draws_nothing_but_still_counts() {
        let p = Progress::new("records", false);
        assert!(!p.is_visible());
        p.set_prefix("file a.gz");
        p.advance(10, "line 10");
        p.advance(5, "line 15");
        assert_eq!(p.done(), 15);
        p.finish();
    }

    #[test]
    fn a_terminal_gets_a_line() {
        let p = Progress::new("records", true);
        assert!(p.is_visible());
        p.advance(3, "x");
        assert_eq!(p.done(), 3);
    }
}
