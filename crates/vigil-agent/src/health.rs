//! What `/health` and `/ready` report: liveness of the process, and readiness
//! as the conjunction of the parts that must work (the watch has synced and is
//! connected, the writer can write). Each part flips its own flag. The
//! Events source runs on the leader only: a follower's readiness does not
//! depend on it (it serves webhooks and the admin server).

use std::sync::atomic::{AtomicBool, Ordering};

/// Shared readiness flags, one per part.
#[derive(Debug, Default)]
pub struct Health {
    source_running: AtomicBool,
    watch_synced: AtomicBool,
    watch_connected: AtomicBool,
    writer_ok: AtomicBool,
    /// Whether this replica runs the Events source (leads), so that
    /// readiness requires it.
    events_required: AtomicBool,
}

impl Health {
    pub fn new() -> Self {
        // The writer is presumed able to write until a write fails.
        let h = Self::default();
        h.writer_ok.store(true, Ordering::Relaxed);
        h.events_required.store(true, Ordering::Relaxed);
        h
    }

    /// Whether readiness requires the Events source (true on the leader,
    /// false on a follower).
    pub fn set_events_required(&self, v: bool) {
        self.events_required.store(v, Ordering::Relaxed);
    }

    pub fn set_source_running(&self, v: bool) {
        self.source_running.store(v, Ordering::Relaxed);
        if !v {
            self.watch_connected.store(false, Ordering::Relaxed);
        }
    }
    pub fn set_watch_synced(&self, v: bool) {
        self.watch_synced.store(v, Ordering::Relaxed);
    }
    pub fn set_watch_connected(&self, v: bool) {
        self.watch_connected.store(v, Ordering::Relaxed);
    }
    pub fn set_writer_ok(&self, v: bool) {
        self.writer_ok.store(v, Ordering::Relaxed);
    }

    /// Ok when ready; otherwise the parts that are not.
    pub fn readiness(&self) -> Result<(), Vec<&'static str>> {
        let mut not = Vec::new();
        if self.events_required.load(Ordering::Relaxed) {
            if !self.source_running.load(Ordering::Relaxed) {
                not.push("source not running");
            }
            if !self.watch_synced.load(Ordering::Relaxed) {
                not.push("watch not synced");
            }
            if !self.watch_connected.load(Ordering::Relaxed) {
                not.push("watch disconnected");
            }
        }
        if !self.writer_ok.load(Ordering::Relaxed) {
            not.push("writer failing");
        }
        if not.is_empty() {
            Ok(())
        } else {
            Err(not)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_part_is() {
        let h = Health::new();
        assert_eq!(
            h.readiness(),
            Err(vec![
                "source not running",
                "watch not synced",
                "watch disconnected"
            ])
        );
        h.set_source_running(true);
        h.set_watch_synced(true);
        h.set_watch_connected(true);
        assert_eq!(h.readiness(), Ok(()));
        h.set_writer_ok(false);
        assert_eq!(h.readiness(), Err(vec!["writer failing"]));
        h.set_writer_ok(true);
        h.set_source_running(false);
        assert_eq!(
            h.readiness(),
            Err(vec!["source not running", "watch disconnected"])
        );
    }

    #[test]
    fn a_follower_is_ready_without_the_events_source() {
        let h = Health::new();
        h.set_events_required(false);
        assert_eq!(h.readiness(), Ok(()));
        h.set_writer_ok(false);
        assert_eq!(h.readiness(), Err(vec!["writer failing"]));
        h.set_writer_ok(true);
        h.set_events_required(true);
        assert!(h.readiness().is_err(), "a leader needs its watch");
    }
}
