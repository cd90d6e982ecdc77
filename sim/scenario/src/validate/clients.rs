//! Checks of `clients:`: targets, pacing, discovery and the client library.

use super::Checker;
use crate::model::{ClientPacing, DiscoveryVia, LbKind, Resolve};

impl Checker<'_> {
    /// Long on purpose: one check per rule of the `clients` section, in the order of its keys, so
    /// the list reads against the section's documentation.
    pub(super) fn check_clients(&mut self) {
        let mut targets: Vec<String> = self.f.services.keys().cloned().collect();
        targets.extend(self.f.load_balancers.keys().cloned());
        targets.extend(self.f.api_gateways.keys().cloned());
        targets.extend(self.f.cloudfront.keys().cloned());
        targets.extend(self.f.route53.iter().flat_map(|r| r.records.keys().cloned()));
        if self.f.clients.is_empty() {
            self.push(None, "clients".into(), "at least one client is needed".into(), None);
        }
        for (name, c) in &self.f.clients {
            let path = format!("clients.{name}");
            self.check_az_map(&c.azs, &format!("{path}.azs"));
            let loc = Some(c.target.referenced);
            if self.check_ref(&c.target, &targets, &format!("{path}.target"), "load balancer, API, CloudFront distribution, DNS name or service")
                && c.resolve == Resolve::OwnAz
            {
                match self.f.load_balancers.get(&c.target.value) {
                    Some(lb) if lb.kind == LbKind::Nlb => {
                        for az in c.azs.value.keys() {
                            if !lb.azs.value.contains(az) {
                                self.push(
                                    loc,
                                    format!("{path}.resolve"),
                                    format!("`{}` has no node in `{az}`, so it has no zonal name there", c.target.value),
                                    None,
                                );
                            }
                        }
                    }
                    _ => self.push(loc, format!("{path}.resolve"), "`own_az` needs an NLB target: only NLBs publish zonal DNS names".into(), None),
                }
            }
            // A guard against runs that would never end: at most 100 million requests.
            let hosts: u32 = c.azs.value.values().sum();
            if let ClientPacing::Rate(rate) = c.pacing
                && rate.is_finite()
            {
                let total = rate * hosts as f64 * self.f.duration.nanos() as f64 / 1e9;
                if total > 1e8 {
                    self.push(
                        loc,
                        format!("{path}.rate"),
                        format!("this client would send {total:.0} requests; the limit is 100 million per run"),
                        Some("lower `rate` or `duration`".into()),
                    );
                }
            }
            if c.discovery.is_some() && self.f.services.get(&c.target.value).is_none_or(|svc| svc.cloud_map.is_none()) {
                self.push(
                    loc,
                    format!("{path}.discovery"),
                    format!("discovery needs the target to be a service registered in Cloud Map (`cloud_map:` on `{}`)", c.target.value),
                    None,
                );
            }
            if c.discovery.as_ref().and_then(|d| d.refresh).is_some_and(|r| r.nanos() < 1_000_000_000) {
                self.push(None, format!("{path}.discovery.refresh"), "refresh at most once a second (Cloud Map throttles, and 0 would never end)".into(), None);
            }
            if let Some(conns) = &c.connections {
                let at = Some(conns.referenced);
                if let Some(why) = self.f.refuses_connections(&c.target.value) {
                    self.push(at, format!("{path}.connections"), why, Some("leave `connections` out: the client's requests then travel as messages".into()));
                }
                if conns.value.resumption && conns.value.tls.is_none() {
                    self.push(
                        at,
                        format!("{path}.connections.resumption"),
                        "`resumption` resumes TLS sessions: give the connections a `tls` version".into(),
                        None,
                    );
                }
                if conns.value.tls.is_some() && self.f.load_balancers.get(&c.target.value).is_some_and(|lb| lb.kind == LbKind::Nlb) {
                    self.push(
                        at,
                        format!("{path}.connections.tls"),
                        "TLS through an NLB is not modelled yet (its TLS listener terminates at the node; its TCP listener passes TLS on to the targets)"
                            .into(),
                        Some("use TLS to an ALB, an API, a CloudFront distribution or a service".into()),
                    );
                }
                if conns.value.idle_timeout.nanos() == 0 {
                    self.push(at, format!("{path}.connections.idle_timeout"), "an idle timeout of 0s would close every connection at once".into(), None);
                }
                if conns.value.max_requests == Some(0) {
                    self.push(at, format!("{path}.connections.max_requests"), "a connection carries at least one request".into(), None);
                }
            }
            if let Some(text) = &c.expected_statuses {
                let at = Some(text.referenced);
                match crate::parse_matcher(&text.value) {
                    Err(why) => self.push(at, format!("{path}.expected_statuses"), why, Some("write codes and ranges such as `200-399,401`".into())),
                    Ok(ranges) if ranges.iter().any(|(low, high)| *low < 200 || *high > 599) => {
                        self.push(at, format!("{path}.expected_statuses"), "expected statuses are from 200 to 599".into(), None)
                    }
                    Ok(_) => {}
                }
                if c.library.is_some() {
                    self.push(
                        at,
                        format!("{path}.expected_statuses"),
                        "a `library:` client's outcomes are the library's: its policy decides which statuses succeed".into(),
                        None,
                    );
                }
            }
            if c.dns_cache.is_some_and(|d| d.nanos() == 0) {
                self.push(None, format!("{path}.dns_cache"), "a DNS cache keeps answers for more than 0s".into(), None);
            }
            if let Some(lib) = &c.library {
                if c.discovery.as_ref().is_none_or(|d| d.via != DiscoveryVia::Api) {
                    self.push(
                        None,
                        format!("{path}.library"),
                        "the client library discovers through Cloud Map's API: add `discovery: {}` (via api)".into(),
                        None,
                    );
                }
                if c.discovery.as_ref().is_some_and(|d| !d.query.is_empty()) {
                    self.push(
                        None,
                        format!("{path}.discovery.query"),
                        "with `library`, discover every zone: the library prefers its own AZ itself".into(),
                        None,
                    );
                }
                if !matches!(c.pacing, ClientPacing::Rate(_)) {
                    self.push(None, format!("{path}.library"), "a library client is open loop: give `rate`".into(), None);
                }
                if lib.max_attempts == Some(0) {
                    self.push(None, format!("{path}.library.max_attempts"), "at least 1 attempt".into(), None);
                }
                if lib.spill_below.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                    self.push(None, format!("{path}.library.spill_below"), "a share is between 0 and 1".into(), None);
                }
            }
            if let Some(d) = c.discovery.as_ref().filter(|d| d.via == DiscoveryVia::Dns) {
                let has_dns = self.f.services.get(&c.target.value).and_then(|s| s.cloud_map.as_ref()).is_some_and(|r| r.dns.is_some());
                if !has_dns {
                    self.push(
                        None,
                        format!("{path}.discovery.via"),
                        format!("DNS discovery needs DNS records: add `dns:` to `cloud_map:` on `{}`", c.target.value),
                        None,
                    );
                }
                if !d.query.is_empty() || d.refresh.is_some() {
                    self.push(
                        None,
                        format!("{path}.discovery.via"),
                        "DNS answers cannot be filtered and follow their TTL: `query` and `refresh` apply to `via: api` only".into(),
                        None,
                    );
                }
            }
            let positive = match c.pacing {
                ClientPacing::Rate(r) => r > 0.0 && r.is_finite(),
                ClientPacing::Concurrency(n) => n > 0,
            };
            if !positive {
                self.push(loc, path.clone(), "`rate` and `concurrency` must be positive".into(), None);
            }
        }
    }
}
