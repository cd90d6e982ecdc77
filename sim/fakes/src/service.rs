//! A compute service instance: processes a request for a sampled time while holding one of
//! `concurrency` slots (excess requests queue, and beyond the queue get 503), then runs its
//! steps: `call` another service and wait, or `forward` to another service, which answers the
//! original caller (chain replication: lead -> middle -> tail -> caller).

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;

use azsim_kernel::{Cx, Dist, HostId, Message, Nanos, Packer, Process, RequestId, TimerToken, Unpacker};

use crate::conn::{Accepted, Acquired, ConnKey, KeepAlive, Pool, Taken};
use crate::deadline::Deadlines;
use crate::ecs::TaskSwitch;
use crate::pick::Picker;
use crate::rpc::{self, Body, HealthReply, HttpRequest, Request};
use crate::rules::{Conditions, in_cidr};

/// `call` waits for the answer; `forward` hands the request on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Call,
    Forward,
}

/// One step of a service's work.
#[derive(Clone, Debug)]
pub struct Step {
    pub kind: StepKind,
    /// Instances of the service called, with the policy to pick one.
    pub picker: Picker,
    /// Headers this step adds to what it sends (e.g. a shared secret).
    pub headers: Vec<(String, String)>,
    /// A call goes on a keep-alive connection from the instance's pool (the callee takes
    /// connections); otherwise as a message.
    pub connects: bool,
}

/// `http` with `headers` set (replacing any of the same name).
fn with_headers(http: &Arc<HttpRequest>, headers: &[(String, String)]) -> Arc<HttpRequest> {
    if headers.is_empty() {
        return http.clone();
    }
    let mut h = (**http).clone();
    h.headers.retain(|(k, _)| !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)));
    h.headers.extend(headers.iter().cloned());
    Arc::new(h)
}

/// What every instance of a service shares.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub name: String,
    pub processing: Dist,
    /// Requests worked on at once; `None` is unlimited.
    pub concurrency: Option<u32>,
    pub queue: u32,
    pub steps: Vec<Step>,
    /// How long a `call` may take before the instance gives up with 504.
    pub call_timeout: Nanos,
    /// Lambda-style execution environments, if the service has them.
    pub cold_start: Option<ColdStart>,
    /// Canned answers: the first route whose conditions match answers with its status and
    /// body size after processing, instead of running the steps (a static backend).
    pub routes: Vec<CannedRoute>,
    /// Source CIDRs allowed in (empty: everyone); others get 403 at once. The source is the
    /// address the instance sees (an ALB node's, or the client's through an NLB).
    pub allow_sources: Vec<(Ipv4Addr, u8)>,
    /// The body of the health-check page (what a Route 53 string-match check reads).
    pub health_body: Option<Arc<str>>,
}

/// A canned answer for the requests matching `conditions`.
#[derive(Clone, Debug, PartialEq)]
pub struct CannedRoute {
    pub conditions: Conditions,
    pub status: u16,
    pub bytes: u64,
}

/// Execution environments as Lambda runs them: each works on one request at a time; a request
/// that finds no idle, still-warm environment pays `duration` to start one; an environment
/// idle for longer than `keep_warm` is gone. AWS does not document `keep_warm`.
#[derive(Clone, Debug)]
pub struct ColdStart {
    pub duration: Dist,
    pub keep_warm: Nanos,
    /// Added to every cold start when the function is attached to a VPC.
    pub vpc_attach: Option<Dist>,
}

/// An instance's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServiceTimer {
    /// The job's processing (and cold start) is done.
    Processed { job: u64 },
    /// The call-deadline sweep ([`Deadlines`]).
    CallSweep,
    /// Idle connections are due to close (keep-alive timeout).
    ConnSweep,
    /// The calls' idle connections are due to close ([`Pool`]).
    CallConnSweep,
    /// The calls' connection attempts are due a SYN retransmission or to be given up.
    CallConnect,
}

