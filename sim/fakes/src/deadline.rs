//! Timeouts without a kernel timer per request. A component's timeouts all have the same length,
//! so deadlines arrive in order: a queue of them and one armed timer replace thousands of timers
//! that would mostly be dead (answered long before they fire) yet still sit in the event queue.

use std::collections::VecDeque;

use azsim_kernel::{Cx, Nanos, TimerToken};

/// Deadlines of equal length, in the order they were set.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    queue: VecDeque<(Nanos, u64)>,
    armed: bool,
}

impl Deadlines {
    /// Adds a deadline for `id` after `after`; arms the sweep timer (`token`) if none is armed.
    pub(crate) fn add(&mut self, cx: &mut Cx<'_>, id: u64, after: Nanos, token: impl TimerToken) {
        let at = cx.now().saturating_add(after);
        debug_assert!(self.queue.back().is_none_or(|(last, _)| *last <= at), "equal-length timeouts arrive in order");
        self.queue.push_back((at, id));
        if !self.armed {
            self.armed = true;
            cx.set_timer(after, token);
        }
    }

    /// The sweep timer fired: returns the ids whose deadline passed (the caller ignores those
    /// already answered) and re-arms for the next deadline.
    pub(crate) fn expire(&mut self, cx: &mut Cx<'_>, token: impl TimerToken) -> Vec<u64> {
        let now = cx.now();
        let mut due = Vec::new();
        while let Some((at, id)) = self.queue.front().copied() {
            if at > now {
                break;
            }
            self.queue.pop_front();
            due.push(id);
        }
        self.armed = false;
        if let Some((at, _)) = self.queue.front() {
            self.armed = true;
            cx.set_timer(at - now, token);
        }
        due
    }

    /// Forgets everything (the process crashed; its timers are void).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.armed = false;
    }
}
