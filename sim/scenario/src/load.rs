//! The one way in: read, parse, validate. Every problem names the file, line and column, what
//! was expected, and where it can, a hint.

use std::fmt;

use serde_saphyr::{Location, Spanned};

use crate::model::{Scenario, ScenarioFile};
use crate::tree::{Emitted, Node};
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
///
/// The baseline is read from the text; each variant from the baseline's tree with the
/// variant's merged in (`variant.rs`). A structural error does not hide the others: the
/// parts that read are read and checked (`recover.rs`).
pub fn load_str(source: Source) -> Result<Scenario, ScenarioError> {
    let refuse = |issues: Vec<Issue>| ScenarioError { file: source.name.clone(), issues: sorted(issues), text: source.text.clone() };
    let (baseline, tree, mut issues) = read_baseline(&source.text).map_err(refuse)?;
    let mut whole = validate::check_file(&baseline.file);
    for issue in &mut whole {
        baseline.place(issue, &source.text);
    }
    if !whole.is_empty() {
        issues.extend(whole);
        return Err(refuse(issues));
    }
    let mut docs = vec![baseline];
    issues.extend(read_variants(&tree, &mut docs));
    let dir = std::path::Path::new(&source.name).parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    issues.extend(check(&mut docs, &dir, &source.text));
    if !issues.is_empty() {
        return Err(refuse(issues));
    }
    let mut docs = docs.into_iter();
    let baseline = docs.next().expect("the baseline is read");
    let variants = docs.filter_map(|d| Some((d.variant?, d.file))).collect();
    Ok(Scenario { path: source.name, file: baseline.file, variants })
}

/// The baseline as read from `text`, the file's tree (what variants merge into), and the
/// structural issues; or, if nothing could be read, the issues.
fn read_baseline(text: &str) -> Result<(Doc, Node, Vec<Issue>), Vec<Issue>> {
    crate::one_of::reset();
    let direct = crate::tree::read_typed::<ScenarioFile>(text);
    let deferred = crate::one_of::take_deferred();
    match (direct, crate::tree::parse(text)) {
        (Ok(file), Ok(tree)) => Ok((Doc::baseline(file, None, Vec::new()), tree, deferred)),
        // The typed reading read it: only variants need the tree.
        (Ok(file), Err(_)) if file.variants.is_empty() => {
            let empty = Node { at: Default::default(), value: crate::tree::Value::Map(Vec::new()) };
            Ok((Doc::baseline(file, None, Vec::new()), empty, deferred))
        }
        (Ok(_), Err(e)) => Err(vec![parse_issue(&e)]),
        // Not YAML: nothing else can be read.
        (Err(e), Err(_)) => Err(deferred.into_iter().chain([parse_issue(&e)]).collect()),
        (Err(_), Ok(tree)) => {
            let read = crate::recover::read(tree, &[]);
            match read.file {
                Some(file) => Ok((Doc::baseline(file, Some(read.emitted), read.left_out), read.tree, read.issues)),
                None => Err(read.issues),
            }
        }
    }
}

/// Reads each variant of the baseline (`docs[0]`) merged into `tree`, adding those that read
/// to `docs`; returns their structural issues.
fn read_variants(tree: &Node, docs: &mut Vec<Doc>) -> Vec<Issue> {
    let mut issues = Vec::new();
    for name in docs[0].file.variants.keys().cloned().collect::<Vec<_>>() {
        let Some(written) = tree.get("variants").and_then(|v| v.get(&name)) else { continue };
        // What the baseline left out is out of the variant too (its errors were reported).
        let inherited = docs[0].left_out.clone();
        let read = crate::recover::read(crate::variant::merged(tree, written), &inherited);
        issues.extend(read.issues.into_iter().map(|i| Issue { message: format!("variant `{name}`: {}", i.message), ..i }));
        if let Some(file) = read.file {
            let left_out = inherited.into_iter().chain(read.left_out).collect();
            docs.push(Doc { variant: Some(name), file, emitted: Some(read.emitted), left_out });
        }
    }
    issues
}

