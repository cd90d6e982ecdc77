//! A scenario as a plain YAML tree that remembers where each key and value was written, and
//! that tree written back as YAML text whose every position maps back to the source.
//!
//! The typed model is read by serde-saphyr from text; a variant is the baseline's tree with the
//! variant's merged into it (`variant.rs`), and a file with a structural error is read again
//! without the part that failed (`recover.rs`). Both read a tree that was never written: the
//! tree is emitted as flow YAML (one key or item a line) and each token's position is kept,
//! so an error in the emitted text is reported where its value is in the file.
//!
//! The tree is read by serde-saphyr too (anchors, aliases and merge keys resolve as in the
//! typed read); a plain scalar is written back as it was written, so it reads as it did.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use crate::load::Issue;

/// A position in the source (1-based; 0 when unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    fn of(l: &Location) -> Pos {
        Pos { line: l.line(), column: l.column() }
    }
}

/// A YAML value with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub at: Pos,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// `plain`: written without quotes exactly as the string reads, so it can be written back
    /// so (a plain scalar a typed field reads its own way, e.g. `1_000`, stays as it was).
    Str {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A key of a map and its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub key: Key,
    pub value: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Key {
    pub text: String,
    pub plain: bool,
    pub at: Pos,
}

impl Node {
    pub(crate) fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entries().iter().find(|e| e.key.text == key).map(|e| &e.value)
    }

    /// Removes `key` from a map (nothing if this is not a map or has no such key).
    pub(crate) fn remove(&mut self, key: &str) -> Option<Node> {
        let Value::Map(entries) = &mut self.value else { return None };
        let i = entries.iter().position(|e| e.key.text == key)?;
        Some(entries.remove(i).value)
    }
}

/// Reads `text` as a tree. Fails as the typed read would on text that is not YAML.
pub(crate) fn parse(text: &str) -> Result<Node, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        // `.inf` is a valid value of a typed `f64`; the tree only carries it.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
    };
    let raw: Spanned<Raw> = serde_saphyr::from_str_with_options(text, options)?;
    Ok(convert(raw, text))
}

/// Reads `T` from `text` as a scenario file is read.
pub(crate) fn read_typed<T: de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, serde_saphyr::options! { strict_booleans: true })
}

/// What serde-saphyr hands over, before the source text tells plain scalars apart.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<String>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                Raw::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Raw::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = a.next_key()? {
                    entries.push((key, a.next_value()?));
                }
                Ok(Raw::Map(entries))
            }
        }
        d.deserialize_any(Any)
    }
}

/// Whether the value at `at` is written in `source` exactly as `text` reads (a plain scalar).
fn written_plain(at: &Location, text: &str, source: &str) -> bool {
    let span = at.span();
    let written = span.byte_offset().zip(span.byte_len()).and_then(|(from, len)| source.get(from as usize..(from + len) as usize));
    written == Some(text) && !text.is_empty()
}

fn convert(raw: Spanned<Raw>, source: &str) -> Node {
    let at = Pos::of(&raw.referenced);
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Int(i) => Value::Int(i),
        Raw::UInt(u) => Value::UInt(u),
        Raw::Float(f) => Value::Float(f),
        Raw::Str(text) => Value::Str { plain: written_plain(&raw.referenced, &text, source), text },
        Raw::Seq(items) => Value::Seq(items.into_iter().map(|i| convert(i, source)).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| Entry {
                    key: Key { plain: written_plain(&k.referenced, &k.value, source), at: Pos::of(&k.referenced), text: k.value },
                    value: convert(v, source),
                })
                .collect(),
        ),
    };
    Node { at, value }
}

// === impl Emitted ===

/// A tree written as YAML, with where each token came from.
pub(crate) struct Emitted {
    pub text: String,
    /// Per line (0-based): the column where each token starts and its position in the source.
    tokens: Vec<Vec<(u64, Pos)>>,
    /// The lines (0-based, inclusive) of the value at each path of one or two keys (`services`,
    /// `services.web`, `faults[2]`).
    parts: Vec<(Vec<Segment>, usize, usize)>,
}

/// A step in a path: a map's key or a list's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Writes `root` as YAML.
pub(crate) fn emit(root: &Node) -> Emitted {
    let mut w = Writer { out: Emitted { text: String::new(), tokens: vec![Vec::new()], parts: Vec::new() }, column: 0 };
    let mut path = Vec::new();
    w.node(root, 0, &mut path);
    w.out.text.push('\n');
    w.out
}

struct Writer {
    out: Emitted,
    /// Characters written on the current line.
    column: u64,
}

impl Writer {
    fn put(&mut self, s: &str, from: Option<Pos>) {
        if let Some(at) = from.filter(|p| p.line > 0) {
            self.out.tokens.last_mut().expect("a line").push((self.column + 1, at));
        }
        self.out.text.push_str(s);
        self.column += s.chars().count() as u64;
    }

