//! Cloud Map's documented behaviours, one case each.

use std::collections::BTreeMap;

use azsim_kernel::SimRng;

use super::*;

const S: u64 = 1_000_000_000;

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A registry with `ns`/`svc` (custom health) holding `a` (az1, healthy), `b` (az2, healthy),
/// `c` (az1, registered unhealthy), all visible from t = 1 s.
fn registry() -> Registry {
    let mut r = Registry::new(Settings::default());
    r.create_namespace("ns", NamespaceKind::Http).unwrap();
    r.create_service("ns", "svc", HealthConfig::Custom, RoutingPolicy::Multivalue, 60).unwrap();
    r.register_instance(0, "ns", "svc", "a", attrs(&[("AVAILABILITY_ZONE", "az1")])).unwrap();
    r.register_instance(0, "ns", "svc", "b", attrs(&[("AVAILABILITY_ZONE", "az2")])).unwrap();
    r.register_instance(0, "ns", "svc", "c", attrs(&[("AVAILABILITY_ZONE", "az1"), ("AWS_INIT_HEALTH_STATUS", "UNHEALTHY")])).unwrap();
    r
}

fn discover(r: &mut Registry, now: u64, query: &[(&str, &str)], optional: &[(&str, &str)], health: Option<HealthFilter>) -> Result<Vec<String>, CloudMapError> {
    let req = Discover { namespace: "ns".into(), service: "svc".into(), max_results: None, query: attrs(query), optional: attrs(optional), health };
    let mut ids: Vec<String> = r.discover(now, &mut SimRng::from_seed(1), &req)?.instances.into_iter().map(|i| i.id).collect();
    ids.sort();
    Ok(ids)
}

