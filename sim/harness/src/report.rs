//! Reports: a Markdown summary (for a PR comment), the JSON record, and a side-by-side
//! comparison of variants. Written to `reports/<scenario>/<variant>/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::record::{ClientRecord, Handshakes, RunRecord};

/// The path on paper's figures, or dashes where there is none (e.g. through a tunnel).
fn on_paper(a: &crate::record::Analytic) -> (String, String, String) {
    if a.path.is_empty() {
        return ("-".into(), "-".into(), "-".into());
    }
    (a.max_az_crossings.to_string(), ms(a.p0_us), ms(a.p50_us))
}

fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1000.0)
}

/// The one-run summary: its sections, in order.
pub fn summary_markdown(r: &RunRecord) -> String {
    let mut s = String::new();
    let sections: [fn(&mut String, &RunRecord); 22] = [
        header,
        requests,
        latency,
        worst_path,
        crossings,
        bytes_and_cost,
        services,
        hops,
        connections,
        clients,
        failures,
        timeline,
        faults,
        task_events,
        received,
        health_changes,
        nat_gateways,
        egress,
        edges,
        api_gateways,
        tunnel,
        expectations,
    ];
    for section in sections {
        section(&mut s, r);
    }
    s
}

/// The title, verdict, description and seed.
fn header(s: &mut String, r: &RunRecord) {
    let verdict = if r.passed { "PASS" } else { "FAIL" };
    let _ = writeln!(s, "# {} / {} — {verdict}\n", r.scenario, r.variant);
    if !r.description.is_empty() {
        let _ = writeln!(s, "{}\n", r.description);
    }
    let _ = writeln!(s, "Seed {} · {} s simulated · {} kernel events\n", r.seed, r.duration_s, r.events);
}

/// Requests sent and how they ended.
fn requests(s: &mut String, r: &RunRecord) {
    let q = &r.requests;
    let _ = writeln!(s, "## Requests\n\n| sent | ok | failed | unknown |\n|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n", q.sent, q.ok, q.failed, q.unknown);
}