impl TimerToken for ServiceTimer {
    fn into_token(self) -> u64 {
        match self {
            ServiceTimer::Processed { job } => Packer::new().put(0, 1).put(job, 63).finish(),
            ServiceTimer::CallSweep => Packer::new().put(1, 1).put(0, 2).finish(),
            ServiceTimer::ConnSweep => Packer::new().put(1, 1).put(1, 2).finish(),
            ServiceTimer::CallConnSweep => Packer::new().put(1, 1).put(2, 2).finish(),
            ServiceTimer::CallConnect => Packer::new().put(1, 1).put(3, 2).finish(),
        }
    }
    fn from_token(token: u64) -> Self {
        let mut fields = Unpacker::new(token);
        if fields.take(1) == 0 {
            return ServiceTimer::Processed { job: fields.take(63) };
        }
        match fields.take(2) {
            0 => ServiceTimer::CallSweep,
            1 => ServiceTimer::ConnSweep,
            2 => ServiceTimer::CallConnSweep,
            _ => ServiceTimer::CallConnect,
        }
    }
}

/// Step numbers a call deadline tells apart (they wrap: a job waits on one step at a time).
const STEP_BITS: u32 = 6;
const STEP_MASK: usize = (1 << STEP_BITS) - 1;

/// A call deadline's key: the job, and the step that made the call.
fn call_key(job: u64, step: usize) -> u64 {
    Packer::new().put((step & STEP_MASK) as u64, STEP_BITS).put(job, 64 - STEP_BITS).finish()
}

/// The inverse of [`call_key`]: the job and the step (wrapped).
fn from_call_key(key: u64) -> (u64, usize) {
    let mut fields = Unpacker::new(key);
    let step = fields.take(STEP_BITS) as usize;
    (fields.take(64 - STEP_BITS), step)
}

struct Job {
    id: RequestId,
    req: Request,
    step: usize,
    /// The connection it came on (from a load balancer that pools them).
    conn: Option<ConnKey>,
    /// The pooled connection its call goes (or went) on, and the call while it waits for
    /// the SYN-ACK.
    out: Option<(u64, Option<Request>)>,
    /// When the instance began working on it.
    started: Nanos,
}

/// How many kinds of request an instance tells apart in [`ServiceInstance::received`].
pub const RECEIVED_KINDS: usize = 64;

pub struct ServiceInstance {
    config: Arc<ServiceConfig>,
    steps: Vec<Step>,
    active: u32,
    queue: VecDeque<(RequestId, Request, Option<ConnKey>)>,
    jobs: BTreeMap<u64, Job>,
    next_job: u64,
    call_deadlines: Deadlines,
    /// Requests served (answered or forwarded), for reports and tests.
    pub served: u64,
    /// Each served request's time from its start to its answer (cold start included), rounded
    /// up to the millisecond, summed: what Lambda bills as duration.
    pub billed_ms: u64,
    /// Requests rejected with 503 because the queue was full.
    pub rejected: u64,
    /// Requests that paid a cold start.
    pub cold_starts: u64,
    /// Requests refused with 403 by the source allow-list.
    pub forbidden: u64,
    /// What arrived, by (method, `Host`, path): at most [`RECEIVED_KINDS`] kinds, the rest
    /// counted under `("*", "*", "*")`.
    pub received: BTreeMap<(String, String, String), u64>,
    /// Idle execution environments, by the time they became idle.
    warm: Vec<Nanos>,
    /// An ECS task answers only while it runs; other instances always do.
    switch: Option<TaskSwitch>,
    /// Connections from callers that pool them.
    accepted: Accepted,
    /// Keep-alive connections for calls (when a step connects).
    pool: Option<Pool>,
}

impl ServiceInstance {
    pub fn new(config: Arc<ServiceConfig>) -> Self {
        let steps = config.steps.clone();
        let pool = steps.iter().any(|s| s.connects).then(|| Pool::new(crate::defaults::service::CALL_IDLE_TIMEOUT, config.call_timeout));
        ServiceInstance {
            pool,
            config,
            steps,
            active: 0,
            queue: VecDeque::new(),
            jobs: BTreeMap::new(),
            next_job: 0,
            call_deadlines: Deadlines::default(),
            served: 0,
            rejected: 0,
            cold_starts: 0,
            billed_ms: 0,
            forbidden: 0,
            received: BTreeMap::new(),
            warm: Vec::new(),
            switch: None,
            accepted: Accepted::new(crate::defaults::service::KEEP_ALIVE),
        }
    }

