//! `services:`: compute services, their instances, steps, ECS tasks and cold starts.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{CloudMapRegistration, EgressSpec, Ref};
use crate::one_of::{deserialize_through, exactly_one, given_ref};
use crate::units::{DistSpec, Dur};

/// A compute service (ECS tasks, EC2 instances): instances in AZs, each with a processing time
/// and a concurrency limit with a queue, optionally calling other services.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Instances per AZ, e.g. `{ use1-az1: 2, use1-az2: 2 }`.
    #[schemars(with = "BTreeMap<String, u32>")]
    pub instances: Spanned<BTreeMap<String, u32>>,
    /// Time an instance spends on a request before its steps (default 0).
    #[serde(default)]
    pub processing: DistSpec,
    /// Requests an instance works on at once (default: unlimited).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Requests an instance queues when busy; beyond it answers 503 (default 1000).
    #[serde(default = "ServiceSpec::default_queue")]
    pub queue: u32,
    /// What the service does after processing, in order.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// Lambda-style execution environments: a request that finds none warm pays a cold start.
    #[serde(default)]
    pub cold_start: Option<ColdStartSpec>,
    /// Register every instance in Cloud Map (as ECS does, with `AWS_INSTANCE_IPV4`,
    /// `AWS_INSTANCE_PORT`, `AVAILABILITY_ZONE` and `REGION`).
    #[serde(default)]
    pub cloud_map: Option<CloudMapRegistration>,
    /// Canned answers (a static backend): the first route whose conditions match answers
    /// with its status and body size after `processing`, instead of running the steps.
    #[serde(default)]
    pub routes: Vec<CannedRouteSpec>,
    /// Sources allowed in (default: everyone); others get 403. Each is an IPv4 CIDR block or
    /// the name of a client, load balancer or service (its hosts' addresses, as a security
    /// group reference). Behind an ALB the source is the ALB node; behind an NLB, the client
    /// (client IP preservation).
    #[serde(default)]
    pub allow_sources: Vec<String>,
    /// The body of the instances' health-check page (what a Route 53 string-match check
    /// reads; default empty).
    #[serde(default)]
    pub health_body: Option<String>,
    /// Run the instances as egress proxies instead (an Envoy fleet that gives outbound calls a
    /// fixed source address): they check a shared secret and send what they accept through
    /// their subnet's NAT gateway.
    #[serde(default)]
    pub egress: Option<EgressSpec>,
    /// The server's HTTP keep-alive timeout: how long an instance keeps an idle connection
    /// from a load balancer open before it closes it (`5s`), or `off` (it answers with
    /// `Connection: close`, so every request pays a new connection's handshake). Default: it
    /// never closes an idle connection (Go `net/http`'s default with no `IdleTimeout`), so the
    /// load balancer's idle timeout always closes first. Common server defaults: Node.js 5 s
    /// (`server.keepAliveTimeout`), gunicorn 2 s (`keepalive`), Apache httpd 5 s
    /// (`KeepAliveTimeout`), nginx 75 s (`keepalive_timeout`), Go none (idle until the client
    /// closes). Shorter than an ALB's idle timeout (60 s), it causes intermittent 502s: AWS
    /// advises a keep-alive longer than the idle timeout.
    #[serde(default)]
    #[schemars(with = "Option<KeepAliveSpec>")]
    pub keep_alive: Option<Spanned<KeepAliveSpec>>,
    /// Run the instances as an ECS service's tasks: `instances` is where they run at the start;
    /// ECS checks them, deregisters and replaces failed ones, and registers new ones once they
    /// are healthy.
    #[serde(default)]
    pub ecs: Option<EcsSpec>,
}

/// A server's keep-alive: a duration (`5s`) or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepAliveSpec {
    Timeout(Dur),
    Off,
}

impl<'de> Deserialize<'de> for KeepAliveSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "off" {
            return Ok(KeepAliveSpec::Off);
        }
        Dur::parse(&s).map(KeepAliveSpec::Timeout).map_err(|e| serde::de::Error::custom(format!("{e}; or `off`")))
    }
}

