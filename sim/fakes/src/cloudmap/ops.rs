//! Cloud Map's operations on the registry, as AWS documents them (`sim/fakes/FIDELITY.md` CM-01 to CM-18).
//! Pure: time and randomness come in as arguments.

use std::collections::BTreeMap;

use azsim_kernel::{Nanos, SimRng};

use super::state::*;

/// An error as Cloud Map names it (`__type` in the JSON answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloudMapError {
    NamespaceNotFound(String),
    ServiceNotFound(String),
    InstanceNotFound(String),
    /// `UpdateInstanceCustomHealthStatus` on a service without `HealthCheckCustomConfig`.
    CustomHealthNotFound(String),
    NamespaceAlreadyExists(String),
    ServiceAlreadyExists(String),
    InvalidInput(String),
    RequestLimitExceeded,
}

impl CloudMapError {
    /// The error code (`__type`).
    pub fn code(&self) -> &'static str {
        match self {
            CloudMapError::NamespaceNotFound(_) => "NamespaceNotFound",
            CloudMapError::ServiceNotFound(_) => "ServiceNotFound",
            CloudMapError::InstanceNotFound(_) => "InstanceNotFound",
            CloudMapError::CustomHealthNotFound(_) => "CustomHealthNotFound",
            CloudMapError::NamespaceAlreadyExists(_) => "NamespaceAlreadyExists",
            CloudMapError::ServiceAlreadyExists(_) => "ServiceAlreadyExists",
            CloudMapError::InvalidInput(_) => "InvalidInput",
            CloudMapError::RequestLimitExceeded => "RequestLimitExceeded",
        }
    }

    pub fn message(&self) -> String {
        match self {
            CloudMapError::NamespaceNotFound(n) => format!("Namespace not found: {n}"),
            CloudMapError::ServiceNotFound(n) => format!("Service not found: {n}"),
            CloudMapError::InstanceNotFound(n) => format!("Instance not found: {n}"),
            CloudMapError::CustomHealthNotFound(n) => format!("Service {n} has no custom health check"),
            CloudMapError::NamespaceAlreadyExists(n) => format!("Namespace already exists: {n}"),
            CloudMapError::ServiceAlreadyExists(n) => format!("Service already exists: {n}"),
            CloudMapError::InvalidInput(m) => m.clone(),
            CloudMapError::RequestLimitExceeded => "Rate exceeded".to_string(),
        }
    }
}

/// `HealthStatus` of a `DiscoverInstances` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthFilter {
    Healthy,
    Unhealthy,
    All,
    /// Healthy instances, or all of them if none is healthy (fail-open).
    HealthyOrElseAll,
}

impl HealthFilter {
    pub fn parse(s: &str) -> Option<HealthFilter> {
        Some(match s {
            "HEALTHY" => HealthFilter::Healthy,
            "UNHEALTHY" => HealthFilter::Unhealthy,
            "ALL" => HealthFilter::All,
            "HEALTHY_OR_ELSE_ALL" => HealthFilter::HealthyOrElseAll,
            _ => return None,
        })
    }
}

/// A `DiscoverInstances` request.
#[derive(Clone, Debug, PartialEq)]
pub struct Discover {
    pub namespace: String,
    pub service: String,
    /// 1 to 1000; default 100.
    pub max_results: Option<u32>,
    /// Every pair must match.
    pub query: BTreeMap<String, String>,
    /// Applied only if at least one instance matches them too.
    pub optional: BTreeMap<String, String>,
    /// AWS does not document the default; this fake uses `HEALTHY` when it is omitted.
    pub health: Option<HealthFilter>,
}

/// One instance in a `DiscoverInstances` answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub id: String,
    pub health: Health,
    pub attributes: BTreeMap<String, String>,
}

/// A `DiscoverInstances` answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Discovered {
    pub instances: Vec<Found>,
    pub revision: u64,
}

impl Registry {
    /// Creates a namespace; returns its id.
    pub fn create_namespace(&mut self, name: &str, kind: NamespaceKind) -> Result<String, CloudMapError> {
        if self.namespaces.contains_key(name) {
            return Err(CloudMapError::NamespaceAlreadyExists(name.into()));
        }
        let id = self.new_id("ns");
        self.namespaces.insert(name.into(), Namespace { id: id.clone(), kind, services: BTreeMap::new() });
        Ok(id)
    }