    /// The server's keep-alive on its connections (default: it never closes an idle one).
    pub fn with_keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.accepted = Accepted::new(keep_alive);
        self
    }

    /// Answers `req` (request `id`), which came on `conn` if any, and frees the connection
    /// ([`Accepted::reply`]: slow start, keep-alive). Requests on the way in are small in every
    /// scenario: they have no slow start.
    fn answer(&mut self, cx: &mut Cx<'_>, id: RequestId, req: &Request, conn: Option<ConnKey>, status: u16, bytes: u64) {
        self.accepted.reply(cx, req.reply_to, conn, (id, req.call_id), (status, bytes), ServiceTimer::ConnSweep);
    }

    /// What this instance's connections for calls did (zeros when its calls are messages).
    pub fn call_conn_stats(&self) -> crate::ConnStats {
        self.pool.as_ref().map(|p| p.stats).unwrap_or_default()
    }

    /// What slow start cost this instance's answers on connections.
    pub fn slow_start_stats(&self) -> crate::SlowStartStats {
        self.accepted.stats
    }

    /// An ECS task's instance: it answers only while `switch` is on.
    pub fn with_switch(mut self, switch: TaskSwitch) -> Self {
        self.switch = Some(switch);
        self
    }

    /// False while no task runs here: what arrives gets no answer (the task's ENI is gone), and
    /// what a stopped task was doing is lost.
    fn running(&mut self) -> bool {
        if self.switch.as_ref().is_none_or(TaskSwitch::is_on) {
            return true;
        }
        if !self.jobs.is_empty() || !self.queue.is_empty() {
            self.on_crash();
        }
        false
    }

    fn admit(&mut self, cx: &mut Cx<'_>, id: RequestId, req: Request, conn: Option<ConnKey>) {
        let h = &req.http;
        // A kind already counted is found without copying its strings (the map holds at most
        // RECEIVED_KINDS + 1 kinds, so a scan is cheap): this runs for every request.
        match self.received.iter_mut().find(|((m, host, p), _)| *m == h.method && *host == h.host && *p == h.path) {
            Some((_, n)) => *n += 1,
            None => {
                let key = if self.received.len() < RECEIVED_KINDS {
                    (h.method.clone(), h.host.clone(), h.path.clone())
                } else {
                    ("*".into(), "*".into(), "*".into())
                };
                *self.received.entry(key).or_default() += 1;
            }
        }
        if !self.config.allow_sources.is_empty() {
            let source = cx.topology().host(req.source).ip;
            if !self.config.allow_sources.iter().any(|c| in_cidr(source, *c)) {
                self.forbidden += 1;
                self.answer(cx, id, &req, conn, 403, 0);
                return;
            }
        }
        let limit = self.config.concurrency.unwrap_or(u32::MAX);
        if self.active < limit {
            self.start(cx, id, req, conn);
        } else if self.queue.len() < self.config.queue as usize {
            self.queue.push_back((id, req, conn));
        } else {
            self.rejected += 1;
            self.answer(cx, id, &req, conn, 503, 0);
        }
    }

    fn start(&mut self, cx: &mut Cx<'_>, id: RequestId, req: Request, conn: Option<ConnKey>) {
        self.active += 1;
        self.next_job += 1;
        let job = self.next_job;
        self.jobs.insert(job, Job { id, req, step: 0, conn, out: None, started: cx.now() });
        let mut t = self.config.processing.sample(cx.rng());
        if let Some(task) = &self.switch {
            task.add_busy(t);
        }
        if let Some(cs) = &self.config.cold_start {
            let now = cx.now();
            self.warm.retain(|idle_since| now - idle_since < cs.keep_warm);
            if self.warm.pop().is_none() {
                t += cs.duration.sample(cx.rng());
                if let Some(vpc) = &cs.vpc_attach {
                    t += vpc.sample(cx.rng());
                }
                self.cold_starts += 1;
            }
        }
        cx.set_timer(t, ServiceTimer::Processed { job });
    }

    /// Runs the job's next step, or answers if there is none.
    fn advance(&mut self, cx: &mut Cx<'_>, job: u64) {
        let Some(j) = self.jobs.get_mut(&job) else { return };
        if j.step == 0 {
            let source = cx.topology().host(j.req.source).ip;
            if let Some(route) = self.config.routes.iter().find(|r| r.conditions.matches(&j.req.http, source)) {
                let (status, bytes) = (route.status, route.bytes);
                let j = self.jobs.remove(&job).expect("present");
                self.answer(cx, j.id, &j.req, j.conn, status, bytes);
                self.finish(cx, j.started);
                return;
            }
        }
        let Some(step) = self.steps.get_mut(j.step) else {
            let j = self.jobs.remove(&job).expect("present");
            self.answer(cx, j.id, &j.req, j.conn, 200, j.req.response_bytes);
            self.finish(cx, j.started);
            return;
        };
        let my_az = cx.az();
        let mut visited = j.req.chain_azs.clone();
        visited.push(my_az);
        let Some(target) = step.picker.pick(cx.rng(), my_az, &visited) else {
            let j = self.jobs.remove(&job).expect("present");
            self.answer(cx, j.id, &j.req, j.conn, 503, 0);
            self.finish(cx, j.started);
            return;
        };
        match step.kind {
            StepKind::Forward => {
                let j = self.jobs.remove(&job).expect("present");
                let http = with_headers(&j.req.http, &step.headers);
                let next = Request { chain_azs: visited, source: cx.host(), http, ..j.req };
                cx.send(target.host, rpc::request(j.id, next));
                // The next service answers the caller; this connection is done with the
                // request once it is passed on (ours: the chain's answer does not come back
                // through it).
                self.accepted.release(cx, j.conn, 0, ServiceTimer::ConnSweep);
                self.finish(cx, j.started);
            }
            StepKind::Call => {
                let req = Request {
                    reply_to: cx.host(),
                    call_id: job,
                    request_bytes: j.req.request_bytes,
                    response_bytes: j.req.response_bytes,
                    chain_azs: Vec::new(),
                    http: with_headers(&j.req.http, &step.headers),
                    source: cx.host(),
                };
                let (id, key) = (j.id, call_key(job, j.step));
                match self.pool.as_mut().filter(|_| step.connects) {
                    None => cx.send(target.host, rpc::request(id, req)),
                    Some(pool) => match pool.acquire(cx, target.host, job, ServiceTimer::CallConnect) {
                        Acquired::Reused(conn) => {
                            cx.send(target.host, Body::on_conn(id, conn, req));
                            j.out = Some((conn, None));
                        }
                        Acquired::Opened(conn) => {
                            cx.note_handshake(id);
                            cx.send(target.host, Body::syn(conn));
                            j.out = Some((conn, Some(req)));
                        }
                    },
                }
                self.call_deadlines.add(cx, key, self.config.call_timeout, ServiceTimer::CallSweep);
            }
        }
    }

    fn fail(&mut self, cx: &mut Cx<'_>, job: u64, status: u16) {
        if let Some(j) = self.jobs.remove(&job) {
            // Its call's connection, if any, is given up (closed at the callee if it was open).
            if let (Some((conn, _)), Some(pool)) = (j.out, self.pool.as_mut()) {
                pool.give_up(cx, conn);
            }
            self.answer(cx, j.id, &j.req, j.conn, status, 0);
            self.finish(cx, j.started);
        }
    }

    /// A request started at `started` is done (answered or passed on).
    fn finish(&mut self, cx: &mut Cx<'_>, started: Nanos) {
        self.served += 1;
        self.billed_ms += (cx.now() - started).div_ceil(1_000_000);
        self.active -= 1;
        if self.config.cold_start.is_some() {
            self.warm.push(cx.now());
        }
        if let Some((id, req, conn)) = self.queue.pop_front() {
            self.start(cx, id, req, conn);
        }
    }
}

