//! Every check against its fixtures: `tests/fixtures/<check-id>/{pass,fail}*.yaml`,
//! each starting with `# expect: <ids>` (or `none`), the exact set of checks
//! that must fail on the whole file with the default config. A fail fixture
//! must expect its directory's check; a pass fixture must not, and the check
//! must actually have applied (a pass, not a skip) unless the fixture says
//! `# applies: no`, in which case it must not have applied to anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use vigil_check::{catalogue, parse_manifests, Config, Status};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn expected(text: &str, path: &Path) -> BTreeSet<String> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# expect:"))
        .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
    let line = line.trim();
    if line == "none" {
        return BTreeSet::new();
    }
    line.split(',').map(|s| s.trim().to_string()).collect()
}

struct Case {
    check: String,
    path: PathBuf,
    failing: bool,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let check = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_string();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("check directory")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for path in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name")
                .to_string();
            assert!(
                name.ends_with(".yaml") && (name.starts_with("pass") || name.starts_with("fail")),
                "{}: fixtures are named pass*.yaml or fail*.yaml",
                path.display()
            );
            out.push(Case {
                check: check.clone(),
                failing: name.starts_with("fail"),
                path,
            });
        }
    }
    out
}

#[test]
fn every_fixture_fails_exactly_the_expected_checks() {
    let mut problems = Vec::new();
    let cases = cases();
    for case in &cases {
        let text = std::fs::read_to_string(&case.path).expect("read fixture");
        let want = expected(&text, &case.path);
        let parsed = parse_manifests(&case.path.display().to_string(), &text);
        assert!(
            parsed.errors.is_empty(),
            "{}: {:?}",
            case.path.display(),
            parsed.errors
        );
        let report = vigil_check::run(&parsed, &Config::default());
        let got: BTreeSet<String> = report.failures().map(|(_, r)| r.check.clone()).collect();
        if got != want {
            let messages: Vec<String> = report
                .failures()
                .map(|(o, r)| format!("{} {}: {}", o.name, r.check, r.messages.join("; ")))
                .collect();
            problems.push(format!(
                "{}:\n  expected {want:?}\n  got      {got:?}\n  {}",
                case.path.display(),
                messages.join("\n  ")
            ));
        }
        let results = || {
            report
                .objects
                .iter()
                .flat_map(|o| &o.results)
                .filter(|r| r.check == case.check)
        };
        if case.failing {
            assert!(
                want.contains(&case.check),
                "{}: a fail fixture must expect {}",
                case.path.display(),
                case.check
            );
        } else if text.lines().any(|l| l.trim() == "# applies: no") {
            if results().next().is_some() {
                problems.push(format!(
                    "{}: {} applied, but the fixture says it does not",
                    case.path.display(),
                    case.check
                ));
            }
        } else {
            assert!(
                !want.contains(&case.check),
                "{}: a pass fixture must not expect {}",
                case.path.display(),
                case.check
            );
            if !results().any(|r| r.status == Status::Pass) {
                problems.push(format!(
                    "{}: {} never passed here (it did not apply), so the fixture proves nothing",
                    case.path.display(),
                    case.check
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} fixtures disagree:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_check_has_pass_and_fail_fixtures_and_every_directory_is_a_check() {
    let cases = cases();
    let ids: BTreeSet<&str> = catalogue::checks().map(|c| c.id).collect();
    for case in &cases {
        assert!(
            ids.contains(case.check.as_str()),
            "fixtures/{} is not a check id",
            case.check
        );
    }
    for id in ids {
        let pass = cases.iter().any(|c| c.check == id && !c.failing);
        let fail = cases.iter().any(|c| c.check == id && c.failing);
        assert!(
            pass && fail,
            "{id}: needs pass*.yaml and fail*.yaml fixtures (pass={pass}, fail={fail})"
        );
    }
}