    fn newline(&mut self, indent: usize) {
        self.out.text.push('\n');
        self.out.tokens.push(Vec::new());
        self.column = 0;
        self.put(&" ".repeat(indent), None);
    }

    fn line(&self) -> usize {
        self.out.tokens.len() - 1
    }

    fn node(&mut self, node: &Node, indent: usize, path: &mut Vec<Segment>) {
        let first = self.line();
        match &node.value {
            Value::Map(entries) if !entries.is_empty() => {
                self.put("{", Some(node.at));
                for (i, e) in entries.iter().enumerate() {
                    self.newline(indent + 2);
                    self.put(&scalar_text(&e.key.text, e.key.plain), Some(e.key.at));
                    self.put(": ", None);
                    path.push(Segment::Key(e.key.text.clone()));
                    self.node(&e.value, indent + 2, path);
                    path.pop();
                    if i + 1 < entries.len() {
                        self.put(",", None);
                    }
                }
                self.newline(indent);
                self.put("}", Some(node.at));
            }
            Value::Seq(items) if !items.is_empty() => {
                self.put("[", Some(node.at));
                for (i, item) in items.iter().enumerate() {
                    self.newline(indent + 2);
                    path.push(Segment::Index(i));
                    self.node(item, indent + 2, path);
                    path.pop();
                    if i + 1 < items.len() {
                        self.put(",", None);
                    }
                }
                self.newline(indent);
                self.put("]", Some(node.at));
            }
            Value::Map(_) => self.put("{}", Some(node.at)),
            Value::Seq(_) => self.put("[]", Some(node.at)),
            Value::Null => self.put("null", Some(node.at)),
            Value::Bool(b) => self.put(if *b { "true" } else { "false" }, Some(node.at)),
            Value::Int(i) => self.put(&i.to_string(), Some(node.at)),
            Value::UInt(u) => self.put(&u.to_string(), Some(node.at)),
            Value::Float(f) => self.put(&float_text(*f), Some(node.at)),
            Value::Str { text, plain } => self.put(&scalar_text(text, *plain), Some(node.at)),
        }
        if (1..=2).contains(&path.len()) {
            self.out.parts.push((path.clone(), first, self.line()));
        }
    }
}

fn float_text(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf".into() } else { "-.inf".into() }
    } else {
        // Debug keeps a `.0` or an exponent: the text reads back as this float.
        format!("{f:?}")
    }
}

