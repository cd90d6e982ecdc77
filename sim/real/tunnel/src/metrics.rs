//! Per backend: responses by status code and by class, and a latency histogram, as Prometheus
//! text; optionally one CloudWatch Embedded Metric Format line per response. Requests refused
//! as the client's fault are counted apart, by reason ([`ClientError`]).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Clone, Debug, Default)]
struct PerBackend {
    by_status: BTreeMap<u16, u64>,
    /// The proxy's own answers, by status and reason.
    by_proxy: BTreeMap<(u16, &'static str), u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Why a request was the client's fault (not an agent's nor a backend's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The request body's framing was broken (a bad chunk size, a missing CRLF) or cut.
    MalformedBody,
    /// Nothing of the request body arrived for `body_read_timeout_ms` (408).
    BodyStalled,
    /// A missing, repeated or invalid `Host`, or a path above the root (400).
    BadTarget,
    /// Headers over `max_header_bytes` (431).
    HeadTooLarge,
    /// A declared body over `max_body_bytes` (413).
    BodyTooLarge,
    /// A `CONNECT` request (405).
    Connect,
}

impl ClientError {
    const ALL: [ClientError; 6] = [
        ClientError::MalformedBody,
        ClientError::BodyStalled,
        ClientError::BadTarget,
        ClientError::HeadTooLarge,
        ClientError::BodyTooLarge,
        ClientError::Connect,
    ];

    /// Its `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            ClientError::MalformedBody => "malformed_body",
            ClientError::BodyStalled => "body_stalled",
            ClientError::BadTarget => "bad_target",
            ClientError::HeadTooLarge => "head_too_large",
            ClientError::BodyTooLarge => "body_too_large",
            ClientError::Connect => "connect",
        }
    }
}

/// The proxy's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<BTreeMap<String, PerBackend>>,
    /// Requests refused as the client's fault, indexed like [`ClientError::ALL`].
    client_errors: [AtomicU64; ClientError::ALL.len()],
    /// Print an EMF line per response to stdout (CloudWatch ingests them from the logs).
    emf: bool,
    /// Agents refused, indexed like [`crate::proxy::Refusal::ALL`].
    refused: [AtomicU64; crate::proxy::Refusal::ALL.len()],
    /// Reloads taken and refused.
    reloads: [AtomicU64; 2],
    /// Agent sessions accepted.
    accepted: AtomicU64,
}

impl Metrics {
    /// Counters; with `emf`, also one EMF line per response on stdout.
    pub fn new(emf: bool) -> Self {
        Metrics { emf, ..Metrics::default() }
    }

