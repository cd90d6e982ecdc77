//! One call of an AWS JSON 1.1 API (`X-Amz-Target: <service>.<operation>`, a JSON body) over a
//! connection from the `azsim-net` seam, so the same code reaches AWS (over TLS, signed with
//! SigV4: [`call_with`], [`sigv4`]) or, in the simulation, the Cloud Map fake ([`call`]).

pub mod sigv4;

use std::net::SocketAddr;

use azsim_net::Connect;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// Sends `body` to `endpoint` as operation `target` (e.g.
/// `Route53AutoNaming_v20170314.DiscoverInstances`) on a new connection. Returns the JSON
/// answer of a 2xx, or an error naming the status and AWS's `__type`.
pub async fn call<N: Connect>(net: &N, endpoint: SocketAddr, target: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
    call_with(net, &Remote { endpoint, host: endpoint.to_string(), tls: None, signing: None }, target, body).await
}

/// Where a call goes and how it is protected.
pub struct Remote {
    pub endpoint: SocketAddr,
    /// The `Host` header (and the name the certificate must carry), e.g.
    /// `servicediscovery.us-east-1.amazonaws.com`.
    pub host: String,
    /// TLS, verifying the endpoint's certificate for `host`.
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// SigV4, with the signing time in seconds since the Unix epoch.
    pub signing: Option<(sigv4::Signer, u64)>,
}

/// [`call`] to a [`Remote`]: over TLS and signed, as AWS requires.
pub async fn call_with<N: Connect>(net: &N, remote: &Remote, target: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
    let endpoint = remote.endpoint;
    let payload = body.to_string();
    let mut request =
        http::Request::post("/").header("host", remote.host.as_str()).header("content-type", "application/x-amz-json-1.1").header("x-amz-target", target);
    if let Some((signer, now)) = &remote.signing {
        let signed = [("host", remote.host.as_str()), ("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target)];
        for (k, v) in signer.sign("POST", "/", "", &signed, payload.as_bytes(), &sigv4::amz_date(*now)) {
            request = request.header(k, v);
        }
    }
    let request = request.body(Full::new(Bytes::from(payload))).map_err(|e| e.to_string())?;
    let stream = net.connect(endpoint).await.map_err(|e| format!("connect {endpoint}: {e}"))?;
    match &remote.tls {
        Some(connector) => {
            let name = rustls_pki_types::ServerName::try_from(remote.host.clone()).map_err(|e| format!("{}: {e}", remote.host))?;
            let tls = connector.connect(name, stream).await.map_err(|e| format!("TLS to {}: {e}", remote.host))?;
            exchange(tls, request, target).await
        }
        None => exchange(stream, request, target).await,
    }
}

async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    request: http::Request<Full<Bytes>>,
    target: &str,
) -> Result<serde_json::Value, String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    let exchange = async {
        let response = sender.send_request(request).await.map_err(|e| format!("{target}: {e}"))?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| format!("{target}: {e}"))?.to_bytes();
        Ok::<_, String>((status, bytes))
    };
    // Drive the connection while the exchange runs; drop it after (no task spawned).
    let (status, bytes) = tokio::select! {
        biased;
        r = exchange => r?,
        c = conn => return Err(format!("{target}: connection closed early: {c:?}")),
    };
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("{target}: answer is not JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!("{target}: {status} {}", json["__type"].as_str().unwrap_or("error")));
    }
    Ok(json)
}
