//! API Gateway conformance: one case per documented behaviour (see sim/fakes/FIDELITY.md),
//! each a request through a gateway, a VPC link ENI and a Cloud Map integration to a service.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azsim_fakes::apigw::mapping::{MapAction, MapTarget, Mapping};
use azsim_fakes::apigw::{AccountThrottle, ApiGateway, ApiGatewayConfig, ApiKind, ApiRoute, Cors, Integration, RouteKey, Throttle, VpcLinkEni};
use azsim_fakes::cloudmap::{Discover, HealthConfig, NamespaceKind, Registry, RoutingPolicy, Settings};
use azsim_fakes::*;
use azsim_kernel::{Dist, Outcome};

use crate::{MS, World, world};

/// Settings a case changes.
struct Case {
    kind: ApiKind,
    stages: Vec<&'static str>,
    strip_stage: bool,
    routes: Vec<&'static str>,
    /// The service never answers.
    hangs: bool,
    timeout: u64,
    route_throttle: Option<Throttle>,
    cors: bool,
    /// Every instance dead (crashed): the link's target refuses.
    target_down: bool,
    /// An HTTP proxy integration straight to the service, not through the VPC link.
    direct: bool,
    mappings: Vec<Mapping>,
    /// The account's bucket in the Region (a fresh default one when `None`).
    account: Option<AccountThrottle>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            kind: ApiKind::Http,
            stages: vec!["$default"],
            strip_stage: false,
            routes: vec!["GET /orders/{id}"],
            hangs: false,
            timeout: 30_000 * MS,
            route_throttle: None,
            cors: false,
            target_down: false,
            direct: false,
            mappings: Vec::new(),
            account: None,
        }
    }
}