/// Name, query parameters, optional parameters, health filter, expected instance ids.
type Case = (&'static str, &'static [(&'static str, &'static str)], &'static [(&'static str, &'static str)], Option<HealthFilter>, &'static [&'static str]);

#[test]
fn discover_instances_filters_as_documented() {
    use HealthFilter::*;
    let cases: &[Case] = &[
        ("healthy by default (our choice; AWS does not say)", &[], &[], None, &["a", "b"]),
        ("HEALTHY", &[], &[], Some(Healthy), &["a", "b"]),
        ("UNHEALTHY", &[], &[], Some(Unhealthy), &["c"]),
        ("ALL", &[], &[], Some(All), &["a", "b", "c"]),
        ("query parameters must all match", &[("AVAILABILITY_ZONE", "az1")], &[], Some(All), &["a", "c"]),
        ("optional parameters apply when something matches", &[], &[("AVAILABILITY_ZONE", "az2")], Some(Healthy), &["b"]),
        ("optional parameters are ignored when nothing matches", &[], &[("AVAILABILITY_ZONE", "az9")], Some(Healthy), &["a", "b"]),
        ("HEALTHY_OR_ELSE_ALL with a healthy match", &[("AVAILABILITY_ZONE", "az1")], &[], Some(HealthyOrElseAll), &["a"]),
    ];
    for (name, query, optional, health, want) in cases {
        let mut r = registry();
        assert_eq!(discover(&mut r, 2 * S, query, optional, *health).unwrap(), *want, "{name}");
    }
}

#[test]
fn healthy_or_else_all_fails_open() {
    let mut r = registry();
    r.update_custom_health(0, "ns", "svc", "a", Health::Unhealthy).unwrap();
    r.update_custom_health(0, "ns", "svc", "b", Health::Unhealthy).unwrap();
    assert_eq!(discover(&mut r, 40 * S, &[], &[], Some(HealthFilter::HealthyOrElseAll)).unwrap(), vec!["a", "b", "c"]);
    assert_eq!(discover(&mut r, 40 * S, &[], &[], Some(HealthFilter::Healthy)).unwrap(), Vec::<String>::new());
}

#[test]
fn registration_is_eventually_consistent() {
    let mut r = registry();
    assert_eq!(discover(&mut r, S - 1, &[], &[], Some(HealthFilter::All)).unwrap(), Vec::<String>::new());
    assert_eq!(discover(&mut r, S, &[], &[], Some(HealthFilter::All)).unwrap().len(), 3);
    r.deregister_instance(10 * S, "ns", "svc", "a").unwrap();
    assert_eq!(discover(&mut r, 10 * S, &[], &[], Some(HealthFilter::All)).unwrap().len(), 3, "still served until the change propagates");
    assert_eq!(discover(&mut r, 11 * S, &[], &[], Some(HealthFilter::All)).unwrap(), vec!["b", "c"]);
    assert_eq!(r.deregister_instance(12 * S, "ns", "svc", "a"), Err(CloudMapError::InstanceNotFound("a".into())));
}

#[test]
fn custom_health_changes_after_about_30_s_and_a_reversal_cancels() {
    let mut r = registry();
    r.update_custom_health(5 * S, "ns", "svc", "a", Health::Unhealthy).unwrap();
    r.update_custom_health(20 * S, "ns", "svc", "a", Health::Unhealthy).unwrap(); // does not hurry it
    assert_eq!(r.health_status(34 * S, "ns", "svc").unwrap()["a"], Health::Healthy);
    assert_eq!(r.health_status(35 * S, "ns", "svc").unwrap()["a"], Health::Unhealthy);
    r.update_custom_health(40 * S, "ns", "svc", "a", Health::Healthy).unwrap();
    r.update_custom_health(50 * S, "ns", "svc", "a", Health::Unhealthy).unwrap(); // reversed inside the window
    assert_eq!(r.health_status(100 * S, "ns", "svc").unwrap()["a"], Health::Unhealthy);
}

#[test]
fn get_instances_health_status_names_instances_and_pages() {
    let mut r = registry();
    let ids = |page: &BTreeMap<String, Health>| page.keys().cloned().collect::<Vec<_>>();
    let named = ["c".to_string(), "a".to_string()];
    assert_eq!(r.health_status_page(S, "ns", "svc", &named, None, None).map(|(p, next)| (ids(&p), next)), Ok((vec!["a".into(), "c".into()], None)));
    assert_eq!(r.health_status_page(S, "ns", "svc", &["z".to_string()], None, None), Err(CloudMapError::InstanceNotFound("z".into())));
    let (first, next) = r.health_status_page(S, "ns", "svc", &[], Some(2), None).unwrap();
    assert_eq!((ids(&first), next.as_deref()), (vec!["a".to_string(), "b".to_string()], Some("b")));
    let (rest, next) = r.health_status_page(S, "ns", "svc", &[], Some(2), Some("b")).unwrap();
    assert_eq!((ids(&rest), next), (vec!["c".to_string()], None));
    assert_eq!(r.health_status_page(S, "ns", "svc", &[], Some(101), None).unwrap_err().code(), "InvalidInput");
}

#[test]
fn custom_health_on_a_service_without_it_is_custom_health_not_found() {
    let mut r = registry();
    r.create_service("ns", "plain", HealthConfig::None, RoutingPolicy::Multivalue, 60).unwrap();
    r.register_instance(0, "ns", "plain", "p", BTreeMap::new()).unwrap();
    assert_eq!(r.update_custom_health(S, "ns", "plain", "p", Health::Unhealthy), Err(CloudMapError::CustomHealthNotFound("plain".into())));
}

#[test]
fn revision_changes_on_registration_not_on_health() {
    let mut r = registry();
    let req = Discover {
        namespace: "ns".into(),
        service: "svc".into(),
        max_results: None,
        query: BTreeMap::new(),
        optional: BTreeMap::new(),
        health: Some(HealthFilter::All),
    };
    let rev = |r: &mut Registry, t| r.discover(t, &mut SimRng::from_seed(1), &req).unwrap().revision;
    let before = rev(&mut r, 2 * S);
    r.update_custom_health(2 * S, "ns", "svc", "a", Health::Unhealthy).unwrap();
    assert_eq!(rev(&mut r, 40 * S), before);
    r.register_instance(40 * S, "ns", "svc", "d", BTreeMap::new()).unwrap();
    assert_eq!(rev(&mut r, 41 * S), before + 1);
}

#[test]
fn services_without_health_checks_ignore_the_filter() {
    let mut r = Registry::new(Settings::default());
    r.create_namespace("ns", NamespaceKind::DnsPrivate).unwrap();
    r.create_service("ns", "svc", HealthConfig::None, RoutingPolicy::Multivalue, 60).unwrap();
    r.register_instance(0, "ns", "svc", "x", attrs(&[("AWS_INIT_HEALTH_STATUS", "UNHEALTHY")])).unwrap();
    assert_eq!(discover(&mut r, S, &[], &[], Some(HealthFilter::Healthy)).unwrap(), vec!["x"]);
}

#[test]
fn errors_and_limits() {
    let mut r = registry();
    let mut req =
        Discover { namespace: "nope".into(), service: "svc".into(), max_results: None, query: BTreeMap::new(), optional: BTreeMap::new(), health: None };
    let mut rng = SimRng::from_seed(1);
    assert_eq!(r.discover(S, &mut rng, &req).unwrap_err().code(), "NamespaceNotFound");
    req.namespace = "ns".into();
    req.service = "nope".into();
    assert_eq!(r.discover(S, &mut rng, &req).unwrap_err().code(), "ServiceNotFound");
    req.service = "svc".into();
    req.max_results = Some(0);
    assert_eq!(r.discover(S, &mut rng, &req).unwrap_err().code(), "InvalidInput");
    req.max_results = Some(1);
    assert_eq!(r.discover(2 * S, &mut rng, &req).unwrap().instances.len(), 1);
    // The bucket: 2,000 tokens at once, then 1,000 per second.
    req.max_results = None;
    let burst = (0..2500).filter(|_| r.discover(3 * S, &mut rng, &req).is_ok()).count();
    assert_eq!(burst, 2000, "a second after the calls above the bucket is full again: 2,000 at once");
    assert_eq!(r.discover(3 * S, &mut rng, &req).unwrap_err(), CloudMapError::RequestLimitExceeded);
    assert!(r.discover(3 * S + S / 100, &mut rng, &req).is_ok(), "10 ms refill 10 tokens");
}

#[test]
fn the_order_is_randomized_by_the_seed() {
    let mut r = Registry::new(Settings::default());
    r.create_namespace("ns", NamespaceKind::Http).unwrap();
    r.create_service("ns", "svc", HealthConfig::None, RoutingPolicy::Multivalue, 60).unwrap();
    for i in 0..20 {
        r.register_instance(0, "ns", "svc", &format!("i{i:02}"), BTreeMap::new()).unwrap();
    }
    let req = Discover { namespace: "ns".into(), service: "svc".into(), max_results: None, query: BTreeMap::new(), optional: BTreeMap::new(), health: None };
    let order = |seed| r.clone().discover(S, &mut SimRng::from_seed(seed), &req).unwrap().instances.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(order(1), order(1));
    assert_ne!(order(1), order(2));
}

#[test]
fn the_registry_remembers_when_discovery_last_returned_each_instance_after_it_is_gone() {
    let mut r = registry();
    discover(&mut r, 2 * S, &[], &[], None).unwrap();
    r.deregister_instance(3 * S, "ns", "svc", "a").unwrap();
    discover(&mut r, 3 * S + 1, &[], &[], None).unwrap(); // inside the registration delay
    discover(&mut r, 5 * S, &[], &[], None).unwrap(); // gone
    assert_eq!(r.last_returned.get("a"), Some(&(3 * S + 1)));
    assert_eq!(r.last_returned.get("b"), Some(&(5 * S)));
    assert_eq!(r.last_returned.get("c"), None, "never returned: unhealthy");
}

fn dns_registry(routing: RoutingPolicy, instances: usize) -> Registry {
    let mut r = Registry::new(Settings::default());
    r.create_namespace("ns", NamespaceKind::DnsPrivate).unwrap();
    r.create_service("ns", "svc", HealthConfig::Custom, routing, 10).unwrap();
    for i in 0..instances {
        r.register_instance(0, "ns", "svc", &format!("i{i}"), attrs(&[("AWS_INSTANCE_IPV4", "10.0.0.1")])).unwrap();
    }
    r
}

fn dns_ids(r: &mut Registry, now: u64) -> Vec<String> {
    let (found, ttl) = r.dns_answer(now, &mut SimRng::from_seed(1), "ns", "svc").unwrap();
    assert_eq!(ttl, 10 * S, "the service's TTL");
    let mut ids: Vec<String> = found.into_iter().map(|f| f.id).collect();
    ids.sort();
    ids
}

#[test]
fn dns_answers_follow_registration_after_the_propagation_delay() {
    let mut r = dns_registry(RoutingPolicy::Multivalue, 2);
    assert!(dns_ids(&mut r, 60 * S).is_empty(), "registered at 0, visible to the API at 1 s, to DNS at 61 s");
    assert_eq!(dns_ids(&mut r, 61 * S), ["i0", "i1"]);
    r.deregister_instance(100 * S, "ns", "svc", "i0").unwrap();
    let api = discover(&mut r, 102 * S, &[], &[], None).unwrap();
    assert_eq!(api, ["i1"], "the API drops it after the registration delay");
    assert_eq!(dns_ids(&mut r, 160 * S), ["i0", "i1"], "the name servers still have it");
    assert_eq!(dns_ids(&mut r, 161 * S), ["i1"]);
}

#[test]
fn dns_multivalue_answers_at_most_8_records_and_weighted_one() {
    assert_eq!(dns_ids(&mut dns_registry(RoutingPolicy::Multivalue, 12), 61 * S).len(), 8);
    assert_eq!(dns_ids(&mut dns_registry(RoutingPolicy::Weighted, 12), 61 * S).len(), 1);
}

#[test]
fn dns_answers_unhealthy_records_when_none_is_healthy() {
    let mut r = dns_registry(RoutingPolicy::Multivalue, 2);
    r.update_custom_health(0, "ns", "svc", "i0", Health::Unhealthy).unwrap();
    assert_eq!(dns_ids(&mut r, 61 * S), ["i1"], "only the healthy one while there is one");
    r.update_custom_health(61 * S, "ns", "svc", "i1", Health::Unhealthy).unwrap();
    assert_eq!(dns_ids(&mut r, 92 * S), ["i0", "i1"], "all of them once none is healthy");
}

#[test]
fn an_http_namespace_has_no_dns_records() {
    let mut r = registry();
    assert!(r.dns_answer(2 * S, &mut SimRng::from_seed(1), "ns", "svc").is_err());
}
