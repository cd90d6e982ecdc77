//! The driver: one paused tokio `current_thread` runtime, and a loop that moves virtual time from
//! event to event with nanosecond precision.
//!
//! tokio's timer wheel has 1 ms ticks, so the driver never lets tokio's auto-advance carry the
//! clock to a network event. Each step:
//! 1. if the kernel woke a task, wait until the runtime is idle (tokio calls our park hook when
//!    no task can run);
//! 2. handle every event due now (deliveries, process handlers, faults);
//! 3. move the clock to the next event: when no task exists, virtual time moves alone and
//!    tokio's clock catches up before the next task runs; within the same millisecond, by
//!    `tokio::time::advance` (exact); across millisecond boundaries with tasks alive, first
//!    exactly onto the next boundary, then by sleeping until the last boundary before the event,
//!    so that tokio timers of tasks (timeouts, backoff) fire in order and at their own tick
//!    (tokio's auto-advance jumps whole ticks, so it is only used from a boundary); any event a
//!    task schedules meanwhile wakes the driver.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::core::Core;
use crate::latency::LatencyModel;
use crate::rng::Seed;
use crate::seam::SimNet;
use crate::time::{Nanos, nanos};
use crate::topology::{HostId, Topology};

/// What a simulation starts from.
pub struct SimConfig {
    pub seed: u64,
    pub topology: Topology,
    pub latency: LatencyModel,
    /// Keep every hop of every request (needed for path checks; costs memory on long runs).
    pub record_hops: bool,
    /// What one lost packet costs (TCP's minimum retransmission timeout on Linux: 200 ms).
    pub retransmit_timeout: Duration,
}

impl SimConfig {
    pub fn new(seed: u64, topology: Topology) -> Self {
        SimConfig { seed, topology, latency: LatencyModel::default(), record_hops: true, retransmit_timeout: Duration::from_millis(200) }
    }
}

/// The future given to [`Sim::block_on`] could not finish: nothing was left to happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stalled {
    pub at: Nanos,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "simulation stalled at {}: no event left and the future is still pending", crate::fmt_duration(self.at))
    }
}

#[derive(Default)]
struct IdleSignal {
    wanted: AtomicBool,
    signaled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl IdleSignal {
    /// The runtime's park hook: no task can run.
    fn on_park(&self) {
        if self.wanted.swap(false, Ordering::AcqRel) {
            self.signaled.store(true, Ordering::Release);
            if let Some(w) = self.waker.lock().expect("idle waker lock").take() {
                w.wake();
            }
        }
    }

    /// Completes once every other task is blocked.
    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.signaled.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            *self.waker.lock().expect("idle waker lock") = Some(cx.waker().clone());
            self.wanted.store(true, Ordering::Release);
            Poll::Pending
        })
        .await
    }
}

pub(crate) struct Shared {
    core: Mutex<Core>,
    idle: Arc<IdleSignal>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while the lock was held is already a failed run; keep its message.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A deterministic simulated world: the runtime, the kernel, and the driver.
pub struct Sim {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        let idle = Arc::new(IdleSignal::default());
        let hook = idle.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .on_thread_park(move || hook.on_park())
            .build()
            .expect("a current_thread runtime with a paused clock");
        let base = rt.block_on(async { tokio::time::Instant::now() }); // determinism: ok — read once from the freshly built paused clock: the run's time zero
        let core = Core::new(Seed(config.seed), config.topology, config.latency, config.record_hops, config.retransmit_timeout, base);
        Sim { rt, shared: Arc::new(Shared { core: Mutex::new(core), idle }) }
    }

