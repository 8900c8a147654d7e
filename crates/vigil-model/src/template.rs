//! Field paths (`.report.artifact.tag`, `.items[0].name`, `.metadata.labels["app.kubernetes.io/name"]`)
//! and templates that embed them (`{{ .kind }}/{{ .name }}`), evaluated on JSON.
//! Owns syntax and evaluation; which paths a mapping uses is the mapping's business.

use serde_json::Value;
use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    steps: Vec<Step>,
    text: String,
}

/// Why a path or template was refused, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at offset {offset} in {text:?}")]
pub struct SyntaxError {
    pub text: String,
    pub offset: usize,
    pub message: String,
}

impl FieldPath {
    /// Parses `.a.b[0]["c.d"]`; the leading dot is optional, `.` alone is the whole record.
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        let err = |offset: usize, message: &str| SyntaxError {
            text: text.to_string(),
            offset,
            message: message.to_string(),
        };
        let bytes = text.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        if text.trim().is_empty() {
            return Err(err(0, "empty path"));
        }
        if bytes.first() == Some(&b'.') {
            i = 1;
        }
        while i < bytes.len() {
            match bytes[i] {
                b'[' => {
                    let close = text[i..].find(']').ok_or_else(|| err(i, "unclosed '['"))? + i;
                    let inner = &text[i + 1..close];
                    if let Some(quoted) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
                    {
                        steps.push(Step::Key(quoted.to_string()));
                    } else {
                        let index = inner
                            .parse()
                            .map_err(|_| err(i + 1, "expected an index or a quoted key"))?;
                        steps.push(Step::Index(index));
                    }
                    i = close + 1;
                    if i < bytes.len() && bytes[i] == b'.' {
                        i += 1;
                        if i == bytes.len() {
                            return Err(err(i, "path ends with '.'"));
                        }
                    }
                }
                _ => {
                    let end = text[i..].find(['.', '[']).map_or(bytes.len(), |n| n + i);
                    let key = &text[i..end];
                    if key.is_empty()
                        || !key
                            .chars()
                            .all(|c| c.is_alphanumeric() || "_-/$@".contains(c))
                    {
                        return Err(err(i, "expected a field name"));
                    }
                    steps.push(Step::Key(key.to_string()));
                    i = end;
                    if i < bytes.len() && bytes[i] == b'.' {
                        i += 1;
                        if i == bytes.len() {
                            return Err(err(i, "path ends with '.'"));
                        }
                    }
                }
            }
        }
        Ok(FieldPath {
            steps,
            text: text.to_string(),
        })
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The value at this path, if every step exists.
    pub fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.steps.iter().try_fold(value, |v, step| match step {
            Step::Key(k) => v.get(k.as_str()),
            Step::Index(n) => v.get(*n),
        })
    }

    /// The value as text: strings bare, numbers and booleans printed, null and
    /// missing as `None`, objects and arrays as compact JSON.
    pub fn get_text(&self, value: &Value) -> Option<String> {
        match self.get(value)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(FieldPath),
}

/// Text with `{{ .path }}` holes; a hole whose path is missing renders empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Literal(rest[..open].to_string()));
            }
            let close = rest[open..].find("}}").ok_or_else(|| SyntaxError {
                text: text.to_string(),
                offset: offset + open,
                message: "unclosed '{{'".to_string(),
            })? + open;
            let raw = &rest[open + 2..close];
            let lead = raw.len() - raw.trim_start().len();
            let path = FieldPath::parse(raw.trim()).map_err(|e| SyntaxError {
                text: text.to_string(),
                offset: offset + open + 2 + lead + e.offset,
                message: e.message,
            })?;
            pieces.push(Piece::Field(path));
            offset += close + 2;
            rest = &rest[close + 2..];
        }
        if rest.contains("}}") {
            return Err(SyntaxError {
                text: text.to_string(),
                offset: offset + rest.find("}}").unwrap_or(0),
                message: "'}}' without '{{'".to_string(),
            });
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// True when the template has no holes (a fixed value).
    pub fn is_literal(&self) -> bool {
        self.pieces.iter().all(|p| matches!(p, Piece::Literal(_)))
    }

    pub fn render(&self, value: &Value) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Field(path) => out.push_str(&path.get_text(value).unwrap_or_default()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_walk_keys_indexes_and_quoted_keys() {
        let doc = json!({"report": {"vulns": [{"id": "CVE-1"}, {"id": "CVE-2", "score": 9.8}]},
                         "metadata": {"labels": {"app.kubernetes.io/name": "web"}}});
        let get = |p: &str| FieldPath::parse(p).expect(p).get_text(&doc);
        assert_eq!(get(".report.vulns[1].id").as_deref(), Some("CVE-2"));
        assert_eq!(get("report.vulns[1].score").as_deref(), Some("9.8"));
        assert_eq!(
            get(r#".metadata.labels["app.kubernetes.io/name"]"#).as_deref(),
            Some("web")
        );
        assert_eq!(get(".report.vulns[5].id"), None);
        assert_eq!(FieldPath::parse(".").expect("root").get(&doc), Some(&doc));
    }

    #[test]
    fn bad_paths_say_where() {
        for (bad, offset) in [
            ("", 0),
            (".a..b", 3),
            (".a[", 2),
            (".a[x]", 3),
            (".a.", 3),
            (".a b", 1),
        ] {
            let e = FieldPath::parse(bad).expect_err(bad);
            assert_eq!(e.offset, offset, "{bad}: {e}");
        }
    }

    #[test]
    fn templates_render_and_report_errors() {
        let doc = json!({"kind": "Pod", "name": "web-0", "n": 3});
        let t = Template::parse("{{ .kind }}/{{.name}} x{{ .n }}{{ .missing }}").expect("valid");
        assert_eq!(t.render(&doc), "Pod/web-0 x3");
        assert!(!t.is_literal());
        assert!(Template::parse("vulnerability")
            .expect("literal")
            .is_literal());
        assert_eq!(Template::parse("a {{ .b").expect_err("unclosed").offset, 2);
        assert_eq!(Template::parse("a }} b").expect_err("stray").offset, 2);
        assert_eq!(
            Template::parse("{{ .a..b }}").expect_err("bad path").offset,
            6
        );
    }
}
