//! Checks of `tunnel:`: its proxies and backend, and that only agents reach the backend.

use super::Checker;

impl Checker<'_> {
    pub(super) fn check_tunnel(&mut self) {
        let Some(t) = &self.f.tunnel else { return };
        let services: Vec<String> = self.f.services.keys().cloned().collect();
        let proxies_ok = self.check_ref(&t.proxies, &services, "tunnel.proxies", "service");
        let backend_ok = self.check_ref(&t.backend, &services, "tunnel.backend", "service");
        if t.proxies.value == t.backend.value {
            self.push(Some(t.proxies.referenced), "tunnel".into(), "the proxies and the backend must be different services".into(), None);
        }
        self.check_az_map(&t.agents, "tunnel.agents");
        for (ok, r, role) in [(proxies_ok, &t.proxies, "proxies"), (backend_ok, &t.backend, "backend")] {
            let Some(svc) = self.f.services.get(&r.value).filter(|_| ok) else { continue };
            let extras = [
                (!svc.steps.is_empty(), "steps"),
                (svc.ecs.is_some(), "ecs"),
                (svc.cloud_map.is_some(), "cloud_map"),
                (!svc.routes.is_empty(), "routes"),
                (svc.cold_start.is_some(), "cold_start"),
                (!svc.allow_sources.is_empty(), "allow_sources"),
            ];
            for (_, what) in extras.iter().filter(|(set, _)| *set) {
                self.push(
                    Some(r.referenced),
                    format!("services.{}.{what}", r.value),
                    format!("`{what}` does not apply to the tunnel's {role}: real code runs there"),
                    Some("remove it, or use another service".into()),
                );
            }
        }
        // The backend speaks HTTP on the byte-stream path: only agents reach it.
        let backend = t.backend.value.clone();
        for (name, lb) in &self.f.load_balancers {
            if lb.targets.value == backend {
                self.push(
                    Some(lb.targets.referenced),
                    format!("load_balancers.{name}.targets"),
                    format!("`{backend}` is the tunnel's backend: only its agents reach it"),
                    None,
                );
            }
        }
        for (name, c) in &self.f.clients {
            if c.target.value == backend {
                self.push(
                    Some(c.target.referenced),
                    format!("clients.{name}.target"),
                    format!("`{backend}` is the tunnel's backend: only its agents reach it"),
                    None,
                );
            }
        }
        for (name, svc) in &self.f.services {
            for (i, step) in svc.steps.iter().enumerate() {
                if let Some(r) = Some(step.action.target()).filter(|r| r.value == backend) {
                    self.push(
                        Some(r.referenced),
                        format!("services.{name}.steps[{i}]"),
                        format!("`{backend}` is the tunnel's backend: only its agents reach it"),
                        None,
                    );
                }
            }
        }
    }
}
