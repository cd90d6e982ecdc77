//! An ECS service's control plane: it keeps the desired number of tasks running, placed across
//! AZs, and moves each task through its lifecycle:
//!
//! ```text
//! PROVISIONING --launch time--> RUNNING --container health check passes--> HEALTHY (registered)
//!      HEALTHY --`retries` failed checks, or the load balancer's verdict--> DRAINING (deregistered) --deregistration delay--> STOPPED
//! ```
//!
//! - A task is a host whose [`ServiceInstance`](crate::ServiceInstance) answers only while its
//!   [`TaskSwitch`] is on: a task not running has no ENI, so what is sent to it gets no answer.
//! - The container health check (ECS defaults: every 30 s, 3 retries, no start period) runs
//!   on the task's host, where the ECS agent runs it: it passes once the application has
//!   started (`startup` after the container) and fails while the host is down. Failures inside
//!   the start period do not count.
//! - A task becomes healthy at its first passing check; then ECS registers it in its target
//!   groups and its Cloud Map service (with ECS's attributes). A task that fails `retries`
//!   checks in a row is deregistered (its targets drain), stopped once the deregistration
//!   delay has passed, and replaced at once.
//! - A registered task that the load balancer reports unhealthy (every live node that has
//!   checked it says so: [`TargetRegistry::reported_unhealthy`]) is stopped and replaced the
//!   same way, even while its container check passes: "The service scheduler also replaces
//!   tasks determined to be unhealthy after a container health check or a load balancer target
//!   group health check fails"
//!   (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html>). ECS
//!   reads the load balancer's verdict at each container check (every `interval`); AWS does not
//!   say how soon it acts.
//! - For the service's `health_check_grace_period` after a task first started (default 0),
//!   ECS ignores both unhealthy load-balancer and container checks (CreateService,
//!   `healthCheckGracePeriodSeconds`).
//! - Placement spreads tasks across AZs (`spread(attribute:ecs.availability-zone)`): a new
//!   task goes to the AZ with the fewest tasks that has a free slot on a host that is up; with
//!   none, the launch fails and is retried every 10 s (as capacity errors are).
//!
//! - Optional service auto scaling ([`AutoScaling`]): target tracking on CPU.
//!
//! Not modelled (say so in reports and docs): AZ rebalancing, deployments,
//! the task stop timeout (tasks stop when draining ends). AWS does not document the delay between an agent losing its host and ECS
//! noticing; here it is the container health check's `interval × retries`.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use azsim_kernel::{Cx, Dist, HostId, Message, Nanos, Packer, Process, TimerToken, Unpacker};

use crate::cloudmap::Registry;
use crate::pick::Endpoint;
use crate::targets::TargetRegistry;

/// Whether a task runs on a host, and the CPU time it has used; shared by the ECS control
/// plane and the task's [`ServiceInstance`](crate::ServiceInstance).
#[derive(Clone, Debug, Default)]
pub struct TaskSwitch {
    on: Arc<AtomicBool>,
    busy: Arc<AtomicU64>,
}

impl TaskSwitch {
    pub fn new(on: bool) -> Self {
        TaskSwitch { on: Arc::new(AtomicBool::new(on)), busy: Arc::default() }
    }
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
    fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }
    /// The task spent `ns` of processing on a request (its CPU time).
    pub fn add_busy(&self, ns: Nanos) {
        self.busy.fetch_add(ns, Ordering::Relaxed);
    }
    fn busy(&self) -> Nanos {
        self.busy.load(Ordering::Relaxed)
    }
}

/// Service auto scaling with target tracking on average CPU, as Application Auto Scaling does
/// it: a datapoint a minute; scale out after 3 datapoints above the target, in after 15 below
/// 90 % of it (AWS's alarm defaults); new capacity = ceil(tasks x CPU / target), within
/// [min, max]; a cooldown after each scaling activity of the same direction. A task's CPU is
/// its processing time over the minute divided by its `cpus` (its concurrency slots).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoScaling {
    pub target: f64,
    pub min: u32,
    pub max: u32,
    pub scale_out_cooldown: Nanos,
    pub scale_in_cooldown: Nanos,
    pub cpus: f64,
}

/// The container health check (ECS defaults: 30 s interval, 3 retries, no start period).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerHealthCheck {
    pub interval: Nanos,
    pub retries: u32,
    pub start_period: Nanos,
}

impl Default for ContainerHealthCheck {
    fn default() -> Self {
        ContainerHealthCheck { interval: 30_000_000_000, retries: 3, start_period: 0 }
    }
}

