//! What the shipped binaries share around the data path: logging (text or JSON lines, levels
//! from `RUST_LOG`) and the exit codes of `--check`. None of it runs in the simulation.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line: `ts`, `level`, `target`, `message` and the event's fields.
    Json,
}

/// Installs the process's logger on stderr. Levels come from `RUST_LOG` (`info`,
/// `debug`, `warn,access=off`, `tunnel=debug`: a default level and `target=level` pairs, the
/// access log's target being `access`); without it, `info`, or `debug` with `verbose`. A
/// `RUST_LOG` that cannot be parsed is an error naming it.
pub fn init_logging(format: LogFormat, verbose: bool) -> Result<(), String> {
    let targets: tracing_subscriber::filter::Targets = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => spec.parse().map_err(|e| format!("RUST_LOG={spec:?}: {e}"))?,
        _ => {
            let level = if verbose { tracing::Level::DEBUG } else { tracing::Level::INFO };
            tracing_subscriber::filter::Targets::new().with_default(level)
        }
    };
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(tracing::Level::TRACE);
    match format {
        LogFormat::Text => builder.with_target(false).finish().with(targets).try_init(),
        LogFormat::Json => builder.event_format(JsonLines).finish().with(targets).try_init(),
    }
    .map_err(|e| e.to_string())
}

/// One JSON object per event.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &tracing::Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields(serde_json::Map::new());
        fields.0.insert("ts".into(), rfc3339_now().into());
        fields.0.insert("level".into(), meta.level().as_str().into());
        // The access log keeps its target; the rest of the crate's events are the program's.
        let target = if meta.target() == "access" { "access" } else { meta.target() };
        fields.0.insert("target".into(), target.into());
        event.record(&mut fields);
        writeln!(writer, "{}", serde_json::Value::Object(fields.0))
    }
}

struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, serde_json::Value::Number));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

/// The wall clock as `2026-12-06T14:05:09.123Z`. Only the binaries' logger reads it.
#[allow(clippy::disallowed_methods)]
fn rfc3339_now() -> String {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default(); // determinism: ok: log timestamps of the shipped binaries
    let secs = since.as_secs();
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let (year, month, day) = aws_json::sigv4::civil_date(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rest / 3600, rest / 60 % 60, rest % 60, since.subsec_millis())
}

/// The exit code of `--check` for a config that cannot be used (as for any bad start).
pub const EXIT_BAD_CONFIG: i32 = 2;

/// What `--version` prints after the program's name: the crate's version and the git revision
/// the build was given (`TUNNEL_GIT_REVISION=$(git rev-parse --short HEAD)` at compile time).
pub fn version() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(|| format!("{} (revision {})", env!("CARGO_PKG_VERSION"), crate::metrics::REVISION))
}

/// Parses the command line of `A`, its `--version` saying [`version`].
pub fn parse_args<A: clap::Parser>() -> A {
    let matches = A::command().version(version()).get_matches();
    A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The process's metrics as Prometheus text, from `/proc/self` (Linux; nothing elsewhere):
/// resident memory, CPU time (in clock ticks of 1/100 s, Linux's `USER_HZ`), open and maximum
/// file descriptors, and the start time the binary noted (`start_unix`, seconds).
pub fn process_metrics(start_unix: f64) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(v) = value {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"));
        }
    };
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let rss_kib = status
        .as_deref()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    gauge("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss_kib.map(|k| k * 1024.0));
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let ticks = stat.as_deref().and_then(|s| s.rsplit_once(')')).and_then(|(_, rest)| {
        let f: Vec<&str> = rest.split_whitespace().collect();
        Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
    });
    gauge("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.", ticks.map(|t| t / 100.0));
    let open = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64);
    gauge("process_open_fds", "gauge", "Open file descriptors.", open);
    let limits = std::fs::read_to_string("/proc/self/limits").ok();
    let max =
        limits.as_deref().and_then(|s| s.lines().find(|l| l.starts_with("Max open files"))).and_then(|l| l.split_whitespace().nth(3)?.parse::<f64>().ok());
    gauge("process_max_fds", "gauge", "The limit of open file descriptors.", max);
    gauge("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.", Some(start_unix));
    out
}

/// Seconds since the Unix epoch now, for `process_start_time_seconds`.
#[allow(clippy::disallowed_methods)]
pub fn unix_now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()) // determinism: ok: the shipped binaries' start time
}

/// `tunnel_tls_certificate_expiry_timestamp_seconds` for each `(role, file)`: when the first
/// certificate of the PEM file expires. Files that cannot be read are left out.
pub fn certificate_metrics(files: &[(&str, &std::path::Path)]) -> String {
    let name = "tunnel_tls_certificate_expiry_timestamp_seconds";
    let mut out = format!("# HELP {name} When a certificate in use expires (its notAfter), seconds since the Unix epoch.\n# TYPE {name} gauge\n");
    for (role, file) in files {
        if let Some(t) = std::fs::read(file).ok().and_then(|pem| crate::tls::not_after(&pem)) {
            let file = file.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str(&format!("{name}{{certificate=\"{role}\",file=\"{file}\"}} {t}\n"));
        }
    }
    out
}

/// What a watch compares between two looks at some files: each one's modification time and
/// length (`None` for a file that cannot be read).
// determinism: ok — file modification times, compared only for equality by the shipped
// binaries' `--watch-ms` reload; the simulation never watches files.
pub type Fingerprint = Vec<Option<(std::time::SystemTime, u64)>>;

/// What a binary waits for between reloads: Ctrl-C or SIGTERM (stop), SIGHUP (reload), and,
/// with `--watch-ms`, a change to one of the files it reads (reload).
pub struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    watch: Option<std::time::Duration>,
    seen: Fingerprint,
}

/// What [`Signals::next`] heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signalled {
    Stop,
    Reload,
}

impl Signals {
    /// Listens for the signals; `watch_ms` (0: off) polls the files whose fingerprint is
    /// `seen` now.
    pub fn new(watch_ms: u64, seen: Fingerprint) -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = (watch_ms > 0).then(|| std::time::Duration::from_millis(watch_ms));
        Ok(Signals { term: signal(SignalKind::terminate())?, hup: signal(SignalKind::hangup())?, watch, seen })
    }

    /// Waits for a stop or a reload; `now` fingerprints the watched files as they are now.
    pub async fn next(&mut self, now: impl Fn() -> Fingerprint) -> Signalled {
        loop {
            let watch = self.watch;
            let tick = async {
                match watch {
                    Some(every) => tokio::time::sleep(every).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => return Signalled::Stop,
                _ = self.term.recv() => return Signalled::Stop,
                _ = self.hup.recv() => return Signalled::Reload,
                _ = tick => {
                    let now = now();
                    if now != self.seen {
                        tracing::info!("a watched file changed: reloading");
                        self.seen = now;
                        return Signalled::Reload;
                    }
                }
            }
        }
    }

    /// A reload took a new config, whose files are fingerprinted `seen`.
    pub fn reloaded(&mut self, seen: Fingerprint) {
        self.seen = seen;
    }
}

/// The [`Fingerprint`] of `paths` now.
pub fn fingerprint(paths: &[&std::path::Path]) -> Fingerprint {
    paths.iter().map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect()
}
