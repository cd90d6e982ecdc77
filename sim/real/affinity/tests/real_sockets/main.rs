//! On real sockets: wiremock servers stand in for endpoints in three AZs (two each), with
//! failures injected per server; the library sends real HTTP/1.1 over loopback TCP through
//! [`HyperTransport`]. `hyper_transport.rs` checks the transport itself against small hyper
//! servers (HTTP/1.1 and HTTP/2). Nothing here asserts wall-clock durations; waits only let
//! real time pass for the hysteresis.

mod hyper_transport;

use std::time::Duration;

use affinity_client::TokioEnv;
use affinity_client::retry::BudgetConfig;
use affinity_client::{AffinityClient, BreakerConfig, Breakers, Config, Endpoint, HttpPolicy, HyperTransport, Mode, Trip};
use http_body_util::Empty;
use tower::ServiceExt;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Fleet {
    servers: Vec<(MockServer, String)>,
}

impl Fleet {
    async fn start() -> Fleet {
        let mut servers = Vec::new();
        for z in 1..=3 {
            for _ in 0..2 {
                let s = MockServer::start().await;
                servers.push((s, format!("az{z}")));
            }
        }
        let fleet = Fleet { servers };
        for z in ["az1", "az2", "az3"] {
            fleet.answer(z, 200).await;
        }
        fleet
    }

    async fn answer(&self, zone: &str, status: u16) {
        for (s, z) in &self.servers {
            if z == zone {
                s.reset().await;
                Mock::given(any()).respond_with(ResponseTemplate::new(status)).mount(s).await;
            }
        }
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        self.servers.iter().enumerate().map(|(i, (s, z))| Endpoint::new(format!("e{i}"), *s.address(), z.clone(), "local")).collect()
    }

    async fn received(&self, zone: &str) -> usize {
        let mut n = 0;
        for (s, z) in &self.servers {
            if z == zone {
                n += s.received_requests().await.map_or(0, |r| r.len());
            }
        }
        n
    }
}

/// The crate's own transport: hyper-util's pooled HTTP/1.1 client over tokio's sockets.
type Send = HyperTransport<Empty<bytes::Bytes>>;

fn client(fleet: &Fleet, config: Config) -> AffinityClient<Send, TokioEnv, HttpPolicy> {
    // The production path: tokio's clock and OS-seeded randomness are the builder's defaults.
    let c = AffinityClient::builder(None).config(config).transport(HyperTransport::http1()).build().expect("valid settings");
    c.set_endpoints(fleet.endpoints());
    c
}

