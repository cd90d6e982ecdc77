//! Cloud Map's endpoint in the AWS JSON 1.1 protocol: `POST /` with
//! `X-Amz-Target: Route53AutoNaming_v20170314.<Operation>` and a JSON body; errors are HTTP 400
//! with `{"__type": "<Code>", "Message": ...}`. Real code calls it over the (simulated) network
//! exactly as it would call AWS. Requests are not signature-checked: the fake trusts its callers.
//! boto3 drives it in `tests/fakes/cloudmap_sdk.rs`, so its shapes follow AWS's service model.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use azsim_kernel::{Nanos, SimRng};
use azsim_net::Accept;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};

use super::ops::{CloudMapError, Discover, HealthFilter};
use super::state::{Health, Registry};

const TARGET_PREFIX: &str = "Route53AutoNaming_v20170314.";
const MAX_BODY: usize = 1 << 20;

/// What the endpoint needs: the registry, virtual time and a random stream.
#[derive(Clone)]
struct Endpoint {
    registry: Arc<Mutex<Registry>>,
    now: Arc<dyn Fn() -> Nanos + Send + Sync>,
    rng: Arc<Mutex<SimRng>>,
}

/// Serves Cloud Map on `listener` until it fails (its host crashed or powered off).
pub async fn serve<A: Accept>(mut listener: A, registry: Arc<Mutex<Registry>>, now: Arc<dyn Fn() -> Nanos + Send + Sync>, rng: Arc<Mutex<SimRng>>) {
    let endpoint = Endpoint { registry, now, rng };
    while let Ok((stream, _)) = listener.accept().await {
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let endpoint = endpoint.clone();
                async move { Ok::<_, Infallible>(endpoint.handle(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .auto_date_header(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert("content-type", "application/x-amz-json-1.1".parse().expect("static header"));
    resp
}

fn error(code: &str, message: &str) -> Response<Full<Bytes>> {
    let mut resp = reply(StatusCode::BAD_REQUEST, json!({ "__type": code, "Message": message }));
    resp.headers_mut().insert("x-amzn-errortype", code.parse().unwrap_or_else(|_| "InvalidInput".parse().expect("static")));
    resp
}

fn str_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, CloudMapError> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| CloudMapError::InvalidInput(format!("1 validation error detected: '{name}' must not be null")))
}

fn string_map(body: &Value, name: &str) -> Result<BTreeMap<String, String>, CloudMapError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())).ok_or_else(|| CloudMapError::InvalidInput(format!("{name}.{k} must be a string"))))
            .collect(),
        Some(_) => Err(CloudMapError::InvalidInput(format!("{name} must be an object"))),
    }
}

/// `MaxResults`, if given (the operation checks its range).
fn max_results(body: &Value) -> Result<Option<u32>, CloudMapError> {
    match body.get("MaxResults") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or_else(|| CloudMapError::InvalidInput("MaxResults must be a number".into())),
    }
}

impl Endpoint {
    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        if req.method() != hyper::Method::POST {
            return error("UnknownOperationException", "Cloud Map accepts POST only");
        }
        let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let Some(op) = target.strip_prefix(TARGET_PREFIX).map(str::to_string) else {
            return error("UnknownOperationException", &format!("unknown X-Amz-Target `{target}`"));
        };
        let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return error("SerializationException", "body unreadable or larger than 1 MiB"),
        };
        let body: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return error("SerializationException", &format!("body is not JSON: {e}")),
        };
        match self.dispatch(&op, &body) {
            Ok(v) => reply(StatusCode::OK, v),
            Err(e) => error(e.code(), &e.message()),
        }
    }

    fn dispatch(&self, op: &str, body: &Value) -> Result<Value, CloudMapError> {
        let now = (self.now)();
        let mut reg = self.registry.lock().expect("registry lock");
        match op {
            "DiscoverInstances" => {
                let health = match body.get("HealthStatus").and_then(Value::as_str) {
                    None => None,
                    Some(s) => Some(HealthFilter::parse(s).ok_or_else(|| {
                        CloudMapError::InvalidInput(format!("HealthStatus `{s}` is not one of HEALTHY, UNHEALTHY, ALL, HEALTHY_OR_ELSE_ALL"))
                    })?),
                };
                let max_results = max_results(body)?;
                let req = Discover {
                    namespace: str_field(body, "NamespaceName")?.to_string(),
                    service: str_field(body, "ServiceName")?.to_string(),
                    max_results,
                    query: string_map(body, "QueryParameters")?,
                    optional: string_map(body, "OptionalParameters")?,
                    health,
                };
                let found = reg.discover(now, &mut self.rng.lock().expect("rng lock"), &req)?;
                let instances: Vec<Value> = found
                    .instances
                    .iter()
                    .map(|i| json!({ "InstanceId": i.id, "NamespaceName": req.namespace, "ServiceName": req.service, "HealthStatus": i.health.as_str(), "Attributes": i.attributes }))
                    .collect();
                Ok(json!({ "Instances": instances, "InstancesRevision": found.revision }))
            }
            "RegisterInstance" => {
                let (ns, svc) = reg.service_by_id(str_field(body, "ServiceId")?)?;
                reg.register_instance(now, &ns, &svc, str_field(body, "InstanceId")?, string_map(body, "Attributes")?)?;
                Ok(json!({ "OperationId": reg.new_id("op") }))
            }
            "DeregisterInstance" => {
                let (ns, svc) = reg.service_by_id(str_field(body, "ServiceId")?)?;
                reg.deregister_instance(now, &ns, &svc, str_field(body, "InstanceId")?)?;
                Ok(json!({ "OperationId": reg.new_id("op") }))
            }
            "UpdateInstanceCustomHealthStatus" => {
                let (ns, svc) = reg.service_by_id(str_field(body, "ServiceId")?)?;
                let status = match str_field(body, "Status")? {
                    "HEALTHY" => Health::Healthy,
                    "UNHEALTHY" => Health::Unhealthy,
                    other => return Err(CloudMapError::InvalidInput(format!("Status `{other}` is not HEALTHY or UNHEALTHY"))),
                };
                reg.update_custom_health(now, &ns, &svc, str_field(body, "InstanceId")?, status)?;
                Ok(json!({}))
            }
            "GetInstancesHealthStatus" => {
                let (ns, svc) = reg.service_by_id(str_field(body, "ServiceId")?)?;
                let instances: Vec<String> = match body.get("Instances") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(ids)) => ids
                        .iter()
                        .map(|id| id.as_str().map(str::to_string).ok_or_else(|| CloudMapError::InvalidInput("Instances must be strings".into())))
                        .collect::<Result<_, _>>()?,
                    Some(_) => return Err(CloudMapError::InvalidInput("Instances must be a list".into())),
                };
                let next_token = body.get("NextToken").and_then(Value::as_str);
                let (page, next) = reg.health_status_page(now, &ns, &svc, &instances, max_results(body)?, next_token)?;
                let status: BTreeMap<String, &str> = page.into_iter().map(|(id, h)| (id, h.as_str())).collect();
                Ok(match next {
                    Some(token) => json!({ "Status": status, "NextToken": token }),
                    None => json!({ "Status": status }),
                })
            }
            other => Err(CloudMapError::InvalidInput(format!("operation `{other}` is not supported by this fake"))),
        }
    }
}
