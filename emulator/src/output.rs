//! The lines a function process writes to its pipes, collected by reader
//! threads, for tests that run the real binaries (with [`crate::runtime_api`]).
//!
//! A line the process wrote before it answered an invocation still travels
//! through the pipe and a reader thread, so it may not be here yet when the
//! answer is: [`Output::lines_once`] waits for what a test looks for, and
//! [`Output::lines_after_exit`] reads a finished process to the end.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Lines from one or more pipes, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Output {
    lines: Arc<Mutex<Vec<String>>>,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Output {
    /// An empty collection.
    pub fn new() -> Output {
        Output::default()
    }

    /// Reads `pipe` line by line into this collection on a thread of its
    /// own, until the pipe closes.
    pub fn collect(&self, pipe: impl Read + Send + 'static) {
        let lines = self.lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        self.readers.lock().unwrap().push(reader);
    }

    /// What has arrived so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// What has arrived once `arrived` holds for it, or after `timeout`
    /// (then the caller's assertions say what is missing).
    pub async fn lines_once(
        &self,
        arrived: impl Fn(&[String]) -> bool,
        timeout: Duration,
    ) -> Vec<String> {
        let give_up = Instant::now() + timeout;
        loop {
            let lines = self.lines();
            if arrived(&lines) || Instant::now() >= give_up {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything, once the process has exited: waits for the readers to
    /// reach the end of their pipes.
    pub fn lines_after_exit(&self) -> Vec<String> {
        let readers: Vec<_> = self.readers.lock().unwrap().drain(..).collect();
        for reader in readers {
            let _ = reader.join();
        }
        self.lines()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_arrive_and_are_waited_for() {
        let out = Output::new();
        out.collect(&b"one\ntwo\n"[..]);
        let lines = out
            .lines_once(|ls| ls.len() == 2, Duration::from_secs(10))
            .await;
        assert_eq!(lines, ["one", "two"]);
        out.collect(&b"three"[..]);
        assert_eq!(out.lines_after_exit(), ["one", "two", "three"]);
    }
}
