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

/// The scenario language refuses exactly the header mappings the API Gateway fake refuses
/// (each keeps its own list of AWS's reserved headers: the language so that the error has its
/// line and column, the fake so that it never applies one).
#[test]
fn the_language_and_the_fake_agree_on_reserved_headers() {
    let headers = [
        "authorization",
        "Authorization",
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
        "access-control-allow-origin",
        "apigw-requestid",
        "x-amz-date",
        "x-amzn-trace-id",
        "x-forwarded-port",
        "x-tenant",
        "host",
        "accept",
        "x-amzn",
    ];
    let sane = |text: String| azsim_scenario::load_str(azsim_scenario::Source { name: "m.yaml".into(), text }).map(|_| ()).map_err(|e| e.to_string());
    for h in headers {
        let key = format!("overwrite:header.{h}");
        let text = format!(
            "version: 1\nname: m\nduration: 1s\nregions:\n  r: {{ azs: [a] }}\nservices:\n  s: {{ instances: {{ a: 1 }} }}\n\
             load_balancers:\n  lb: {{ kind: nlb, azs: [a], targets: s }}\napi_gateways:\n  api:\n    vpc_link: [a]\n    routes:\n\
             \x20     \"GET /\": {{ load_balancer: lb, request_parameters: {{ \"{key}\": v }} }}\n\
             clients:\n  c: {{ azs: {{ a: 1 }}, target: api, rate: 1 }}\n"
        );
        let language = match sane(text) {
            Ok(()) => false,
            Err(e) => {
                assert!(e.contains("reserved header"), "`{h}`: a scenario that fails for another reason: {e}");
                true
            }
        };
        let fake = azsim_fakes::apigw::mapping::Mapping::parse(&key, "v").is_err();
        assert_eq!(language, fake, "`{h}`: the language refuses it: {language}; the fake: {fake}");
    }
}
