//! The inverting proxy: `inverting-proxy --config proxy.json --listen 0.0.0.0:8080 --agents 0.0.0.0:8443 --admin 0.0.0.0:9090`.

use std::net::SocketAddr;
use std::time::Duration;

use azsim_net::tokio_impl::{OsSeededRng, TokioEnv};
use azsim_net::{Listen, Rng};
use clap::Parser;
use tunnel::ops::{EXIT_BAD_CONFIG, LogFormat};

/// Serves clients through agents that dial in.
#[derive(Parser, Debug)]
#[command(name = "inverting-proxy", about)]
struct Args {
    /// Log at debug level (default: info; `RUST_LOG` overrides both).
    #[arg(long, short)]
    verbose: bool,
    /// Log lines as text or as JSON objects.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// The JSON config: agents (token, backends), routes, default_backend, backends, limits.
    /// Read again on SIGHUP.
    #[arg(long)]
    config: std::path::PathBuf,
    /// Check the config (and its TLS files and token files), print it with every default
    /// filled in, and exit: 0 if it can be used, 2 if not.
    #[arg(long)]
    check: bool,
    /// Where clients connect (HTTP/1.1).
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Where agents connect.
    #[arg(long, default_value = "0.0.0.0:8443")]
    agents: SocketAddr,
    /// `/ready` and `/metrics`.
    #[arg(long, default_value = "0.0.0.0:9090")]
    admin: SocketAddr,
    /// Also print a CloudWatch Embedded Metric Format line per response.
    #[arg(long)]
    emf: bool,
    /// Also reload when the config, a token file or a TLS file changes (modification time or
    /// size), looking this often, in milliseconds (0: only on SIGHUP). Replace files by
    /// renaming a complete new one over them.
    #[arg(long, default_value_t = 0)]
    watch_ms: u64,
}

/// The config file and the TLS acceptor it asks for, or why they cannot be used.
fn load(path: &std::path::Path) -> Result<(tunnel::ProxyConfig, Option<tokio_rustls::TlsAcceptor>), String> {
    let config = tunnel::ProxyConfig::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let tls = config.tls.as_ref().map(|t| t.acceptor()).transpose().map_err(|e| format!("{}: `tls`: {e}", path.display()))?;
    Ok((config, tls))
}

/// The expiry metrics of the certificates `config` uses.
fn certificates(config: &tunnel::ProxyConfig) -> String {
    let files: Vec<(&str, &std::path::Path)> = config
        .tls
        .iter()
        .flat_map(|t| [("server", Some(t.cert.as_path())), ("client_ca", t.client_ca.as_deref())])
        .filter_map(|(r, f)| Some((r, f?)))
        .collect();
    tunnel::ops::certificate_metrics(&files)
}

/// What a watch looks at: the config file, its token files and its TLS files.
fn watched(path: &std::path::Path, config: &tunnel::ProxyConfig) -> tunnel::ops::Fingerprint {
    let mut files = vec![path];
    files.extend(config.agents.values().filter_map(|g| g.token_file.as_deref()));
    files.extend(config.tls.iter().flat_map(|t| [Some(t.cert.as_path()), Some(t.key.as_path()), t.client_ca.as_deref()]).flatten());
    tunnel::ops::fingerprint(&files)
}

fn main() {
    let started = tunnel::ops::unix_now_seconds();
    let args: Args = tunnel::ops::parse_args();
    if args.check {
        match load(&args.config) {
            Ok((config, _)) => {
                println!("{}", serde_json::to_string_pretty(&config.effective()).unwrap_or_default());
                eprintln!("inverting-proxy: {}: the config is valid", args.config.display());
                std::process::exit(0);
            }
            Err(e) => exit(&e),
        }
    }
    tunnel::ops::init_logging(args.log_format, args.verbose).unwrap_or_else(|e| exit(&e));
    let (config, tls) = load(&args.config).unwrap_or_else(|e| exit(&e));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| exit(&e.to_string()));
    if tls.is_none() {
        tracing::warn!("agents connect without TLS: use this only inside a trusted network");
    }
    rt.block_on(async move {
        // Request ids carry a boot id drawn from the OS: a restarted proxy does not repeat them.
        let boot_id = OsSeededRng::new().next_u64() as u32;
        let in_use = std::sync::Arc::new(std::sync::Mutex::new(certificates(&config)));
        let shown = in_use.clone();
        let extra_metrics: tunnel::metrics::ExtraMetrics =
            std::sync::Arc::new(move || tunnel::ops::process_metrics(started) + &shown.lock().map(|s| s.clone()).unwrap_or_default());
        let options = tunnel::proxy::Options { agent_tls: tls, emf: args.emf, boot_id, extra_metrics: Some(extra_metrics) };
        let proxy = tunnel::Proxy::with_options(config, TokioEnv, options);
        let env = TokioEnv;
        let bind = |addr| async move { env.bind(addr).await.unwrap_or_else(|e| exit(&format!("bind {addr}: {e}"))) };
        let (clients, agents, admin) = (bind(args.listen).await, bind(args.agents).await, bind(args.admin).await);
        tracing::info!(clients = %args.listen, agents = %args.agents, admin = %args.admin, version = env!("CARGO_PKG_VERSION"), revision = tunnel::metrics::REVISION, "inverting-proxy started");
        // Each listener stops when `stop` says so (after the drain).
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let shutdown = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        tokio::spawn(proxy.clone().accept_agents_until(agents, shutdown()));
        tokio::spawn(proxy.clone().serve_admin_until(admin, shutdown()));
        // Clients wait in the listen queue until the agents are in (or the start grace ends).
        let starting = proxy.clone();
        let serving = shutdown();
        let grace = Duration::from_millis(starting.config().start_grace_ms);
        tokio::spawn(async move {
            if !starting.agents_or_grace(grace).await {
                tracing::warn!(?grace, "serving clients without every backend's agents: the start grace has passed");
            }
            starting.serve_clients_until(clients, serving).await;
        });
        // SIGHUP: read the config again; an invalid one is refused and the one in use kept.
        // SIGTERM or Ctrl-C: drain (not ready for `drain_grace_ms`, then up to
        // `drain_timeout_ms` for requests in hand).
        // With --watch-ms, a change to a watched file reloads too.
        let mut heard = tunnel::ops::Signals::new(args.watch_ms, watched(&args.config, &proxy.config())).unwrap_or_else(|e| exit(&e.to_string()));
        while heard.next(|| watched(&args.config, &proxy.config())).await == tunnel::ops::Signalled::Reload {
            match load(&args.config) {
                Ok((config, tls)) => {
                    if tls.is_none() {
                        tracing::warn!("agents connect without TLS: use this only inside a trusted network");
                    }
                    if let Ok(mut shown) = in_use.lock() {
                        *shown = certificates(&config);
                    }
                    heard.reloaded(watched(&args.config, &config));
                    proxy.reload(config, tls);
                }
                Err(e) => proxy.reload_refused(&e),
            }
        }
        let config = proxy.config();
        let left = proxy.drain(Duration::from_millis(config.drain_grace_ms), Duration::from_millis(config.drain_timeout_ms)).await;
        let _ = stop.send(true);
        tracing::info!(unfinished = left, "stopped");
        // Exit now: nothing is left to wait for.
        std::process::exit(0);
    });
}

fn exit(msg: &str) -> ! {
    eprintln!("inverting-proxy: {msg}");
    std::process::exit(EXIT_BAD_CONFIG)
}