/// Sends `request` (method, path, extra headers) through a gateway set up as `case`: its
/// outcome, and the requests the service saw.
fn run(case: Case, request: Sent) -> (Vec<Outcome>, Vec<Arc<HttpRequest>>) {
    let mut w: World = world(1, &[("client", 0), ("gw", 0), ("eni-a", 0), ("eni-b", 1)]);
    let seen = Arc::new(Mutex::new(Vec::<Arc<HttpRequest>>::new()));
    let mut registry = Registry::new(Settings { registration_delay: 0, ..Settings::default() });
    registry.create_namespace("internal", NamespaceKind::Http).unwrap();
    registry.create_service("internal", "orders", HealthConfig::None, RoutingPolicy::Multivalue, 60).unwrap();
    for (i, e) in w.api().iter().enumerate() {
        let ip = w.sim.with_core(|c| c.topology().host(e.host).ip.to_string());
        let attrs = BTreeMap::from([("AWS_INSTANCE_IPV4".to_string(), ip), ("AWS_INSTANCE_PORT".to_string(), "80".to_string())]);
        registry.register_instance(0, "internal", "orders", &format!("task-{i}"), attrs).unwrap();
    }
    let registry = Arc::new(Mutex::new(registry));
    let discover =
        Discover { namespace: "internal".into(), service: "orders".into(), max_results: None, query: BTreeMap::new(), optional: BTreeMap::new(), health: None };
    let integrations = if case.direct { vec![Integration::Http(w.api())] } else { vec![Integration::CloudMap { registry, discover, cache_ttl: 30_000 * MS }] };
    let (gw, enis) = (w.host("gw"), vec![w.host("eni-a"), w.host("eni-b")]);
    let config = ApiGatewayConfig {
        name: "api".into(),
        kind: case.kind,
        stages: case.stages.iter().map(|s| s.to_string()).collect(),
        strip_stage: case.strip_stage,
        routes: case
            .routes
            .iter()
            .map(|k| ApiRoute {
                key: RouteKey::parse(k).unwrap(),
                integration: 0,
                jwt: None,
                throttle: case.route_throttle,
                uri: None,
                mappings: case.mappings.clone(),
            })
            .collect(),
        integrations: integrations.clone(),
        account: case.account.clone().unwrap_or_else(|| AccountThrottle::new(Throttle::ACCOUNT_DEFAULT)),
        stage_throttle: None,
        integration_timeout: case.timeout,
        // The defaults the world builder starts from, so the cases below check them.
        timeout_status: if case.kind == ApiKind::Rest { defaults::api_gateway::REST_TIMEOUT_STATUS } else { defaults::api_gateway::HTTP_TIMEOUT_STATUS },
        authorizer: None,
        epoch_unix: 0,
        cors: case.cors.then(Cors::default),
        enis: enis.clone(),
        processing: Dist::Fixed(0),
    };
    // The service records the request it is asked for, and answers at once (or, when `hangs`,
    // never: slower than any timeout).
    struct Recorder(Arc<Mutex<Vec<Arc<HttpRequest>>>>, bool);
    impl azsim_kernel::Process for Recorder {
        fn on_message(&mut self, cx: &mut azsim_kernel::Cx<'_>, _: azsim_kernel::HostId, msg: azsim_kernel::Message) {
            let id = msg.request;
            if let Body::Request(req) = Body::of(msg) {
                self.0.lock().unwrap().push(req.http.clone());
                if !self.1 {
                    cx.send(req.reply_to, azsim_fakes::response(id, req.call_id, 200, 10));
                }
            }
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }
    let slow = case.hangs;
    let api = w.api();
    let cache = azsim_fakes::apigw::DiscoveryCache::default();
    w.sim.with_core(|c| {
        for e in &api {
            c.add_process(e.host, Box::new(Recorder(seen.clone(), slow)));
        }
        for eni in &enis {
            c.add_process(*eni, Box::new(VpcLinkEni::new(Arc::new(integrations.clone()), cache.clone(), config.integration_timeout)));
        }
        c.add_process(gw, Box::new(ApiGateway::new(Arc::new(config))));
        if case.target_down {
            for e in &api {
                c.schedule_fault(0, None, azsim_kernel::Fault::HostCrash(e.host));
            }
        }
    });
    let (method, path, headers) = request;
    let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let http = Arc::new(HttpRequest { method: method.to_string(), path: path.to_string(), headers, ..HttpRequest::default() });
    let cfg = ClientConfig {
        label: 0,
        destination: Destination::Service(Picker::new(PickPolicy::Any, vec![Endpoint { host: gw, az: w.azs[0] }])),
        pacing: Pacing::Closed { concurrency: 1 },
        max_requests: Some(1),
        start_at: 0,
        stop_at: u64::MAX,
        request_bytes: 100,
        response_bytes: 100,
        timeout: 60_000 * MS,
        mix: vec![(1, http)],
    };
    let client = w.host("client");
    w.sim.with_core(|c| c.add_process(client, Box::new(Client::new(cfg))));
    w.sim.run_until(Duration::from_secs(120));
    let outcomes = w.sim.with_core(|c| {
        let mut r: Vec<_> = c.requests().iter().map(|r| (r.started, r.outcome.clone())).collect();
        r.sort_by_key(|(t, _)| *t);
        r.into_iter().map(|(_, o)| o).collect()
    });
    let seen = seen.lock().unwrap().clone();
    (outcomes, seen)
}

/// Method, path, extra headers.
type Sent<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

fn status(code: u16) -> Outcome {
    if code < 400 { Outcome::Ok } else { Outcome::Failed(azsim_kernel::Failure::Status(code)) }
}

#[test]
fn http_api_conformance() {
    let cases: Vec<(&str, Case, Sent, Outcome, Option<&str>)> = vec![
        ("a matching route reaches the integration", Case::default(), ("GET", "/orders/1", &[]), status(200), Some("/orders/1")),
        ("no route: 404", Case::default(), ("GET", "/nothing", &[]), status(404), None),
        ("another method: 404", Case::default(), ("DELETE", "/orders/1", &[]), status(404), None),
        ("REST answers 403 for an unknown path", Case { kind: ApiKind::Rest, ..Case::default() }, ("GET", "/nothing", &[]), status(403), None),
        (
            "a named stage's prefix reaches the backend",
            Case { stages: vec!["prod"], ..Case::default() },
            ("GET", "/prod/orders/1", &[]),
            status(200),
            Some("/prod/orders/1"),
        ),
        (
            "unless mapped away (overwrite:path)",
            Case { stages: vec!["prod"], strip_stage: true, ..Case::default() },
            ("GET", "/prod/orders/1", &[]),
            status(200),
            Some("/orders/1"),
        ),
        ("no $default stage and no stage in the path: 404", Case { stages: vec!["prod"], ..Case::default() }, ("GET", "/orders/1", &[]), status(404), None),
        // The HTTP API developer guide gives the 30 s timeout but no status (Quotas for
        // configuring and running an HTTP API,
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html); the
        // Knowledge Center's 504 is stated for REST APIs
        // (https://repost.aws/knowledge-center/api-gateway-504-errors); HTTP APIs are reported to
        // answer 503 `Service Unavailable`, which is the default here.
        (
            "an integration slower than the timeout: 503 (HTTP API)",
            Case { hangs: true, timeout: 50 * MS, ..Case::default() },
            ("GET", "/orders/1", &[]),
            status(503),
            Some("/orders/1"),
        ),
        // REST: "API Gateway returns an HTTP 504 status code" past the integration timeout
        // (https://repost.aws/knowledge-center/api-gateway-504-errors).
        (
            "and 504 from a REST API",
            Case { kind: ApiKind::Rest, hangs: true, timeout: 50 * MS, ..Case::default() },
            ("GET", "/orders/1", &[]),
            status(504),
            Some("/orders/1"),
        ),
        ("a target that refuses: 500", Case { target_down: true, ..Case::default() }, ("GET", "/orders/1", &[]), status(500), None),
        ("an HTTP proxy integration to a URL", Case { direct: true, ..Case::default() }, ("GET", "/orders/1", &[]), status(200), Some("/orders/1")),
        ("which refuses: 500", Case { direct: true, target_down: true, ..Case::default() }, ("GET", "/orders/1", &[]), status(500), None),
        (
            "CORS preflights are answered by the gateway",
            Case { cors: true, ..Case::default() },
            ("OPTIONS", "/orders/1", &[("origin", "https://a.example"), ("access-control-request-method", "PUT")]),
            status(204),
            None,
        ),
        (
            "an empty route bucket: 429",
            Case { route_throttle: Some(Throttle { rate: 0.001, burst: 0.5 }), ..Case::default() },
            ("GET", "/orders/1", &[]),
            status(429),
            None,
        ),
    ];
    for (rule, case, request, want, backend_path) in cases {
        let (outcomes, seen) = run(case, request);
        assert_eq!(outcomes, vec![want], "{rule}");
        assert_eq!(seen.first().map(|h| h.path.as_str()), backend_path, "{rule}: what the backend saw");
    }
}