async fn get(c: &AffinityClient<Send, TokioEnv, HttpPolicy>) -> Result<u16, String> {
    let req = http::Request::get("/orders").body(Empty::new()).unwrap();
    c.clone().oneshot(req).await.map(|r| r.status().as_u16()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn fails_over_to_other_zones_and_fails_back_after_the_hysteresis() {
    let fleet = Fleet::start().await;
    let mut config = Config::new(Some("az1"));
    // Outlier ejection drives this test; a zone breaker (30 s open) would hold failback back.
    config.breaker = None;
    config.zones.failback_after = Duration::from_millis(300);
    let ejection = Duration::from_millis(200);
    config.outlier =
        Some(affinity_client::OutlierConfig::default().consecutive_failures(2).base_ejection(ejection).max_ejection(ejection).max_ejected_share(0.5));
    let c = client(&fleet, config);
    for _ in 0..20 {
        assert_eq!(get(&c).await.unwrap(), 200);
    }
    assert_eq!(fleet.received("az1").await, 20, "healthy: all local");

    fleet.answer("az1", 503).await;
    for _ in 0..40 {
        assert_eq!(get(&c).await.unwrap(), 200, "a failed attempt is retried in another zone");
    }
    assert!(matches!(c.snapshot().mode, Mode::Spilled { .. }));
    assert!(fleet.received("az2").await + fleet.received("az3").await >= 40);

    fleet.answer("az1", 200).await;
    // Ejections end after 200 ms; then 300 ms of health before failing back.
    tokio::time::sleep(Duration::from_millis(250)).await;
    for _ in 0..5 {
        let _ = get(&c).await;
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..20 {
        assert_eq!(get(&c).await.unwrap(), 200);
    }
    assert_eq!(c.snapshot().mode, Mode::Local, "failed back");
    fleet.answer("az1", 200).await; // resets the count
    for _ in 0..10 {
        let _ = get(&c).await;
    }
    assert_eq!(fleet.received("az1").await, 10);
}

#[tokio::test]
async fn respects_its_retry_budget_when_everything_fails() {
    let fleet = Fleet::start().await;
    for z in ["az1", "az2", "az3"] {
        fleet.answer(z, 503).await;
    }
    let mut config = Config::new(Some("az1"));
    config.breaker = None;
    config.outlier = None;
    config.retry.base = Duration::from_millis(1);
    config.retry.budget = BudgetConfig::TokenBucket { capacity: 20, retry_cost: 5, timeout_cost: 10, success_refund: 1 };
    let c = client(&fleet, config);
    let mut exhausted = 0;
    for _ in 0..10 {
        if get(&c).await.is_err_and(|e| e.contains("budget")) {
            exhausted += 1;
        }
    }
    let sent = fleet.received("az1").await + fleet.received("az2").await + fleet.received("az3").await;
    // 20 tokens pay for 4 retries; after that every request is tried once.
    assert_eq!(sent, 10 + 4);
    assert!(exhausted >= 7, "{exhausted}");
}

/// The all-zones blip on loopback, counted in requests rather than seconds (no wall-clock
/// assertions here): every server answers 503 to the first 11 requests, then 200; one attempt
/// each, a breaker per zone opening after 3 failures in a row for 30 s, no outlier ejection.
/// As in `tests/behaviour/main.rs`: 9 failures open all three breakers (3 per zone, whatever the draws),
/// requests 10 and 11 go out as probes and fail, and from the 12th, after the blip, every
/// request succeeds (panic on). With panic off, the 10th onwards are refused until the 30 s
/// pass, long after this test is done.
#[tokio::test]
async fn an_all_zones_blip_costs_the_blip_not_the_breakers_open_time() {
    for (panic_threshold, failures, circuit_open) in [(0.5, 11, 0), (0.0, 31, 22)] {
        let fleet = Fleet::start().await;
        for z in ["az1", "az2", "az3"] {
            fleet.answer(z, 503).await;
        }
        let mut config = Config::new(Some("az1"));
        config.retry.max_attempts = 1;
        config.outlier = None;
        config.breaker = Some(Breakers::per_zone(BreakerConfig::new(Trip::ConsecutiveFailures(3))));
        config.zones.panic_threshold = panic_threshold;
        let c = client(&fleet, config);
        let (mut failed, mut refused) = (0, 0);
        for k in 0..31 {
            if k == 11 {
                for z in ["az1", "az2", "az3"] {
                    fleet.answer(z, 200).await;
                }
            }
            match get(&c).await {
                Ok(200) => {}
                Ok(_) => failed += 1,
                Err(e) => {
                    failed += 1;
                    refused += usize::from(e.contains("circuit open"));
                }
            }
        }
        assert_eq!((failed, refused), (failures, circuit_open), "panic threshold {panic_threshold}");
    }
}

/// Cloud Map on AWS itself wants every call signed: with `aws`, `DiscoverInstances` carries a
/// SigV4 `authorization` for the `servicediscovery` scope of the signing date and Region (the
/// stub answers only such a request; an unsigned one gets its 404).
#[cfg(feature = "cloud-map")]
#[tokio::test]
async fn discovers_from_cloud_map_with_sigv4_when_given_aws_access() {
    use affinity_client::discovery::{AwsAccess, CloudMap, Discover};
    use aws_json::sigv4::{Credentials, Signer};
    use wiremock::matchers::{header, header_regex, method};
    let stub = MockServer::start().await;
    let instances =
        r#"{"Instances":[{"InstanceId":"i-1","Attributes":{"AWS_INSTANCE_IPV4":"10.0.1.7","AWS_INSTANCE_PORT":"8080","AVAILABILITY_ZONE":"use1-az1"}}]}"#;
    let scope = "^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/servicediscovery/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$";
    Mock::given(method("POST"))
        .and(header("x-amz-target", "Route53AutoNaming_v20170314.DiscoverInstances"))
        .and(header("x-amz-date", "20150830T123600Z"))
        .and(header_regex("authorization", scope))
        .respond_with(ResponseTemplate::new(200).set_body_string(instances))
        .mount(&stub)
        .await;
    let credentials = Credentials { access_key_id: "AKIDEXAMPLE".into(), secret_access_key: "secret".into(), session_token: None };
    let signer = Signer { credentials, region: "us-east-1".into(), service: "servicediscovery".into() };
    let source = |aws| CloudMap {
        net: TokioEnv,
        endpoint: *stub.address(),
        aws,
        namespace: "corp".into(),
        service: "api".into(),
        query: Default::default(),
        health_status: None,
        region: "us-east-1".into(),
    };
    // 2015-08-30 12:36:00 UTC, the date of AWS's SigV4 examples.
    let access = AwsAccess { host: "data-servicediscovery.us-east-1.amazonaws.com".into(), tls: None, signer, epoch_seconds: || 1_440_938_160 };
    let found = source(Some(access)).discover().await.expect("a signed call is answered");
    assert_eq!(
        found.iter().map(|e| (e.id.as_str(), e.addr.to_string(), e.zone.as_str())).collect::<Vec<_>>(),
        [("i-1", "10.0.1.7:8080".to_string(), "use1-az1")]
    );
    assert!(source(None).discover().await.is_err(), "unsigned: refused");
}

#[cfg(feature = "ecs-metadata")]
#[tokio::test]
async fn learns_its_zone_from_ecs_task_metadata() {
    let metadata = MockServer::start().await;
    Mock::given(wiremock::matchers::path("/v4/abc/task"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"Cluster":"c","AvailabilityZone":"us-east-1b"}"#))
        .mount(&metadata)
        .await;
    let uri = format!("http://{}/v4/abc", metadata.address());
    let zone = affinity_client::discovery::ecs_task_zone(&TokioEnv, &uri).await;
    assert_eq!(zone.as_deref(), Ok("us-east-1b"));
}
