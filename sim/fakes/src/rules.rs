//! ALB listener rules (`sim/fakes/FIDELITY.md` ALB-06 to ALB-08): conditions on the path, host, method,
//! headers, query string and source IP; actions forward (weighted target groups),
//! fixed-response and redirect. Rules are evaluated by priority, lowest first; the default
//! action (forward to the first target group) comes last.

use std::net::Ipv4Addr;

use crate::rpc::HttpRequest;

/// What a matching rule does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Forward to one of these target groups (index, weight), chosen by weight.
    Forward(Vec<(usize, u32)>),
    /// Answer at the load balancer with this status and body size.
    FixedResponse { status: u16, bytes: u64 },
    /// Answer with a redirect (301 or 302).
    Redirect { status: u16 },
}

/// A rule's conditions: OR within a condition's values, AND across conditions. Empty means
/// "any".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conditions {
    /// `*` and `?` wildcards, case-sensitive, against the path only.
    pub paths: Vec<String>,
    /// Case-insensitive, wildcards allowed.
    pub hosts: Vec<String>,
    /// Exact, case-sensitive.
    pub methods: Vec<String>,
    /// Header name (case-insensitive) and the values it may have (case-insensitive, wildcards).
    pub headers: Vec<(String, Vec<String>)>,
    /// Query key and the values it may have (wildcards).
    pub query: Vec<(String, Vec<String>)>,
    /// Source address CIDRs (the TCP peer, not `X-Forwarded-For`).
    pub source_ips: Vec<(Ipv4Addr, u8)>,
}

/// A listener rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub priority: u32,
    pub conditions: Conditions,
    pub action: Action,
}

/// `*` matches any run of characters (also none), `?` exactly one.
pub fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let norm = |s: &str| if case_insensitive { s.to_ascii_lowercase() } else { s.to_string() };
    let (p, t): (Vec<char>, Vec<char>) = (norm(pattern).chars().collect(), norm(text).chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether `ip` is in the CIDR block `net/prefix`.
pub fn in_cidr(ip: Ipv4Addr, (net, prefix): (Ipv4Addr, u8)) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    u32::from(ip) & mask == u32::from(net) & mask
}

impl Conditions {
    pub fn matches(&self, req: &HttpRequest, source: Ipv4Addr) -> bool {
        let any = |values: &[String], f: &dyn Fn(&str) -> bool| values.is_empty() || values.iter().any(|v| f(v));
        any(&self.paths, &|p| glob(p, &req.path, false))
            && any(&self.hosts, &|h| glob(h, &req.host, true))
            && any(&self.methods, &|m| m == req.method)
            && self
                .headers
                .iter()
                .all(|(name, values)| req.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(name) && values.iter().any(|p| glob(p, v, true))))
            && self.query.iter().all(|(key, values)| req.query.iter().any(|(k, v)| k == key && values.iter().any(|p| glob(p, v, false))))
            && (self.source_ips.is_empty() || self.source_ips.iter().any(|c| in_cidr(source, *c)))
    }
}

/// The action of the first matching rule (rules sorted by priority), or `None` for the default.
pub fn evaluate<'a>(rules: &'a [Rule], req: &HttpRequest, source: Ipv4Addr) -> Evaluated<'a> {
    match rules.iter().position(|r| r.conditions.matches(req, source)) {
        Some(i) => Evaluated { action: Some(&rules[i].action), processed: i as u32 + 1 },
        None => Evaluated { action: None, processed: rules.len() as u32 },
    }
}

/// What the rules decided, and how many of them the listener processed to decide it (what
/// ALB bills rule evaluations on).
#[derive(Clone, Copy, Debug)]
pub struct Evaluated<'a> {
    /// The matching rule's action; `None`: the default action.
    pub action: Option<&'a Action>,
    pub processed: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_the_alb_documents() {
        let cases = [
            ("/api/*", "/api/orders/1", false, true),
            ("/api/*", "/api", false, false),
            ("/img/?.png", "/img/a.png", false, true),
            ("/img/?.png", "/img/ab.png", false, false),
            ("/API/*", "/api/x", false, false),
            ("*.example.com", "www.EXAMPLE.com", true, true),
            ("*.example.com", "example.com", true, false),
            ("*", "", false, true),
        ];
        for (p, t, ci, want) in cases {
            assert_eq!(glob(p, t, ci), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn conditions_and_across_or_within() {
        let req = HttpRequest {
            method: "PUT".into(),
            path: "/items/7".into(),
            host: "api.example.com".into(),
            headers: vec![("X-Tenant".into(), "blue".into())],
            query: vec![("v".into(), "2".into())],
            large_header_bytes: 0,
        };
        let ip = Ipv4Addr::new(10, 0, 3, 4);
        let mut c = Conditions { paths: vec!["/other".into(), "/items/*".into()], methods: vec!["PUT".into()], ..Default::default() };
        assert!(c.matches(&req, ip));
        c.headers = vec![("x-tenant".into(), vec!["BLUE".into()])];
        assert!(c.matches(&req, ip));
        c.query = vec![("v".into(), vec!["1".into()])];
        assert!(!c.matches(&req, ip));
        c.query.clear();
        c.source_ips = vec![(Ipv4Addr::new(10, 0, 0, 0), 16)];
        assert!(c.matches(&req, ip));
        c.source_ips = vec![(Ipv4Addr::new(10, 1, 0, 0), 16)];
        assert!(!c.matches(&req, ip));
        c.source_ips.clear();
        c.methods = vec!["put".into()];
        assert!(!c.matches(&req, ip), "methods are case-sensitive");
    }

    #[test]
    fn lowest_priority_first_then_the_default() {
        let req = HttpRequest { path: "/a".into(), ..HttpRequest::default() };
        let rule = |priority, path: &str, status| Rule {
            priority,
            conditions: Conditions { paths: vec![path.into()], ..Default::default() },
            action: Action::FixedResponse { status, bytes: 0 },
        };
        let rules = vec![rule(1, "/a", 201), rule(2, "/*", 202)];
        let first = evaluate(&rules, &req, Ipv4Addr::LOCALHOST);
        assert_eq!((first.action, first.processed), (Some(&Action::FixedResponse { status: 201, bytes: 0 }), 1));
        let other = HttpRequest { path: "/b".into(), ..HttpRequest::default() };
        let second = evaluate(&rules, &other, Ipv4Addr::LOCALHOST);
        assert_eq!((second.action, second.processed), (Some(&Action::FixedResponse { status: 202, bytes: 0 }), 2));
        let default = evaluate(&rules[..1], &other, Ipv4Addr::LOCALHOST);
        assert_eq!((default.action, default.processed), (None, 1), "the default action after every rule was processed");
    }
}
