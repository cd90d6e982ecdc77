//! A client request's target, checked before it is routed: its `Host` (RFC 9112 §3.2) and its
//! path, normalised so that routing and the backend see the same thing.
//!
//! Path normalisation (RFC 3986 §5.2.4, `remove_dot_segments`): `.` segments are dropped and
//! `..` removes the segment before it; `%2e` counts as a dot there, since a backend that decodes
//! the path would read it so. A path that climbs above the root (`/..`, `/a/../..`) is refused
//! (400) rather than clamped. Nothing else changes: empty segments (`//`) stay, `%2f` is not a
//! separator, and the query is untouched. A request whose path changed is forwarded with the
//! normalised path. Route prefixes match whole segments of the normalised path.

use std::borrow::Cow;

/// Why a request's target is refused (each a 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadTarget {
    /// HTTP/1.1 without a `Host` header.
    MissingHost,
    /// More than one `Host` header.
    TwoHosts,
    /// A `Host` that is not `host[:port]`.
    InvalidHost,
    /// A path whose `..` segments climb above the root.
    AboveRoot,
}

impl BadTarget {
    pub fn message(self) -> &'static str {
        match self {
            BadTarget::MissingHost => "an HTTP/1.1 request needs a Host header\n",
            BadTarget::TwoHosts => "a request has one Host header, not several\n",
            BadTarget::InvalidHost => "the Host header is not host[:port]\n",
            BadTarget::AboveRoot => "the path climbs above the root\n",
        }
    }
}

/// The request's one `Host`, checked (`None` for an HTTP/1.0 request without one).
pub fn host(headers: &http::HeaderMap, version: http::Version) -> Result<Option<&str>, BadTarget> {
    let mut all = headers.get_all(http::header::HOST).iter();
    let (first, second) = (all.next(), all.next());
    match (first, second) {
        (_, Some(_)) => Err(BadTarget::TwoHosts),
        (None, _) if version == http::Version::HTTP_11 => Err(BadTarget::MissingHost),
        (None, _) => Ok(None),
        (Some(h), None) if is_valid_host(h.as_bytes()) => Ok(h.to_str().ok()),
        (Some(_), None) => Err(BadTarget::InvalidHost),
    }
}

/// `host[:port]` as RFC 3986 allows it (a reg-name, an IPv4 address or a bracketed IPv6 one),
/// checked byte by byte (no allocation).
pub fn is_valid_host(h: &[u8]) -> bool {
    !h.is_empty() && h.iter().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(b)) && h.iter().filter(|b| **b == b'[').count() <= 1
}

/// The host without its port (`[::1]:80` -> `[::1]`).
pub fn without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// A `.` segment, or a `..` one, with `%2e` read as a dot.
fn dots(segment: &str) -> usize {
    let (mut rest, mut n) = (segment.as_bytes(), 0);
    while !rest.is_empty() {
        match rest {
            [b'.', tail @ ..] => rest = tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => rest = tail,
            _ => return 0,
        }
        n += 1;
    }
    if n <= 2 { n } else { 0 }
}

/// The path with its dot segments resolved (borrowed when there were none).
pub fn normalise(path: &str) -> Result<Cow<'_, str>, BadTarget> {
    if !path.split('/').any(|s| dots(s) > 0) {
        return Ok(Cow::Borrowed(path));
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match dots(segment) {
            1 => {}
            2 => {
                if out.pop().is_none() {
                    return Err(BadTarget::AboveRoot);
                }
            }
            _ => out.push(segment),
        }
        // A trailing dot segment leaves a directory: `/a/b/..` is `/a/`.
        if last && dots(segment) > 0 {
            out.push("");
        }
    }
    Ok(Cow::Owned(format!("/{}", out.join("/"))))
}

/// `prefix` is whole leading segments of `path`.
pub fn has_prefix(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_resolved_and_climbing_above_the_root_is_refused() {
        let cases: &[(&str, Result<&str, BadTarget>)] = &[
            ("/ledger/1", Ok("/ledger/1")),
            ("/admin/../ledger", Ok("/ledger")),
            ("/admin/%2e%2e/ledger", Ok("/ledger")),
            ("/a/./b", Ok("/a/b")),
            ("/a/b/..", Ok("/a/")),
            ("/a/.", Ok("/a/")),
            ("/a//b", Ok("/a//b")),
            ("/...", Ok("/...")),
            ("/..", Err(BadTarget::AboveRoot)),
            ("/a/../..", Err(BadTarget::AboveRoot)),
            ("/%2E%2E/etc", Err(BadTarget::AboveRoot)),
        ];
        for (path, want) in cases {
            assert_eq!(normalise(path).as_deref().map_err(|e| *e), *want, "{path}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let cases = [
            ("/admin", "/admin", true),
            ("/admin/x", "/admin", true),
            ("/adminx", "/admin", false),
            ("/admin/x", "/admin/", true),
            ("/anything", "/", true),
            ("/", "/", true),
        ];
        for (path, prefix, want) in cases {
            assert_eq!(has_prefix(path, prefix), want, "{path} under {prefix}");
        }
    }

    #[test]
    fn hosts_are_checked_and_their_port_dropped() {
        let mut h = http::HeaderMap::new();
        assert_eq!(host(&h, http::Version::HTTP_11), Err(BadTarget::MissingHost));
        assert_eq!(host(&h, http::Version::HTTP_10), Ok(None));
        h.insert("host", http::HeaderValue::from_static("Orders.Example:8080"));
        assert_eq!(host(&h, http::Version::HTTP_11), Ok(Some("Orders.Example:8080")));
        h.append("host", http::HeaderValue::from_static("other"));
        assert_eq!(host(&h, http::Version::HTTP_11), Err(BadTarget::TwoHosts));
        h.insert("host", http::HeaderValue::from_static("a b"));
        assert_eq!(host(&h, http::Version::HTTP_11), Err(BadTarget::InvalidHost));
        assert_eq!(without_port("[::1]:80"), "[::1]");
        assert_eq!(without_port("orders:80"), "orders");
        assert_eq!(without_port("orders"), "orders");
    }
}
