//! The forwarding agent: `forwarding-agent --config agent.json` (id, token, backends, proxies).

use std::net::SocketAddr;
use std::sync::Arc;

use azsim_net::Listen;
use azsim_net::tokio_impl::{OsSeededRng, TokioEnv};
use clap::Parser;
use tunnel::agent::{AgentStats, Settings};
use tunnel::ops::{EXIT_BAD_CONFIG, LogFormat};

/// Dials out to every proxy and serves its backends' requests.
#[derive(Parser, Debug)]
#[command(name = "forwarding-agent", about)]
struct Args {
    /// Log at debug level (default: info; `RUST_LOG` overrides both).
    #[arg(long, short)]
    verbose: bool,
    /// Log lines as text or as JSON objects.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// The JSON config: id, token, backends (id -> local address), proxies (addresses). Read
    /// again on SIGHUP.
    #[arg(long)]
    config: std::path::PathBuf,
    /// Check the config (and its TLS files and token file), print it with every default filled
    /// in, and exit: 0 if it can be used, 2 if not.
    #[arg(long)]
    check: bool,
    /// Overrides the config's token (visible in `ps`: prefer `token_file` or `TUNNEL_TOKEN`).
    #[arg(long)]
    token: Option<String>,
    /// `/ready` (a proxy session is up) and `/metrics`, if given.
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// Also reload when the config, the token file or a TLS file changes (modification time
    /// or size), looking this often, in milliseconds (0: only on SIGHUP). Replace files by
    /// renaming a complete new one over them.
    #[arg(long, default_value_t = 0)]
    watch_ms: u64,
}

/// The config file and the TLS it asks for, or why they cannot be used.
fn load(args: &Args) -> Result<Settings, String> {
    let path = &args.config;
    let token = args.token.clone().or_else(|| std::env::var("TUNNEL_TOKEN").ok());
    let mut config = tunnel::AgentConfig::load(path, token).map_err(|e| format!("{}: {e}", path.display()))?;
    let tls = config.tls.as_ref().map(|t| t.connector()).transpose().map_err(|e| format!("{}: `tls`: {e}", path.display()))?;
    // Credentials for each Cloud Map use that calls AWS itself.
    let apis = config.cloud_map.iter_mut().map(|r| (&mut r.api, "cloud_map")).chain(config.proxy_discovery.iter_mut().map(|d| (&mut d.api, "proxy_discovery")));
    for (api, what) in apis {
        if let Some(aws) = &api.aws {
            let session = tunnel::cloudmap::AwsSession::load(aws, |k| std::env::var(k).ok(), unix_now).map_err(|e| format!("{what}.aws: {e}"))?;
            api.session = Some(Arc::new(session));
        }
    }
    Ok(Settings { config, tls })
}

/// The expiry metrics of the certificates `config` uses.
fn certificates(config: &tunnel::AgentConfig) -> String {
    let files: Vec<(&str, &std::path::Path)> =
        config.tls.iter().flat_map(|t| [("ca", Some(t.ca.as_path())), ("client", t.cert.as_deref())]).filter_map(|(r, f)| Some((r, f?))).collect();
    tunnel::ops::certificate_metrics(&files)
}

/// What a watch looks at: the config file, its token file and its TLS files.
fn watched(path: &std::path::Path, config: &tunnel::AgentConfig) -> tunnel::ops::Fingerprint {
    let mut files = vec![path];
    files.extend(config.token_file.as_deref());
    files.extend(config.tls.iter().flat_map(|t| [Some(t.ca.as_path()), t.cert.as_deref(), t.key.as_deref()]).flatten());
    tunnel::ops::fingerprint(&files)
}

fn main() {
    let started = tunnel::ops::unix_now_seconds();
    let args: Args = tunnel::ops::parse_args();
    if args.check {
        match load(&args) {
            Ok(s) => {
                println!("{}", serde_json::to_string_pretty(&s.config.effective()).unwrap_or_default());
                eprintln!("forwarding-agent: {}: the config is valid", args.config.display());
                std::process::exit(0);
            }
            Err(e) => exit(&e),
        }
    }
    tunnel::ops::init_logging(args.log_format, args.verbose).unwrap_or_else(|e| exit(&e));
    let settings = load(&args).unwrap_or_else(|e| exit(&e));
    let c = &settings.config;
    tracing::info!(id = %c.id, backends = ?c.backends, proxies = ?c.proxies, version = env!("CARGO_PKG_VERSION"), revision = tunnel::metrics::REVISION, "forwarding-agent started");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| exit(&e.to_string()));
    rt.block_on(async move {
        let stats = Arc::new(AgentStats::default());
        let in_use = Arc::new(std::sync::Mutex::new(certificates(&settings.config)));
        if let Some(addr) = args.admin {
            let listener = TokioEnv.bind(addr).await.unwrap_or_else(|e| exit(&format!("bind {addr}: {e}")));
            let shown = in_use.clone();
            let extra: tunnel::metrics::ExtraMetrics =
                Arc::new(move || tunnel::ops::process_metrics(started) + &shown.lock().map(|s| s.clone()).unwrap_or_default());
            tokio::spawn(tunnel::agent::serve_admin_until(listener, TokioEnv, stats.clone(), Some(extra), std::future::pending::<()>()));
        }
        let (update, live) = tokio::sync::watch::channel(settings);
        // SIGHUP: read the config (and the token file) again; an invalid one is refused and the
        // one in use kept. Ctrl-C or SIGTERM: close the sessions and deregister from Cloud Map.
        // With --watch-ms, a change to a watched file reloads too.
        let mut heard = tunnel::ops::Signals::new(args.watch_ms, watched(&args.config, &update.borrow().config)).unwrap_or_else(|e| exit(&e.to_string()));
        let signals = async {
            while heard.next(|| watched(&args.config, &update.borrow().config)).await == tunnel::ops::Signalled::Reload {
                match load(&args) {
                    Ok(s) => {
                        tracing::info!("config reloaded: replacing the proxy sessions");
                        if let Ok(mut shown) = in_use.lock() {
                            *shown = certificates(&s.config);
                        }
                        heard.reloaded(watched(&args.config, &s.config));
                        let _ = update.send(s);
                    }
                    Err(e) => tracing::error!(error = %e, "reload refused: keeping the config in use"),
                }
            }
        };
        tunnel::agent::run_live(live, TokioEnv, Box::new(OsSeededRng::new()), stats, signals).await;
    });
    std::process::exit(0);
}

/// The wall clock SigV4 signs with (AWS rejects a signature more than 5 minutes off). Only
/// this binary reads it; in the simulation the agent never calls AWS.
#[allow(clippy::disallowed_methods)]
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) // determinism: ok: the shipped binary signing for AWS
}

fn exit(msg: &str) -> ! {
    eprintln!("forwarding-agent: {msg}");
    std::process::exit(EXIT_BAD_CONFIG)
}