    /// Creates a service; returns its id.
    pub fn create_service(&mut self, namespace: &str, name: &str, health: HealthConfig, routing: RoutingPolicy, ttl: u32) -> Result<String, CloudMapError> {
        let id = self.new_id("srv");
        let ns = self.namespaces.get_mut(namespace).ok_or_else(|| CloudMapError::NamespaceNotFound(namespace.into()))?;
        if ns.services.contains_key(name) {
            return Err(CloudMapError::ServiceAlreadyExists(name.into()));
        }
        ns.services.insert(name.into(), Service { id: id.clone(), health, routing, ttl, instances: BTreeMap::new(), revision: 0 });
        Ok(id)
    }

    /// The (namespace, service) names of a service id.
    pub fn service_by_id(&self, id: &str) -> Result<(String, String), CloudMapError> {
        for (ns_name, ns) in &self.namespaces {
            for (svc_name, svc) in &ns.services {
                if svc.id == id {
                    return Ok((ns_name.clone(), svc_name.clone()));
                }
            }
        }
        Err(CloudMapError::ServiceNotFound(id.into()))
    }

    fn service_mut(&mut self, namespace: &str, service: &str) -> Result<&mut Service, CloudMapError> {
        let ns = self.namespaces.get_mut(namespace).ok_or_else(|| CloudMapError::NamespaceNotFound(namespace.into()))?;
        ns.services.get_mut(service).ok_or_else(|| CloudMapError::ServiceNotFound(service.into()))
    }