/// A host that can run one task of the service.
#[derive(Clone, Debug)]
pub struct TaskSlot {
    pub name: String,
    pub endpoint: Endpoint,
    pub switch: TaskSwitch,
    /// Running (and registered) when the run starts.
    pub running_at_start: bool,
}

/// Where ECS registers the service's tasks in Cloud Map.
#[derive(Clone, Debug)]
pub struct EcsCloudMap {
    pub registry: Arc<Mutex<Registry>>,
    pub namespace: String,
    pub service: String,
    /// Attributes every instance carries besides its address and AZ (`REGION`,
    /// `ECS_SERVICE_NAME`, `ECS_CLUSTER_NAME`, ...).
    pub attributes: BTreeMap<String, String>,
}

/// One event of a task's life, for the report's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskEvent {
    pub at: Nanos,
    pub service: String,
    /// The task's number within its service (1, 2, ...) and the host it runs on.
    pub task: u32,
    pub host: String,
    pub event: String,
}

/// Every task event of a run, in time order.
#[derive(Clone, Debug, Default)]
pub struct TaskEvents(Arc<Mutex<Vec<TaskEvent>>>);

impl TaskEvents {
    fn push(&self, e: TaskEvent) {
        self.0.lock().expect("task events lock").push(e);
    }
    pub fn all(&self) -> Vec<TaskEvent> {
        self.0.lock().expect("task events lock").clone()
    }
}

/// An ECS service.
#[derive(Clone, Debug)]
pub struct EcsServiceConfig {
    pub service: String,
    pub slots: Vec<TaskSlot>,
    /// Placement order of the service's AZs (ties go to the first).
    pub azs: Vec<azsim_kernel::AzId>,
    /// From placement to the container running.
    pub launch: Dist,
    /// From the container running to the application answering.
    pub startup: Dist,
    pub health: ContainerHealthCheck,
    /// After a task first starts, unhealthy load-balancer and container checks are ignored
    /// for this long ([`crate::defaults::ecs::HEALTH_CHECK_GRACE_PERIOD`]: 0).
    pub health_check_grace_period: Nanos,
    /// The target groups (named after the service) the tasks are registered in, if any load
    /// balancer routes to the service, and the longest deregistration delay among them.
    pub target_groups: Option<(TargetRegistry, Nanos)>,
    pub cloud_map: Option<EcsCloudMap>,
    pub events: TaskEvents,
    pub autoscaling: Option<AutoScaling>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Provisioning,
    Starting { since: Nanos, ready_at: Nanos, fails: u32 },
    Healthy { fails: u32 },
    Draining,
}

#[derive(Clone, Debug)]
struct Slot {
    state: State,
    /// Counts the tasks this slot has run; timers carry it so a stale one is ignored.
    epoch: u64,
    task: u32,
    /// When the task's container started running (0 for tasks running when the run begins).
    started: Nanos,
}

/// The control plane's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EcsTimer {
    /// Something happens to the task of `slot`; `epoch` is the slot's when the timer was set,
    /// so a timer of an earlier task in the slot is ignored.
    Task { slot: usize, epoch: u64, event: TaskTimer },
    /// Time to try placing the tasks that found no free slot.
    RetryPlacement,
    /// A minute of metrics for auto scaling.
    Metric,
}

/// What happens to a task when its timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaskTimer {
    /// Its container is up (or its host turned out to be unavailable).
    Launched,
    /// Time for a container health check.
    Check,
    /// Its deregistration delay is over.
    Drained,
}

const SLOT_BITS: u32 = 24;

impl TimerToken for EcsTimer {
    fn into_token(self) -> u64 {
        let (kind, slot, epoch) = match self {
            EcsTimer::Task { slot, epoch, event: TaskTimer::Launched } => (1, slot, epoch),
            EcsTimer::Task { slot, epoch, event: TaskTimer::Check } => (2, slot, epoch),
            EcsTimer::Task { slot, epoch, event: TaskTimer::Drained } => (3, slot, epoch),
            EcsTimer::RetryPlacement => (4, 0, 0),
            EcsTimer::Metric => (5, 0, 0),
        };
        Packer::new().put(kind, 3).put(slot as u64, SLOT_BITS).put(epoch, 64 - 3 - SLOT_BITS).finish()
    }
    fn from_token(token: u64) -> Self {
        let mut fields = Unpacker::new(token);
        let (kind, slot, epoch) = (fields.take(3), fields.take(SLOT_BITS) as usize, fields.take(64 - 3 - SLOT_BITS));
        let event = match kind {
            1 => TaskTimer::Launched,
            2 => TaskTimer::Check,
            3 => TaskTimer::Drained,
            4 => return EcsTimer::RetryPlacement,
            5 => return EcsTimer::Metric,
            _ => unreachable!("not an ECS timer: {token}"),
        };
        EcsTimer::Task { slot, epoch, event }
    }
}

