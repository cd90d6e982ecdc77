//! `sim/fakes/FIDELITY.md` is checked, not trusted: every row names code that exists and a test
//! that exists (or says why the behaviour is not modelled), every conformance test of the fakes
//! is in some row, and no comment or document points at a file outside the repository.
//!
//! Plain `std::fs`: the table is Markdown, one row per line, `|` between cells and never inside
//! one, so splitting the line is the whole parser.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::root;

const TABLE: &str = "sim/fakes/FIDELITY.md";
const COLUMNS: [&str; 6] = ["id", "behaviour", "AWS says", "default here", "code", "test"];

/// One row of the table, its cells trimmed.
struct Row {
    line: usize,
    cells: Vec<String>,
}

impl Row {
    fn id(&self) -> &str {
        &self.cells[0]
    }
    fn code(&self) -> &str {
        &self.cells[4]
    }
    fn test(&self) -> &str {
        &self.cells[5]
    }
    fn not_modelled(&self) -> bool {
        self.test().starts_with("not modelled")
    }
    /// Modelled, but no test shows it yet: the row says so rather than name a test that does not
    /// check it.
    fn untested(&self) -> bool {
        self.test().starts_with("untested")
    }
}

fn is_row_id(cell: &str) -> bool {
    let Some((area, number)) = cell.split_once('-') else { return false };
    !area.is_empty() && area.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) && number.len() == 2 && number.chars().all(|c| c.is_ascii_digit())
}

/// The rows whose first cell is an id such as `ALB-07`, after checking the header of each table.
fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join(TABLE)).expect("sim/fakes/FIDELITY.md");
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(inner) = line.strip_prefix('|').and_then(|l| l.strip_suffix('|')) else { continue };
        let cells: Vec<String> = inner.split('|').map(|c| c.trim().to_string()).collect();
        if cells.first().is_some_and(|c| c == "id") {
            assert_eq!(cells, COLUMNS, "{TABLE}:{}: a table's columns", i + 1);
        }
        if cells.first().is_some_and(|c| is_row_id(c)) {
            assert_eq!(cells.len(), COLUMNS.len(), "{TABLE}:{}: row {} has {} cells, not 6 (a `|` inside a cell?)", i + 1, cells[0], cells.len());
            rows.push(Row { line: i + 1, cells });
        }
    }
    rows
}

/// The `` `...` `` spans of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// `path::a::b` split at the file: the path (ending `.rs`, `.yaml` or `.md`) and the names after it.
fn split_reference(reference: &str) -> Option<(&str, Vec<&str>)> {
    for ext in [".rs", ".yaml", ".md"] {
        if let Some(end) = reference.find(ext).map(|i| i + ext.len()) {
            let names = reference[end..].split("::").filter(|n| !n.is_empty()).collect();
            return Some((&reference[..end], names));
        }
    }
    None
}

fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        let before = text[..i].chars().next_back().is_none_or(|c| !ident(c));
        let after = text[i + word.len()..].chars().next().is_none_or(|c| !ident(c));
        before && after
    })
}

/// Whether `text` defines `fn name` with `#[test]` (or `#[tokio::test...]`) among the lines above it.
fn defines_test(text: &str, name: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    let signature = format!("fn {name}(");
    lines.iter().enumerate().any(|(i, line)| {
        line.contains(&signature) && lines[i.saturating_sub(4)..i].iter().any(|l| l.trim_start().starts_with("#[test]") || l.contains("::test"))
    })
}

/// The test functions of a file: the `fn` after each `#[test]` or `#[tokio::test]`.
fn test_functions(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut armed = false;
    for line in text.lines().map(str::trim_start) {
        if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
            armed = true;
        } else if armed && let Some(rest) = line.split_once("fn ").map(|(_, r)| r) {
            names.push(rest.split('(').next().unwrap_or_default().to_string());
            armed = false;
        }
    }
    names
}

fn read(root: &Path, path: &str) -> Option<String> {
    std::fs::read_to_string(root.join(path)).ok()
}

#[test]
fn every_row_has_an_id_a_source_and_six_cells() {
    let rows = rows();
    assert!(rows.len() >= 60, "{TABLE}: only {} rows", rows.len());
    let mut seen = BTreeSet::new();
    for row in &rows {
        let at = format!("{TABLE}:{} ({})", row.line, row.id());
        assert!(seen.insert(row.id().to_string()), "{at}: the id is used twice");
        assert!(row.cells[2].contains("https://"), "{at}: 'AWS says' needs the page's title and URL");
        assert!(!row.cells[1].is_empty() && !row.cells[3].is_empty(), "{at}: behaviour and default must say something");
        if row.not_modelled() || row.untested() {
            assert!(row.test().len() > "not modelled: ".len() + 10, "{at}: a row that is not modelled or untested says why");
        }
        if row.untested() {
            assert!(!code_spans(row.code()).is_empty(), "{at}: an untested row is modelled: name the code");
        } else if !row.not_modelled() {
            assert!(!code_spans(row.code()).is_empty(), "{at}: name the code (`path::name`)");
            assert!(!code_spans(row.test()).is_empty(), "{at}: name the test (`path::fn_name`), or say `not modelled` and why");
        }
    }
}

