//! HTTP API request parameter mapping (`sim/fakes/FIDELITY.md` APIGW-17 to APIGW-19), and the headers API
//! Gateway adds to what the backend receives.
//!
//! A mapping `append`s, `overwrite`s or `remove`s a header or a query-string parameter, or
//! overwrites the path, with a value that is static text, `$request.header.<name>`,
//! `$request.querystring.<name>`, `$request.path.<name>`, `$request.path` (the path without the
//! stage), `$context.requestId`, or text with `${...}` of those inside. Values are taken from
//! the request as the client sent it, before any mapping (as AWS evaluates them). Header names
//! are case-insensitive; an appended header or query string joins its values with commas;
//! `header.host` is the request's `Host`. The scenario language parses and checks mappings
//! (reserved headers, unknown references) where they are written; here they are applied. Not
//! modelled: `$request.body.*`, `$stageVariables.*` and other `$context.*` values, response
//! mappings. The forwarding headers are set after the mappings.

use std::collections::BTreeMap;

use crate::rpc::HttpRequest;

/// What a mapping does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapAction {
    Append,
    Overwrite,
    Remove,
}

/// What a mapping changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapTarget {
    /// A header (its name in lower case).
    Header(String),
    /// A query-string parameter (its name as given: query names are case-sensitive).
    Query(String),
    /// The path the backend gets.
    Path,
}

/// One request parameter mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub action: MapAction,
    pub target: MapTarget,
    /// The value template (empty for `remove`).
    pub value: String,
}

/// What mapping values can refer to besides the request itself.
#[derive(Clone, Debug, Default)]
pub struct MapContext {
    /// The route's path parameters (`{id}`, `{proxy+}`).
    pub path_params: BTreeMap<String, String>,
    /// `$context.requestId`.
    pub request_id: String,
    /// `$request.path`: the path without the stage.
    pub route_path: String,
}

fn lookup(r: &str, http: &HttpRequest, cx: &MapContext) -> String {
    if r == "request.path" {
        return cx.route_path.split('?').next().unwrap_or("").to_string();
    }
    if r.strip_prefix("request.header.").is_some_and(|h| h.eq_ignore_ascii_case("host")) {
        return http.host.clone();
    }
    if r == "context.requestId" {
        return cx.request_id.clone();
    }
    if let Some(name) = r.strip_prefix("request.header.") {
        let values: Vec<&str> = http.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
        return values.join(",");
    }
    if let Some(name) = r.strip_prefix("request.querystring.") {
        let values: Vec<&str> = http.query.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
        return values.join(",");
    }
    if let Some(name) = r.strip_prefix("request.path.") {
        return cx.path_params.get(name).cloned().unwrap_or_default();
    }
    String::new()
}

fn render(value: &str, http: &HttpRequest, cx: &MapContext) -> String {
    if let Some(r) = value.strip_prefix('$')
        && !r.starts_with('{')
    {
        return lookup(r, http, cx);
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else { break };
        out.push_str(&lookup(&rest[start + 2..start + end], http, cx));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

fn set(pairs: &mut Vec<(String, String)>, same: impl Fn(&str) -> bool, name: &str, action: MapAction, value: String) {
    match action {
        MapAction::Remove => pairs.retain(|(k, _)| !same(k)),
        MapAction::Overwrite => {
            pairs.retain(|(k, _)| !same(k));
            pairs.push((name.to_string(), value));
        }
        MapAction::Append => match pairs.iter_mut().find(|(k, _)| same(k)) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(&value);
            }
            None => pairs.push((name.to_string(), value)),
        },
    }
}

/// `base` (what the integration would send) with `mappings` applied, their values taken from
/// `sent`, the request as the client sent it.
pub fn apply(base: &HttpRequest, sent: &HttpRequest, mappings: &[Mapping], cx: &MapContext) -> HttpRequest {
    let mut out = base.clone();
    for m in mappings {
        let value = render(&m.value, sent, cx);
        match &m.target {
            // `Host` is the request's own field, not one of its other headers.
            MapTarget::Header(name) if name == "host" => match m.action {
                MapAction::Remove => out.host.clear(),
                MapAction::Overwrite => out.host = value,
                MapAction::Append if out.host.is_empty() => out.host = value,
                MapAction::Append => out.host = format!("{},{value}", out.host),
            },
            MapTarget::Header(name) => set(&mut out.headers, |k| k.eq_ignore_ascii_case(name), name, m.action, value),
            MapTarget::Query(name) => set(&mut out.query, |k| k == name, name, m.action, value),
            MapTarget::Path => out.path = value,
        }
    }
    out
}