impl Process for ServiceInstance {
    fn on_message(&mut self, cx: &mut Cx<'_>, from: HostId, msg: Message) {
        if !self.running() {
            return;
        }
        let id = msg.request;
        let body = Body::of(msg);
        // A FIN from a callee about one of the calls' connections.
        if let (Body::Fin(seg), Some(pool)) = (&body, self.pool.as_mut())
            && pool.owns_fin(from, &body)
        {
            return pool.server_closed(seg.conn);
        }
        let body = match self.accepted.take(cx, from, id, body, ServiceTimer::ConnSweep) {
            Taken::Serve(req, conn) => return self.admit(cx, id.expect("requests carry their id"), req, conn),
            Taken::Handled => return,
            Taken::Other(body) => body,
        };
        match body {
            // A call's connection is open: the call goes with the ACK.
            Body::SynAck(seg) => {
                let Some(pool) = self.pool.as_mut() else { return };
                let waiting = pool.established(seg.conn).and_then(|job| Some((job, self.jobs.get_mut(&job)?.out.as_mut()?.1.take()?)));
                match waiting {
                    Some((job, req)) => cx.send(from, Body::on_conn(self.jobs[&job].id, seg.conn, req)),
                    None => cx.send(from, Body::fin(seg.conn)), // given up meanwhile
                }
            }
            // The callee reset the call's connection (it had closed it): 502.
            Body::Rst(seg) => {
                if let Some(job) = self.pool.as_mut().and_then(|p| p.reset(seg.conn)) {
                    self.fail(cx, job, 502);
                }
            }
            Body::Response(resp) => {
                let job = resp.call_id;
                let Some(j) = self.jobs.get_mut(&job) else { return }; // answered after our timeout
                if let (Some((conn, _)), Some(pool)) = (j.out.take(), self.pool.as_mut())
                    && let Some(dest) = pool.release(cx, conn, resp.connection_close, ServiceTimer::CallConnSweep)
                {
                    cx.send(dest, Body::fin(conn));
                }
                if resp.status != 200 {
                    return self.fail(cx, job, resp.status);
                }
                j.step += 1;
                self.advance(cx, job);
            }
            Body::HealthCheck(hc) => cx.send(from, Body::health_reply(HealthReply { seq: hc.seq, status: 200, body: self.config.health_body.clone() })),
            _ => {}
        }
    }

