//! The exposure log writer's scheduling: the idle class while it keeps up,
//! so its commits never take a core from a request, and normal scheduling
//! at nice 10 when it falls behind. It falls behind two ways: its backlog
//! grows (the cores are saturated by requests: the writer decides itself),
//! or it gets no CPU at all while rows wait (the cores are saturated by
//! something else, a fit or another process, and an idle-class thread gets
//! a fraction of a percent of a core): then the writer cannot decide, so a
//! request that queues a row behind others on a writer that has not moved
//! for [`STARVED`] raises it ([`Watch::check`]). Without that, rows waited
//! seconds for their commit under load, and a kill lost them.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long rows may wait on a writer that makes no progress before a
/// request raises it.
pub(crate) const STARVED: Duration = Duration::from_millis(250);

/// The writer's scheduling class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// `SCHED_IDLE`: it runs on a core no request thread wants, and never
    /// takes one from a request in the middle of its work.
    Idle,
    /// Normal scheduling at nice 10: its backlog passed a quarter of the
    /// queue (the cores have been saturated for a while), or rows waited
    /// [`STARVED`] on it, so it takes its share rather than let rows wait
    /// or the queue fill and rows be dropped.
    Behind,
}

/// What the request side knows of the writer.
pub(super) struct Watch {
    started: Instant,
    /// Milliseconds after `started` of the writer's last progress (a
    /// wake-up or a commit).
    alive_ms: AtomicU64,
    /// The writer's thread id (0 until it runs).
    tid: AtomicI32,
    /// A request raised the writer since its last commit.
    raised: AtomicBool,
}

impl Default for Watch {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            alive_ms: AtomicU64::new(0),
            tid: AtomicI32::new(0),
            raised: AtomicBool::new(false),
        }
    }
}

impl Watch {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Called by the writer's thread as it starts.
    pub(super) fn writer_started(&self) {
        self.tid.store(thread_id(), Ordering::Relaxed);
        self.alive();
    }

    /// The writer made progress.
    pub(super) fn alive(&self) {
        self.alive_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A request queued a row behind `waiting` others: when the writer has
    /// not moved for [`STARVED`], it is raised to [`Class::Behind`] (once,
    /// until the writer's next commit). A row queued on an empty queue
    /// checks nothing: the writer may simply have been asleep.
    pub(super) fn check(&self, waiting: u64) {
        if waiting == 0 || self.raised.load(Ordering::Relaxed) {
            return;
        }
        let stalled = self
            .now_ms()
            .saturating_sub(self.alive_ms.load(Ordering::Relaxed));
        if stalled < STARVED.as_millis() as u64 || self.raised.swap(true, Ordering::AcqRel) {
            return;
        }
        let tid = self.tid.load(Ordering::Relaxed);
        if tid != 0 {
            set_class(Some(tid), Class::Behind);
        }
    }

    /// For the writer after a commit: whether a request raised it since
    /// the last one (and it is at [`Class::Behind`] now).
    pub(super) fn take_raised(&self) -> bool {
        self.raised.swap(false, Ordering::AcqRel)
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // gettid(2) has no safe wrapper
fn thread_id() -> i32 {
    // SAFETY: gettid only returns the caller's thread id.
    unsafe { libc::gettid() }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn thread_id() -> i32 {
    0
}

/// Puts thread `tid` (`None`: the calling thread) in `class` (measured in
/// docs/benchmarks.md: at nice 10 alone, the writer's bursts of work still
/// showed in the requests' p99 on a saturated 2-core machine).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // sched_setscheduler(2) and setpriority(2) have no safe wrappers
pub(super) fn set_class(tid: Option<i32>, class: Class) {
    let policy = match class {
        Class::Idle => libc::SCHED_IDLE,
        Class::Behind => libc::SCHED_OTHER,
    };
    let tid = tid.unwrap_or_else(thread_id);
    // SAFETY: the calls only change one thread of this process (its id,
    // read by gettid) in its scheduling policy and priority; `param`
    // outlives the call. A failure (not permitted) leaves the thread as
    // it was.
    let failed = unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        let failed = libc::sched_setscheduler(tid, policy, &param) != 0;
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
        failed
    };
    if failed {
        tracing::warn!(?class, error = %std::io::Error::last_os_error(), "the exposure log's writer keeps its scheduling class");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn set_class(_tid: Option<i32>, _class: Class) {}

#[cfg(test)]
mod tests {
    use super::{STARVED, Watch};
    use std::sync::atomic::Ordering;

    /// A row behind others on a writer that has not moved for longer than
    /// STARVED raises it, once until its next commit; a row on an empty
    /// queue, or on a writer that moved lately, does not.
    #[test]
    fn a_starved_writer_is_raised_once_by_the_next_request() {
        let w = Watch::default();
        w.alive();
        w.check(5);
        assert!(!w.take_raised(), "the writer moved just now");
        // The writer's last progress, STARVED and more ago.
        w.alive_ms.store(0, Ordering::Relaxed);
        std::thread::sleep(STARVED + std::time::Duration::from_millis(20));
        w.check(0);
        assert!(!w.take_raised(), "an empty queue proves nothing");
        w.check(3);
        w.check(4);
        assert!(w.take_raised(), "raised");
        assert!(!w.take_raised(), "once");
    }
}