const MINUTE: Nanos = 60_000_000_000;
const PLACEMENT_RETRY: Nanos = 10_000_000_000;

/// The control plane of one ECS service (a process on a host in the Region's AWS API zone).
pub struct EcsService {
    config: EcsServiceConfig,
    slots: Vec<Slot>,
    tasks_started: u32,
    /// Replacements waiting for capacity.
    unplaced: u32,
    /// The desired count (auto scaling changes it).
    desired: u32,
    /// Auto scaling: each slot's CPU time at the last datapoint, the runs of datapoints above
    /// and below the target, and when the last scale-out and scale-in happened.
    last_busy: Vec<Nanos>,
    high: u32,
    low: u32,
    last_out: Option<Nanos>,
    last_in: Option<Nanos>,
}

impl EcsService {
    pub fn new(config: EcsServiceConfig) -> Self {
        let slots = config.slots.iter().map(|_| Slot { state: State::Free, epoch: 0, task: 0, started: 0 }).collect();
        let desired = config.slots.iter().filter(|s| s.running_at_start).count() as u32;
        let last_busy = vec![0; config.slots.len()];
        EcsService { config, slots, tasks_started: 0, unplaced: 0, desired, last_busy, high: 0, low: 0, last_out: None, last_in: None }
    }

    fn live(&self) -> u32 {
        self.slots.iter().filter(|s| matches!(s.state, State::Provisioning | State::Starting { .. } | State::Healthy { .. })).count() as u32 + self.unplaced
    }

    /// One CloudWatch datapoint: the average CPU of the healthy tasks over the last minute.
    fn datapoint(&mut self, cx: &mut Cx<'_>) {
        cx.set_timer(MINUTE, EcsTimer::Metric);
        let Some(a) = self.config.autoscaling else { return };
        let (mut busy, mut tasks) = (0u64, 0u32);
        for (i, slot) in self.config.slots.iter().enumerate() {
            let now_busy = slot.switch.busy();
            if matches!(self.slots[i].state, State::Healthy { .. }) {
                busy += now_busy - self.last_busy[i];
                tasks += 1;
            }
            self.last_busy[i] = now_busy;
        }
        if tasks == 0 {
            return;
        }
        let cpu = (busy as f64 / (MINUTE as f64 * a.cpus.max(0.001) * f64::from(tasks))).min(1.0);
        (self.high, self.low) = if cpu > a.target {
            (self.high + 1, 0)
        } else if cpu < a.target * 0.9 {
            (0, self.low + 1)
        } else {
            (0, 0)
        };
        let now = cx.now();
        let wanted = ((f64::from(tasks) * cpu / a.target).ceil() as u32).clamp(a.min, a.max);
        let cooled = |last: Option<Nanos>, cooldown: Nanos| last.is_none_or(|t| now >= t + cooldown);
        if self.high >= 3 && wanted > self.desired && cooled(self.last_out, a.scale_out_cooldown) {
            self.scale(cx, wanted, cpu, a.target);
            self.last_out = Some(now);
            self.high = 0;
        } else if self.low >= 15 && wanted < self.desired && cooled(self.last_in, a.scale_in_cooldown) {
            self.scale(cx, wanted, cpu, a.target);
            self.last_in = Some(now);
            self.low = 0;
        }
    }

    fn scale(&mut self, cx: &mut Cx<'_>, wanted: u32, cpu: f64, target: f64) {
        let direction = if wanted > self.desired { "out" } else { "in" };
        self.config.events.push(TaskEvent {
            at: cx.now(),
            service: self.config.service.clone(),
            task: 0,
            host: String::new(),
            event: format!("scale {direction} from {} to {wanted} tasks (CPU {:.0} % against a target of {:.0} %)", self.desired, cpu * 100.0, target * 100.0),
        });
        self.desired = wanted;
        while self.live() < self.desired {
            let before = self.live();
            self.launch(cx);
            if self.live() == before {
                break;
            }
        }
        while self.live() > self.desired {
            // Scale in from the AZ with the most tasks.
            let mut per_az: BTreeMap<azsim_kernel::AzId, u32> = BTreeMap::new();
            for (i, s) in self.slots.iter().enumerate() {
                if matches!(s.state, State::Healthy { .. }) {
                    *per_az.entry(self.config.slots[i].endpoint.az).or_default() += 1;
                }
            }
            let Some((&az, _)) = per_az.iter().max_by_key(|(az, n)| (**n, std::cmp::Reverse(**az))) else { break };
            let Some(victim) =
                (0..self.slots.len()).rev().find(|i| self.config.slots[*i].endpoint.az == az && matches!(self.slots[*i].state, State::Healthy { .. }))
            else {
                break;
            };
            self.stop(cx, victim, "scale in".into(), false);
        }
    }

