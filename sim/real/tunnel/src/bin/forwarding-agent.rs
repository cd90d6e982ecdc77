//! The forwarding agent: `forwarding-agent --config agent.json` (id, token, backends, proxies).

use azsim_net::tokio_impl::{OsSeededRng, TokioEnv};
use clap::Parser;

/// Dials out to every proxy and serves its backends' requests.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Log at debug level (default: info).
    #[arg(long, short)]
    verbose: bool,
    /// The JSON config: id, token, backends (id -> local address), proxies (addresses).
    #[arg(long)]
    config: std::path::PathBuf,
    /// Overrides the config's token; `TUNNEL_TOKEN` in the environment does too (a secret).
    #[arg(long)]
    token: Option<String>,
}

fn main() {
    let args = Args::parse();
    let level = if args.verbose { tracing::Level::DEBUG } else { tracing::Level::INFO };
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(level).with_target(false).init();
    let text = std::fs::read_to_string(&args.config).unwrap_or_else(|e| exit(&format!("{}: {e}", args.config.display())));
    let mut config: tunnel::AgentConfig = serde_json::from_str(&text).unwrap_or_else(|e| exit(&format!("{}: {e}", args.config.display())));
    if let Some(t) = args.token.or_else(|| std::env::var("TUNNEL_TOKEN").ok()) {
        config.token = t;
    }
    // Checked with the token that will be used.
    config.validate().unwrap_or_else(|e| exit(&format!("{}: {e}", args.config.display())));
    // Credentials for each Cloud Map use that calls AWS itself.
    let apis = config.cloud_map.iter_mut().map(|r| (&mut r.api, "cloud_map")).chain(config.proxy_discovery.iter_mut().map(|d| (&mut d.api, "proxy_discovery")));
    for (api, what) in apis {
        if let Some(aws) = &api.aws {
            let session = tunnel::cloudmap::AwsSession::load(aws, |k| std::env::var(k).ok(), unix_now).unwrap_or_else(|e| exit(&format!("{what}.aws: {e}")));
            api.session = Some(std::sync::Arc::new(session));
        }
    }
    eprintln!("forwarding-agent {}: backends {:?}, proxies {:?}", config.id, config.backends, config.proxies);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| exit(&e.to_string()));
    let tls = config.tls.as_ref().map(|t| t.connector()).transpose().unwrap_or_else(|e| exit(&format!("tls: {e}")));
    // Ctrl-C or SIGTERM: close the sessions and deregister from Cloud Map.
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("a SIGTERM handler");
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    rt.block_on(tunnel::agent::run_until(config, TokioEnv, Box::new(OsSeededRng::new()), tls, shutdown));
}

/// The wall clock SigV4 signs with (AWS rejects a signature more than 5 minutes off). Only
/// this binary reads it; in the simulation the agent never calls AWS.
#[allow(clippy::disallowed_methods)]
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) // determinism: ok: the shipped binary signing for AWS
}

fn exit(msg: &str) -> ! {
    eprintln!("forwarding-agent: {msg}");
    std::process::exit(2)
}
