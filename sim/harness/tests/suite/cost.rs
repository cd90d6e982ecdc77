//! What a run costs, checked against what AWS bills for the traffic it carried: the lines come
//! from the simulation's own counts, and the prices from `prices:`.

use azsim::{RunOptions, RunRecord, run_variant};
use azsim_scenario::Scenario;

use crate::root;

fn load(path: &str) -> Scenario {
    azsim_scenario::load(root().join(path).to_str().unwrap()).unwrap()
}

fn run(s: &Scenario, variant: &str) -> RunRecord {
    run_variant(s, variant, &RunOptions::default()).unwrap()
}

fn line<'r>(r: &'r RunRecord, component: &str, item: &str) -> &'r azsim::CostLine {
    r.cost
        .lines
        .iter()
        .find(|l| l.component == component && l.item.starts_with(item))
        .unwrap_or_else(|| panic!("no line {component} / {item} in {:#?}", r.cost.lines))
}

/// HTTP API requests: AWS bills those that passed authorization and throttling and matched a
/// route, not the 401s, the 403s or the CORS preflights the gateway answered itself. By hand
/// from the run's own counts: 6,630 sent, 267 + 222 + 1,220 of them answered by the gateway,
/// so 4,921 billed at $1.00 a million. Two minutes of an ALB at $0.0225 an hour: $0.00075.
#[test]
fn an_http_api_bills_the_requests_it_passed_on_and_an_alb_its_hours() {
    let s = load("scenarios/reference/http-api-private.yaml");
    let r = run(&s, "baseline");
    let gw = &r.api_gateways[0];
    assert_eq!((r.requests.sent, gw.unauthorized, gw.forbidden, gw.preflights), (6_630, 267, 222, 1_220));
    let api = line(&r, "api_gateways.orders-api", "requests (HTTP API");
    assert_eq!((api.quantity, api.usd), (0.004921, 0.004921));
    let hours = line(&r, "load_balancers.orders-alb", "ALB hours");
    assert_eq!((hours.quantity, hours.usd), (0.033333, 0.00075));
    let total: f64 = r.cost.lines.iter().map(|l| l.usd).sum();
    assert!((r.cost.total_usd - total).abs() < 1e-9);
    let per_million = r.cost.per_million_requests_usd.expect("requests were sent");
    assert!((per_million - r.cost.total_usd / 6_630.0 * 1e6).abs() < 1e-3, "{per_million}");
    assert!(r.cost.defaults.contains(&"http_api_per_million".to_string()));
    assert!(!r.cost.defaults.contains(&"nat_per_gb".to_string()), "a price no line uses is not listed");
}

/// A price set in the file (or for the Region) is the one used, and the report stops calling
/// it a default.
#[test]
fn prices_in_the_file_replace_aws_defaults_per_region() {
    let mut s = load("scenarios/reference/http-api-private.yaml");
    let region = azsim_scenario::RegionPrices { http_api_per_million: Some(2.5), ..Default::default() };
    s.file.prices = azsim_scenario::Prices { regions: [("us-east-1".to_string(), region)].into(), ..Default::default() };
    let r = run(&s, "baseline");
    let api = line(&r, "api_gateways.orders-api", "requests (HTTP API");
    assert_eq!((api.unit_usd, api.usd), (2.5, 0.0123025));
    assert!(!r.cost.defaults.contains(&"http_api_per_million".to_string()));
}

/// NAT gateways: each hour of each gateway and each GB it processed; internet egress: what
/// left AWS for the internet, at the Region's price.
#[test]
fn nat_gateways_bill_hours_and_bytes_and_the_internet_its_egress() {
    let s = load("scenarios/reference/stable-egress-ip.yaml");
    let r = run(&s, "baseline");
    let hours = s.file.duration.nanos() as f64 / 3.6e12;
    assert!(!r.nat_gateways.is_empty());
    for nat in &r.nat_gateways {
        let component = r.cost.lines.iter().find(|l| l.component.ends_with(&format!("({})", nat.nat)) && l.item == "data processed");
        let gb = nat.bytes as f64 / 1e9;
        match component {
            Some(l) => assert!((l.quantity - gb).abs() < 1e-6 && (l.usd - gb * 0.045).abs() < 1e-9, "{l:?}"),
            None => assert_eq!(nat.bytes, 0),
        }
        let h = r.cost.lines.iter().find(|l| l.component.ends_with(&format!("({})", nat.nat)) && l.item == "hours").expect("hours");
        assert!((h.quantity - hours).abs() < 1e-6);
    }
    // The Lambda integration: an invocation per request the function served, and each one's
    // duration (at least its 1 ms of processing, rounded up to 2 ms with the call it makes)
    // in GB-seconds of its 128 MB.
    let served = r.services.iter().find(|s| s.service == "handler").expect("the function").served;
    let requests = line(&r, "lambda handler (128 MB)", "requests");
    assert_eq!(requests.quantity * 1e6, served as f64);
    let gb_s = line(&r, "lambda handler (128 MB)", "duration");
    assert!(gb_s.quantity >= served as f64 * 0.002 * 0.125, "{gb_s:?}");
    assert_eq!(gb_s.unit_usd, 0.0000166667);
    let r = run(&load("scenarios/stories/slow-start-after-idle.yaml"), "baseline");
    let egress = line(&r, "data transfer", "us-east-1 out to the internet");
    assert_eq!(egress.quantity, (r.bytes.internet_out as f64 / 1e9 * 1e6).round() / 1e6);
    assert_eq!(egress.unit_usd, 0.09);
    assert_eq!(r.crossings.region.max, 0, "users on the internet cross no Region");
    assert_eq!(r.crossings.internet.max, 2, "in and out");
}
