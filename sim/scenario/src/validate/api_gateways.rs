//! Checks of `api_gateways:`: VPC links, stages, throttles and each route.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, did_you_mean};
use crate::model::{ApiKindSpec, RouteIntegration};

impl Checker<'_> {
    /// Long on purpose: one check per rule of the `api_gateways` section, in the order of its keys, so
    /// the list reads against the section's documentation.
    pub(super) fn check_api_gateways(&mut self) {
        self.check_account_throttles();
        let azs: Vec<String> = self.azs().into_iter().map(String::from).collect();
        let lbs: Vec<String> = self.f.load_balancers.keys().cloned().collect();
        for (name, api) in &self.f.api_gateways {
            let path = format!("api_gateways.{name}");
            let loc = Some(api.vpc_link.referenced);
            let private = api.routes.values().any(|r| r.integration.is_private());
            if api.vpc_link.value.is_empty() && private {
                self.push(
                    None,
                    format!("{path}.vpc_link"),
                    "private integrations (`load_balancer`, `cloud_map`) need a VPC link with at least one subnet (AZ)".into(),
                    None,
                );
            }
            match &api.region {
                Some(r) if !self.f.regions.value.contains_key(r) => {
                    let regions: Vec<String> = self.f.regions.value.keys().cloned().collect();
                    let (message, hint) = self.unknown("Region", r, &regions);
                    self.push(None, format!("{path}.region"), message, hint);
                }
                None if api.vpc_link.value.is_empty() => self.push(None, path.clone(), "give the API a `region` (or a `vpc_link`)".into(), None),
                _ => {}
            }
            for az in &api.vpc_link.value {
                if !azs.contains(az) {
                    let (message, hint) = self.unknown_az(az);
                    self.push(loc, format!("{path}.vpc_link"), message, hint);
                }
            }
            let regions: BTreeSet<&String> =
                api.vpc_link.value.iter().filter_map(|az| self.f.regions.value.iter().find(|(_, r)| r.azs.contains(az)).map(|(n, _)| n)).collect();
            if regions.len() > 1 {
                self.push(loc, format!("{path}.vpc_link"), "a VPC link's subnets are in one Region".into(), None);
            }
            if api.stages.is_empty() {
                self.push(None, format!("{path}.stages"), "at least one stage (`$default` or a name) is needed".into(), None);
            }
            let max_timeout = if api.kind == ApiKindSpec::Rest { 29_000 } else { 30_000 };
            if let Some(t) = api.integration_timeout
                && !(50..=max_timeout).contains(&(t.nanos() / 1_000_000))
            {
                self.push(None, format!("{path}.integration_timeout"), format!("an integration timeout is 50ms to {}s", max_timeout / 1000), None);
            }
            for (t, what) in [(&api.account_throttle, "account_throttle"), (&api.stage_throttle, "stage_throttle")] {
                if t.is_some_and(|t| !(t.rate > 0.0 && t.burst >= 1.0)) {
                    self.push(None, format!("{path}.{what}"), "a throttle needs a rate above 0 and a burst of at least 1".into(), None);
                }
            }
            if api.routes.is_empty() {
                self.push(loc, format!("{path}.routes"), "an API needs at least one route (in `routes` or an `openapi` file)".into(), None);
            }
            for (id, lb) in &api.vpc_links {
                self.check_ref(lb, &lbs, &format!("{path}.vpc_links.{id}"), "load balancer");
            }
            for (key, route) in &api.routes {
                let rpath = format!("{path}.routes.{key}");
                if let Err(e) = check_route_key(key) {
                    self.push(None, rpath.clone(), e, Some("`GET /orders/{id}`, `ANY /{proxy+}` or `$default`".into()));
                }
                let services: Vec<String> = self.f.services.keys().cloned().collect();
                match &route.integration {
                    RouteIntegration::LoadBalancer(lb) => {
                        self.check_ref(lb, &lbs, &format!("{rpath}.load_balancer"), "load balancer");
                    }
                    RouteIntegration::Lambda(f) => {
                        self.check_ref(f, &services, &format!("{rpath}.lambda"), "service");
                    }
                    RouteIntegration::Http(f) => {
                        self.check_ref(f, &services, &format!("{rpath}.http"), "service");
                    }
                    RouteIntegration::CloudMap(svc) if !self.f.services.contains_key(&svc.value) => {
                        // `cloud_map:` names a service of this file, not its Cloud Map name.
                        let registered: Vec<&str> = self.f.services.iter().filter(|(_, s)| s.cloud_map.is_some()).map(|(n, _)| n.as_str()).collect();
                        let aws_name = self.f.services.iter().find(|(_, s)| s.cloud_map.as_ref().is_some_and(|c| c.service == svc.value)).map(|(n, _)| n);
                        let hint = match aws_name {
                            Some(name) => Some(format!("`{}` is the Cloud Map name of service `{name}`: write `cloud_map: {name}`", svc.value)),
                            None => did_you_mean(&svc.value, registered.iter().copied()),
                        };
                        self.push(
                            Some(svc.referenced),
                            format!("{rpath}.cloud_map"),
                            format!("unknown service `{}` (`cloud_map:` takes the name of a service in this file, not its Cloud Map name)", svc.value),
                            hint,
                        );
                    }
                    RouteIntegration::CloudMap(svc) if self.f.services.get(&svc.value).is_some_and(|s| s.cloud_map.is_none()) => {
                        self.push(
                            Some(svc.referenced),
                            format!("{rpath}.cloud_map"),
                            format!("`{}` is not a service registered in Cloud Map", svc.value),
                            Some("give the service `cloud_map:`".into()),
                        );
                    }
                    _ => {}
                }
                if let Some(uri) = &route.uri
                    && !(uri.starts_with("http://") || uri.starts_with("https://"))
                {
                    self.push(None, format!("{rpath}.uri"), format!("`{uri}`: an integration URI is http(s)://host/path"), None);
                }
                if let Some((_, first)) = route.request_parameters.iter().next()
                    && api.kind == ApiKindSpec::Rest
                {
                    self.push(
                        Some(first.referenced),
                        format!("{rpath}.request_parameters"),
                        "request parameter mappings of this form are an HTTP API's; a REST API maps parameters in its OpenAPI file".into(),
                        None,
                    );
                }
                for (k, v) in &route.request_parameters {
                    if let Err(e) = crate::mapping::parse_mapping(k, &v.value) {
                        self.push(
                            Some(v.referenced),
                            format!("{rpath}.request_parameters.{k}"),
                            e,
                            Some("`append:header.x-tenant: acme`, `overwrite:path: /v2${request.path}`".into()),
                        );
                    }
                }
                if route.jwt.is_some() && api.jwt.is_none() {
                    self.push(None, format!("{rpath}.jwt"), "the route asks for a JWT but the API has no `jwt` authorizer".into(), None);
                }
                if route.throttle.is_some_and(|t| !(t.rate > 0.0 && t.burst >= 1.0)) {
                    self.push(None, format!("{rpath}.throttle"), "a throttle needs a rate above 0 and a burst of at least 1".into(), None);
                }
            }
        }
    }

    /// The account's bucket is one per Region, shared by its APIs: they must agree on it.
    fn check_account_throttles(&mut self) {
        let mut first: BTreeMap<String, (&str, (f64, f64))> = BTreeMap::new();
        for (name, api) in &self.f.api_gateways {
            let Some(t) = &api.account_throttle else { continue };
            let region = self
                .plan
                .hosts
                .iter()
                .find(|h| matches!(&h.role, crate::plan::Role::ApiGateway { api } if api == name))
                .and_then(|h| self.plan.region_of(&h.zone));
            let Some(region) = region.map(str::to_string) else { continue };
            match first.get(&region) {
                Some((other, limit)) if *limit != (t.rate, t.burst) => {
                    let message =
                        format!("`{name}` and `{other}` are APIs of one account in {region}, which has one bucket: give them the same `account_throttle`");
                    self.push(Some(api.vpc_link.referenced), format!("api_gateways.{name}.account_throttle"), message, None);
                }
                Some(_) => {}
                None => {
                    first.insert(region, (name.as_str(), (t.rate, t.burst)));
                }
            }
        }
    }
}

/// A route key's syntax: `METHOD /path` (segments literal, `{param}`, or a last `{proxy+}`) or
/// `$default`.
fn check_route_key(key: &str) -> Result<(), String> {
    if key == "$default" {
        return Ok(());
    }
    let (method, path) = key.split_once(' ').ok_or_else(|| format!("`{key}` is not a route key"))?;
    if !matches!(method, "ANY" | "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") {
        return Err(format!("unknown method `{method}`"));
    }
    if !path.starts_with('/') {
        return Err("the path must start with `/`".into());
    }
    let segments: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if segments.iter().rev().skip(1).any(|p| p.ends_with("+}")) {
        return Err("a greedy variable (`{proxy+}`) must be the last segment".into());
    }
    Ok(())
}