    /// A timer for the task now in `slot`.
    fn task_timer(&self, slot: usize, event: TaskTimer) -> EcsTimer {
        EcsTimer::Task { slot, epoch: self.slots[slot].epoch, event }
    }

    fn event(&self, cx: &Cx<'_>, slot: usize, event: String) {
        let s = &self.config.slots[slot];
        self.config.events.push(TaskEvent { at: cx.now(), service: self.config.service.clone(), task: self.slots[slot].task, host: s.name.clone(), event });
    }

    /// Places one task: the AZ with the fewest live tasks among those with a free slot on a
    /// live host.
    fn launch(&mut self, cx: &mut Cx<'_>) {
        let mut live: BTreeMap<azsim_kernel::AzId, u32> = self.config.azs.iter().map(|a| (*a, 0)).collect();
        for (i, s) in self.slots.iter().enumerate() {
            if !matches!(s.state, State::Free | State::Draining) {
                *live.entry(self.config.slots[i].endpoint.az).or_default() += 1;
            }
        }
        let free = |i: &usize| self.slots[*i].state == State::Free && cx.host_is_up(self.config.slots[*i].endpoint.host);
        let best = self
            .config
            .azs
            .iter()
            .enumerate()
            .filter_map(|(rank, az)| {
                let slot = (0..self.slots.len()).filter(|i| self.config.slots[*i].endpoint.az == *az).find(free)?;
                Some(((live[az], rank), slot))
            })
            .min();
        let Some((_, slot)) = best else {
            self.unplaced += 1;
            if self.unplaced == 1 {
                cx.set_timer(PLACEMENT_RETRY, EcsTimer::RetryPlacement);
            }
            return;
        };
        self.tasks_started += 1;
        let s = &mut self.slots[slot];
        s.epoch += 1;
        s.task = self.tasks_started;
        s.state = State::Provisioning;
        let az = cx.topology().az_name(self.config.slots[slot].endpoint.az).to_string();
        self.event(cx, slot, format!("placed in {az}"));
        let after = self.config.launch.sample(cx.rng());
        cx.set_timer(after, self.task_timer(slot, TaskTimer::Launched));
    }

    fn register(&self, cx: &mut Cx<'_>, slot: usize) {
        let s = &self.config.slots[slot];
        if let Some((tgs, _)) = &self.config.target_groups {
            tgs.register(&self.config.service, s.endpoint);
        }
        if let Some(cm) = &self.config.cloud_map {
            let topo = cx.topology();
            let info = topo.host(s.endpoint.host);
            let mut attributes = cm.attributes.clone();
            attributes.insert("AWS_INSTANCE_IPV4".into(), info.ip.to_string());
            attributes.insert("AWS_INSTANCE_PORT".into(), "80".into());
            attributes.insert("AVAILABILITY_ZONE".into(), topo.az_name(info.az).to_string());
            attributes.insert("AWS_INIT_HEALTH_STATUS".into(), "HEALTHY".into());
            let now = cx.now();
            let mut reg = cm.registry.lock().expect("cloud map lock");
            if let Err(e) = reg.register_instance(now, &cm.namespace, &cm.service, &s.name, attributes) {
                drop(reg);
                self.event(cx, slot, format!("Cloud Map registration failed: {}", e.message()));
            }
        }
    }

    /// Takes a task out: deregisters it, lets its targets drain, stops it, and (unless it is
    /// being removed for good) places a replacement.
    fn stop(&mut self, cx: &mut Cx<'_>, slot: usize, reason: String, replace: bool) {
        let registered = matches!(self.slots[slot].state, State::Healthy { .. });
        self.event(cx, slot, format!("{reason}; stopping"));
        let mut drain = 0;
        if registered {
            let s = &self.config.slots[slot];
            if let Some((tgs, delay)) = &self.config.target_groups {
                tgs.deregister(&self.config.service, s.endpoint.host, cx.now());
                drain = *delay;
            }
            if let Some(cm) = &self.config.cloud_map {
                let now = cx.now();
                let _ = cm.registry.lock().expect("cloud map lock").deregister_instance(now, &cm.namespace, &cm.service, &s.name);
            }
        }
        self.slots[slot].state = State::Draining;
        cx.set_timer(drain, self.task_timer(slot, TaskTimer::Drained));
        if replace {
            self.launch(cx);
        }
    }

