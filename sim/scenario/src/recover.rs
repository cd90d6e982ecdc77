//! Reading a file with structural errors: every one of them, not only the first.
//!
//! serde-saphyr stops at the first error. The file's tree (`tree.rs`) is then read again
//! without the part that failed: an entry of a section that is a map or a list
//! (`services.web`, `faults[2]`), or else the whole section, or, for a section the file must
//! have, a stand-in. Each round finds one more error, until the rest reads; what is left is
//! checked as usual, and the checks' messages about what was left out are dropped.

use crate::load::{Issue, parse_issue};
use crate::model::ScenarioFile;
use crate::tree::{self, Emitted, Entry, Key, Node, Pos, Segment, Value};
use crate::variant::shape::Shape;

/// At most this many structural errors are reported (each costs one more reading).
const MAX_ERRORS: usize = 50;

/// A file read from its tree.
pub(crate) struct Read {
    /// What read, once the parts with errors were left out; `None` if that was not possible.
    pub file: Option<ScenarioFile>,
    /// The structural errors, placed in the source.
    pub issues: Vec<Issue>,
    /// The text `file` was read from.
    pub emitted: Emitted,
    /// What was left out (or stood in for) because it did not read.
    pub left_out: Vec<LeftOut>,
    /// The tree `file` was read from.
    pub tree: Node,
}

/// A part of the file that did not read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LeftOut {
    /// A whole section (or a stand-in for it).
    Section(String),
    /// An entry of a section that is a map (`services.web`).
    Entry { section: String, name: String },
    /// An item of a section that is a list (`faults[2]`).
    Item { section: String },
}

impl LeftOut {
    /// Whether a check's `issue` may be about this missing part rather than about what is there.
    pub(crate) fn explains(&self, issue: &Issue) -> bool {
        match self {
            LeftOut::Section(section) => {
                issue.path == *section || issue.path.starts_with(&format!("{section}.")) || issue.path.starts_with(&format!("{section}["))
            }
            // A reference to it, or to one of its hosts (`web-use1-az1-0`); "at least one
            // client is needed".
            LeftOut::Entry { section, name } => {
                let names_it = issue.message.contains(&format!("`{name}`")) || issue.message.contains(&format!("`{name}-"));
                // A Region left out takes its AZs with it.
                let its_azs = section == "regions" && (issue.message.contains(" AZ") || issue.message.contains("Region"));
                issue.path == *section || names_it || its_azs
            }
            // "a recovery budget needs faults on the timeline"
            LeftOut::Item { section } => issue.path == *section || issue.message.contains(section.as_str()),
        }
    }
}

/// Reads `root` as a scenario file, leaving out each part with an error. An error in a part
/// `inherited` names (left out of the baseline, whose error was reported) is not reported
/// again: a variant that changes a part of an entry the baseline could not read has only
/// that part.
pub(crate) fn read(mut root: Node, inherited: &[LeftOut]) -> Read {
    let mut issues: Vec<Issue> = Vec::new();
    let mut left_out = Vec::new();
    loop {
        let emitted = tree::emit(&root);
        crate::one_of::reset();
        let parsed = tree::read_typed::<ScenarioFile>(&emitted.text);
        for mut issue in crate::one_of::take_deferred() {
            emitted.relocate(&mut issue);
            push_new(&mut issues, issue);
        }
        let error = match parsed {
            Ok(file) => return Read { file: Some(file), issues, emitted, left_out, tree: root },
            Err(e) => parse_issue(&e),
        };
        let mut placed = error.clone();
        emitted.relocate(&mut placed);
        let count = issues.len();
        let fresh = push_new(&mut issues, placed);
        let fix = fresh.then(|| leave_out(&mut root, &emitted, &error)).flatten();
        match fix {
            Some(part) if issues.len() < MAX_ERRORS => {
                // (A list's items are not: a variant's list replaces the baseline's.)
                if inherited.contains(&part) && !matches!(part, LeftOut::Item { .. }) {
                    issues.truncate(count);
                }
                left_out.push(part);
            }
            _ => return Read { file: None, issues, emitted, left_out, tree: root },
        }
    }
}

fn push_new(issues: &mut Vec<Issue>, issue: Issue) -> bool {
    let fresh = !issues.contains(&issue);
    if fresh {
        issues.push(issue);
    }
    fresh
}

/// Takes the part with `error` (placed in `emitted`) out of `root`; what was taken, or `None`
/// if the error cannot be pinned on a part.
fn leave_out(root: &mut Node, emitted: &Emitted, error: &Issue) -> Option<LeftOut> {
    let file = Shape::file();
    // A section the file must have is missing (serde-saphyr reports it at the file's last key).
    let missing = error.message.strip_prefix("missing field `").and_then(|m| m.split('`').next());
    if let Some(missing) = missing.filter(|m| file.required().iter().any(|r| r == m) && root.get(m).is_none()) {
        set(root, missing, stand_in(missing)?);
        return Some(LeftOut::Section(missing.to_string()));
    }
    let part = emitted.part_at(error.line)?;
    let Segment::Key(section) = &part[0] else { return None };
    let section = section.clone();
    if let [_, entry] = part
        && file.child(&section).is_collection()
        && let Some(left_out) = leave_out_entry(root, &section, entry)
    {
        return Some(left_out);
    }
    if file.required().contains(&section) {
        let replacement = stand_in(&section)?;
        if root.get(&section).is_some_and(|v| v.value == replacement.value) {
            return None;
        }
        set(root, &section, replacement);
    } else {
        root.remove(&section)?;
    }
    Some(LeftOut::Section(section))
}

/// Takes entry `entry` out of section `section` (a map or a list).
fn leave_out_entry(root: &mut Node, section: &str, entry: &Segment) -> Option<LeftOut> {
    let Value::Map(entries) = &mut root.value else { return None };
    let value = &mut entries.iter_mut().find(|e| e.key.text == section)?.value;
    let section = section.to_string();
    match (entry, &mut value.value) {
        (Segment::Key(name), Value::Map(items)) => {
            items.retain(|e| &e.key.text != name);
            Some(LeftOut::Entry { section, name: name.clone() })
        }
        (Segment::Index(i), Value::Seq(items)) if *i < items.len() => {
            items.remove(*i);
            Some(LeftOut::Item { section })
        }
        _ => None,
    }
}

/// A value that reads for a section the file must have, to read the rest of the file.
fn stand_in(section: &str) -> Option<Node> {
    let text = |t: &str| Value::Str { text: t.to_string(), plain: true };
    let value = match section {
        "version" => Value::UInt(1),
        "name" => text("unnamed"),
        "duration" => text("1s"),
        "regions" | "clients" => Value::Map(Vec::new()),
        _ => return None,
    };
    Some(Node { at: Pos::default(), value })
}

/// Sets `key` to `value`; a key that was missing is placed at the file's start (where an
/// error about it then points).
fn set(root: &mut Node, key: &str, value: Node) {
    let at = root.at;
    let Value::Map(entries) = &mut root.value else { return };
    match entries.iter_mut().find(|e| e.key.text == key) {
        Some(e) => e.value = Node { at: e.value.at, ..value },
        None => entries.push(Entry { key: Key { text: key.to_string(), plain: true, at }, value: Node { at, ..value } }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every section the file must have has a stand-in.
    #[test]
    fn every_required_section_has_a_stand_in() {
        for section in Shape::file().required() {
            assert!(stand_in(&section).is_some(), "`{section}` is required: give it a stand-in");
        }
    }
}
