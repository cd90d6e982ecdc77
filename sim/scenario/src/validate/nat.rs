//! Checks of `nat_gateways:` and of the egress proxies that send through them.

use super::Checker;

impl Checker<'_> {
    pub(super) fn check_nat(&mut self) {
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        for (name, nat) in &self.f.nat_gateways {
            let loc = Some(nat.azs.referenced);
            for az in nat.azs.value.iter().chain(nat.routes.keys()).chain(nat.routes.values()) {
                if !azs.contains(az) {
                    let (message, hint) = self.unknown_az(az);
                    self.push(loc, format!("nat_gateways.{name}"), message, hint);
                }
            }
            if nat.regional && !nat.routes.is_empty() {
                self.push(
                    loc,
                    format!("nat_gateways.{name}.routes"),
                    "a regional NAT gateway has no route tables to set: each subnet uses its own AZ's address".into(),
                    None,
                );
            }
            for (from, to) in &nat.routes {
                if !nat.azs.value.contains(to) {
                    self.push(loc, format!("nat_gateways.{name}.routes.{from}"), format!("no NAT gateway of `{name}` in `{to}`"), None);
                }
            }
        }
        let nats: Vec<String> = self.f.nat_gateways.keys().cloned().collect();
        let services: Vec<String> = self.f.services.keys().cloned().collect();
        for (name, svc) in &self.f.services {
            let Some(e) = &svc.egress else { continue };
            let path = format!("services.{name}.egress");
            if self.check_ref(&e.nat, &nats, &format!("{path}.nat"), "NAT gateway") {
                let nat = &self.f.nat_gateways[&e.nat.value];
                for az in svc.instances.value.keys() {
                    let to = nat.routes.get(az).unwrap_or(az);
                    if !nat.azs.value.contains(to) {
                        self.push(
                            Some(e.nat.referenced),
                            format!("{path}.nat"),
                            format!("instances in `{az}` have no route to a NAT of `{}`", e.nat.value),
                            Some(format!("add `{az}: <AZ with a NAT>` to its `routes`")),
                        );
                    }
                }
            }
            self.check_ref(&e.destination, &services, &format!("{path}.destination"), "service");
            if e.secrets.is_empty() {
                self.push(Some(e.nat.referenced), format!("{path}.secrets"), "an egress proxy needs at least one secret".into(), None);
            }
            if let Some(pool) = &e.upstream_pool
                && (pool.idle_timeout.nanos() < 1_000_000_000 || pool.keepalive.is_some_and(|k| k.nanos() < 1_000_000_000))
            {
                self.push(Some(e.nat.referenced), format!("{path}.upstream_pool"), "an idle timeout and a keep-alive interval are at least 1s".into(), None);
            }
            if !svc.steps.is_empty() || svc.ecs.is_some() || svc.cold_start.is_some() {
                self.push(Some(e.nat.referenced), path.clone(), "an egress proxy has no `steps`, `ecs` or `cold_start`".into(), None);
            }
        }
    }
}
