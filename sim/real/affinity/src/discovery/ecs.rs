//! The task's AZ from the ECS task metadata endpoint.

use std::net::SocketAddr;

use azsim_net::Connect;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// The task's AZ from the ECS task metadata endpoint v4 (`$ECS_CONTAINER_METADATA_URI_V4/task`,
/// its `AvailabilityZone`), fetched through `net`.
pub async fn ecs_task_zone<N: Connect>(net: &N, metadata_uri: &str) -> Result<String, String> {
    let rest = metadata_uri.strip_prefix("http://").ok_or("the metadata URI is not http://")?;
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let addr: SocketAddr = authority.parse().map_err(|e| format!("metadata address {authority}: {e}"))?;
    let stream = net.connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    let request =
        http::Request::get(format!("/{path}/task").replace("//", "/")).header("host", authority).body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
    let exchange = async {
        let response = sender.send_request(request).await.map_err(|e| format!("request: {e}"))?;
        response.into_body().collect().await.map_err(|e| format!("body: {e}")).map(|b| b.to_bytes())
    };
    let body = tokio::select! {
        biased;
        r = exchange => r?,
        c = conn => return Err(format!("connection closed early: {c:?}")),
    };
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("task metadata is not JSON: {e}"))?;
    json["AvailabilityZone"].as_str().map(str::to_string).ok_or_else(|| "task metadata has no AvailabilityZone".to_string())
}