/// Reads the files each of `docs` names (relative to `dir`) and checks it; the issues, placed
/// in `source`, each once: a variant's issue in what it kept from the baseline is the
/// baseline's.
fn check(docs: &mut [Doc], dir: &std::path::Path, source: &str) -> Vec<Issue> {
    let mut found: Vec<Issue> = Vec::new();
    for doc in docs {
        let (read_issues, unread_apis) = read_files(&mut doc.file, dir);
        let mut checked = validate::check(&doc.file, doc.variant.as_deref());
        // An API whose OpenAPI file could not be read has no routes because of that: one error.
        checked.retain(|i| {
            let unread = i.path.strip_suffix(".routes").is_some_and(|api| unread_apis.iter().any(|u| u == api));
            !(unread && i.message.contains("an API needs at least one route"))
        });
        // A check about a part that did not read says nothing the structural error did not.
        checked.retain(|i| !doc.left_out.iter().any(|l| l.explains(i)));
        let prefix = doc.variant.as_ref().map(|name| format!("variant `{name}`: ")).unwrap_or_default();
        let read_issues = read_issues.into_iter().map(|i| Issue { message: format!("{prefix}{}", i.message), ..i });
        for mut issue in read_issues.chain(checked) {
            doc.place(&mut issue, source);
            let own = issue.message.strip_prefix(&prefix).unwrap_or(&issue.message);
            let inherited =
                !prefix.is_empty() && found.iter().any(|f| (f.line, f.column, &f.path, f.message.as_str()) == (issue.line, issue.column, &issue.path, own));
            if !inherited && !found.contains(&issue) {
                found.push(issue);
            }
        }
    }
    found
}

/// Issues in the order of the file, those without a position last; each once.
fn sorted(issues: Vec<Issue>) -> Vec<Issue> {
    let mut out: Vec<Issue> = Vec::new();
    for issue in issues {
        if !out.contains(&issue) {
            out.push(issue);
        }
    }
    out.sort_by_key(|i| (i.line == 0, i.line, i.column));
    out
}

/// One file as it runs, the baseline or a variant, and the text it was read from.
struct Doc {
    variant: Option<String>,
    file: ScenarioFile,
    /// The text it was read from, if not the source: a variant's merged tree, or a file read
    /// without its parts with errors.
    emitted: Option<Emitted>,
    left_out: Vec<crate::recover::LeftOut>,
}

impl Doc {
    fn baseline(file: ScenarioFile, emitted: Option<Emitted>, left_out: Vec<crate::recover::LeftOut>) -> Doc {
        Doc { variant: None, file, emitted, left_out }
    }

    /// Places `issue`, whose position is in the text this file was read from (or, if unknown,
    /// found there by its path), in the source.
    fn place(&self, issue: &mut Issue, source: &str) {
        let text = self.emitted.as_ref().map_or(source, |e| e.text.as_str());
        if issue.line == 0
            && !issue.path.is_empty()
            && let Some((line, column)) = locate(text, &issue.path)
        {
            (issue.line, issue.column) = (line, column);
        }
        if let Some(emitted) = &self.emitted {
            emitted.relocate(issue);
        }
    }
}

/// Reads the files a scenario names (JWKS, tokens), relative to the scenario file, into the
/// model; a file that cannot be read is an issue where its name is written. Also returns the
/// APIs (by path) whose OpenAPI file could not be read or imported.
fn read_files(file: &mut crate::ScenarioFile, base: &std::path::Path) -> (Vec<Issue>, Vec<String>) {
    let mut issues = Vec::new();
    let mut unread_apis = Vec::new();
    let read = |issues: &mut Vec<Issue>, name: &Spanned<String>, at: String| match std::fs::read_to_string(base.join(&name.value)) {
        Ok(text) => Some(text.trim().to_string()),
        Err(e) => {
            issues.push(Issue::at(Some(name.referenced), at, format!("cannot read `{}` (relative to the scenario file): {e}", name.value)));
            None
        }
    };
    for (name, api) in file.api_gateways.iter_mut() {
        let path = format!("api_gateways.{name}");
        if let Some(jwt) = api.jwt.as_mut() {
            jwt.jwks_text = read(&mut issues, &jwt.jwks, format!("{path}.jwt.jwks")).unwrap_or_default();
        }
        let Some(openapi) = api.openapi.clone() else { continue };
        let Some(text) = read(&mut issues, &openapi, format!("{path}.openapi")) else {
            unread_apis.push(path);
            continue;
        };
        let at = Some(openapi.referenced);
        match crate::openapi::import(&text, api) {
            Ok(routes) => {
                for (key, route) in routes {
                    if api.routes.contains_key(&key) {
                        issues.push(Issue::at(at, format!("{path}.openapi"), format!("`{key}` is both in `{}` and in `routes`", openapi.value)));
                    }
                    api.routes.insert(key, route);
                }
            }
            Err(e) => {
                issues.push(Issue::at(at, format!("{path}.openapi"), format!("{}: {e}", openapi.value)));
                unread_apis.push(path);
            }
        }
    }
    for (name, c) in file.clients.iter_mut() {
        for (i, h) in c.http.iter_mut().enumerate() {
            if let Some(token) = &h.jwt {
                h.jwt_token = read(&mut issues, token, format!("clients.{name}.http[{i}].jwt"));
            }
        }
    }
    (issues, unread_apis)
}

