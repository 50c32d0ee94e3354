//! The emulator's clock: real time, or a fixed instant that tests set and
//! advance (so lifecycles are tested by moving time, not by sleeping).

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

#[derive(Debug)]
pub struct Clock {
    fixed: Mutex<Option<Timestamp>>,
}

impl Clock {
    /// `Some(t)`: the clock stands at `t` until set or advanced. `None`: real time.
    pub fn new(fixed: Option<Timestamp>) -> Self {
        Clock {
            fixed: Mutex::new(fixed),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.fixed().unwrap_or_else(Timestamp::now)
    }

    /// The fixed instant, if the clock is fixed.
    pub fn fixed(&self) -> Option<Timestamp> {
        *self.fixed.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set(&self, to: Option<Timestamp>) {
        *self.fixed.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }

    /// Moves the clock forward (or back, for a negative duration). A clock
    /// following real time becomes fixed at now + `by`.
    pub fn advance(&self, by: SignedDuration) -> Result<Timestamp, jiff::Error> {
        let mut guard = self.fixed.lock().unwrap_or_else(|p| p.into_inner());
        let base = guard.unwrap_or_else(Timestamp::now);
        let next = base.checked_add(by)?;
        *guard = Some(next);
        Ok(next)
    }
}