/// The headers API Gateway adds for the backend: the client's address appended to
/// `x-forwarded-for`, `x-forwarded-proto: https`, `x-forwarded-port: 443`, and an
/// `x-amzn-trace-id` (X-Ray's format: `Root=1-<epoch seconds, hex>-<96 bits, hex>`; the bits
/// come from the request's id, so they draw nothing from any random stream). AWS documents
/// these as observed on HTTP API events (SECONDARY for the exact set).
pub fn add_forwarded(http: &mut HttpRequest, client_ip: &str, epoch_secs: u64, request: u64) {
    set(&mut http.headers, |k| k.eq_ignore_ascii_case("x-forwarded-for"), "x-forwarded-for", MapAction::Append, client_ip.to_string());
    set(&mut http.headers, |k| k.eq_ignore_ascii_case("x-forwarded-proto"), "x-forwarded-proto", MapAction::Overwrite, "https".into());
    set(&mut http.headers, |k| k.eq_ignore_ascii_case("x-forwarded-port"), "x-forwarded-port", MapAction::Overwrite, "443".into());
    if !http.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("x-amzn-trace-id")) {
        let (a, b) = (splitmix(request), splitmix(request ^ 0x9e37_79b9_7f4a_7c15));
        http.headers.push(("x-amzn-trace-id".into(), format!("Root=1-{:08x}-{:016x}{:08x}", epoch_secs as u32, a, b as u32)));
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: "/orders/17".into(),
            host: "api.example.com".into(),
            headers: vec![("X-Tenant".into(), "acme".into()), ("accept".into(), "a/b".into())],
            query: vec![("page".into(), "2".into())],
            large_header_bytes: 0,
        }
    }

    fn map(maps: &[Mapping]) -> HttpRequest {
        let cx =
            MapContext { path_params: BTreeMap::from([("id".to_string(), "17".to_string())]), request_id: "req-1".into(), route_path: "/orders/17".into() };
        apply(&req(), &req(), maps, &cx)
    }

    fn m(action: MapAction, target: MapTarget, value: &str) -> Mapping {
        Mapping { action, target, value: value.into() }
    }
    fn h(name: &str) -> MapTarget {
        MapTarget::Header(name.into())
    }
    fn q(name: &str) -> MapTarget {
        MapTarget::Query(name.into())
    }

    fn header(h: &HttpRequest, name: &str) -> Option<String> {
        h.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    /// One case per documented rule.
    #[test]
    fn mappings_follow_the_documented_rules() {
        use MapAction::*;
        assert_eq!(header(&map(&[m(Append, h("x-tenant"), "beta")]), "x-tenant").as_deref(), Some("acme,beta"), "append joins with a comma");
        assert_eq!(header(&map(&[m(Overwrite, h("x-tenant"), "beta")]), "X-Tenant").as_deref(), Some("beta"), "names are case-insensitive");
        assert_eq!(header(&map(&[m(Remove, h("x-tenant"), "")]), "x-tenant"), None, "remove");
        assert_eq!(header(&map(&[m(Append, h("x-new"), "v")]), "x-new").as_deref(), Some("v"), "append to a missing header adds it");
        assert_eq!(header(&map(&[m(Overwrite, h("x-order"), "$request.path.id")]), "x-order").as_deref(), Some("17"), "a path parameter");
        assert_eq!(header(&map(&[m(Overwrite, h("x-id"), "$context.requestId")]), "x-id").as_deref(), Some("req-1"), "the request id");
        assert_eq!(header(&map(&[m(Overwrite, h("x-p"), "p-${request.querystring.page}")]), "x-p").as_deref(), Some("p-2"), "text around a reference");
        let got = map(&[m(Remove, h("x-tenant"), ""), m(Overwrite, h("x-t"), "$request.header.x-tenant")]);
        assert_eq!(header(&got, "x-t").as_deref(), Some("acme"), "values come from the request as sent");
        assert_eq!(map(&[m(Append, q("page"), "3")]).query, vec![("page".to_string(), "2,3".to_string())], "query strings join too");
        assert!(map(&[m(Remove, q("Page"), "")]).query.len() == 1, "query names are case-sensitive");
        assert_eq!(map(&[m(Overwrite, MapTarget::Path, "/v2/orders/${request.path.id}")]).path, "/v2/orders/17", "overwrite:path");
        assert_eq!(map(&[m(Overwrite, MapTarget::Path, "/v2${request.path}")]).path, "/v2/orders/17", "$request.path is the path without the stage");
        let got = map(&[m(Overwrite, h("x-host"), "$request.header.host"), m(Overwrite, h("host"), "backend.internal")]);
        assert_eq!((got.host.as_str(), header(&got, "x-host").as_deref()), ("backend.internal", Some("api.example.com")), "Host is the request's host");
    }

    #[test]
    fn forwarded_headers_are_added_for_the_backend() {
        let mut h = req();
        h.headers.push(("x-forwarded-for".into(), "198.51.100.7".into()));
        add_forwarded(&mut h, "203.0.113.9", 1_767_225_600, 42);
        assert_eq!(header(&h, "x-forwarded-for").as_deref(), Some("198.51.100.7,203.0.113.9"));
        assert_eq!(header(&h, "x-forwarded-proto").as_deref(), Some("https"));
        assert_eq!(header(&h, "x-forwarded-port").as_deref(), Some("443"));
        let trace = header(&h, "x-amzn-trace-id").unwrap();
        assert!(trace.starts_with("Root=1-6955b900-") && trace.len() == "Root=1-6955b900-".len() + 24, "{trace}");
        let mut again = req();
        add_forwarded(&mut again, "203.0.113.9", 1_767_225_600, 43);
        assert_ne!(header(&again, "x-amzn-trace-id").unwrap(), trace, "one trace id per request");
    }
}