/// End-to-end latency of answered requests.
fn latency(s: &mut String, r: &RunRecord) {
    let l = &r.latency_us;
    let _ = writeln!(s, "## Latency (answered requests, end to end)\n\n| p0 | p50 | p90 | p99 | p99.9 | max |\n|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(s, "| {} | {} | {} | {} | {} | {} |\n", ms(l.p0), ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999), ms(l.max));
}

/// The worst-case path on paper and as simulated.
fn worst_path(s: &mut String, r: &RunRecord) {
    let w = &r.worst_path;
    let a = &r.analytic;
    let _ = writeln!(s, "## Worst-case path\n\n| | AZ crossings | p0 | p50 |\n|---|---:|---:|---:|");
    let (crossings, p0, p50) = on_paper(a);
    let _ = writeln!(s, "| on paper (sum of per-hop percentiles) | {crossings} | {p0} | {p50} |");
    let _ = writeln!(s, "| simulated ({} requests took it) | {} | {} | {} |\n", w.requests, w.az_crossings, ms(w.latency_us.p0), ms(w.latency_us.p50));
    if !a.path.is_empty() {
        let _ = writeln!(s, "Path on paper: `{}`\n", a.path.join(" → "));
    } else if let Some(why) = &a.not_computed {
        let _ = writeln!(s, "No path on paper: {why}.\n");
    }
}

/// AZ and Region crossings per request, and hops to and from the internet when there are any.
fn crossings(s: &mut String, r: &RunRecord) {
    let c = &r.crossings;
    let _ = write!(
        s,
        "## Crossings per request\n\n| | max | mean |\n|---|---:|---:|\n| AZ | {} | {} |\n| Region (between AWS Regions) | {} | {} |\n",
        c.az.max, c.az.mean, c.region.max, c.region.mean
    );
    if c.internet.max > 0 {
        let _ = writeln!(s, "| into or out of AWS (internet, on-premises) | {} | {} |", c.internet.max, c.internet.mean);
    }
    s.push('\n');
    let hist: Vec<String> = c.az_histogram.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(s, "Requests by AZ crossings: {}\n", hist.join(", "));
}

/// Bytes on the wire, then what the run cost, by component and by AZ pair.
fn bytes_and_cost(s: &mut String, r: &RunRecord) {
    let b = &r.bytes;
    let _ = writeln!(
        s,
        "## Bytes\n\nOn the wire (TCP/IP headers, ACKs, handshakes), with what the applications wrote (HTTP heads and bodies) beside it; transfer is billed on wire bytes.\n\n| total (wire) | total (payload) | cross-AZ (wire) | cross-AZ (payload) | cross-Region | internet in / out | cross-AZ per request | dropped by faults |\n|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} | {} / {} | {} | {} |\n",
        b.total, b.payload_total, b.cross_az, b.payload_cross_az, b.cross_region, b.internet_in, b.internet_out, b.cross_az_per_request, b.dropped
    );
    cost(s, &r.cost);
}

/// The cost table: each component's lines with quantity and unit price, the total and the
/// cost per million requests, cross-AZ transfer by AZ pair, and what the figures assume.
fn cost(s: &mut String, c: &crate::record::CostRecord) {
    let per_million = c.per_million_requests_usd.map_or("-".to_string(), |v| format!("${v:.4}"));
    let _ = writeln!(s, "## Cost\n\n${:.6} in all; {per_million} per million requests.\n", c.total_usd);
    if !c.lines.is_empty() {
        let _ = writeln!(s, "| component | item | quantity | unit price | cost |\n|---|---|---:|---:|---:|");
        for l in &c.lines {
            let _ = writeln!(s, "| {} | {} | {} {} | ${} | ${:.6} |", l.component, l.item, l.quantity, l.unit, l.unit_usd, l.usd);
        }
        s.push('\n');
    }
    if !c.by_az_pair.is_empty() {
        let _ = writeln!(s, "Cross-AZ transfer by AZ pair (both ends' charges):\n\n| from | to | bytes (wire) | cost |\n|---|---|---:|---:|");
        for p in &c.by_az_pair {
            let _ = writeln!(s, "| {} | {} | {} | ${:.6} |", p.from, p.to, p.bytes, p.usd);
        }
        s.push('\n');
    }
    if !c.defaults.is_empty() {
        let _ = writeln!(
            s,
            "AWS's us-east-1 prices apply (the scenario sets none) for: {}.\n",
            c.defaults.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
        );
    }
    for n in &c.notes {
        let _ = writeln!(s, "- {n}");
    }
    if !c.notes.is_empty() {
        s.push('\n');
    }
}

/// What each service served.
fn services(s: &mut String, r: &RunRecord) {
    if !r.services.is_empty() {
        let _ = writeln!(
            s,
            "## Services\n\n| service | instances | served | by host (fewest to most; hosts that served) | rejected (queue full) | cold starts | forbidden (403) |\n|---|---:|---:|---|---:|---:|---:|"
        );
        for v in &r.services {
            let fewest = v.served_by_host.iter().map(|(_, n)| *n).min().unwrap_or(0);
            let most = v.served_by_host.iter().map(|(_, n)| *n).max().unwrap_or(0);
            let spread = format!("{fewest} to {most} ({})", v.served_by_host.len());
            let instances = match v.tasks_at_start {
                Some(tasks) => format!("{tasks} tasks at the start (on {} hosts ECS may use)", v.instances),
                None => v.instances.to_string(),
            };
            let _ = writeln!(s, "| {} | {instances} | {} | {} | {} | {} | {} |", v.service, v.served, spread, v.rejected, v.cold_starts, v.forbidden);
        }
        let _ = writeln!(s);
    }
}

/// Per-hop network latency and bytes.
fn hops(s: &mut String, r: &RunRecord) {
    if !r.hops.is_empty() {
        let _ = writeln!(
            s,
            "## Hops (one-way network latency)\n\n| from | to | hops | crossing AZs | bytes | dropped | p50 | p99 |\n|---|---|---:|---:|---:|---:|---:|---:|"
        );
        for h in &r.hops {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} % | {} | {} | {} | {} |",
                h.from,
                h.to,
                h.hops,
                h.cross_az_share * 100.0,
                h.bytes,
                h.dropped,
                ms(h.p50_us),
                ms(h.p99_us)
            );
        }
        let _ = writeln!(s);
    }
}