impl JsonSchema for KeepAliveSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KeepAlive".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": format!("{}|^off$", crate::units::DURATION_PATTERN),
            "description": "A keep-alive timeout (`5s`, `75s`) or `off`."
        })
    }
}

impl ServiceSpec {
    fn default_queue() -> u32 {
        1000
    }

    /// Hosts the service has in `az`: its instances or, for an ECS service, every host that
    /// can run a task (`capacity_per_az`, default the total task count).
    pub fn hosts_in(&self, az: &str) -> u32 {
        let initial = self.instances.value.get(az).copied().unwrap_or(0);
        match &self.ecs {
            Some(ecs) => {
                let most = self.instances.value.values().sum::<u32>().max(ecs.autoscaling.as_ref().map_or(0, |a| a.max));
                ecs.capacity_per_az.unwrap_or(most).max(initial)
            }
            None => initial,
        }
    }
}

/// A canned answer of a static backend: conditions as in ALB listener rules (absent: any).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedRouteSpec {
    /// Path patterns with `*` and `?`.
    #[serde(default)]
    pub path: Vec<String>,
    /// Methods, exact.
    #[serde(default)]
    pub method: Vec<String>,
    /// Host header patterns (case-insensitive).
    #[serde(default)]
    pub host: Vec<String>,
    /// Status answered (default 200).
    #[serde(default = "CannedRouteSpec::default_status")]
    pub status: u16,
    /// Body bytes answered (default 0).
    #[serde(default)]
    pub bytes: u64,
}

impl CannedRouteSpec {
    fn default_status() -> u16 {
        200
    }
}

/// An ECS service's task lifecycle. AWS documents the container health check defaults; the
/// launch and startup times are yours (Fargate tasks commonly take 30 to 60 s to start).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsSpec {
    /// From placement to the container running (default 30s).
    #[serde(default = "EcsSpec::default_launch")]
    pub launch_time: DistSpec,
    /// From the container running to the application answering (default 5s).
    #[serde(default = "EcsSpec::default_startup")]
    pub startup: DistSpec,
    /// The container health check (ECS defaults: interval 30s, retries 3, start_period 0s).
    #[serde(default)]
    pub health_check: ContainerHealthCheckSpec,
    /// After a task first starts, ECS ignores unhealthy load-balancer and container health
    /// checks for this long (default 0s, AWS's `healthCheckGracePeriodSeconds`). Past it, a task
    /// the load balancer reports unhealthy is stopped and replaced.
    #[serde(default)]
    pub health_check_grace_period: Option<Dur>,
    /// Hosts per AZ that can run a task (default: the service's total task count, or the auto
    /// scaling maximum if larger, so every task fits in any one AZ). Replacements go where there
    /// is a free one.
    #[serde(default)]
    pub capacity_per_az: Option<u32>,
    /// Service auto scaling: target tracking on average CPU.
    #[serde(default)]
    pub autoscaling: Option<AutoScalingSpec>,
}

impl EcsSpec {
    fn default_launch() -> DistSpec {
        DistSpec::Fixed(Dur(30_000_000_000))
    }
    fn default_startup() -> DistSpec {
        DistSpec::Fixed(Dur(5_000_000_000))
    }
}

/// Target tracking on CPU, with AWS's alarm behaviour (3 datapoints a minute apart to scale
/// out, 15 below 90 % of the target to scale in). A task's CPU is its processing time over its
/// `concurrency` slots.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoScalingSpec {
    /// Average CPU to hold, 0 to 1 (e.g. 0.5).
    pub target_cpu: f64,
    pub min: u32,
    pub max: u32,
    /// After a scale-out, none for this long (default 300s, AWS's).
    #[serde(default = "AutoScalingSpec::default_cooldown")]
    pub scale_out_cooldown: Dur,
    /// After a scale-in, none for this long (default 300s).
    #[serde(default = "AutoScalingSpec::default_cooldown")]
    pub scale_in_cooldown: Dur,
}

impl AutoScalingSpec {
    fn default_cooldown() -> Dur {
        Dur(300_000_000_000)
    }
}

