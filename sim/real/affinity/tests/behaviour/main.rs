//! One test per behaviour, on paused tokio time with a mock endpoint service: three AZs, two
//! endpoints each, the caller in `az1`. Each zone's behaviour (answer, fail, hang) can change
//! during a test. `retry_policy.rs` holds the retry policy's cases (throttling, per-status
//! decisions, replayable requests, how a call ends); `tower_stack.rs` the client in a tower
//! stack.

mod retry_policy;
mod tower_stack;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affinity_client::*;
use azsim_net::{SplitMix64, Xoshiro256StarStar};
use tower::ServiceExt;

/// The workspace's generator, seeded.
fn test_rng(seed: u64) -> Xoshiro256StarStar {
    Xoshiro256StarStar::from_splitmix64(&mut SplitMix64::new(seed))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Ok,
    Status(u16),
    /// This status, 100 ms after the attempt arrives.
    Late(u16),
    Hang,
}

#[derive(Clone, Default)]
struct Mock {
    behaviour: Arc<Mutex<BTreeMap<String, Behaviour>>>,
    /// Attempts seen per zone.
    seen: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl Mock {
    fn set(&self, zone: &str, b: Behaviour) {
        self.behaviour.lock().unwrap().insert(zone.into(), b);
    }
    fn seen(&self, zone: &str) -> u32 {
        self.seen.lock().unwrap().get(zone).copied().unwrap_or(0)
    }
    fn reset(&self) {
        self.seen.lock().unwrap().clear();
    }
}

/// A call's error, over the mock.
type CallError = Error<Infallible, http::Response<()>>;

type Client = AffinityClient<tower::util::BoxCloneSyncService<Routed<http::Request<()>>, http::Response<()>, Infallible>, TokioEnv, HttpPolicy>;

fn endpoints() -> Vec<Endpoint> {
    (1..=3)
        .flat_map(|z| (0..2).map(move |n| Endpoint::new(format!("az{z}-{n}"), format!("10.0.{z}.{n}:80").parse().unwrap(), format!("az{z}"), "r1")))
        .collect()
}

fn client(config: Config) -> (Client, Mock) {
    let mock = Mock::default();
    let m = mock.clone();
    let svc = tower::service_fn(move |r: Routed<http::Request<()>>| {
        let m = m.clone();
        async move {
            *m.seen.lock().unwrap().entry(r.endpoint.zone.clone()).or_default() += 1;
            let b = m.behaviour.lock().unwrap().get(&r.endpoint.zone).copied().unwrap_or(Behaviour::Ok);
            match b {
                Behaviour::Ok => Ok(http::Response::new(())),
                Behaviour::Status(s) => Ok(http::Response::builder().status(s).body(()).unwrap()),
                Behaviour::Late(s) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(http::Response::builder().status(s).body(()).unwrap())
                }
                Behaviour::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(http::Response::new(()))
                }
            }
        }
    });
    let c = AffinityClient::builder(None)
        .config(config)
        .transport(tower::util::BoxCloneSyncService::new(svc))
        .rng(test_rng(0x2545_f491_4f6c_dd1d))
        .build()
        .expect("valid settings");
    c.set_endpoints(endpoints());
    (c, mock)
}

/// One failure ejects an endpoint for 60 s; any share may be ejected.
fn eject_after_one_failure_for_a_minute() -> OutlierConfig {
    let minute = Duration::from_secs(60);
    OutlierConfig::default().consecutive_failures(1).base_ejection(minute).max_ejection(minute).max_ejected_share(1.0)
}

/// Our defaults without retries or breakers, so each test turns on what it looks at.
fn bare() -> Config {
    let mut c = Config::new(Some("az1"));
    c.outlier = None;
    c.breaker = None;
    c.retry.max_attempts = 1;
    c
}

async fn get(c: &Client) -> Result<http::StatusCode, CallError> {
    c.clone().oneshot(http::Request::new(())).await.map(|r| r.status())
}