    /// Registers (or re-registers) an instance; discovery sees it after the registration delay.
    /// `AWS_INIT_HEALTH_STATUS` sets the initial custom health (default `HEALTHY`).
    pub fn register_instance(
        &mut self,
        now: Nanos,
        namespace: &str,
        service: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<(), CloudMapError> {
        if attributes.len() > 30 {
            return Err(CloudMapError::InvalidInput("an instance has at most 30 custom attributes".into()));
        }
        let (delay, propagation) = (self.settings.registration_delay, self.settings.dns_propagation);
        let svc = self.service_mut(namespace, service)?;
        let health = match (svc.health, attributes.get("AWS_INIT_HEALTH_STATUS").map(String::as_str)) {
            (HealthConfig::None, _) => Health::Unknown,
            (HealthConfig::Custom, Some("UNHEALTHY")) => Health::Unhealthy,
            (HealthConfig::Custom, None | Some("HEALTHY")) => Health::Healthy,
            (HealthConfig::Custom, Some(other)) => {
                return Err(CloudMapError::InvalidInput(format!("AWS_INIT_HEALTH_STATUS must be HEALTHY or UNHEALTHY, not {other}")));
            }
        };
        // Re-registering updates the instance in place: it stays visible (and, if it was being
        // deregistered, is kept).
        let visible_at = match svc.instances.get(id) {
            Some(old) if old.gone_at.is_none() || old.gone_at.is_some_and(|t| t > now) => old.visible_at.min(now + delay),
            _ => now + delay,
        };
        let dns_visible_at = match svc.instances.get(id) {
            Some(old) if old.gone_at.is_none_or(|t| t > now) => old.dns_visible_at.min(now + delay + propagation),
            _ => now + delay + propagation,
        };
        svc.instances.insert(id.into(), Instance { attributes, health, pending_health: None, visible_at, dns_visible_at, gone_at: None });
        svc.revision += 1;
        Ok(())
    }

    /// Deregisters an instance; discovery stops returning it after the registration delay.
    pub fn deregister_instance(&mut self, now: Nanos, namespace: &str, service: &str, id: &str) -> Result<(), CloudMapError> {
        let delay = self.settings.registration_delay;
        let svc = self.service_mut(namespace, service)?;
        let inst = svc.instances.get_mut(id).filter(|i| i.gone_at.is_none()).ok_or_else(|| CloudMapError::InstanceNotFound(id.into()))?;
        inst.gone_at = Some(now + delay);
        svc.revision += 1;
        Ok(())
    }

    /// `UpdateInstanceCustomHealthStatus`: the change takes effect after the health delay
    /// (about 30 s); a reversal inside the window cancels it; repeating it does not hurry it.
    pub fn update_custom_health(&mut self, now: Nanos, namespace: &str, service: &str, id: &str, status: Health) -> Result<(), CloudMapError> {
        let delay = self.settings.health_change_delay;
        self.settle(now);
        let svc = self.service_mut(namespace, service)?;
        if svc.health != HealthConfig::Custom {
            return Err(CloudMapError::CustomHealthNotFound(service.into()));
        }
        let inst = svc.instances.get_mut(id).ok_or_else(|| CloudMapError::InstanceNotFound(id.into()))?;
        match inst.pending_health {
            Some((pending, _)) if pending == status => {}
            Some(_) => inst.pending_health = None,
            None if inst.health != status => inst.pending_health = Some((status, now + delay)),
            None => {}
        }
        Ok(())
    }

    /// Applies what time has made true: health changes due, deregistrations done (and, for
    /// DNS namespaces, propagated to the name servers).
    pub fn settle(&mut self, now: Nanos) {
        let propagation = self.settings.dns_propagation;
        for ns in self.namespaces.values_mut() {
            let linger = if ns.kind == NamespaceKind::Http { 0 } else { propagation };
            for svc in ns.services.values_mut() {
                svc.instances.retain(|_, i| i.gone_at.is_none_or(|t| t.saturating_add(linger) > now));
                for inst in svc.instances.values_mut() {
                    if let Some((h, at)) = inst.pending_health.filter(|(_, at)| *at <= now) {
                        let _ = at;
                        inst.health = h;
                        inst.pending_health = None;
                    }
                }
            }
        }
    }

    /// Spends one token of the account's request bucket.
    fn take_token(&mut self, now: Nanos) -> Result<(), CloudMapError> {
        let s = self.settings;
        let elapsed = now.saturating_sub(self.tokens_at) as f64 / 1e9;
        self.tokens = (self.tokens + elapsed * s.throttle_refill_per_s).min(s.throttle_capacity);
        self.tokens_at = now;
        if self.tokens < 1.0 {
            return Err(CloudMapError::RequestLimitExceeded);
        }
        self.tokens -= 1.0;
        Ok(())
    }

    /// `DiscoverInstances`: filters by query parameters (AND), health, and optional parameters
    /// (only if they leave something), in a randomized order, at most `max_results`.
    pub fn discover(&mut self, now: Nanos, rng: &mut SimRng, req: &Discover) -> Result<Discovered, CloudMapError> {
        let max = req.max_results.unwrap_or(100);
        if !(1..=1000).contains(&max) {
            return Err(CloudMapError::InvalidInput("MaxResults must be between 1 and 1000".into()));
        }
        self.take_token(now)?;
        self.settle(now);
        self.discover_calls += 1;
        let svc = self.service_mut(&req.namespace, &req.service)?;
        let matches = |i: &Instance, params: &BTreeMap<String, String>| params.iter().all(|(k, v)| i.attributes.get(k) == Some(v));
        let mut found: Vec<(&String, &Instance)> = svc.instances.iter().filter(|(_, i)| i.is_registered(now) && matches(i, &req.query)).collect();
        if svc.health != HealthConfig::None {
            let healthy = |i: &Instance| i.health == Health::Healthy;
            found = match req.health.unwrap_or(HealthFilter::Healthy) {
                HealthFilter::All => found,
                HealthFilter::Healthy => found.into_iter().filter(|(_, i)| healthy(i)).collect(),
                HealthFilter::Unhealthy => found.into_iter().filter(|(_, i)| !healthy(i)).collect(),
                HealthFilter::HealthyOrElseAll if found.iter().any(|(_, i)| healthy(i)) => found.into_iter().filter(|(_, i)| healthy(i)).collect(),
                HealthFilter::HealthyOrElseAll => found,
            };
        }
        if !req.optional.is_empty() && found.iter().any(|(_, i)| matches(i, &req.optional)) {
            found.retain(|(_, i)| matches(i, &req.optional));
        }
        // A randomized list, as AWS documents (Fisher-Yates on the seeded stream).
        for k in (1..found.len()).rev() {
            let j = rng.below(k as u64 + 1) as usize;
            found.swap(k, j);
        }
        found.truncate(max as usize);
        let instances: Vec<Found> = found.into_iter().map(|(id, i)| Found { id: id.clone(), health: i.health, attributes: i.attributes.clone() }).collect();
        let revision = svc.revision;
        for f in &instances {
            self.last_returned.insert(f.id.clone(), now);
        }
        Ok(Discovered { instances, revision })
    }

    /// `GetInstancesHealthStatus`.
    pub fn health_status(&mut self, now: Nanos, namespace: &str, service: &str) -> Result<BTreeMap<String, Health>, CloudMapError> {
        self.settle(now);
        let svc = self.service_mut(namespace, service)?;
        Ok(svc.instances.iter().filter(|(_, i)| i.is_registered(now)).map(|(id, i)| (id.clone(), i.health)).collect())
    }

    /// `GetInstancesHealthStatus` with its request fields: only `instances` if any are named
    /// (one not registered: `InstanceNotFound`, our reading of the operation's documented
    /// errors), at most `max_results` (1 to 100, default 100) in instance-ID order, starting
    /// after the instance `next_token` names. Returns the page and the token for the next one.
    pub fn health_status_page(
        &mut self,
        now: Nanos,
        namespace: &str,
        service: &str,
        instances: &[String],
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> Result<(BTreeMap<String, Health>, Option<String>), CloudMapError> {
        let max = max_results.unwrap_or(100);
        if !(1..=100).contains(&max) {
            return Err(CloudMapError::InvalidInput("MaxResults must be between 1 and 100".into()));
        }
        let mut all = self.health_status(now, namespace, service)?;
        if !instances.is_empty() {
            if let Some(missing) = instances.iter().find(|id| !all.contains_key(*id)) {
                return Err(CloudMapError::InstanceNotFound(missing.clone()));
            }
            all.retain(|id, _| instances.contains(id));
        }
        let mut rest = all.into_iter().filter(|(id, _)| next_token.is_none_or(|after| id.as_str() > after)).peekable();
        let page: BTreeMap<String, Health> = rest.by_ref().take(max as usize).collect();
        let next = rest.peek().and(page.keys().next_back().cloned());
        Ok((page, next))
    }

    /// What Route 53 answers for a service of a DNS namespace (its A records): the instances
    /// the name servers know of (registration changes reach them `dns_propagation` later); of
    /// those, the healthy ones, or all of them if none is (Route 53 then answers with unhealthy
    /// records rather than none); MULTIVALUE: up to 8 at random, WEIGHTED: one. The answer's
    /// TTL is the service's.
    pub fn dns_answer(&mut self, now: Nanos, rng: &mut SimRng, namespace: &str, service: &str) -> Result<(Vec<Found>, Nanos), CloudMapError> {
        self.settle(now);
        let propagation = self.settings.dns_propagation;
        let kind = self.namespaces.get(namespace).map(|ns| ns.kind).ok_or_else(|| CloudMapError::NamespaceNotFound(namespace.into()))?;
        if kind == NamespaceKind::Http {
            return Err(CloudMapError::InvalidInput(format!("`{namespace}` is an HTTP namespace: it has no DNS records")));
        }
        let svc = self.service_mut(namespace, service)?;
        let known = |i: &Instance| i.dns_visible_at <= now && i.gone_at.is_none_or(|t| t.saturating_add(propagation) > now);
        let mut found: Vec<(&String, &Instance)> = svc.instances.iter().filter(|(_, i)| known(i)).collect();
        if svc.health != HealthConfig::None && found.iter().any(|(_, i)| i.health == Health::Healthy) {
            found.retain(|(_, i)| i.health == Health::Healthy);
        }
        for k in (1..found.len()).rev() {
            let j = rng.below(k as u64 + 1) as usize;
            found.swap(k, j);
        }
        found.truncate(if svc.routing == RoutingPolicy::Weighted { 1 } else { 8 });
        let ttl = u64::from(svc.ttl) * 1_000_000_000;
        let answer: Vec<Found> = found.into_iter().map(|(id, i)| Found { id: id.clone(), health: i.health, attributes: i.attributes.clone() }).collect();
        for f in &answer {
            self.last_returned.insert(f.id.clone(), now);
        }
        Ok((answer, ttl))
    }
}

impl Instance {
    /// Registered as the API sees it: visible, and not yet deregistered.
    fn is_registered(&self, now: Nanos) -> bool {
        self.visible_at <= now && self.gone_at.is_none_or(|t| t > now)
    }
}