/// The account-level bucket (10,000/s, burst 5,000 by default) is one per account and Region,
/// shared by all its APIs (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html):
/// a request to one API spends a token another API then lacks. Here the bucket holds one token
/// and refills in 1,000 s; two gateways (two runs starting at the same instant) share it.
#[test]
fn the_accounts_bucket_is_shared_by_every_api_in_the_region() {
    let shared = AccountThrottle::new(Throttle { rate: 0.001, burst: 1.0 });
    let (first, _) = run(Case { account: Some(shared.clone()), ..Case::default() }, ("GET", "/orders/1", &[]));
    let (second, seen) = run(Case { account: Some(shared), ..Case::default() }, ("GET", "/orders/1", &[]));
    assert_eq!((first, second), (vec![status(200)], vec![status(429)]), "the second API finds the account's bucket empty");
    assert!(seen.is_empty(), "a throttled request reaches no backend");
    // The same limit in two buckets (two accounts, or two Regions): both pass.
    let own = || Case { account: Some(AccountThrottle::new(Throttle { rate: 0.001, burst: 1.0 })), ..Case::default() };
    assert_eq!((run(own(), ("GET", "/orders/1", &[])).0, run(own(), ("GET", "/orders/1", &[])).0), (vec![status(200)], vec![status(200)]));
}

fn header<'a>(h: &'a HttpRequest, name: &str) -> Option<&'a str> {
    h.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// What the backend receives: API Gateway's forwarding headers, and the route's parameter
/// mappings (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-parameter-mapping.html).
#[test]
fn the_backend_gets_forwarding_headers_and_mapped_parameters() {
    let (outcomes, seen) = run(Case::default(), ("GET", "/orders/1", &[("x-forwarded-for", "198.51.100.7")]));
    assert_eq!(outcomes, vec![status(200)]);
    let got = &seen[0];
    let client_ip = header(got, "x-forwarded-for").unwrap().rsplit(',').next().unwrap().to_string();
    assert_eq!(header(got, "x-forwarded-for"), Some(format!("198.51.100.7,{client_ip}").as_str()), "the client's address is appended");
    assert!(client_ip.parse::<std::net::Ipv4Addr>().is_ok(), "{client_ip}");
    assert_eq!(header(got, "x-forwarded-proto"), Some("https"));
    assert_eq!(header(got, "x-forwarded-port"), Some("443"));
    assert!(header(got, "x-amzn-trace-id").is_some_and(|t| t.starts_with("Root=1-")), "a trace id");

    let m = |action, target, value: &str| Mapping { action, target, value: value.into() };
    let mappings = vec![
        m(MapAction::Append, MapTarget::Header("x-tenant".into()), "acme"),
        m(MapAction::Overwrite, MapTarget::Header("x-order".into()), "$request.path.id"),
        m(MapAction::Remove, MapTarget::Header("x-debug".into()), ""),
        m(MapAction::Overwrite, MapTarget::Query("source".into()), "gateway"),
        m(MapAction::Overwrite, MapTarget::Path, "/v2/orders/${request.path.id}"),
    ];
    let (outcomes, seen) = run(Case { mappings, ..Case::default() }, ("GET", "/orders/17", &[("x-debug", "1"), ("x-tenant", "beta")]));
    assert_eq!(outcomes, vec![status(200)]);
    let got = &seen[0];
    assert_eq!(got.path, "/v2/orders/17", "overwrite:path with a path parameter");
    assert_eq!(header(got, "x-tenant"), Some("beta,acme"), "append joins with a comma");
    assert_eq!(header(got, "x-order"), Some("17"));
    assert_eq!(header(got, "x-debug"), None, "removed");
    assert_eq!(got.query, vec![("source".to_string(), "gateway".to_string())]);
}