#[test]
fn every_code_reference_exists() {
    let root = root();
    for row in rows() {
        for reference in code_spans(row.code()) {
            let at = format!("{TABLE}:{} ({}): `{reference}`", row.line, row.id());
            let (path, names) = split_reference(reference).unwrap_or_else(|| panic!("{at}: not a `path::name` reference"));
            let text = read(&root, path).unwrap_or_else(|| panic!("{at}: no file {path}"));
            for name in names {
                assert!(contains_word(&text, name), "{at}: {path} has no `{name}`");
            }
        }
    }
}

#[test]
fn every_named_test_exists() {
    let root = root();
    // A row that is not modelled or untested says why in prose; its code spans are not references.
    for row in rows().into_iter().filter(|r| !r.not_modelled() && !r.untested()) {
        for reference in code_spans(row.test()) {
            let at = format!("{TABLE}:{} ({}): `{reference}`", row.line, row.id());
            let (path, names) = split_reference(reference).unwrap_or_else(|| panic!("{at}: not a `path::fn_name` reference"));
            let text = read(&root, path).unwrap_or_else(|| panic!("{at}: no file {path}"));
            let [name] = names[..] else { panic!("{at}: name one test function or scenario variant") };
            if path.ends_with(".yaml") {
                // Each variant of a scenario is a test (`cargo test --test scenarios`).
                let defined = name == "baseline" || text.lines().any(|l| l.strip_prefix("  ").is_some_and(|l| l.starts_with(&format!("{name}:"))));
                assert!(path.starts_with("scenarios/") && defined, "{at}: no variant `{name}` in {path}");
            } else {
                assert!(defines_test(&text, name), "{at}: {path} has no #[test] fn {name}");
            }
        }
    }
}

/// The fakes' conformance suite holds one documented behaviour per test: each belongs in a row.
#[test]
fn every_conformance_test_is_in_the_table() {
    let root = root();
    let named: BTreeSet<String> = rows().iter().flat_map(|r| code_spans(r.test()).into_iter().map(str::to_string).collect::<Vec<_>>()).collect();
    let dir = root.join("sim/fakes/tests/fakes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "rs")).collect();
    files.sort();
    let mut missing = Vec::new();
    let mut count = 0;
    for file in files {
        let relative = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        for name in test_functions(&std::fs::read_to_string(&file).unwrap()) {
            count += 1;
            if !named.contains(&format!("{relative}::{name}")) {
                missing.push(format!("`{relative}::{name}`"));
            }
        }
    }
    assert!(count > 20, "found only {count} conformance tests: has the suite moved?");
    assert!(
        missing.is_empty(),
        "conformance tests missing from {TABLE} (add a row, or name it in the row of the behaviour it checks):\n{}",
        missing.join("\n")
    );
}

/// Files a user does not have: citations of them belong in FIDELITY.md or the AWS page itself.
fn outside_citations() -> [String; 4] {
    // Spelt in pieces so that this file does not cite them itself.
    [["aws", "-semantics"].concat(), ["seeds", "/"].concat(), ["DESIGN", ".md"].concat(), ["..", "/shared"].concat()]
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| ["rs", "md", "yaml", "json", "toml"].iter().any(|x| e == *x)) {
            out.push(path);
        }
    }
}

#[test]
fn nothing_cites_a_file_outside_the_repository() {
    let root = root();
    let mut files = vec![root.join("README.md"), root.join("Cargo.toml")];
    for dir in ["sim", "scenarios", "benches", "fixtures"] {
        walk(&root.join(dir), &mut files);
    }
    let mut found: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for (i, line) in text.lines().enumerate() {
            if outside_citations().iter().any(|c| line.contains(c.as_str())) {
                found.entry(file.strip_prefix(&root).unwrap().display().to_string()).or_default().push(i + 1);
            }
        }
    }
    assert!(found.is_empty(), "these cite files a user does not have; cite {TABLE} or the AWS page instead: {found:?}");
}

/// The coverage the table's last section states is the one its rows give.
#[test]
fn the_stated_coverage_adds_up() {
    let text = std::fs::read_to_string(root().join(TABLE)).unwrap();
    let line = text.lines().find(|l| l.starts_with("Coverage:")).expect("a `Coverage: N of M behaviours` line");
    let numbers: Vec<u32> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    let [covered, listed, ..] = numbers[..] else { panic!("{line}") };
    assert!(covered <= listed && covered * 10 >= listed * 9, "{line}: under 90 %");
    let rows = rows();
    let left = text.split("## What is left").nth(1).expect("a `## What is left` section");
    let left_items = left.lines().filter(|l| l.starts_with("- ")).count() as u32;
    assert_eq!(listed - covered, left_items, "{line}: the behaviours left should be listed one per `- ` line under `## What is left`");
    let stated = |after: &str| -> usize {
        let rest = text.split(after).nth(1).unwrap_or_else(|| panic!("the coverage paragraph says `{after}N`"));
        rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("`{after}` is followed by a number"))
    };
    assert_eq!(stated("The table has "), rows.len(), "the stated number of rows");
    assert_eq!(stated("rows: "), rows.iter().filter(|r| !r.not_modelled()).count(), "the stated number of modelled rows");
    assert_eq!(stated("**differs**, "), rows.iter().filter(|r| r.untested()).count(), "the stated number of untested rows");
}
