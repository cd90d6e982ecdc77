//! HTTP API request parameter mappings
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-parameter-mapping.html>),
//! parsed where they are written so that a mistake gets its line and column; the API Gateway
//! fake applies them.
//!
//! A mapping is `append|overwrite|remove:header.<name>`, `append|overwrite|remove:querystring.<name>`
//! or `overwrite:path`, with a value that is static text, `$request.header.<name>`,
//! `$request.querystring.<name>`, `$request.path.<name>`, `$request.path`, `$context.requestId`,
//! or text with `${...}` of those inside. Reserved headers cannot be mapped (AWS rejects them).

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
pub struct RequestMapping {
    pub action: MapAction,
    pub target: MapTarget,
    /// The value template (empty for `remove`).
    pub value: String,
}

/// Headers API Gateway does not let a mapping touch, and the prefixes it reserves.
const RESERVED: &[&str] = &[
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-location",
    "forwarded",
    "keep-alive",
    "origin",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "via",
];
const RESERVED_PREFIXES: &[&str] = &["access-control-", "apigw-", "x-amz-", "x-amzn-"];

/// Whether API Gateway reserves header `name` (lower case).
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// What a value may refer to.
fn check_reference(r: &str) -> Result<(), String> {
    let known = r == "request.path"
        || r == "context.requestId"
        || ["request.header.", "request.querystring.", "request.path."].iter().any(|p| r.strip_prefix(p).is_some_and(|n| !n.is_empty()));
    if known {
        Ok(())
    } else {
        Err(format!(
            "`${r}`: a mapping value refers to $request.header.<name>, $request.querystring.<name>, $request.path.<name>, $request.path or $context.requestId"
        ))
    }
}

/// A value: `$ref` whole, or text with `${ref}` inside.
fn check_template(value: &str) -> Result<(), String> {
    if let Some(r) = value.strip_prefix('$')
        && !r.starts_with('{')
    {
        return check_reference(r);
    }
    if value.replace("${", "").contains('$') {
        return Err(format!("`{value}`: inside text, write a reference as `${{request.path.proxy}}`"));
    }
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').ok_or_else(|| format!("`{value}`: `${{` without `}}`"))?;
        check_reference(&rest[start + 2..start + end])?;
        rest = &rest[start + end + 1..];
    }
    Ok(())
}

/// Parses a mapping key (`append:header.x-tenant`) and its value.
pub fn parse_mapping(key: &str, value: &str) -> Result<RequestMapping, String> {
    let (action, what) = key
        .split_once(':')
        .ok_or_else(|| format!("`{key}`: a mapping is `append|overwrite|remove:header.<name>`, `...:querystring.<name>` or `overwrite:path`"))?;
    let action = match action {
        "append" => MapAction::Append,
        "overwrite" => MapAction::Overwrite,
        "remove" => MapAction::Remove,
        other => return Err(format!("`{key}`: unknown action `{other}` (expected append, overwrite or remove)")),
    };
    let target = if what == "path" {
        if action != MapAction::Overwrite {
            return Err(format!("`{key}`: the path can only be overwritten (`overwrite:path`)"));
        }
        if !value.starts_with('/') && !value.starts_with('$') {
            return Err(format!("`{key}`: the path must start with `/`"));
        }
        MapTarget::Path
    } else if let Some(name) = what.strip_prefix("header.") {
        let name = name.to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!("`{key}`: no header name"));
        }
        if is_reserved(&name) {
            return Err(format!("`{key}`: `{name}` is a reserved header; API Gateway does not let mappings change it"));
        }
        MapTarget::Header(name)
    } else if let Some(name) = what.strip_prefix("querystring.").filter(|n| !n.is_empty()) {
        MapTarget::Query(name.to_string())
    } else {
        return Err(format!("`{key}`: expected `header.<name>`, `querystring.<name>` or `path` after `{}:`", key.split(':').next().unwrap_or("")));
    };
    if action == MapAction::Remove {
        return Ok(RequestMapping { action, target, value: String::new() });
    }
    check_template(value).map_err(|e| format!("`{key}`: {e}"))?;
    Ok(RequestMapping { action, target, value: value.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_mappings_parse() {
        let m = parse_mapping("append:header.X-Tenant", "acme").unwrap();
        assert_eq!((m.action, m.target), (MapAction::Append, MapTarget::Header("x-tenant".into())), "header names are case-insensitive");
        assert_eq!(parse_mapping("overwrite:querystring.Page", "$request.querystring.p").unwrap().target, MapTarget::Query("Page".into()));
        assert_eq!(parse_mapping("overwrite:path", "/v2${request.path}").unwrap().target, MapTarget::Path);
        assert_eq!(parse_mapping("remove:header.x-debug", "anything").unwrap().value, "", "remove takes no value");
        assert!(parse_mapping("overwrite:header.host", "backend.internal").is_ok(), "Host is not reserved");
    }

    #[test]
    fn bad_mappings_are_refused_with_a_reason() {
        for (key, value, says) in [
            ("overwrite:header.authorization", "x", "reserved"),
            ("overwrite:header.Authorization", "x", "reserved"),
            ("append:header.x-amzn-foo", "x", "reserved"),
            ("append:header.access-control-allow-origin", "x", "reserved"),
            ("overwrite:header.x-forwarded-for", "x", "reserved"),
            ("append:path", "/x", "only be overwritten"),
            ("replace:header.x", "x", "unknown action"),
            ("overwrite:body.x", "x", "expected `header.<name>`"),
            ("overwrite:querystring.", "x", "expected `header.<name>`"),
            ("overwrite:header.x", "$request.body.name", "refers to"),
            ("overwrite:header.x", "$context.requestIdX", "refers to"),
            ("overwrite:header.x", "$stageVariables.v", "refers to"),
            ("overwrite:header.x", "a-${request.path.id", "without"),
            ("overwrite:header.x", "a-$request.path.id", "inside text"),
            ("overwrite:path", "v2", "must start with `/`"),
        ] {
            let err = parse_mapping(key, value).unwrap_err();
            assert!(err.contains(says), "{key}: {err}");
        }
    }
}