/// Each client's requests, when there are several.
fn clients(s: &mut String, r: &RunRecord) {
    if r.clients.len() > 1 {
        let _ = writeln!(s, "## Clients\n\n| client | sent | ok | failed | p50 | p99 | attempts (retries) |\n|---|---:|---:|---:|---:|---:|---:|");
        for c in &r.clients {
            let attempts = match (c.attempts, c.retries) {
                (Some(a), Some(r)) => format!("{a} ({r})"),
                _ => "-".to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {attempts} |",
                c.client,
                c.requests.sent,
                c.requests.ok,
                c.requests.failed,
                answered(c, c.latency_us.p50),
                answered(c, c.latency_us.p99)
            );
        }
        let _ = writeln!(s);
    }
}

/// A client's latency figure, or `-` when none of its requests was answered (the
/// percentiles of nothing are not 0 ms).
fn answered(c: &ClientRecord, us: f64) -> String {
    if c.requests.ok == 0 { "-".to_string() } else { ms(us) }
}

/// Failed requests by how each client saw them end, and how long they took to fail.
fn failures(s: &mut String, r: &RunRecord) {
    if r.clients.iter().all(|c| c.failures.is_empty()) {
        return;
    }
    let _ = writeln!(
        s,
        "## Failures as the clients saw them\n\nEach failed request by how its client saw it end (its own timeout, a status, a refused or reset connection), and how long it took to fail; what the components counted on their side is in their own tables.\n\n| client | cause | requests | p50 time to fail | max |\n|---|---|---:|---:|---:|"
    );
    for c in &r.clients {
        for f in &c.failures {
            let _ = writeln!(s, "| {} | {} | {} | {} | {} |", c.client, f.cause, f.requests, ms(f.latency_us.p50), ms(f.latency_us.max));
        }
    }
    let _ = writeln!(s);
}

/// Windows whose success ratio dipped.
fn timeline(s: &mut String, r: &RunRecord) {
    let dips: Vec<String> = r.timeline.iter().filter(|t| t.success_ratio < 1.0).map(|t| format!("{}s: {:.3}", t.start_s, t.success_ratio)).collect();
    if !dips.is_empty() {
        let _ = writeln!(s, "## Success ratio below 1 (by start window)\n\n{}\n", dips.join(" · "));
    }
}

/// Each fault and what it cost.
fn faults(s: &mut String, r: &RunRecord) {
    if !r.faults.is_empty() {
        let _ = writeln!(
            s,
            "## Faults\n\n| fault | from | until | requests failed | last failure after | recovered | discovery returned it until |\n|---|---:|---:|---:|---:|---|---:|"
        );
        for f in &r.faults {
            let until = f.until_s.map_or("end".to_string(), |u| format!("{u}s"));
            let last = f.last_failure_after_s.map_or("-".to_string(), |t| format!("{t:.3}s"));
            let stale = f.discovery_stale_s.map_or("-".to_string(), |t| format!("+{t:.3}s"));
            let _ = writeln!(s, "| {} | {}s | {until} | {} | {last} | {} | {stale} |", f.fault, f.at_s, f.failed, if f.recovered { "yes" } else { "no" });
        }
        let _ = writeln!(s);
        for f in r.faults.iter().filter(|f| f.recovery_chain.len() > 2) {
            let _ = writeln!(s, "Why failures after `{}` ended when they did:\n", f.fault);
            for e in &f.recovery_chain {
                let _ = writeln!(s, "- +{:.3}s {}", e.after_s, e.what);
            }
            let _ = writeln!(s);
        }
    }
}

/// What ECS did to each task.
fn task_events(s: &mut String, r: &RunRecord) {
    if !r.task_events.is_empty() {
        let _ = writeln!(s, "## ECS task events\n\n| at | service | task | host | event |\n|---:|---|---:|---|---|");
        for e in &r.task_events {
            let _ = writeln!(s, "| {:.3}s | {} | {} | {} | {} |", e.at_s, e.service, e.task, e.host, e.event);
        }
        let _ = writeln!(s);
    }
}

