//! [`HyperTransport`] on loopback against small hyper servers, one per zone, that answer with
//! what they received: the `Host`, the path, the HTTP version. For HTTP/1.1 and HTTP/2 alike:
//! the request reaches the endpoint's address whatever its own URI says, carries the
//! endpoint's host name, and comes back tagged with the endpoint, zone and attempt.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use affinity_client::{AffinityClient, Endpoint, Error, GaveUp, HttpClient, HyperTransport, Served};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// A server that answers `<host> <path> <version>`, or 503 while `failing`.
async fn echo(http2: bool, failing: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let failing = failing.clone();
            let answer = hyper::service::service_fn(move |r: http::Request<hyper::body::Incoming>| {
                let host = r.headers().get(http::header::HOST).map_or("-", |h| h.to_str().unwrap_or("?")).to_string();
                let said = format!("{host} {} {:?}", r.uri().path_and_query().map_or("", |p| p.as_str()), r.version());
                let status = if failing.load(Ordering::Relaxed) { 503 } else { 200 };
                async move { Ok::<_, Infallible>(http::Response::builder().status(status).body(Full::new(Bytes::from(said))).unwrap()) }
            });
            let io = TokioIo::new(stream);
            if http2 {
                tokio::spawn(hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, answer));
            } else {
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, answer));
            }
        }
    });
    addr
}

async fn body(response: http::Response<hyper::body::Incoming>) -> String {
    String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn each_attempt_reaches_its_endpoint_with_its_host_and_the_response_names_who_served_it() {
    for (http2, version) in [(false, "HTTP/1.1"), (true, "HTTP/2.0")] {
        let az1_failing = Arc::new(AtomicBool::new(false));
        let az1 = echo(http2, az1_failing.clone()).await;
        let az2 = echo(http2, Arc::default()).await;
        let transport = if http2 { HyperTransport::http2() } else { HyperTransport::http1() };
        let client: HttpClient = AffinityClient::builder("az1").configure(|c| c.retry.other_zone = true).transport(transport).build().unwrap();
        // az1 answers to a name; az2 only to its address.
        client.set_endpoints(vec![Endpoint::new("a1", az1, "az1", "local").host("orders.internal"), Endpoint::new("a2", az2, "az2", "local")]);
        // The request's own authority is never dialled: the endpoint's address is.
        let get = || http::Request::get("http://nowhere.invalid:9/orders?id=7").body(Full::new(Bytes::new())).unwrap();

        let response = client.clone().oneshot(get()).await.unwrap();
        let served = response.extensions().get::<Served>().cloned().expect("tagged");
        assert_eq!((served.endpoint.id.as_str(), served.endpoint.zone.as_str(), served.attempt), ("a1", "az1", 1), "{version}");
        assert_eq!(body(response).await, format!("orders.internal /orders?id=7 {version}"));

        // az1 fails: the retry goes to az2, whose Host is its address.
        az1_failing.store(true, Ordering::Relaxed);
        let response = client.clone().oneshot(get()).await.unwrap();
        let served = response.extensions().get::<Served>().cloned().expect("tagged");
        assert_eq!((served.endpoint.zone.as_str(), served.attempt), ("az2", 2), "{version}");
        assert_eq!(body(response).await, format!("{az2} /orders?id=7 {version}"));

        // A failing answer is tagged too, inside the error that carries it.
        let post = http::Request::post("/orders").body(Full::new(Bytes::from_static(b"{}"))).unwrap();
        let e = client.clone().oneshot(post).await.unwrap_err();
        let served = e.response().and_then(|r| r.extensions().get::<Served>()).cloned();
        assert_eq!(served.map(|s| (s.endpoint.zone, s.attempt)), Some(("az1".to_string(), 1)), "{version}: {e}");
        assert_eq!(e.gave_up(), Some(GaveUp::NotReplayable), "a POST without a key goes once");
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure_retried_in_another_zone() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let az2 = echo(false, Arc::default()).await;
    let client: HttpClient = AffinityClient::builder("az1").transport(HyperTransport::http1()).build().unwrap();
    client.set_endpoints(vec![Endpoint::new("a1", closed, "az1", "local"), Endpoint::new("a2", az2, "az2", "local")]);
    let get = http::Request::get("/").body(Full::new(Bytes::new())).unwrap();
    let response = client.clone().oneshot(get).await.unwrap();
    assert_eq!(response.extensions().get::<Served>().map(|s| (s.endpoint.zone.as_str(), s.attempt)), Some(("az2", 2)));
    assert_eq!(client.snapshot().zone("az1").unwrap().stats.failures, 1);

    // Alone, the closed endpoint's failure reaches the caller as what it is.
    client.set_endpoints(vec![Endpoint::new("a1", closed, "az1", "local")]);
    let post = http::Request::post("/").body(Full::new(Bytes::new())).unwrap();
    let e = client.clone().oneshot(post).await.unwrap_err();
    assert!(e.is_connect(), "{e}");
    assert!(matches!(&e, Error::Transport { attempts: 1, error, .. } if error.addr() == closed), "{e}");
}