/// A string as a flow scalar: as it was written if that reads the same inside `{ }`, else
/// double-quoted (which reads as the same string).
fn scalar_text(text: &str, plain: bool) -> String {
    let mut chars = text.chars();
    let first_ok = match (chars.next(), chars.next()) {
        (None, _) => false,
        // `-3m`, `?x`, `:x` are plain; `- `, `? `, `: ` and a lone indicator are not.
        (Some('-' | '?' | ':'), Some(next)) => !next.is_whitespace(),
        (Some(c), _) => !c.is_whitespace() && !"-?:#&*!|>'\"%@`".contains(c),
    };
    let flow_plain =
        first_ok && !text.contains([',', '[', ']', '{', '}', '\n', '\t', '\r']) && !text.contains(": ") && !text.contains(" #") && !text.ends_with([':', ' ']);
    if plain && flow_plain {
        return text.to_string();
    }
    let mut q = String::with_capacity(text.len() + 2);
    q.push('"');
    for c in text.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if c.is_control() => q.push_str(&format!("\\u{:04x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

impl Emitted {
    /// Where the source has what the emitted text has at `line`, `column` (1-based; (0, 0)
    /// stays unknown).
    pub(crate) fn source_position(&self, line: u64, column: u64) -> (u64, u64) {
        if line == 0 || line as usize > self.tokens.len() {
            return (0, 0);
        }
        let on_line = &self.tokens[line as usize - 1];
        let token = on_line.iter().rev().find(|(c, _)| *c <= column).or(on_line.first());
        let token = match token {
            Some(t) => *t,
            // A line with no token of its own: the nearest token above it.
            None => match self.tokens[..line as usize - 1].iter().rev().find_map(|l| l.last()) {
                Some((_, at)) => return (at.line, at.column),
                None => return (0, 0),
            },
        };
        let (start, at) = token;
        (at.line, at.column + column.saturating_sub(start))
    }

    /// Moves `issue` from the emitted text to the source.
    pub(crate) fn relocate(&self, issue: &mut Issue) {
        (issue.line, issue.column) = self.source_position(issue.line, issue.column);
    }

    /// The path of one or two segments whose value is written at emitted `line` (1-based),
    /// the longest that holds it.
    pub(crate) fn part_at(&self, line: u64) -> Option<&[Segment]> {
        let line = (line as usize).checked_sub(1)?;
        self.parts.iter().filter(|(_, from, to)| (*from..=*to).contains(&line)).max_by_key(|(p, _, _)| p.len()).map(|(p, _, _)| p.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip_positions(n: &mut Node) {
        n.at = Pos::default();
        match &mut n.value {
            Value::Seq(items) => items.iter_mut().for_each(strip_positions),
            Value::Map(entries) => entries.iter_mut().for_each(|e| {
                e.key.at = Pos::default();
                strip_positions(&mut e.value)
            }),
            _ => {}
        }
    }

    /// Each kind of scalar, emitted and read again, is the same value; positions map back.
    #[test]
    fn emitted_text_reads_as_the_source() {
        let source = "a: 10\nb: \"10\"\nc: &x { p: -1, q: [1, 2.5, yes, ~, '', 1e-7, .inf] }\nd: *x\ne:\n  <<: *x\n  p: 3\nf: |\n  two\n  lines\n\"GET /x\": 1_000\ng: a, b [c] d:e\nh:\ni: -3m\nj: 'it''s # \"q\"'\n";
        let tree = parse(source).expect("the source is YAML");
        let emitted = emit(&tree);
        let mut again = parse(&emitted.text).unwrap_or_else(|e| panic!("{e}\n{}", emitted.text));
        let mut original = tree.clone();
        strip_positions(&mut again);
        strip_positions(&mut original);
        // `plain` may differ where the source's spelling was not safe in flow; values may not.
        let text = |n: &Node| format!("{n:?}").replace("plain: true", "plain: _").replace("plain: false", "plain: _");
        assert_eq!(text(&again), text(&original), "{}", emitted.text);
        // `b`'s value, quoted in the source at 2:4.
        let b = tree.get("b").expect("b");
        let line = emitted.text.lines().position(|l| l.trim_start().starts_with("b:")).expect("b emitted") as u64 + 1;
        let column = emitted.text.lines().nth(line as usize - 1).unwrap().find("\"10\"").unwrap() as u64 + 1;
        assert_eq!(emitted.source_position(line, column), (b.at.line, b.at.column));
        assert_eq!((b.at.line, b.at.column), (2, 4));
    }
}

#[cfg(test)]
mod faithful {
    use super::*;

    /// Every `Location { line: L, column: C, ...}` in a Debug text, replaced by `f(L, C)`.
    fn map_locations(debug: &str, f: impl Fn(u64, u64) -> (u64, u64)) -> String {
        let mut out = String::new();
        let mut rest = debug;
        while let Some(i) = rest.find("Location {") {
            out.push_str(&rest[..i]);
            let after = &rest[i..];
            let mut depth = 0;
            let mut end = after.len();
            for (j, c) in after.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let body = &after[..end];
            let num = |name: &str| -> u64 {
                let k = body.find(&format!("{name}: ")).expect("field") + name.len() + 2;
                body[k..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().expect("number")
            };
            let (l, c) = f(num("line"), num("column"));
            out.push_str(&format!("Loc({l}:{c})"));
            rest = &after[end..];
        }
        out.push_str(rest);
        out
    }

    fn yaml_files() -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "yaml") {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        walk(&root.join("scenarios"), &mut files);
        walk(&root.join("fixtures/bad-scenarios"), &mut files);
        files.sort();
        files
    }

    /// Every scenario file, read through its emitted tree, is the same file with the same
    /// positions (of values that are not written through an alias).
    #[test]
    fn every_scenario_reads_the_same_through_its_tree() {
        for path in yaml_files() {
            let source = std::fs::read_to_string(&path).expect("readable");
            let Ok(direct) = read_typed::<crate::ScenarioFile>(&source) else { continue };
            let tree = parse(&source).expect("YAML");
            let emitted = emit(&tree);
            let again: crate::ScenarioFile = read_typed(&emitted.text).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), emitted.text));
            let direct = map_locations(&format!("{direct:?}"), |l, c| (l, c));
            let again = map_locations(&format!("{again:?}"), |l, c| emitted.source_position(l, c));
            // Through an alias or a merge key serde-saphyr keeps where the value was defined
            // too; the tree keeps where it is used (`referenced`), which messages point at.
            let used =
                |s: &str| s.split("defined: Loc(").map(|part| part.split_once(')').map_or(part, |(_, rest)| rest)).collect::<Vec<_>>().join("defined: _");
            let (direct, again) = (used(&direct), used(&again));
            if direct != again {
                let (d, a): (Vec<&str>, Vec<&str>) = (direct.split("Loc(").collect(), again.split("Loc(").collect());
                let first = d.iter().zip(&a).position(|(x, y)| x != y).unwrap_or(0);
                panic!("{}: differs at {:?} vs {:?}", path.display(), d.get(first), a.get(first));
            }
        }
    }
}