pub(crate) fn parse_issue(e: &serde_saphyr::Error) -> Issue {
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
        assert_eq!((err.issues[0].line, err.issues[0].column), (15, 14), "{err}");
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

    const BASE: &str = "version: 1\nname: x\nduration: 10s\nregions:\n  us-east-1: { azs: [use1-az1, use1-az2] }\nservices:\n  web:\n    instances: { use1-az1: 1 }\n    processing: { fixed: 1ms }\nload_balancers:\n  lb: { kind: alb, azs: [use1-az1, use1-az2], targets: web }\nclients:\n  c: { azs: { use1-az1: 1 }, target: lb, rate: 10 }\n";

    fn positions(text: &str) -> Vec<(u64, u64, String)> {
        let err = load_str(Source { name: "x.yaml".into(), text: text.into() }).expect_err("refused");
        err.issues.iter().map(|i| (i.line, i.column, i.message.clone())).collect()
    }

    /// A variant's error is where the variant wrote the value; one in a value it kept from the
    /// baseline is at the baseline's line. Each says which variant.
    #[test]
    fn a_variants_errors_point_at_what_it_wrote() {
        let written = format!("{BASE}variants:\n  v:\n    load_balancers:\n      lb: {{ targets: wbe }}\n");
        let issues = positions(&written);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!((issues[0].0, issues[0].1), (17, 22), "{issues:?}");
        assert!(issues[0].2.starts_with("variant `v`: unknown service `wbe`"), "{issues:?}");

        let kept = format!("{BASE}variants:\n  v:\n    services:\n      web: null\n      api: {{ instances: {{ use1-az1: 1 }} }}\n");
        let issues = positions(&kept);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!((issues[0].0, issues[0].1), (11, 56), "the baseline's `targets: web`: {issues:?}");
        assert!(issues[0].2.starts_with("variant `v`: unknown service `web`"), "{issues:?}");

        // A structural error in a variant: at the variant's line too.
        let structural = format!("{BASE}variants:\n  v:\n    clients:\n      c: {{ rate: fast }}\n");
        let issues = positions(&structural);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!((issues[0].0, issues[0].1), (17, 18), "{issues:?}");
        assert!(issues[0].2.starts_with("variant `v`: "), "{issues:?}");
    }

    /// One structural error per entry, in several entries: each is reported, with the checks
    /// of the entries that read; nothing is said about the entries left out.
    #[test]
    fn every_structural_error_is_reported() {
        let text = BASE
            .replace("processing: { fixed: 1ms }", "processing: { fixd: 1ms }")
            .replace("targets: web }", "targets: web, idle: 1s }")
            .replace("rate: 10 }", "rate: 10 }\n  d: { azs: { use1-az9: 1 }, target: lb, rate: 10 }\n  e: { azs: { use1-az1: 1 }, target: lb, rate: ten }");
        let issues = positions(&text);
        let lines: Vec<u64> = issues.iter().map(|i| i.0).collect();
        assert_eq!(lines, vec![9, 11, 14, 15], "{issues:?}");
        assert!(issues[2].2.contains("unknown AZ `use1-az9`"), "{issues:?}");
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
