//! The Cloud Map endpoint against a client nobody here wrote: boto3's `servicediscovery` client
//! (`sim/fakes/tests/sdk/cloudmap_boto3.py`). botocore validates requests and parses answers
//! against AWS's service model, so a wire-shape mistake in the fake fails this test.
//!
//! The fake is served on a real loopback socket through the seam's tokio implementation; its
//! clock stands still (every call happens at the same virtual instant, with delays of 0), so
//! the run does not depend on how fast Python is. Where `python3` (or `$PYTHON`) or boto3 is
//! missing the test prints `SKIPPED: <reason>` and passes: `.ci/run` installs boto3 first.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use azsim_fakes::cloudmap::{self, HealthConfig, NamespaceKind, Registry, RoutingPolicy, Settings};
use azsim_kernel::SimRng;
use azsim_net::tokio_impl::TokioEnv;
use azsim_net::{Accept, Listen};

/// DiscoverInstances calls the bucket holds; the script's checks take fewer than this.
const THROTTLE_CAPACITY: u32 = 40;

/// The Python to run: `$PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Why the SDK cannot run here, if it cannot.
fn sdk_missing(python: &str) -> Option<String> {
    match Command::new(python).args(["-c", "import boto3"]).output() {
        Err(e) => Some(format!("`{python}` cannot be run ({e}); set PYTHON or install python3")),
        Ok(out) if !out.status.success() => {
            let why = String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("").to_string();
            Some(format!("`{python}` cannot import boto3 ({why}); `python3 -m pip install boto3` (as .ci/run does)"))
        }
        Ok(_) => None,
    }
}

/// The registry with what the API cannot create: the fake has no CreateHttpNamespace or
/// CreateService, so an HTTP namespace and two services are seeded directly: `backends` (custom
/// health check) and `plain` (none). Returns their IDs.
fn seeded_registry() -> (Registry, [String; 2]) {
    let settings = Settings {
        registration_delay: 0,
        dns_propagation: 0,
        health_change_delay: 0,
        throttle_capacity: f64::from(THROTTLE_CAPACITY),
        throttle_refill_per_s: 0.0,
    };
    let mut registry = Registry::new(settings);
    registry.create_namespace("corp.internal", NamespaceKind::Http).unwrap();
    let backends = registry.create_service("corp.internal", "backends", HealthConfig::Custom, RoutingPolicy::Multivalue, 60).unwrap();
    let plain = registry.create_service("corp.internal", "plain", HealthConfig::None, RoutingPolicy::Multivalue, 60).unwrap();
    (registry, [backends, plain])
}

/// Serves `registry` on 127.0.0.1 from a thread of its own (the script is a blocking child
/// process); returns the address. The thread ends with the test binary.
fn serve_on_loopback(registry: Registry) -> SocketAddr {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = TokioEnv.bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            // Virtual time stands still at 0: the script's calls are ordered, not timed.
            cloudmap::serve(listener, Arc::new(Mutex::new(registry)), Arc::new(|| 0), Arc::new(Mutex::new(SimRng::from_seed(14)))).await;
        });
    });
    addr_rx.recv().unwrap()
}

#[test]
fn cloudmap_sdk_boto3_drives_the_fake_over_loopback() {
    let python = python();
    if let Some(reason) = sdk_missing(&python) {
        println!("SKIPPED: {reason}");
        return;
    }
    let (registry, service_ids) = seeded_registry();
    let addr = serve_on_loopback(registry);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/cloudmap_boto3.py");
    let mut command = Command::new(&python);
    command.arg(script).arg(format!("http://{addr}")).args(&service_ids).arg(THROTTLE_CAPACITY.to_string());
    // The script passes its own region and dummy credentials; nothing from this machine's AWS
    // setup (profiles, retry settings, endpoints) may change what it sends.
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_RETRY_MODE",
        "AWS_MAX_ATTEMPTS",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SERVICEDISCOVERY",
    ] {
        command.env_remove(var);
    }
    command.env("AWS_CONFIG_FILE", "/dev/null").env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null").env("AWS_EC2_METADATA_DISABLED", "true");
    let out = command.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed ({}):\n{stdout}\n{stderr}", out.status);
    print!("{stdout}");
}
