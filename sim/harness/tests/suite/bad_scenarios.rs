//! A corpus of broken scenarios and the messages they must produce (fixtures/bad-scenarios).

use std::process::Command;

use crate::root;

fn corpus() -> Vec<(String, Vec<String>)> {
    let dir = root().join("fixtures/bad-scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "yaml")).collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let expected = std::fs::read_to_string(p.with_extension("expected")).unwrap_or_else(|_| panic!("{} has no .expected file", p.display()));
            let rel = p.strip_prefix(root()).unwrap().to_string_lossy().to_string();
            (rel, expected.lines().filter(|l| !l.is_empty()).map(String::from).collect())
        })
        .collect()
}

#[test]
fn every_bad_file_is_rejected_with_its_message() {
    let corpus = corpus();
    assert!(corpus.len() >= 10, "the corpus shrank");
    for (file, expected) in corpus {
        let err = azsim_scenario::load(root().join(&file).to_str().unwrap()).expect_err(&file).to_string();
        for needle in &expected {
            // `errors: N`: the file has exactly N errors (nothing reported twice or in vain).
            if let Some(count) = needle.strip_prefix("errors: ") {
                let reported = err.lines().filter(|l| l.starts_with("error: ")).count();
                assert_eq!(reported.to_string(), count, "{file}: {reported} errors, not {count}:\n{err}");
                continue;
            }
            assert!(err.contains(needle.as_str()), "{file}: message lacks `{needle}`:\n{err}");
        }
        for line in err.lines().filter(|l| l.starts_with("error: ")) {
            let position = line.trim_start_matches("error: ").split(": ").next().unwrap_or("");
            assert!(position.split(':').count() == 3, "{file}: an error without line and column: {line}");
        }
    }
}

#[test]
fn the_cli_exits_2_without_panicking() {
    for (file, expected) in corpus() {
        let out = Command::new(env!("CARGO_BIN_EXE_azsim")).args(["check", &file]).current_dir(root()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert!(!stderr.contains("panicked"), "{file} panicked: {stderr}");
        assert!(stderr.contains(&expected[0]), "{file}: stderr lacks `{}`:\n{stderr}", expected[0]);
    }
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = std::fs::read_to_string(root().join("fixtures/bad-scenarios/unknown-az.yaml")).unwrap().replace("targets: web", "targets: wbe");
    let err = azsim_scenario::load_str(azsim_scenario::Source { name: "two.yaml".into(), text }).unwrap_err();
    assert_eq!(err.issues.len(), 2, "{err}");
}