/// A container health check, as in an ECS task definition.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerHealthCheckSpec {
    /// Between checks (default 30s; ECS allows 5s to 300s).
    #[serde(default = "ContainerHealthCheckSpec::default_interval")]
    pub interval: Dur,
    /// Failed checks in a row that make the task unhealthy (default 3; 1 to 10).
    #[serde(default = "ContainerHealthCheckSpec::default_retries")]
    pub retries: u32,
    /// After the container starts, failures in this period do not count (default 0s).
    #[serde(default)]
    pub start_period: Dur,
}

impl ContainerHealthCheckSpec {
    fn default_interval() -> Dur {
        Dur(30_000_000_000)
    }
    fn default_retries() -> u32 {
        3
    }
}

impl Default for ContainerHealthCheckSpec {
    fn default() -> Self {
        ContainerHealthCheckSpec { interval: Self::default_interval(), retries: Self::default_retries(), start_period: Dur(0) }
    }
}

/// Cold starts (Lambda). Each execution environment works on one request at a time.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColdStartSpec {
    /// How long starting an environment takes (Lambda in a VPC with a JVM: seconds).
    pub duration: DistSpec,
    /// How long an idle environment stays warm (default 10m; AWS does not document it, 5 to 15
    /// minutes are commonly observed).
    #[serde(default = "ColdStartSpec::default_keep_warm")]
    pub keep_warm: Dur,
    /// Extra time a cold start takes when the function is attached to a VPC (its ENI). Before
    /// AWS's 2019 Hyperplane ENIs this was about 10 s; now it is small (see
    /// <https://aws.amazon.com/blogs/compute/announcing-improved-vpc-networking-for-aws-lambda-functions/>).
    /// Default: none.
    #[serde(default)]
    pub vpc_attach: Option<DistSpec>,
    /// The function's memory in MB, what Lambda bills GB-seconds on (default 128, AWS's
    /// default).
    #[serde(default = "ColdStartSpec::default_memory")]
    pub memory_mb: u32,
}

impl ColdStartSpec {
    fn default_memory() -> u32 {
        128
    }
    fn default_keep_warm() -> Dur {
        Dur(600_000_000_000)
    }
}

/// One step: `call` (request and response, then continue) or `forward` (hand the request on;
/// the last service of a forward chain answers the original caller directly, as chain
/// replication does).
#[derive(Clone, Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    #[serde(flatten)]
    pub action: StepAction,
    /// How to pick the instance (default `any`).
    #[serde(default)]
    pub pick: Pick,
    /// Headers this step adds to what it sends (a shared secret, say).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// What a step does: exactly one of `call` and `forward`.
#[derive(Clone, Debug, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// Call this service (or load balancer) and wait for its answer.
    Call(#[schemars(with = "String")] Ref),
    /// Hand the request to this service, which answers the original caller.
    Forward(#[schemars(with = "String")] Ref),
}

impl StepAction {
    /// The service (or load balancer) the step sends to.
    pub fn target(&self) -> &Ref {
        match self {
            StepAction::Call(r) | StepAction::Forward(r) => r,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpecRaw {
    #[serde(default)]
    call: Option<Ref>,
    #[serde(default)]
    forward: Option<Ref>,
    #[serde(default)]
    pick: Pick,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl StepSpecRaw {
    fn parse<E: serde::de::Error>(self) -> Result<StepSpec, E> {
        let actions = [given_ref(self.call, StepAction::Call), given_ref(self.forward, StepAction::Forward)];
        let action = exactly_one(actions, None, |n| match n {
            0 => "a step needs `call: <service>` or `forward: <service>`".into(),
            _ => "a step is either `call` or `forward`, not both".into(),
        })?;
        Ok(StepSpec { action, pick: self.pick, headers: self.headers })
    }
}

deserialize_through!(StepSpec, StepSpecRaw);

/// How a caller picks an instance of a service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// Uniformly at random among all instances.
    #[default]
    Any,
    /// Round robin over all instances.
    RoundRobin,
    /// Only instances in the caller's AZ (503 if there are none).
    Local,
    /// The caller's AZ if it has instances, else any.
    PreferLocal,
    /// An AZ this request's forward chain has not used yet (replicas in distinct AZs).
    Spread,
}