async fn post(c: &Client) -> Result<http::StatusCode, CallError> {
    c.clone().oneshot(http::Request::post("/").body(()).unwrap()).await.map(|r| r.status())
}

#[tokio::test(start_paused = true)]
async fn healthy_traffic_stays_in_the_local_zone() {
    let (c, m) = client(bare());
    for _ in 0..100 {
        assert_eq!(get(&c).await.unwrap(), 200);
    }
    assert_eq!((m.seen("az1"), m.seen("az2"), m.seen("az3")), (100, 0, 0));
}

/// Discovery hands the client its list on every refresh, usually unchanged. An attempt in
/// flight across a refresh must still count: its failure here ejects its endpoint (one failure
/// ejects), whether the list came back the same or with an endpoint added.
#[tokio::test(start_paused = true)]
async fn a_discovery_refresh_keeps_the_outcomes_of_attempts_in_flight() {
    let mut grown = endpoints();
    grown.push(Endpoint::new("az3-9", "10.0.3.9:80".parse().unwrap(), "az3", "r1"));
    for (refresh, list) in [("the same list", endpoints()), ("one endpoint more", grown)] {
        let mut cfg = bare();
        cfg.outlier = Some(eject_after_one_failure_for_a_minute());
        cfg.zones.spill_below = 0.0; // stay local
        let (c, m) = client(cfg);
        m.set("az1", Behaviour::Late(503));
        let call = tokio::spawn(c.clone().oneshot(http::Request::new(())));
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.set_endpoints(list);
        let _ = call.await.expect("the call's task");
        let s = c.snapshot();
        assert_eq!(s.ejected.len(), 1, "after a refresh with {refresh}, the failed attempt ejected its endpoint: {s:?}");
        assert_eq!(s.zone("az1").unwrap().stats.failures, 1, "after a refresh with {refresh}");
    }
}

/// A refresh during a retry's backoff may renumber the zones (here a new zone, `az0`, sorts
/// first): the retry still stays out of the zone that failed.
#[tokio::test(start_paused = true)]
async fn a_retry_avoids_the_failed_zone_across_a_refresh_that_renumbers_zones() {
    let mut cfg = bare();
    cfg.retry.max_attempts = 2;
    cfg.retry.base = Duration::from_secs(1); // the seed draws a backoff well past 1 ms
    let (c, m) = client(cfg);
    m.set("az1", Behaviour::Status(503));
    let call = tokio::spawn(c.clone().oneshot(http::Request::new(())));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(m.seen("az1"), 1, "the first attempt failed and the retry waits");
    let mut renumbered = endpoints();
    renumbered.push(Endpoint::new("az0-0", "10.0.0.9:80".parse().unwrap(), "az0", "r1"));
    c.set_endpoints(renumbered);
    assert_eq!(call.await.unwrap().unwrap().status(), 200);
    assert_eq!(m.seen("az1"), 1, "the retry went elsewhere");
}

#[tokio::test(start_paused = true)]
async fn outlier_ejection_removes_an_endpoint_for_base_times_ejections() {
    let mut cfg = bare();
    cfg.outlier = Some(OutlierConfig::default().consecutive_failures(3).max_ejected_share(0.5));
    cfg.zones.spill_below = 0.0; // stay local: this test looks at ejection alone
    let (c, m) = client(cfg);
    m.set("az1", Behaviour::Status(503));
    for _ in 0..12 {
        let _ = get(&c).await;
    }
    let snapshot = c.snapshot();
    assert!(snapshot.is_ejected("az1-0") && snapshot.is_ejected("az1-1"), "3 failures in a row eject each");
    tokio::time::advance(Duration::from_secs(31)).await;
    assert!(!c.snapshot().is_ejected("az1-0"), "back after the base ejection time");
}

