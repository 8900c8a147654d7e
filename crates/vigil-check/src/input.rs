//! Turning manifest text into [`Manifest`]s: YAML streams (multi-document,
//! Helm-rendered with `# Source:` comments and empty documents), JSON, `List`
//! kinds. Each document is parsed on its own, so one malformed document is
//! reported (file, document, line) and the others are still checked. Owns no
//! I/O: callers hand it the text and a name for it.

mod documents;
mod typed;

use crate::object::{Manifest, Origin};
use schemars::JsonSchema;
use serde::Serialize;

pub use documents::{split_documents, Document};

/// Why one document (or one `List` item) could not be read; the others still are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{file}{}: {message}", where_in_file(*document, *item, *line))]
pub struct InputError {
    pub file: String,
    /// 1-based document index; 0 when the file itself could not be read.
    pub document: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

fn where_in_file(document: usize, item: Option<usize>, line: Option<usize>) -> String {
    if document == 0 {
        return String::new();
    }
    let mut s = format!(": document {document}");
    if let Some(i) = item {
        s.push_str(&format!(" item {i}"));
    }
    if let Some(l) = line {
        s.push_str(&format!(" (line {l})"));
    }
    s
}

/// Everything read from some text: the objects and the documents that failed.
#[derive(Debug, Default)]
pub struct Parsed {
    pub manifests: Vec<Manifest>,
    pub errors: Vec<InputError>,
}

impl Parsed {
    pub fn extend(&mut self, other: Parsed) {
        self.manifests.extend(other.manifests);
        self.errors.extend(other.errors);
    }
}

/// Parses manifest text named `file` (a path, `-` for stdin).
pub fn parse_manifests(file: &str, text: &str) -> Parsed {
    let mut out = Parsed::default();
    if looks_like_json(text) {
        parse_json(file, text, &mut out);
        if out.errors.is_empty() {
            return out;
        }
        // Not JSON after all? A YAML flow mapping (`{kind: Pod, ...}`) starts the same way.
        let yaml = parse_yaml(file, text);
        return if yaml.errors.is_empty() { yaml } else { out };
    }
    parse_yaml(file, text)
}

fn parse_yaml(file: &str, text: &str) -> Parsed {
    let mut out = Parsed::default();
    for doc in split_documents(text) {
        let origin = Origin {
            file: file.to_string(),
            document: doc.index,
            item: None,
            line: Some(doc.content_line),
            helm_source: doc.helm_source.clone(),
        };
        match serde_saphyr::from_str::<serde_json::Value>(doc.text) {
            Ok(serde_json::Value::Null) => {} // empty document (Helm renders many)
            Ok(value) => add_value(value, origin, &mut out),
            Err(e) => {
                let line = match e.location() {
                    Some(at) if at.line() > 0 => doc.start_line + at.line() as usize - 1,
                    _ => doc.content_line,
                };
                let message = one_line(&e.without_snippet().to_string());
                // The parser counts lines from the document; the file's line is in `line`.
                let message = match message.rfind(" at line ") {
                    Some(at) => message[..at].to_string(),
                    None => message,
                };
                out.errors.push(InputError {
                    file: file.to_string(),
                    document: doc.index,
                    item: None,
                    line: Some(line),
                    message: format!("not valid YAML: {message}"),
                })
            }
        }
    }
    out
}

/// Reads one object already parsed into JSON (for example from an API
/// server's list response); the error names the object and the field.
pub fn from_value(value: serde_json::Value, origin: Origin) -> Result<Manifest, String> {
    typed::to_manifest(value, origin)
}

/// Reads any serializable object (a kube `DynamicObject` from a list, a
/// k8s-openapi value) as `apiVersion`/`kind`: list items often omit both.
pub fn from_serializable(
    item: &impl Serialize,
    api_version: &str,
    kind: &str,
    origin: Origin,
) -> Result<Manifest, String> {
    let mut value = serde_json::to_value(item).map_err(|e| format!("{kind}: {e}"))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), api_version.into());
        map.insert("kind".into(), kind.into());
    }
    from_value(value, origin)
}

fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().chars().next(), Some('{' | '['))
}

fn parse_json(file: &str, text: &str, out: &mut Parsed) {
    let origin = Origin {
        file: file.to_string(),
        document: 1,
        item: None,
        line: Some(
            1 + text[..text.len() - text.trim_start().len()]
                .matches('\n')
                .count(),
        ),
        helm_source: None,
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => add_items(items, origin, out),
        Ok(value) => add_value(value, origin, out),
        Err(e) => out.errors.push(InputError {
            file: file.to_string(),
            document: 1,
            item: None,
            line: Some(e.line()),
            message: format!("not valid JSON: {e}"),
        }),
    }
}

fn add_value(value: serde_json::Value, origin: Origin, out: &mut Parsed) {
    let is_list = value
        .get("kind")
        .and_then(|k| k.as_str())
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && value.get("items").is_some_and(|i| i.is_array());
    if is_list {
        if let Some(serde_json::Value::Array(items)) = value.get("items").cloned() {
            add_items(items, origin, out);
        }
        return;
    }
    push(typed::to_manifest(value, origin.clone()), origin, out);
}

fn add_items(items: Vec<serde_json::Value>, origin: Origin, out: &mut Parsed) {
    for (i, item) in items.into_iter().enumerate() {
        let origin = Origin {
            item: Some(i + 1),
            ..origin.clone()
        };
        push(typed::to_manifest(item, origin.clone()), origin, out);
    }
}

fn push(result: Result<Manifest, String>, origin: Origin, out: &mut Parsed) {
    match result {
        Ok(m) => out.manifests.push(m),
        Err(message) => out.errors.push(InputError {
            file: origin.file,
            document: origin.document,
            item: origin.item,
            line: origin.line,
            message,
        }),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