    /// Runs `f` on the kernel (set-up, inspection). Inside the runtime's context, so
    /// [`Core::now`] reads virtual time.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        let _enter = self.rt.enter();
        f(&mut self.shared.lock())
    }

    /// Spawns `f` on the simulation's runtime; it runs as the driver moves time.
    pub fn spawn<F>(&self, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let _enter = self.rt.enter();
        tokio::spawn(f);
    }

    /// The I/O seam for real code running on `host`.
    pub fn net(&self, host: HostId) -> SimNet {
        SimNet::new(self.shared.clone(), host)
    }

    /// Virtual time now.
    pub fn now(&self) -> Nanos {
        self.with_core(|c| c.now())
    }

    /// Runs until virtual time `until`, or until nothing is left to happen.
    pub fn run_until(&mut self, until: Duration) {
        let shared = self.shared.clone();
        self.rt.block_on(drive(&shared, nanos(until), &|| false));
    }

    /// Like [`Sim::run_until`], reporting progress (virtual nanoseconds) every so often.
    pub fn run_until_with_progress(&mut self, until: Duration, progress: &dyn Fn(Nanos)) {
        let shared = self.shared.clone();
        let step = (nanos(until) / 100).max(1);
        let mut t = 0;
        while t < nanos(until) {
            t = (t + step).min(nanos(until));
            self.rt.block_on(drive(&shared, t, &|| false));
            progress(t);
        }
    }

    /// Spawns `f` as a task on the simulation and drives the world until it completes, for at
    /// most `horizon` of virtual time.
    pub fn block_on<F>(&mut self, horizon: Duration, f: F) -> Result<F::Output, Stalled>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = self.shared.clone();
        self.rt.block_on(async move {
            let handle = tokio::spawn(f);
            let finished = drive(&shared, nanos(horizon), &|| handle.is_finished()).await;
            if finished {
                Ok(handle.await.expect("simulated task panicked"))
            } else {
                handle.abort();
                Err(Stalled { at: shared.lock().now() })
            }
        })
    }
}

/// The driver loop. Returns true if `done()` became true, false if `until` was reached or
/// nothing was left to happen. Long on purpose: the three steps of ARCHITECTURE.md's driver
/// loop in one place, where their order (idle, events due, clock) can be checked at a glance.
async fn drive(shared: &Shared, until: Nanos, done: &dyn Fn() -> bool) -> bool {
    let metrics = tokio::runtime::Handle::current().metrics();
    let mut let_tasks_run = true;
    loop {
        let tasks_alive = metrics.num_alive_tasks() > 0;
        if tasks_alive {
            // Tasks read tokio's clock: bring it to virtual time first. No task existed while
            // it lagged, so no task timer can fire late.
            let lag = {
                let mut core = shared.lock();
                core.detached_now.take().map(|t| t.saturating_sub(core.tokio_elapsed()))
            };
            if let Some(lag) = lag.filter(|l| *l > 0) {
                tokio::time::advance(Duration::from_nanos(lag)).await;
            }
        }
        if let_tasks_run {
            shared.idle.wait().await;
        }
        if done() {
            return true;
        }
        let (now, next) = {
            let mut core = shared.lock();
            core.woke_tasks = false;
            let now = core.now();
            while let Some((_, event)) = core.queue.pop_due(now) {
                core.handle(event);
            }
            let_tasks_run = core.woke_tasks;
            (now, core.queue.peek_time())
        };
        if let_tasks_run {
            continue;
        }
        let target = match next {
            Some(t) if t <= until => t,
            _ if !tasks_alive || now >= until => return false,
            // No kernel event before `until`, but tasks may still have timers.
            _ => until,
        };
        if !tasks_alive {
            // Only processes run: move virtual time without involving tokio at all.
            shared.lock().detached_now = Some(target);
            continue;
        }
        let same_tick = now / 1_000_000 == target / 1_000_000;
        if same_tick {
            tokio::time::advance(Duration::from_nanos(target - now)).await;
            continue;
        }
        // Cross millisecond boundaries through tokio, so task timers fire in order and on their
        // own tick. tokio's auto-advance moves the clock by whole ticks from the current tick,
        // so first step exactly onto the next boundary (firing what tokio would fire there).
        const MS: Nanos = 1_000_000;
        if now % MS != 0 {
            tokio::time::advance(Duration::from_nanos(MS - now % MS)).await;
            let_tasks_run = true;
            continue;
        }
        let boundary = target / MS * MS;
        let base = {
            let mut core = shared.lock();
            core.driver_deadline = target;
            core.base()
        };
        let sleep = tokio::time::sleep_until(base + Duration::from_nanos(boundary));
        let mut sleep = std::pin::pin!(sleep);
        std::future::poll_fn(|cx| {
            if Pin::new(&mut sleep).poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let mut core = shared.lock();
            if core.driver_deadline < target {
                return Poll::Ready(()); // a task scheduled an earlier event
            }
            core.driver_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        {
            let mut core = shared.lock();
            core.driver_deadline = 0;
            core.driver_waker = None;
        }
        let_tasks_run = true;
    }
}
