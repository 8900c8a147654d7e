//! Reading paths: directories recursively in a stable order, only manifest
//! extensions, hidden entries skipped, unreadable paths reported as errors
//! while everything readable is still parsed.

use std::path::PathBuf;

fn ns(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
}

/// A fresh tree per test (tests run in parallel).
fn tree(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-check-files-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["b/deeper", "a", ".git"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    let files = [
        ("b/deeper/z.yml", ns("z")),
        ("a/one.yaml", ns("one")),
        (
            "a/two.JSON",
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"two"}}"#.to_string(),
        ),
        ("a/notes.txt", ns("ignored-txt")),
        ("a/.hidden.yaml", ns("ignored-hidden")),
        (".git/config.yaml", ns("ignored-git")),
        ("root.yaml", ns("root")),
    ];
    for (path, text) in files {
        std::fs::write(dir.join(path), text).expect("write");
    }
    dir
}

fn names(p: &vigil_check::Parsed) -> Vec<String> {
    p.manifests.iter().map(|m| m.name().to_string()).collect()
}

#[test]
fn directories_are_walked_recursively_in_order() {
    let dir = tree("walk");
    let parsed = vigil_check::files::load(std::slice::from_ref(&dir));
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(names(&parsed), ["one", "two", "z", "root"]);
    let origin = &parsed.manifests[2].origin;
    assert!(origin.file.ends_with("b/deeper/z.yml"), "{}", origin.file);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn an_explicit_file_is_read_whatever_its_extension() {
    let dir = tree("explicit");
    let parsed = vigil_check::files::load(&[dir.join("a/notes.txt")]);
    assert_eq!(names(&parsed), ["ignored-txt"]);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn missing_paths_and_empty_directories_are_errors_and_the_rest_is_read() {
    let dir = tree("missing");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let parsed = vigil_check::files::load(&[dir.join("nope.yaml"), empty, dir.join("root.yaml")]);
    assert_eq!(names(&parsed), ["root"]);
    assert_eq!(parsed.errors.len(), 2, "{:?}", parsed.errors);
    assert!(parsed.errors.iter().all(|e| e.document == 0));
    assert!(parsed.errors[0].file.ends_with("nope.yaml"));
    assert!(
        parsed.errors[1]
            .message
            .contains("no .yaml, .yml or .json file"),
        "{}",
        parsed.errors[1]
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}
