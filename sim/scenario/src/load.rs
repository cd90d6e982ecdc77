//! The one way in: read, parse, validate. Every problem names the file, line and column, what
//! was expected, and where it can, a hint.

use std::fmt;

use serde_saphyr::Location;

use crate::model::{Scenario, ScenarioFile};
use crate::validate;

/// Where a scenario's text came from (for messages).
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// 1-based; 0 when the position is not known.
    pub line: u64,
    pub column: u64,
    /// Where in the document (e.g. `services.router.steps[0]`), if known.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Issue {
    pub(crate) fn at(loc: Option<Location>, path: impl Into<String>, message: impl Into<String>) -> Issue {
        let (line, column) = loc.map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        Issue { line, column, path: path.into(), message: message.into(), hint: None }
    }
    pub(crate) fn hint(mut self, hint: Option<String>) -> Issue {
        self.hint = hint;
        self
    }
}

/// A scenario that could not be loaded: every issue found, with the source for snippets.
#[derive(Clone, Debug)]
pub struct ScenarioError {
    pub file: String,
    pub issues: Vec<Issue>,
    text: String,
}

impl ScenarioError {
    fn io(file: &str, e: &std::io::Error) -> ScenarioError {
        ScenarioError { file: file.to_string(), issues: vec![Issue::at(None, "", format!("cannot read the file: {e}"))], text: String::new() }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<&str> = self.text.lines().collect();
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let path = if issue.path.is_empty() { String::new() } else { format!("{}: ", issue.path) };
            if issue.line > 0 {
                writeln!(f, "error: {}:{}:{}: {path}{}", self.file, issue.line, issue.column, issue.message)?;
                let n = issue.line as usize;
                if let Some(src) = lines.get(n - 1) {
                    let width = n.to_string().len();
                    writeln!(f, "{:width$} |", "")?;
                    writeln!(f, "{n} | {src}")?;
                    writeln!(f, "{:width$} | {}^", "", " ".repeat(issue.column.saturating_sub(1) as usize))?;
                }
            } else {
                writeln!(f, "error: {}: {path}{}", self.file, issue.message)?;
            }
            if let Some(h) = &issue.hint {
                writeln!(f, "  = help: {h}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Reads, parses and validates the scenario at `path`, and every variant in it.
pub fn load(path: &str) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::io(path, &e))?;
    load_str(Source { name: path.to_string(), text })
}

/// [`load`] from text already in memory.
pub fn load_str(source: Source) -> Result<Scenario, ScenarioError> {
    let options = serde_saphyr::options! { strict_booleans: true };
    crate::one_of::reset();
    let parsed: Result<ScenarioFile, _> = serde_saphyr::from_str_with_options(&source.text, options);
    let mut deferred = crate::one_of::take_deferred();
    let file = parsed.map_err(|e| {
        let mut issues = std::mem::take(&mut deferred);
        issues.push(parse_issue(&e));
        ScenarioError { file: source.name.clone(), issues, text: source.text.clone() }
    })?;
    let mut file = file;
    let base = std::path::Path::new(&source.name).parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let (mut read_issues, unread_apis) = read_files(&mut file, &base);
    let scenario = Scenario { path: source.name.clone(), file };
    let mut issues = deferred;
    for issue in validate::validate(&scenario) {
        if !issues.contains(&issue) {
            issues.push(issue);
        }
    }
    // An API whose OpenAPI file could not be read has no routes because of that: one error.
    issues.retain(|i| {
        let unread = i.path.strip_suffix(".routes").is_some_and(|api| unread_apis.iter().any(|u| u == api));
        !(unread && i.message.starts_with("an API needs at least one route"))
    });
    issues.sort_by_key(|i| (i.line == 0, i.line, i.column));
    issues.append(&mut read_issues);
    for issue in issues.iter_mut().filter(|i| i.line == 0 && !i.path.is_empty()) {
        if let Some((line, column)) = locate(&source.text, &issue.path) {
            (issue.line, issue.column) = (line, column);
        }
    }
    if !issues.is_empty() {
        return Err(ScenarioError { file: source.name, issues, text: source.text });
    }
    Ok(scenario)
}

/// Reads the files a scenario names (JWKS, tokens), relative to the scenario file, into the
/// model; a file that cannot be read is an issue at its path. Also returns the APIs (by path)
/// whose OpenAPI file could not be read or imported.
fn read_files(file: &mut crate::ScenarioFile, base: &std::path::Path) -> (Vec<Issue>, Vec<String>) {
    let mut issues = Vec::new();
    let mut unread_apis = Vec::new();
    let read = |issues: &mut Vec<Issue>, name: &str, at: String| match std::fs::read_to_string(base.join(name)) {
        Ok(text) => Some(text.trim().to_string()),
        Err(e) => {
            issues.push(Issue::at(None, at, format!("cannot read `{name}` (relative to the scenario file): {e}")));
            None
        }
    };
    let mut apis: Vec<(String, &mut crate::ApiGatewaySpec)> = file.api_gateways.iter_mut().map(|(n, a)| (format!("api_gateways.{n}"), a)).collect();
    let mut clients: Vec<(String, &mut crate::ClientSpec)> = file.clients.iter_mut().map(|(n, c)| (format!("clients.{n}"), c)).collect();
    for (v, spec) in file.variants.iter_mut() {
        apis.extend(spec.api_gateways.iter_mut().map(|(n, a)| (format!("variants.{v}.api_gateways.{n}"), a)));
        clients.extend(spec.clients.iter_mut().map(|(n, c)| (format!("variants.{v}.clients.{n}"), c)));
    }
    for (path, api) in apis {
        if let Some(jwt) = api.jwt.as_mut() {
            jwt.jwks_text = read(&mut issues, &jwt.jwks.clone(), format!("{path}.jwt.jwks")).unwrap_or_default();
        }
        let Some(name) = api.openapi.clone() else { continue };
        let Some(text) = read(&mut issues, &name, format!("{path}.openapi")) else {
            unread_apis.push(path);
            continue;
        };
        match crate::openapi::import(&text, api) {
            Ok(routes) => {
                for (key, route) in routes {
                    if api.routes.contains_key(&key) {
                        issues.push(Issue::at(None, format!("{path}.openapi"), format!("`{key}` is both in `{name}` and in `routes`")));
                    }
                    api.routes.insert(key, route);
                }
            }
            Err(e) => {
                issues.push(Issue::at(None, format!("{path}.openapi"), format!("{name}: {e}")));
                unread_apis.push(path);
            }
        }
    }
    for (path, c) in clients {
        for (i, h) in c.http.iter_mut().enumerate() {
            if let Some(name) = h.jwt.clone() {
                h.jwt_token = read(&mut issues, &name, format!("{path}.http[{i}].jwt"));
            }
        }
    }
    (issues, unread_apis)
}

fn parse_issue(e: &serde_saphyr::Error) -> Issue {
    let plain = e.render_with_options(serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off });
    // The plain rendering ends with " at line L column C"; the snippet shows the position.
    let message = match plain.rfind(" at line ") {
        Some(i) => plain[..i].to_string(),
        None => plain.trim_start_matches("error: ").to_string(),
    };
    let message = plain_words(&strip_location_prefix(&message));
    let hint = unknown_name_hint(&message);
    // A one-of error knows the key it is about better than the parser's position.
    let at = crate::one_of::take_error_location().or(e.location());
    Issue::at(at, "", message).hint(hint)
}

fn strip_location_prefix(m: &str) -> String {
    // serde-saphyr may prefix "line L column C: "; the header already says where.
    let m = m.trim_start_matches("error: ");
    if m.starts_with("line ")
        && let Some(i) = m.find(": ")
    {
        return m[i + 2..].to_string();
    }
    m.to_string()
}

/// The parser's words for Rust enums ("unknown variant `x`", "unit variant") read as if a
/// scenario's `variants:` were meant: say "value" and what was written instead.
fn plain_words(message: &str) -> String {
    message
        .replace("unknown variant `", "unknown value `")
        .replace("unexpected value for unit enum variant", "expected a bare name here, not a map")
        .replace("externally tagged enum expected scalar or mapping", "expected a name, or a map of one key")
        .replace("expected end of mapping after enum variant value", "expected a map of one key")
        .replace("expected string key for externally tagged enum", "expected a name as the key")
        .replace("expected variant identifier", "expected one of the listed names")
        .replace("variant identifier", "name")
        .replace("unit variant", "a bare name")
        .replace("newtype variant", "a map of one key")
        .replace("tuple variant", "a map of one key")
        .replace("struct variant", "a map of one key")
}

/// For "unknown field `x`, expected one of `a`, `b`" and "unknown value", suggest the closest.
fn unknown_name_hint(message: &str) -> Option<String> {
    if message.contains("illegal placement") || message.contains("did not find expected") {
        return Some("check for an unclosed `[` or `{`, or a missing `:`, on this line or the one above".into());
    }
    if let Some(kind) = ["u64", "u32", "f64", "u16"].iter().find(|k| message.contains(&format!("invalid {k}"))) {
        return Some(format!("expected a number here ({kind})"));
    }
    let is_unknown = message.contains("unknown field") || message.contains("unknown value");
    if !is_unknown {
        return None;
    }
    let given = message.split('`').nth(1)?;
    let list = message.split("expected one of ").nth(1).or_else(|| message.split("expected ").nth(1))?;
    let expected: Vec<&str> = list.split(", ").map(|n| n.trim().trim_matches('`')).filter(|n| !n.is_empty()).collect();
    match crate::validate::closest(given, expected.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None => Some(format!("expected one of: {}", expected.join(", "))),
    }
}

/// Where a dotted path (`services.router.steps[0]`, `variants.fast`) is written: each segment's
/// key is searched for below the previous one's line. For issues whose value carried no
/// position (map keys, plain strings), so that every message still names a line and column.
fn locate(text: &str, path: &str) -> Option<(u64, u64)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0usize;
    let mut found = None;
    for segment in path.split('.') {
        let key = segment.split('[').next().unwrap_or(segment);
        if key.is_empty() {
            continue;
        }
        let hit = lines.iter().enumerate().skip(from).find_map(|(i, l)| {
            let trimmed = l.trim_start().trim_start_matches("- ");
            let is_key = trimmed.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':'));
            is_key.then(|| (i, l.len() - l.trim_start().trim_start_matches("- ").len()))
        });
        match hit {
            Some((i, col)) => {
                found = Some((i as u64 + 1, col as u64 + 1));
                from = i + 1;
            }
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::locate;
    use crate::{Source, load_str};

    /// A missing OpenAPI file is one error, at the line that names it: not also "no routes".
    #[test]
    fn a_missing_file_is_one_error_at_its_line() {
        let text = "version: 1\nname: x\nduration: 10s\nregions:\n  us-west-2: { azs: [usw2-az1] }\nservices:\n  ledger:\n    instances: { usw2-az1: 1 }\nload_balancers:\n  nlb: { kind: nlb, azs: [usw2-az1], targets: ledger }\napi_gateways:\n  api:\n    kind: rest\n    stages: [test]\n    openapi: no-such-file.yaml\n    vpc_link: [usw2-az1]\nclients:\n  app: { azs: { usw2-az1: 1 }, target: api, rate: 1 }\n";
        let err = load_str(Source { name: "x.yaml".into(), text: text.into() }).unwrap_err();
        assert_eq!(err.issues.len(), 1, "{err}");
        assert_eq!((err.issues[0].line, err.issues[0].column), (15, 5), "{err}");
        assert!(err.issues[0].message.contains("cannot read `no-such-file.yaml`"), "{err}");
    }

    /// The parser's "variant" (a Rust enum's) is not a scenario's variant: it never reaches a
    /// message about a value.
    #[test]
    fn enum_errors_say_value_not_variant() {
        let file = "version: 1\nname: x\nduration: 10s\nregions:\n  us-east-1:\n    azs: [use1-az1]\nservices:\n  web:\n    instances: { use1-az1: 1 }\n    processing: { fixed: 1ms }\nload_balancers:\n  lb:\n    kind: alb\n    azs: [use1-az1]\n    targets: web\nclients:\n  c:\n    azs: { use1-az1: 1 }\n    target: lb\n    rate: 10\n";
        let cases = [
            ("kind: alb", "kind: alx", "unknown value `alx`, expected one of alb, nlb"),
            ("kind: alb", "kind: [alb]", "expected a name, or a map of one key"),
            ("kind: alb", "kind: { alb: 1 }", "expected a bare name here, not a map"),
            ("{ fixed: 1ms }", "{ fixd: 1ms }", "unknown value `fixd`"),
        ];
        for (from, to, expected) in cases {
            let text = file.replacen(from, to, 1);
            let err = load_str(Source { name: "x.yaml".into(), text }).expect_err(to).to_string();
            assert!(err.contains(expected), "{to}: {err}");
            assert!(!err.contains("variant"), "{to}: {err}");
        }
    }

    #[test]
    fn locates_nested_keys() {
        let text = "name: x\nprofiles:\n  fast: { fixed: 1ms }\nservices:\n  api:\n    steps:\n      - call: db\n";
        assert_eq!(locate(text, "profiles.fast"), Some((3, 3)));
        assert_eq!(locate(text, "services.api.steps[0]"), Some((6, 5)));
        assert_eq!(locate(text, "name"), Some((1, 1)));
        assert_eq!(locate(text, "nowhere"), None);
    }
}
