//! The inverting proxy: `inverting-proxy --config proxy.json --listen 0.0.0.0:8080 --agents 0.0.0.0:8443 --admin 0.0.0.0:9090`.

use std::net::SocketAddr;

use azsim_net::Listen;
use azsim_net::tokio_impl::TokioEnv;
use clap::Parser;

/// Serves clients through agents that dial in.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Log at debug level (default: info).
    #[arg(long, short)]
    verbose: bool,
    /// The JSON config: agents (token, backends), routes, default_backend, backends, limits.
    #[arg(long)]
    config: std::path::PathBuf,
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
}

fn main() {
    let args = Args::parse();
    let level = if args.verbose { tracing::Level::DEBUG } else { tracing::Level::INFO };
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(level).with_target(false).init();
    let text = std::fs::read_to_string(&args.config).unwrap_or_else(|e| exit(&format!("{}: {e}", args.config.display())));
    let config = tunnel::ProxyConfig::from_json(&text).unwrap_or_else(|e| exit(&format!("{}: {e}", args.config.display())));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| exit(&e.to_string()));
    let tls = config.tls.as_ref().map(|t| t.acceptor()).transpose().unwrap_or_else(|e| exit(&format!("tls: {e}")));
    if tls.is_none() {
        tracing::warn!("agents connect without TLS: use this only inside a trusted network");
    }
    rt.block_on(async move {
        let proxy = tunnel::Proxy::with_options(config, TokioEnv, tunnel::proxy::Options { agent_tls: tls, emf: args.emf });
        let env = TokioEnv;
        let bind = |addr| async move { env.bind(addr).await.unwrap_or_else(|e| exit(&format!("bind {addr}: {e}"))) };
        let (clients, agents, admin) = (bind(args.listen).await, bind(args.agents).await, bind(args.admin).await);
        eprintln!("inverting-proxy: clients on {}, agents on {}, admin on {}", args.listen, args.agents, args.admin);
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
        tokio::spawn(proxy.clone().serve_clients_until(clients, shutdown()));
        // SIGTERM or Ctrl-C: drain (not ready for 10 s, then up to 30 s for requests in hand).
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap_or_else(|e| exit(&e.to_string()));
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let left = proxy.drain(std::time::Duration::from_secs(10), std::time::Duration::from_secs(30)).await;
        let _ = stop.send(true);
        tracing::info!(unfinished = left, "stopped");
    });
}

fn exit(msg: &str) -> ! {
    eprintln!("inverting-proxy: {msg}");
    std::process::exit(2)
}
