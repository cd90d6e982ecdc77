//! The Cloud Map endpoint over the simulated network, called the way real code calls AWS.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use azsim_fakes::cloudmap::{self, HealthConfig, NamespaceKind, Registry, RoutingPolicy, Settings};
use azsim_kernel::{Dist, SimConfig, SimNet, SimRng, Topology};
use azsim_net::{Clock, Connect, Listen};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

async fn call(net: &SimNet, addr: std::net::SocketAddr, op: &str, body: Value) -> (u16, Value) {
    let stream = net.connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::post("/")
        .header("host", "data-servicediscovery.us-east-1.amazonaws.com")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("Route53AutoNaming_v20170314.{op}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn register_then_discover_over_http() {
    let mut topo = Topology::default();
    let r = topo.add_region("us-east-1");
    let (a, b) = (topo.add_az(r, "use1-az1"), topo.add_az(r, "use1-az2"));
    let server = topo.add_host("cloudmap", a, None);
    let caller = topo.add_host("agent", b, None);
    let mut config = SimConfig::new(5, topo);
    config.latency.inter_az = Dist::Fixed(1_000_000);
    let mut sim = azsim_kernel::Sim::new(config);

    let mut registry = Registry::new(Settings::default());
    registry.create_namespace("corp.internal", NamespaceKind::Http).unwrap();
    let service_id = registry.create_service("corp.internal", "backends", HealthConfig::Custom, RoutingPolicy::Multivalue, 60).unwrap();
    let registry = Arc::new(Mutex::new(registry));
    let (server_net, caller_net) = (sim.net(server), sim.net(caller));
    let addr = (server_net.ip(), 80).into();

    let results = sim
        .block_on(Duration::from_secs(60), async move {
            let listener = server_net.bind(addr).await.unwrap();
            let now_net = server_net.clone();
            tokio::spawn(cloudmap::serve(listener, registry, Arc::new(move || now_net.elapsed()), Arc::new(Mutex::new(SimRng::from_seed(9)))));
            let register = json!({ "ServiceId": service_id, "InstanceId": "backend-1",
                "Attributes": { "AWS_INSTANCE_IPV4": "10.0.0.7", "AWS_INSTANCE_PORT": "8080", "AVAILABILITY_ZONE": "use1-az2" } });
            let t0 = caller_net.now();
            let registered = call(&caller_net, addr, "RegisterInstance", register).await;
            let took = caller_net.now() - t0;
            let discover = json!({ "NamespaceName": "corp.internal", "ServiceName": "backends", "QueryParameters": { "AVAILABILITY_ZONE": "use1-az2" } });
            let too_early = call(&caller_net, addr, "DiscoverInstances", discover.clone()).await;
            caller_net.sleep(Duration::from_secs(1)).await;
            let found = call(&caller_net, addr, "DiscoverInstances", discover).await;
            let missing = call(&caller_net, addr, "DiscoverInstances", json!({ "NamespaceName": "corp.internal", "ServiceName": "nope" })).await;
            let bad_op = call(&caller_net, addr, "CreateTopic", json!({})).await;
            (registered, took, too_early, found, missing, bad_op)
        })
        .unwrap();
    let (registered, took, too_early, found, missing, bad_op) = results;
    assert_eq!(registered.0, 200);
    assert!(registered.1["OperationId"].is_string());
    // A new connection and one request over a 1 ms link: exactly 4 ms.
    assert_eq!(took, Duration::from_millis(4));
    assert_eq!(too_early.1["Instances"], json!([]), "registration takes a moment to propagate");
    assert_eq!(found.0, 200);
    assert_eq!(found.1["Instances"][0]["InstanceId"], "backend-1");
    assert_eq!(found.1["Instances"][0]["HealthStatus"], "HEALTHY");
    assert_eq!(found.1["Instances"][0]["Attributes"]["AWS_INSTANCE_PORT"], "8080");
    assert_eq!(found.1["InstancesRevision"], 1);
    assert_eq!((missing.0, missing.1["__type"].as_str()), (400, Some("ServiceNotFound")));
    assert_eq!((bad_op.0, bad_op.1["__type"].as_str()), (400, Some("InvalidInput")));
}
