//! JUnit XML for CI dashboards: a test suite per scenario, a test case per variant.
//!
//! Same seed, same bytes: a test case's `time` is `0` (no wall clock goes into a report); the
//! simulated seconds and the seed are the test case's properties. A variant that broke
//! expectations carries one `<failure>` listing them all, and the replay line.

use std::fmt::Write as _;

use crate::record::RunRecord;

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML of these runs of `file`'s variants.
pub fn junit_xml(records: &[RunRecord], file: &str) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failures = records.iter().filter(|r| !r.passed).count();
    let _ = writeln!(s, "<testsuites name=\"azsim\" tests=\"{}\" failures=\"{failures}\" time=\"0\">", records.len());
    let scenario = records.first().map_or("", |r| r.scenario.as_str());
    let _ = writeln!(s, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"0\">", xml_escape(scenario), records.len());
    for r in records {
        let _ = writeln!(s, "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">", xml_escape(&r.scenario), xml_escape(&r.variant));
        let _ = writeln!(s, "      <properties>");
        let _ = writeln!(s, "        <property name=\"simulated_seconds\" value=\"{}\"/>", r.duration_s);
        let _ = writeln!(s, "        <property name=\"seed\" value=\"{}\"/>", r.seed);
        let _ = writeln!(s, "      </properties>");
        let failed: Vec<String> =
            r.expectations.iter().filter(|e| !e.passed).map(|e| format!("{}: expected {}, got {}", e.name, e.expected, e.actual)).collect();
        if !r.passed {
            let replay = format!("replay: azsim run {file} --seed {} --variant {}", r.seed, r.variant);
            let mut body = failed.join("\n");
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&replay);
            let message = if failed.is_empty() { "failed".to_string() } else { failed.join("; ") };
            let _ = writeln!(s, "      <failure message=\"{}\" type=\"expectation\">{}</failure>", xml_escape(&message), xml_escape(&body));
        }
        let _ = writeln!(s, "    </testcase>");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}