/// What backends received (method, Host, path).
fn received(s: &mut String, r: &RunRecord) {
    // What backends received, where an API Gateway sits in front (its mappings and integration
    // URIs change the path and `Host`) or a hop set the `Host`.
    for svc in r.services.iter().filter(|s| !r.api_gateways.is_empty() || s.received.iter().any(|x| !x.host.is_empty())) {
        let _ = writeln!(s, "## What `{}` received\n\n| method | Host | path | requests |\n|---|---|---|---:|", svc.service);
        for x in &svc.received {
            let _ = writeln!(s, "| {} | {} | {} | {} |", x.method, x.host, x.path, x.count);
        }
        let _ = writeln!(s);
    }
}

/// Route 53's health changes.
fn health_changes(s: &mut String, r: &RunRecord) {
    if !r.health_changes.is_empty() {
        let _ = writeln!(s, "## Route 53 health changes\n\n| check | became | checkers' verdict at | name servers answer from |\n|---|---|---:|---:|");
        for c in &r.health_changes {
            let _ = writeln!(s, "| {} | {} | {:.3}s | {:.3}s |", c.check, if c.healthy { "healthy" } else { "unhealthy" }, c.at_s, c.published_s);
        }
        let _ = writeln!(s);
    }
}

/// Callers' connections, NLBs' flows, and what slow start cost services' answers.
fn connections(s: &mut String, r: &RunRecord) {
    if !r.connections.is_empty() {
        let _ = writeln!(
            s,
            "## Connections

| caller | opened (handshake) | reused | closed idle by the caller | closed idle by the server | closed after answer | recycled (max requests) | reset | SYNs retransmitted | connect timeouts |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for c in &r.connections {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.caller,
                c.opened,
                c.reused,
                c.closed_idle_by_caller,
                c.closed_idle_by_server,
                c.closed_after_response,
                c.recycled,
                c.reset,
                c.syn_retransmits,
                c.connect_timeouts
            );
        }
        let _ = writeln!(s);
    }
    let paid: Vec<(&ClientRecord, &Handshakes)> = r.clients.iter().filter_map(|c| Some((c, c.handshakes.as_ref()?))).collect();
    if !paid.is_empty() {
        let _ = writeln!(
            s,
            "## Requests that waited for a handshake\n\nA connection opened for the request on its way (by the client, or by a hop with no idle connection to its next one), against requests that went on open connections all the way; latency of answered requests.\n\n| client | waited | share | p50 waited | p50 on open connections | p99 waited | p99 on open connections |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        for (c, h) in paid {
            // Every request waited: there is nothing to compare with.
            let open = |v: f64| if h.paid < c.requests.sent { ms(v) } else { "-".to_string() };
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} % | {} | {} | {} | {} |",
                c.client,
                h.paid,
                h.share * 100.0,
                ms(h.paid_latency_us.p50),
                open(h.open_latency_us.p50),
                ms(h.paid_latency_us.p99),
                open(h.open_latency_us.p99)
            );
        }
        let _ = writeln!(s);
    }
    if !r.nlb_flows.is_empty() {
        let _ = writeln!(
            s,
            "## NLB flows\n\n| load balancer | flows | SYNs dropped (no target) | forgotten idle | RST (unknown flow) |\n|---|---:|---:|---:|---:|"
        );
        for f in &r.nlb_flows {
            let _ = writeln!(s, "| {} | {} | {} | {} | {} |", f.load_balancer, f.flows, f.syns_dropped, f.idle_expired, f.resets);
        }
        let _ = writeln!(s);
    }
    if !r.slow_start.is_empty() {
        let _ = writeln!(s, "## Slow start (answers on connections)\n\n| answers from | answers | more than one flight | extra wait |\n|---|---:|---:|---:|");
        for a in &r.slow_start {
            let _ = writeln!(s, "| {} | {} | {} | {:.3} ms |", a.service, a.answers, a.multi_flight, a.extra_wait_ms);
        }
        let _ = writeln!(s);
    }
}

/// NAT gateways' traffic, refusals and resets.
fn nat_gateways(s: &mut String, r: &RunRecord) {
    if !r.nat_gateways.is_empty() {
        let _ = writeln!(s, "## NAT gateways\n\n| NAT | Elastic IP | bytes processed | refused (no port) | RST after 350 s idle |\n|---|---|---:|---:|---:|");
        for n in &r.nat_gateways {
            let _ = writeln!(s, "| {} | {} | {} | {} | {} |", n.nat, n.elastic_ip, n.bytes, n.port_exhausted, n.idle_resets);
        }
        let _ = writeln!(s);
    }
}

