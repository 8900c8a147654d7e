//! The filesystem edge: expands the paths a user gives into manifest files
//! (directories recursively, `.yaml` / `.yml` / `.json`, hidden entries and
//! symlinked directories skipped, stable order), reads them (`-` is standard
//! input) and parses each with `input`. An unreadable file becomes an
//! [`InputError`] for document 0 (the file itself); nothing else stops.

use crate::input::{parse_manifests, InputError, Parsed};
use std::io::Read;
use std::path::{Path, PathBuf};

const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Reads and parses every manifest under `paths`.
pub fn load(paths: &[PathBuf]) -> Parsed {
    let mut parsed = Parsed::default();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => parsed.extend(parse_manifests("-", &text)),
                Err(e) => parsed.errors.push(file_error("-", &e.to_string())),
            }
            continue;
        }
        let mut files = Vec::new();
        if let Err(e) = expand(path, true, &mut files) {
            parsed
                .errors
                .push(file_error(&path.display().to_string(), &e.to_string()));
            continue;
        }
        if files.is_empty() {
            let msg = "directory holds no .yaml, .yml or .json file";
            parsed
                .errors
                .push(file_error(&path.display().to_string(), msg));
        }
        for file in files {
            let name = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => parsed.extend(parse_manifests(&name, &text)),
                Err(e) => parsed.errors.push(file_error(&name, &e.to_string())),
            }
        }
    }
    parsed
}

fn file_error(file: &str, message: &str) -> InputError {
    InputError {
        file: file.to_string(),
        document: 0,
        item: None,
        line: None,
        message: message.to_string(),
    }
}

/// Files under `path`: the path itself when it is a file (given explicitly,
/// any extension), else the manifest files of the tree, sorted.
fn expand(path: &Path, top: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = if top {
        std::fs::metadata(path)?
    } else {
        std::fs::symlink_metadata(path)?
    };
    if meta.is_file() || (top && !meta.is_dir()) {
        out.push(path.to_path_buf());
        return Ok(());
    }
    if meta.file_type().is_symlink() {
        // A symlinked file inside a tree is read; a symlinked directory is not
        // followed (no loops).
        if std::fs::metadata(path).is_ok_and(|m| m.is_file()) && has_manifest_extension(path) {
            out.push(path.to_path_buf());
        }
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for entry in entries {
        let is_dir = std::fs::symlink_metadata(&entry).is_ok_and(|m| m.is_dir());
        if is_dir || has_manifest_extension(&entry) || entry.is_symlink() {
            expand(&entry, false, out)?;
        }
    }
    Ok(())
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}