    /// Whether the load balancer reports the task in `slot` unhealthy (ELB's control plane
    /// knows which of its nodes are up).
    fn elb_reports_unhealthy(&self, cx: &Cx<'_>, slot: usize) -> bool {
        let Some((tgs, _)) = &self.config.target_groups else { return false };
        tgs.reported_unhealthy(&self.config.service, self.config.slots[slot].endpoint.host, |node| cx.host_is_up(node))
    }

    fn check(&mut self, cx: &mut Cx<'_>, slot: usize) {
        let now = cx.now();
        let up = cx.host_is_up(self.config.slots[slot].endpoint.host);
        let hc = self.config.health;
        let in_grace = now < self.slots[slot].started.saturating_add(self.config.health_check_grace_period);
        match self.slots[slot].state {
            State::Starting { since, ready_at, fails } => {
                if up && now >= ready_at {
                    self.slots[slot].state = State::Healthy { fails: 0 };
                    self.event(cx, slot, "container healthy; registered".into());
                    self.register(cx, slot);
                } else if now.saturating_sub(since) >= hc.start_period && !in_grace {
                    let fails = fails + 1;
                    if fails >= hc.retries {
                        return self.stop(cx, slot, format!("container health check failed {fails} times while starting"), true);
                    }
                    self.slots[slot].state = State::Starting { since, ready_at, fails };
                }
            }
            State::Healthy { fails } => {
                let fails = if up || in_grace { 0 } else { fails + 1 };
                if fails >= hc.retries {
                    return self.stop(cx, slot, format!("container health check failed {fails} times"), true);
                }
                if !in_grace && self.elb_reports_unhealthy(cx, slot) {
                    return self.stop(cx, slot, format!("failed ELB health checks in target group {}", self.config.service), true);
                }
                self.slots[slot].state = State::Healthy { fails };
            }
            _ => return,
        }
        cx.set_timer(hc.interval, self.task_timer(slot, TaskTimer::Check));
    }
}

impl Process for EcsService {
    fn on_start(&mut self, cx: &mut Cx<'_>) {
        if self.config.autoscaling.is_some() {
            cx.set_timer(MINUTE, EcsTimer::Metric);
        }
        let interval = self.config.health.interval.max(1);
        for i in 0..self.slots.len() {
            let running = self.config.slots[i].running_at_start;
            self.config.slots[i].switch.set(running);
            if !running {
                continue;
            }
            // Tasks running before the run began: registered already (by the world), checked
            // on a schedule of their own.
            self.tasks_started += 1;
            self.slots[i] = Slot { state: State::Healthy { fails: 0 }, epoch: 1, task: self.tasks_started, started: 0 };
            let offset = cx.rng().below(interval);
            cx.set_timer(offset, self.task_timer(i, TaskTimer::Check));
        }
    }

    fn on_message(&mut self, _cx: &mut Cx<'_>, _from: HostId, _msg: Message) {}

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        let (slot, event) = match EcsTimer::from_token(token) {
            EcsTimer::Metric => return self.datapoint(cx),
            EcsTimer::RetryPlacement => {
                let waiting = std::mem::take(&mut self.unplaced);
                for _ in 0..waiting {
                    self.launch(cx);
                }
                return;
            }
            EcsTimer::Task { slot, epoch, event } => {
                if self.slots.get(slot).is_none_or(|s| s.epoch != epoch) {
                    return;
                }
                (slot, event)
            }
        };
        match event {
            TaskTimer::Launched => {
                if !cx.host_is_up(self.config.slots[slot].endpoint.host) {
                    self.slots[slot].state = State::Free;
                    self.event(cx, slot, "launch failed: host unavailable".into());
                    return self.launch(cx);
                }
                let now = cx.now();
                let ready_at = now + self.config.startup.sample(cx.rng());
                self.config.slots[slot].switch.set(true);
                self.slots[slot].started = now;
                self.slots[slot].state = State::Starting { since: now, ready_at, fails: 0 };
                self.event(cx, slot, "container running".into());
                cx.set_timer(self.config.health.interval, self.task_timer(slot, TaskTimer::Check));
            }
            TaskTimer::Check => self.check(cx, slot),
            TaskTimer::Drained => {
                let s = &self.config.slots[slot];
                s.switch.set(false);
                if let Some((tgs, _)) = &self.config.target_groups {
                    tgs.remove(&self.config.service, s.endpoint.host);
                }
                self.slots[slot].state = State::Free;
                self.event(cx, slot, "stopped".into());
            }
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