    fn on_refused(&mut self, cx: &mut Cx<'_>, _to: HostId, msg: Message) {
        // A call or forward was refused: the caller hears 502 at once.
        let id = msg.request;
        let req = match Body::of(msg) {
            Body::Request(req) => req,
            // The callee's process is gone: the call's connection is refused or reset.
            Body::Syn(crate::conn::Segment { conn }) | Body::ConnRequest(crate::conn::ConnRequest { conn, .. }) => {
                if let Some(job) = self.pool.as_mut().and_then(|p| p.reset(conn)) {
                    self.fail(cx, job, 502);
                }
                return;
            }
            _ => return,
        };
        if req.reply_to == cx.host() {
            self.fail(cx, req.call_id, 502);
        } else if let Some(id) = id {
            cx.send(req.reply_to, rpc::response(Some(id), req.call_id, 502, 0));
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        if !self.running() {
            return;
        }
        match ServiceTimer::from_token(token) {
            ServiceTimer::Processed { job } => self.advance(cx, job),
            ServiceTimer::CallSweep => {
                for key in self.call_deadlines.expire(cx, ServiceTimer::CallSweep) {
                    // The call timed out if the job still waits on that step (it may have moved on).
                    let (job, step) = from_call_key(key);
                    if self.jobs.get(&job).is_some_and(|j| j.step & STEP_MASK == step) {
                        self.fail(cx, job, 504);
                    }
                }
            }
            ServiceTimer::ConnSweep => {
                self.accepted.sweep(cx, ServiceTimer::ConnSweep);
            }
            ServiceTimer::CallConnSweep => {
                let Some(pool) = self.pool.as_mut() else { return };
                pool.sweep(cx, ServiceTimer::CallConnSweep);
            }
            ServiceTimer::CallConnect => {
                let Some(pool) = self.pool.as_mut() else { return };
                for job in pool.connect_timer(cx, ServiceTimer::CallConnect).resend(cx) {
                    self.fail(cx, job, 504);
                }
            }
        }
    }

    fn on_crash(&mut self) {
        self.call_deadlines.clear();
        self.warm.clear();
        self.active = 0;
        self.queue.clear();
        self.jobs.clear();
        self.accepted.clear();
        if let Some(pool) = self.pool.as_mut() {
            pool.clear();
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
