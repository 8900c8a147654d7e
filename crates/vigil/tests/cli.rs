//! The binary's command-line surface, run as a user would run it.

use std::process::{Command, Output};

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .expect("run vigil")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_lists_every_command() {
    let out = vigil(&["--help"]);
    assert!(out.status.success());
    for command in ["version", "crds", "validate", "run", "replay", "demo"] {
        assert!(
            stdout(&out).contains(command),
            "--help does not mention {command}:\n{}",
            stdout(&out)
        );
    }
}

#[test]
fn version_names_the_crate_version_and_api() {
    let out = vigil(&["version"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("vigil {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("zen.kube-zen.io/v1"), "{text}");
}

#[test]
fn crds_prints_exactly_the_committed_crds() {
    let out = vigil(&["crds"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    for file in [
        "observations.zen.kube-zen.io.yaml",
        "ingesters.zen.kube-zen.io.yaml",
        "clusterreports.zen.kube-zen.io.yaml",
    ] {
        let committed = std::fs::read_to_string(root.join(file)).expect("committed CRD");
        let body = committed.trim_start_matches("---\n").trim();
        assert!(text.contains(body), "`vigil crds` output lacks {file}");
    }
}

#[test]
fn validate_accepts_the_examples_and_names_the_field_of_a_bad_ingester() {
    let root =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/ingesters");
    let good = root.join("k8s-events.yaml");
    let out = vigil(&["validate", good.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = std::env::temp_dir().join(format!("vigil-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.yaml");
    let text = std::fs::read_to_string(&good)
        .expect("example")
        .replace("eventsPerSecond: 500", "eventsPerSecond: -5");
    std::fs::write(&bad, text).expect("write bad");
    let out = vigil(&["validate", bad.to_str().expect("utf-8 path")]);
    assert!(!out.status.success(), "a negative rate was accepted");
    let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(
        all.contains("rateLimit.eventsPerSecond"),
        "error does not name the field:\n{all}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_accepts_every_shipped_preset() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/ingesters");
    let mut presets: Vec<_> = std::fs::read_dir(&root)
        .expect("deploy/ingesters")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    presets.sort();
    assert!(presets.len() >= 4, "presets: {presets:?}");
    for preset in &presets {
        let out = vigil(&["validate", preset.to_str().expect("utf-8 path")]);
        assert!(
            out.status.success(),
            "{}: {}{}",
            preset.display(),
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout(&out).contains("is valid"), "{}", stdout(&out));
    }
}