/// Egress proxies' counts.
fn egress(s: &mut String, r: &RunRecord) {
    for e in &r.egress {
        let _ = writeln!(
            s,
            "## Egress proxies `{}`\n\n| forwarded | refused: no valid secret (403) | destination timeouts (504) | reset by the NAT (503) |\n|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n",
            e.service, e.forwarded, e.rejected, e.timeouts, e.resets
        );
    }
}

/// CloudFront's counts.
fn edges(s: &mut String, r: &RunRecord) {
    for e in &r.edges {
        let _ = writeln!(
            s,
            "## CloudFront `{}`\n\n| blocked by WAF (403) | origin response timeouts | failed connection attempts | attempts tried again | sent to the secondary origin | origin name resolved to nothing |\n|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} |\n",
            e.distribution, e.blocked, e.timeouts, e.connect_failures, e.retries, e.failed_over, e.no_origin
        );
    }
}

/// API Gateway's answers.
fn api_gateways(s: &mut String, r: &RunRecord) {
    for a in &r.api_gateways {
        let statuses = a.statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            s,
            "## API `{}`\n\n| answers by status | throttled (429) | no valid token (401) | missing scope (403) | CORS preflights | integration timeouts |\n|---|---:|---:|---:|---:|---:|\n| {statuses} | {} | {} | {} | {} | {} |\n",
            a.api, a.throttled, a.unauthorized, a.forbidden, a.preflights, a.timeouts
        );
        if !a.challenges.is_empty() {
            let _ = writeln!(s, "| 401 answers with `www-authenticate` | count |\n|---|---:|");
            for (h, n) in &a.challenges {
                let _ = writeln!(s, "| `{h}` | {n} |");
            }
            let _ = writeln!(s);
        }
    }
}

/// The tunnel's counts.
fn tunnel(s: &mut String, r: &RunRecord) {
    if let Some(t) = &r.tunnel {
        let _ = writeln!(
            s,
            "## Tunnel\n\n| executed by the backend | executed twice | sent to a proxy with no agent (503) | unanswered | inbound connections dropped by the site's firewall |\n|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} |\n",
            t.executed, t.executed_twice, t.sent_to_proxy_without_agent, t.unanswered, t.firewall_drops
        );
    }
}

/// Each expectation's verdict.
fn expectations(s: &mut String, r: &RunRecord) {
    let _ = writeln!(s, "## Expectations\n\n| | expectation | expected | actual |\n|---|---|---|---|");
    for e in &r.expectations {
        let _ = writeln!(s, "| {} | {} | {} | {} |", if e.passed { "✅" } else { "❌" }, e.name, e.expected, e.actual);
    }
    if r.expectations.is_empty() {
        let _ = writeln!(s, "| | (none) | | |");
    }
}