    /// Counts a request refused as the client's fault.
    pub fn client_error(&self, why: ClientError) {
        self.client_errors[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused as the client's fault for `why`.
    pub fn client_errors(&self, why: ClientError) -> u64 {
        self.client_errors[why as usize].load(Ordering::Relaxed)
    }

    /// Counts an agent refused (at its greeting, or by a reload) for `why`.
    pub fn agent_refused(&self, why: crate::proxy::Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Agents refused for `why`.
    pub fn agents_refused(&self, why: crate::proxy::Refusal) -> u64 {
        self.refused[why as usize].load(Ordering::Relaxed)
    }

    /// Counts an agent session accepted.
    pub fn agent_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a reload, taken (`ok`) or refused.
    pub fn reloaded(&self, ok: bool) {
        self.reloads[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record(&self, backend: &str, status: u16, latency: Duration) {
        self.record_answer(backend, status, latency, None);
    }

    /// [`Metrics::record`], and when the proxy made the response itself, why (`by_proxy`).
    pub fn record_answer(&self, backend: &str, status: u16, latency: Duration, by_proxy: Option<&'static str>) {
        let mut m = self.inner.lock().expect("metrics lock");
        // No allocation per response once the backend has its entry.
        if !m.contains_key(backend) {
            m.insert(backend.to_string(), PerBackend::default());
        }
        let Some(b) = m.get_mut(backend) else { return };
        *b.by_status.entry(status).or_default() += 1;
        if let Some(why) = by_proxy {
            *b.by_proxy.entry((status, why)).or_default() += 1;
        }
        let s = latency.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if s <= *bound {
                b.buckets[i] += 1;
            }
        }
        b.count += 1;
        b.sum_seconds += s;
        if self.emf {
            println!(
                r#"{{"_aws":{{"CloudWatchMetrics":[{{"Namespace":"InvertingProxy","Dimensions":[["Backend","StatusClass"]],"Metrics":[{{"Name":"Requests","Unit":"Count"}},{{"Name":"Latency","Unit":"Milliseconds"}}]}}]}},"Backend":"{backend}","StatusClass":"{}xx","Requests":1,"Latency":{:.3}}}"#,
                status / 100,
                s * 1000.0
            );
        }
    }

    /// Responses of `backend` with `status`.
    pub fn count(&self, backend: &str, status: u16) -> u64 {
        self.inner.lock().expect("metrics lock").get(backend).and_then(|b| b.by_status.get(&status).copied()).unwrap_or(0)
    }

    pub fn prometheus(&self) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        let _ = writeln!(out, "# HELP tunnel_responses_total Responses to clients, per backend and status (the backend's and the proxy's own).");
        let _ = writeln!(out, "# TYPE tunnel_responses_total counter");
        for (backend, b) in m.iter() {
            for (status, n) in &b.by_status {
                let _ = writeln!(out, "tunnel_responses_total{{backend=\"{backend}\",code=\"{status}\",class=\"{}xx\"}} {n}", status / 100);
            }
        }
        let _ = writeln!(
            out,
            "# HELP tunnel_proxy_answers_total Responses the proxy made itself, not the backend: reason no_agent (503), agent_lost (502), deadline (504), at_limit (503), no_route (404), a client error's reason, or other."
        );
        let _ = writeln!(out, "# TYPE tunnel_proxy_answers_total counter");
        for (backend, b) in m.iter() {
            for ((status, why), n) in &b.by_proxy {
                let _ = writeln!(out, "tunnel_proxy_answers_total{{backend=\"{backend}\",code=\"{status}\",reason=\"{why}\"}} {n}");
            }
        }
        let _ = writeln!(out, "# HELP tunnel_client_errors_total Requests refused as the client's fault, by reason.");
        let _ = writeln!(out, "# TYPE tunnel_client_errors_total counter");
        for why in ClientError::ALL {
            let _ = writeln!(out, "tunnel_client_errors_total{{reason=\"{}\"}} {}", why.label(), self.client_errors(why));
        }
        let _ = writeln!(
            out,
            "# HELP tunnel_agents_refused_total Agent connections refused (at the TLS handshake or the greeting) or closed by a reload, by reason."
        );
        let _ = writeln!(out, "# TYPE tunnel_agents_refused_total counter");
        for why in crate::proxy::Refusal::ALL {
            let _ = writeln!(out, "tunnel_agents_refused_total{{reason=\"{}\"}} {}", why.label(), self.agents_refused(why));
        }
        let _ = writeln!(out, "# HELP tunnel_agents_accepted_total Agent sessions accepted (greeted and admitted).");
        let _ = writeln!(out, "# TYPE tunnel_agents_accepted_total counter");
        let _ = writeln!(out, "tunnel_agents_accepted_total {}", self.accepted.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP tunnel_config_reloads_total Config reloads (SIGHUP), taken (ok) or refused (error).");
        let _ = writeln!(out, "# TYPE tunnel_config_reloads_total counter");
        for (i, result) in ["ok", "error"].iter().enumerate() {
            let _ = writeln!(out, "tunnel_config_reloads_total{{result=\"{result}\"}} {}", self.reloads[i].load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP tunnel_request_duration_seconds Time to the response's head, per backend.");
        let _ = writeln!(out, "# TYPE tunnel_request_duration_seconds histogram");
        for (backend, b) in m.iter() {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "tunnel_request_duration_seconds_bucket{{backend=\"{backend}\",le=\"{bound}\"}} {}", b.buckets[i]);
            }
            let _ = writeln!(out, "tunnel_request_duration_seconds_bucket{{backend=\"{backend}\",le=\"+Inf\"}} {}", b.count);
            let _ = writeln!(out, "tunnel_request_duration_seconds_sum{{backend=\"{backend}\"}} {}", b.sum_seconds);
            let _ = writeln!(out, "tunnel_request_duration_seconds_count{{backend=\"{backend}\"}} {}", b.count);
        }
        out
    }
}

/// `tunnel_build_info{program,version,revision} 1`: the crate's version and the git revision
/// the build was given (`TUNNEL_GIT_REVISION` at compile time, else `unknown`).
pub fn build_info(program: &str) -> String {
    format!(
        "# HELP tunnel_build_info The running build.\n# TYPE tunnel_build_info gauge\ntunnel_build_info{{program=\"{program}\",version=\"{}\",revision=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION"),
        REVISION
    )
}

/// The git revision the binaries were built from, if the build said (`TUNNEL_GIT_REVISION`).
pub const REVISION: &str = match option_env!("TUNNEL_GIT_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// More Prometheus text, rendered at each scrape (the binaries' process and certificate
/// metrics: they read `/proc` and files, so they are not the library's).
pub type ExtraMetrics = std::sync::Arc<dyn Fn() -> String + Send + Sync>;
