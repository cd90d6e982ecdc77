//! One call of an AWS JSON 1.1 API (`X-Amz-Target: <service>.<operation>`, a JSON body) over a
//! connection from the `azsim-net` seam, so the same code reaches AWS (through a signing proxy:
//! SigV4 is not implemented yet) or, in the simulation, the Cloud Map fake.

use std::net::SocketAddr;

use azsim_net::Connect;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// Sends `body` to `endpoint` as operation `target` (e.g.
/// `Route53AutoNaming_v20170314.DiscoverInstances`) on a new connection. Returns the JSON
/// answer of a 2xx, or an error naming the status and AWS's `__type`.
pub async fn call<N: Connect>(net: &N, endpoint: SocketAddr, target: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
    let stream = net.connect(endpoint).await.map_err(|e| format!("connect {endpoint}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    let request = http::Request::post("/")
        .header("host", endpoint.to_string())
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let response = sender.send_request(request).await.map_err(|e| format!("{target}: {e}"))?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| format!("{target}: {e}"))?.to_bytes();
        Ok::<_, String>((status, bytes))
    };
    // Drive the connection while the exchange runs; drop it after (no task spawned).
    let (status, bytes) = tokio::select! {
        r = exchange => r?,
        c = conn => return Err(format!("{target}: connection closed early: {c:?}")),
    };
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("{target}: answer is not JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!("{target}: {status} {}", json["__type"].as_str().unwrap_or("error")));
    }
    Ok(json)
}