#[tokio::test(start_paused = true)]
async fn the_ejected_share_is_capped() {
    let mut cfg = bare();
    cfg.outlier = Some(OutlierConfig::default().consecutive_failures(1).max_ejected_share(0.1));
    cfg.zones.panic_threshold = 0.0;
    let (c, m) = client(cfg);
    for z in ["az1", "az2", "az3"] {
        m.set(z, Behaviour::Status(500));
    }
    for _ in 0..30 {
        let _ = get(&c).await;
    }
    let ejected = c.snapshot().ejected.len();
    assert_eq!(ejected, 1, "10 % of 6 rounds down, but one may always be ejected");
}

#[tokio::test(start_paused = true)]
async fn traffic_spills_over_when_the_local_zone_degrades_and_fails_back_only_after_the_hysteresis() {
    let mut cfg = bare();
    let ten = Duration::from_secs(10);
    cfg.outlier = Some(OutlierConfig::default().consecutive_failures(2).base_ejection(ten).max_ejection(ten).max_ejected_share(0.5));
    cfg.zones.failback_after = Duration::from_secs(30);
    let (c, m) = client(cfg);
    m.set("az1", Behaviour::Status(503));
    // Until both local endpoints are ejected: which one a request meets is drawn at random, and
    // once the first is out the spilled traffic reaches the second only now and then.
    let both_ejected = |c: &Client| ["az1-0", "az1-1"].iter().all(|id| c.snapshot().is_ejected(id));
    for _ in 0..50 {
        if both_ejected(&c) {
            break;
        }
        let _ = get(&c).await;
    }
    assert!(both_ejected(&c), "both local endpoints failed twice in a row within 50 requests");
    assert!(matches!(c.snapshot().mode, Mode::Spilled { .. }));
    m.set("az1", Behaviour::Ok);
    m.reset();
    for _ in 0..60 {
        assert_eq!(get(&c).await.unwrap(), 200);
    }
    assert_eq!(m.seen("az1"), 0, "ejected: nothing local");
    assert!(m.seen("az2") > 15 && m.seen("az3") > 15, "spread over the other zones: {} {}", m.seen("az2"), m.seen("az3"));
    // The ejections end at 10 s; the local zone must then stay healthy for 30 s.
    tokio::time::advance(Duration::from_secs(11)).await;
    let _ = get(&c).await;
    tokio::time::advance(Duration::from_secs(20)).await;
    m.reset();
    let _ = get(&c).await;
    assert!(matches!(c.snapshot().mode, Mode::Spilled { .. }), "not yet: 20 s of the 30");
    tokio::time::advance(Duration::from_secs(11)).await;
    m.reset();
    for _ in 0..20 {
        let _ = get(&c).await;
    }
    assert_eq!(c.snapshot().mode, Mode::Local);
    assert_eq!(m.seen("az1"), 20, "failed back");
    let counters = c.snapshot().counters;
    assert_eq!((counters.spills, counters.failbacks, counters.ejections), (1, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_zone_breaker_opens_moves_traffic_and_closes_after_successful_probes() {
    let mut cfg = bare();
    cfg.breaker = Some(Breakers::per_zone(BreakerConfig::new(Trip::ConsecutiveFailures(3)).open_for(Duration::from_secs(5)).probes(2)));
    cfg.zones.failback_after = Duration::ZERO;
    let (c, m) = client(cfg);
    m.set("az1", Behaviour::Status(503));
    for _ in 0..3 {
        let _ = get(&c).await;
    }
    let breaker = |c: &Client| c.snapshot().zone("az1").and_then(|z| z.breaker);
    assert!(matches!(breaker(&c), Some(BreakerState::Open { .. })));
    m.reset();
    for _ in 0..10 {
        assert_eq!(get(&c).await.unwrap(), 200);
    }
    assert_eq!(m.seen("az1"), 0, "open: the zone gets nothing");
    m.set("az1", Behaviour::Ok);
    tokio::time::advance(Duration::from_secs(5)).await;
    for _ in 0..10 {
        let _ = get(&c).await;
    }
    assert_eq!(breaker(&c), Some(BreakerState::Closed), "two probes succeeded");
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_is_retried_in_another_zone() {
    let mut cfg = bare();
    cfg.retry.max_attempts = 2;
    let (c, m) = client(cfg);
    m.set("az1", Behaviour::Status(503));
    assert_eq!(get(&c).await.unwrap(), 200);
    assert_eq!(m.seen("az1"), 1);
    assert_eq!(m.seen("az2") + m.seen("az3"), 1);
    let counters = c.snapshot().counters;
    assert_eq!((counters.attempts, counters.retries, counters.budget_refusals), (2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_post_without_an_idempotency_key_is_not_retried() {
    let mut cfg = bare();
    cfg.retry.max_attempts = 3;
    let (c, m) = client(cfg);
    m.set("az1", Behaviour::Status(503));
    let e = post(&c).await.unwrap_err();
    assert!(matches!(&e, Error::Failed { attempts: 1, gave_up: GaveUp::NotReplayable, response, .. } if response.status() == 503), "{e}");
    assert_eq!(m.seen("az1") + m.seen("az2") + m.seen("az3"), 1);
    let keyed = http::Request::post("/").header("idempotency-key", "k1").body(()).unwrap();
    assert_eq!(c.clone().oneshot(keyed).await.unwrap().status(), 200, "with a key it is");
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_runs_out() {
    let mut cfg = bare();
    cfg.retry.max_attempts = 3;
    cfg.retry.budget = BudgetConfig::TokenBucket { capacity: 10, retry_cost: 5, timeout_cost: 10, success_refund: 1 };
    cfg.zones.panic_threshold = 0.0;
    let (c, m) = client(cfg);
    for z in ["az1", "az2", "az3"] {
        m.set(z, Behaviour::Status(503));
    }
    let e = get(&c).await.unwrap_err();
    assert!(
        matches!(&e, Error::Failed { attempts: 3, gave_up: GaveUp::Attempts, response, .. } if response.status() == 503),
        "two retries spend the 10 tokens: {e}"
    );
    let e = get(&c).await.unwrap_err();
    assert!(e.is_budget_exhausted(), "{e}");
    assert_eq!(e.response().map(|r| r.status()), Some(http::StatusCode::SERVICE_UNAVAILABLE), "the refused retry's call ends with the answer it had");
    assert_eq!(m.seen("az1") + m.seen("az2") + m.seen("az3"), 4);
    let counters = c.snapshot().counters;
    assert_eq!((counters.attempts, counters.retries, counters.budget_refusals), (4, 2, 1), "3 + 1 attempts, 2 retries, then a refusal");
}

#[tokio::test(start_paused = true)]
async fn a_hung_attempt_times_out_and_the_retry_answers() {
    let mut cfg = bare();
    cfg.retry.max_attempts = 2;
    cfg.retry.per_try_timeout = Some(Duration::from_millis(200));
    let (c, m) = client(cfg);
    m.set("az1", Behaviour::Hang);
    let start = tokio::time::Instant::now();
    assert_eq!(get(&c).await.unwrap(), 200);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(200) && took < Duration::from_millis(400), "{took:?}");
    cfg_deadline_test().await;
}

async fn cfg_deadline_test() {
    let mut cfg = bare();
    cfg.retry.max_attempts = 5;
    cfg.retry.deadline = Some(Duration::from_millis(500));
    let (c, m) = client(cfg);
    for z in ["az1", "az2", "az3"] {
        m.set(z, Behaviour::Hang);
    }
    let start = tokio::time::Instant::now();
    let e = get(&c).await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert_eq!(start.elapsed(), Duration::from_millis(500), "the deadline bounds the whole call");
}

/// What one run of the all-zones blip came to.
#[derive(Debug, PartialEq)]
struct Blip {
    failures: u32,
    /// Of which, refused at once because every zone's breaker was open.
    circuit_open: u32,
    /// When the last failure was sent, in ms from the start.
    last_failure_ms: Option<u64>,
    panic_probes: u64,
    breakers_opened: u64,
}

/// Every zone answers 503 for the first 1.1 s, then all are healthy; one GET every 100 ms for
/// 40 s (400 requests), one attempt each, no outlier ejection, a breaker per zone that opens
/// after 3 failures in a row for 30 s.
async fn all_zones_blip(panic_threshold: f64) -> Blip {
    let mut cfg = bare();
    cfg.breaker = Some(Breakers::per_zone(BreakerConfig::new(Trip::ConsecutiveFailures(3)).open_for(Duration::from_secs(30)).probes(3)));
    cfg.zones.panic_threshold = panic_threshold;
    let (c, m) = client(cfg);
    let mut blip = Blip { failures: 0, circuit_open: 0, last_failure_ms: None, panic_probes: 0, breakers_opened: 0 };
    for k in 0..400u64 {
        let behaviour = if k < 11 { Behaviour::Status(503) } else { Behaviour::Ok };
        for z in ["az1", "az2", "az3"] {
            m.set(z, behaviour);
        }
        let result = get(&c).await;
        if !matches!(result, Ok(s) if s == 200) {
            blip.failures += 1;
            blip.circuit_open += u32::from(result.is_err_and(|e| e.is_circuit_open()));
            blip.last_failure_ms = Some(k * 100);
        }
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    let counters = c.snapshot().counters;
    (blip.panic_probes, blip.breakers_opened) = (counters.panic_probes, counters.breakers_opened);
    blip
}

/// Issue 19's all-zones blip: breakers must not lock every zone. Figures by hand (requests at
/// 0.0, 0.1, 0.2 s, ...; those before 1.1 s, 11 of them, meet the blip):
///
/// - az1 (the local zone) takes the first three and its breaker opens at 0.2 s, until 30.2 s.
///   The traffic spills to az2 and az3; each failure counts toward the zone it hit and an open
///   zone leaves the draw, so whatever the draws the sixth spilled failure opens the last
///   breaker: the 9th request, at 0.8 s. From 0.9 s every zone's breaker is open.
/// - Panic on (threshold 0.5, the default): 0.9 s and 1.0 s go out anyway as probes and meet
///   the blip (their zones' breakers open again: 3 + 2 = 5 openings); 1.1 s probes a zone and
///   succeeds, and that zone, half-open, takes 1.2 s and 1.3 s and closes. Failures: 11, the
///   last at 1.0 s: the blip and nothing after it. Probes sent in panic: 3 (0.9, 1.0, 1.1 s).
/// - Panic off (threshold 0, the behaviour before this fix): from 0.9 s every request fails at
///   once with "circuit open" until az1's breaker half-opens at 30.2 s: 9 failures + 293
///   refusals (0.9 s to 30.1 s) = 302, the last at 30.1 s. No probes; 3 openings.
#[tokio::test(start_paused = true)]
async fn an_all_zones_blip_costs_the_blip_not_the_breakers_open_time() {
    let panic_on = all_zones_blip(0.5).await;
    assert_eq!(panic_on, Blip { failures: 11, circuit_open: 0, last_failure_ms: Some(1_000), panic_probes: 3, breakers_opened: 5 });
    let panic_off = all_zones_blip(0.0).await;
    assert_eq!(panic_off, Blip { failures: 302, circuit_open: 293, last_failure_ms: Some(30_100), panic_probes: 0, breakers_opened: 3 });
}

#[tokio::test(start_paused = true)]
async fn by_default_a_black_holed_call_ends_at_the_deadline() {
    // Config::new's defaults: 3 attempts of at most 5 s each, the whole call at most 15 s. The
    // third attempt starts at 10 s plus two backoffs (at most 0.1 s and 0.2 s) and is cut at
    // the deadline, so the call ends at exactly 15 s whatever the draws.
    let (c, m) = client(Config::new(Some("az1")));
    for z in ["az1", "az2", "az3"] {
        m.set(z, Behaviour::Hang);
    }
    let start = tokio::time::Instant::now();
    let e = get(&c).await.unwrap_err();
    assert!(matches!(e, Error::Timeout { attempts: 3, gave_up: GaveUp::Attempts }), "{e}");
    assert_eq!(start.elapsed(), Duration::from_secs(15));
    assert_eq!((config::DEFAULT_PER_TRY_TIMEOUT, config::DEFAULT_DEADLINE), (Duration::from_secs(5), Duration::from_secs(15)));
}

#[test]
fn the_builder_refuses_settings_out_of_range_and_names_them() {
    type BreakIt = fn(&mut Config);
    let cases: [(&str, BreakIt); 7] = [
        ("retry.max_attempts", |c| c.retry.max_attempts = 0),
        ("zones.spill_below", |c| c.zones.spill_below = 1.5),
        ("zones.panic_threshold", |c| c.zones.panic_threshold = f64::NAN),
        ("retry.deadline", |c| c.retry.deadline = Some(Duration::ZERO)),
        ("retry.per_try_timeout", |c| c.retry.per_try_timeout = Some(Duration::MAX)),
        ("breaker.config.probes", |c| c.breaker = Some(Breakers::per_zone(BreakerConfig::new(Trip::ConsecutiveFailures(5)).probes(0)))),
        ("outlier.max_ejection", |c| c.outlier = Some(OutlierConfig::default().max_ejection(Duration::MAX))),
    ];
    for (setting, break_it) in cases {
        let e = AffinityClient::builder("az1").configure(break_it).layer().err();
        assert_eq!(e.as_ref().map(|e| e.setting), Some(setting), "{e:?}");
    }
    assert!(AffinityClient::builder("az1").layer().is_ok(), "the defaults are valid");
}

#[tokio::test(start_paused = true)]
async fn a_local_zone_of_another_kind_than_the_endpoints_is_reported() {
    // The endpoints here name their zones az1..az3; a zone ID matches none of them.
    let (c, _) = client(bare().local_zone("use1-az1"));
    let snapshot = c.snapshot();
    assert!(!snapshot.local_zone_found);
    assert_eq!(snapshot.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(), ["az1", "az2", "az3"]);
    let (c, _) = client(bare());
    assert!(c.snapshot().local_zone_found);
}

#[tokio::test(start_paused = true)]
async fn panic_mode_uses_every_endpoint_when_too_few_are_available() {
    let mut cfg = bare();
    cfg.outlier = Some(eject_after_one_failure_for_a_minute());
    let (c, m) = client(cfg);
    for z in ["az1", "az2"] {
        m.set(z, Behaviour::Status(503));
    }
    for _ in 0..40 {
        let _ = get(&c).await;
    }
    // az1 and az2 are ejected (4 of 6): below the 50 % panic threshold, so they get traffic again.
    m.reset();
    for _ in 0..60 {
        let _ = get(&c).await;
    }
    assert!(m.seen("az1") + m.seen("az2") > 0, "panic: unhealthy endpoints are used too");
}

#[tokio::test(start_paused = true)]
async fn with_no_endpoints_the_caller_is_told() {
    let (c, _) = client(bare());
    c.set_endpoints(Vec::new());
    assert!(get(&c).await.unwrap_err().is_no_endpoints());
}

/// az1 and az2 in Region r1, az3 in r2; an endpoint is ejected after one failure, for 60 s.
fn two_regions() -> (Client, Mock) {
    let mut cfg = bare();
    cfg.outlier = Some(eject_after_one_failure_for_a_minute());
    cfg.zones.panic_threshold = 0.0;
    let (c, m) = client(cfg);
    let mut eps = endpoints();
    eps.iter_mut().filter(|e| e.zone == "az3").for_each(|e| e.region = "r2".into());
    c.set_endpoints(eps);
    (c, m)
}

#[tokio::test(start_paused = true)]
async fn with_its_whole_region_failing_it_fails_over_to_the_secondary_region() {
    let (c, m) = two_regions();
    m.set("az1", Behaviour::Status(503));
    m.set("az2", Behaviour::Status(503));
    for _ in 0..10 {
        let _ = get(&c).await;
    }
    m.reset();
    for _ in 0..10 {
        assert_eq!(get(&c).await.unwrap(), 200);
    }
    assert_eq!(m.seen("az3"), 10, "every local-Region endpoint is ejected: the secondary Region takes it");
}

#[tokio::test(start_paused = true)]
async fn within_the_region_it_spills_to_the_local_region_before_another() {
    let (c, m) = two_regions();
    m.set("az1", Behaviour::Status(503));
    for _ in 0..5 {
        let _ = get(&c).await;
    }
    m.reset();
    for _ in 0..20 {
        assert_eq!(get(&c).await.unwrap(), 200);
    }
    assert_eq!((m.seen("az2"), m.seen("az3")), (20, 0));
}

#[tokio::test]
async fn zonal_dns_names_become_endpoints_in_their_zones() {
    use affinity_client::discovery::{Discover, ZonalDns};
    #[derive(Clone)]
    struct Names;
    impl azsim_net::Resolve for Names {
        async fn resolve(&self, name: &str) -> std::io::Result<Vec<std::net::IpAddr>> {
            match name {
                "az1.nlb" => Ok(vec!["10.0.1.10".parse().unwrap()]),
                "az2.nlb" => Ok(vec!["10.0.2.10".parse().unwrap()]),
                _ => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "NXDOMAIN")),
            }
        }
    }
    let names = [("az1", "az1.nlb"), ("az2", "az2.nlb"), ("az3", "az3.nlb")].iter().map(|(z, n)| (z.to_string(), n.to_string())).collect();
    let found = ZonalDns { resolver: Names, names, port: 443, region: "r1".into() }.discover().await.unwrap();
    let zones: Vec<(String, String)> = found.iter().map(|e| (e.zone.clone(), e.addr.to_string())).collect();
    assert_eq!(zones, [("az1".to_string(), "10.0.1.10:443".to_string()), ("az2".to_string(), "10.0.2.10:443".to_string())], "az3 left DNS");
}

#[tokio::test(start_paused = true)]
async fn with_idempotency_keys_a_post_gets_a_key_and_is_retried() {
    let mut cfg = bare();
    cfg.retry.max_attempts = 2;
    let mock = Mock::default();
    let m = mock.clone();
    let keys = Arc::new(Mutex::new(Vec::new()));
    let k = keys.clone();
    let svc = tower::service_fn(move |r: Routed<http::Request<()>>| {
        let (m, k) = (m.clone(), k.clone());
        async move {
            k.lock().unwrap().push(r.request.headers().get("idempotency-key").map(|v| v.to_str().unwrap().to_string()));
            *m.seen.lock().unwrap().entry(r.endpoint.zone.clone()).or_default() += 1;
            let b = m.behaviour.lock().unwrap().get(&r.endpoint.zone).copied().unwrap_or(Behaviour::Ok);
            let status = if let Behaviour::Status(s) = b { s } else { 200 };
            Ok::<_, Infallible>(http::Response::builder().status(status).body(()).unwrap())
        }
    });
    let c = AffinityClient::builder(None).config(cfg).transport(svc).policy(HttpPolicy::with_idempotency_keys()).rng(test_rng(7)).build().unwrap();
    c.set_endpoints(endpoints());
    mock.set("az1", Behaviour::Status(503));
    let resp = c.clone().oneshot(http::Request::post("/").body(()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200, "retried in another zone");
    let keys = keys.lock().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].is_some() && keys[0] == keys[1], "one key, sent with both attempts: {keys:?}");
}
