//! API Gateway: each API's regional endpoint, and its VPC link's ENIs.

use std::collections::BTreeMap;
use std::sync::Arc;

use azsim_fakes::apigw::mapping::{MapAction, MapTarget, Mapping};
use azsim_fakes::apigw::{
    AccountThrottle, ApiGateway, ApiGatewayConfig, ApiKind, ApiRoute, Cors, DiscoveryCache, Integration, IntegrationUri, RouteKey, Throttle, VpcLinkEni,
};
use azsim_fakes::cloudmap::Discover;
use azsim_fakes::defaults;
use azsim_kernel::{Core, HostId, RegionId};
use azsim_scenario::{ApiGatewaySpec, ApiKindSpec, RouteIntegration, ScenarioFile, ThrottleSpec};

use super::Shared;
use super::hosts::Placed;
use super::network::dist;

/// Puts each API on its endpoint host and its VPC link's ENIs on theirs. The APIs of a Region
/// share the account's bucket there.
pub(super) fn add(f: &ScenarioFile, placed: &Placed<'_>, shared: &Shared, core: &mut Core) -> Result<(), String> {
    let mut accounts: BTreeMap<RegionId, AccountThrottle> = BTreeMap::new();
    for (name, api) in &f.api_gateways {
        let gateway = placed.api_endpoint(name).expect("the plan places every API");
        let region = core.topology().host(gateway.host).region;
        // Validation makes the APIs of a Region agree on the account's limit; the first sets it.
        let limit = f
            .api_gateways
            .values()
            .filter(|other| placed.api_region(other) == placed.api_region(api))
            .find_map(|other| other.account_throttle.as_ref())
            .map_or(Throttle::ACCOUNT_DEFAULT, |t| Throttle { rate: t.rate, burst: t.burst });
        let account = accounts.entry(region).or_insert_with(|| AccountThrottle::new(limit)).clone();
        let enis = placed.vpc_link(name);
        let config = Arc::new(api_gateway_config(f, name, api, &enis, account, placed, shared)?);
        let cache = DiscoveryCache::default();
        for eni in &enis {
            core.add_process(*eni, Box::new(VpcLinkEni::new(Arc::new(config.integrations.clone()), cache.clone(), config.integration_timeout)));
        }
        core.add_process(gateway.host, Box::new(ApiGateway::new(config)));
    }
    Ok(())
}

/// An API's gateway configuration from its scenario spec (validated).
fn api_gateway_config(
    f: &ScenarioFile,
    name: &str,
    api: &ApiGatewaySpec,
    enis: &[HostId],
    account: AccountThrottle,
    placed: &Placed<'_>,
    shared: &Shared,
) -> Result<ApiGatewayConfig, String> {
    use azsim_fakes::apigw::jwt::JwtAuthorizer;
    let (rest, throttle) = (api.kind == ApiKindSpec::Rest, |t: &ThrottleSpec| Throttle { rate: t.rate, burst: t.burst });
    let mut integrations = Vec::new();
    let mut routes = Vec::new();
    for (key, r) in &api.routes {
        integrations.push(integration(f, api, r, placed, shared));
        routes.push(ApiRoute {
            key: RouteKey::parse(key).map_err(|e| format!("api_gateways.{name}.routes: {e}"))?,
            integration: integrations.len() - 1,
            jwt: r.jwt.clone(),
            throttle: r.throttle.as_ref().map(throttle),
            uri: r
                .uri
                .as_ref()
                .map(|u| IntegrationUri::parse(u, r.path_parameters.clone()))
                .transpose()
                .map_err(|e| format!("api_gateways.{name}.routes.{key}: {e}"))?,
            mappings: r
                .request_parameters
                .iter()
                .map(|(k, v)| azsim_scenario::mapping::parse_mapping(k, &v.value).map(mapping))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("api_gateways.{name}.routes.{key}.request_parameters: {e}"))?,
        });
    }
    let authorizer = match &api.jwt {
        Some(j) => Some(Arc::new(JwtAuthorizer::from_jwks(&j.issuer, j.audience.clone(), &j.jwks_text).map_err(|e| format!("api_gateways.{name}.jwt: {e}"))?)),
        None => None,
    };
    let (default_timeout, default_status) = if rest {
        (defaults::api_gateway::REST_INTEGRATION_TIMEOUT, defaults::api_gateway::REST_TIMEOUT_STATUS)
    } else {
        (defaults::api_gateway::HTTP_INTEGRATION_TIMEOUT, defaults::api_gateway::HTTP_TIMEOUT_STATUS)
    };
    Ok(ApiGatewayConfig {
        name: name.to_string(),
        kind: if rest { ApiKind::Rest } else { ApiKind::Http },
        stages: api.stages.clone(),
        strip_stage: api.strip_stage,
        routes,
        integrations,
        account,
        stage_throttle: api.stage_throttle.as_ref().map(throttle),
        integration_timeout: api.integration_timeout.map_or(default_timeout, |d| d.nanos()),
        timeout_status: api.timeout_status.unwrap_or(default_status),
        epoch_unix: api.jwt.as_ref().map_or(0, |j| j.start_unix),
        authorizer,
        cors: api.cors.as_ref().map(|c| Cors { allow_origins: c.allow_origins.clone() }),
        enis: enis.to_vec(),
        processing: dist(f, &api.processing),
    })
}

/// Where a route sends its requests.
fn integration(f: &ScenarioFile, api: &ApiGatewaySpec, r: &azsim_scenario::ApiRouteSpec, placed: &Placed<'_>, shared: &Shared) -> Integration {
    match &r.integration {
        RouteIntegration::LoadBalancer(lb) => Integration::LoadBalancer {
            name: lb.value.clone(),
            directory: shared.directory.clone(),
            connect: super::load_balancers::routes_flows(f, &lb.value),
            private_link: api.kind == ApiKindSpec::Rest,
        },
        RouteIntegration::Lambda(function) => Integration::Lambda(placed.instances(&function.value)),
        RouteIntegration::Http(svc) => Integration::Http(placed.instances(&svc.value)),
        RouteIntegration::CloudMap(svc) => {
            let reg = f.services[&svc.value].cloud_map.as_ref().expect("validated: registered in Cloud Map");
            let discover = Discover {
                namespace: reg.namespace.clone(),
                service: reg.service.clone(),
                max_results: None,
                query: r.query.clone(),
                optional: BTreeMap::new(),
                health: None,
            };
            Integration::CloudMap { registry: shared.registry.clone(), discover, cache_ttl: api.discovery_cache.nanos() }
        }
    }
}

/// A request parameter mapping as the language parsed it, for the API Gateway fake.
fn mapping(m: azsim_scenario::mapping::RequestMapping) -> Mapping {
    use azsim_scenario::mapping::{MapAction as A, MapTarget as T};
    let action = match m.action {
        A::Append => MapAction::Append,
        A::Overwrite => MapAction::Overwrite,
        A::Remove => MapAction::Remove,
    };
    let target = match m.target {
        T::Header(h) => MapTarget::Header(h),
        T::Query(q) => MapTarget::Query(q),
        T::Path => MapTarget::Path,
    };
    Mapping { action, target, value: m.value }
}