/// The variants side by side, one row each. A column that has nothing to say for any variant
/// (no faults, no failed expectation, no path on paper) is left out; the change in cross-AZ
/// bytes per request is against the first variant run, and its header says so.
pub fn comparison_markdown(records: &[RunRecord]) -> String {
    let mut s = String::new();
    let Some(first) = records.first() else { return s };
    let _ = writeln!(s, "# {} — variants compared\n", first.scenario);
    let columns = comparison_columns(first);
    // A column stays if some variant has something to say in it.
    let kept: Vec<&Column> = columns.iter().filter(|c| records.iter().any(|r| (c.has)(r))).collect();
    let _ = writeln!(s, "| {} |", kept.iter().map(|c| c.header.as_str()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(s, "|{}|", kept.iter().map(|c| if c.right { "---:" } else { "---" }).collect::<Vec<_>>().join("|"));
    for r in records {
        let _ = writeln!(s, "| {} |", kept.iter().map(|c| (c.cell)(r)).collect::<Vec<_>>().join(" | "));
    }
    s
}

/// A column of the comparison: its header, whether it aligns right, its cell, and whether a
/// variant has anything to say in it.
struct Column {
    header: String,
    right: bool,
    cell: Box<dyn Fn(&RunRecord) -> String>,
    has: Box<dyn Fn(&RunRecord) -> bool>,
}

fn column(header: impl Into<String>, right: bool, cell: impl Fn(&RunRecord) -> String + 'static, has: impl Fn(&RunRecord) -> bool + 'static) -> Column {
    Column { header: header.into(), right, cell: Box::new(cell), has: Box::new(has) }
}

fn always(_: &RunRecord) -> bool {
    true
}

/// How long the slowest fault took to recover from: from its start to the start of its last
/// failed request, or "not recovered".
fn recovery(r: &RunRecord) -> String {
    if r.faults.iter().any(|f| !f.recovered && f.last_failure_after_s.is_some()) {
        return "not recovered".to_string();
    }
    match r.faults.iter().filter_map(|f| f.last_failure_after_s).reduce(f64::max) {
        Some(t) => format!("{t:.3} s"),
        None => "no failures".to_string(),
    }
}

fn comparison_columns(first: &RunRecord) -> Vec<Column> {
    let base = first.bytes.cross_az_per_request;
    vec![
        column("variant", false, |r| r.variant.clone(), always),
        column("verdict", false, |r| if r.passed { "PASS".into() } else { "FAIL".into() }, always),
        column("ok/sent", true, |r| format!("{}/{}", r.requests.ok, r.requests.sent), always),
        column("failed or unanswered", true, |r| (r.requests.failed + r.requests.unknown).to_string(), |r| r.requests.failed + r.requests.unknown > 0),
        column("recovery (slowest fault: start to last failure)", true, recovery, |r| !r.faults.is_empty()),
        column(
            "failed expectations",
            false,
            |r| r.expectations.iter().filter(|e| !e.passed).map(|e| e.name.clone()).collect::<Vec<_>>().join("; "),
            |r| !r.passed,
        ),
        column("p50", true, |r| ms(r.latency_us.p50), always),
        column("p99", true, |r| ms(r.latency_us.p99), always),
        column("worst path: AZ crossings", true, |r| r.worst_path.az_crossings.to_string(), always),
        column("worst path p50", true, |r| ms(r.worst_path.latency_us.p50), always),
        column(
            "on paper: crossings, p0, p50",
            false,
            |r| match (&r.analytic.not_computed, on_paper(&r.analytic)) {
                (Some(why), _) if r.analytic.path.is_empty() => format!("- ({why})"),
                (_, (crossings, p0, p50)) => format!("{crossings}, {p0}, {p50}"),
            },
            |r| !r.analytic.path.is_empty(),
        ),
        column("mean AZ crossings", true, |r| r.crossings.az.mean.to_string(), always),
        column("cross-AZ bytes/request", true, |r| r.bytes.cross_az_per_request.to_string(), always),
        column(
            format!("cross-AZ bytes/request vs {}", first.variant),
            true,
            move |r| if base > 0.0 { format!("{:+.1} %", (r.bytes.cross_az_per_request / base - 1.0) * 100.0) } else { "n/a".to_string() },
            move |_| base > 0.0,
        ),
        column("cost", true, |r| format!("${:.6}", r.cost_usd), always),
        column(
            "cost per million requests",
            true,
            |r| r.cost.per_million_requests_usd.map_or("-".into(), |v| format!("${v:.4}")),
            |r| r.cost.per_million_requests_usd.is_some(),
        ),
    ]
}

/// Writes `summary.md` and `record.json` for each record, and `comparison.md` when there are
/// several, under `out/<scenario>/`. Returns the files written.
pub fn write_reports(out: &Path, records: &[RunRecord]) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for r in records {
        let dir = out.join(&r.scenario).join(&r.variant);
        std::fs::create_dir_all(&dir)?;
        let md = dir.join("summary.md");
        std::fs::write(&md, summary_markdown(r))?;
        let json = dir.join("record.json");
        std::fs::write(&json, to_json(r))?;
        written.push(md);
        written.push(json);
    }
    if records.len() > 1 {
        let path = out.join(&records[0].scenario).join("comparison.md");
        std::fs::write(&path, comparison_markdown(records))?;
        written.push(path);
    }
    Ok(written)
}

/// The record as pretty JSON (stable field order: struct order).
pub fn to_json(r: &RunRecord) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("records serialise");
    s.push('\n');
    s
}
