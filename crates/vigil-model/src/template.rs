//! Field paths (`.report.artifact.tag`, `.items[0].name`, `.metadata.labels["app.kubernetes.io/name"]`)
//! and templates that embed them (`{{ .kind }}/{{ .name }}`), evaluated on JSON.
//! A hole may list alternatives, jq-style: `{{ .a // .b // "default" }}` renders
//! the first that is present and non-empty (a quoted string is a literal default).
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

/// Parses a `forEach` path: array paths joined by `[*]`, each expanded in
/// turn (`.Controls[*].tests[*].results`: every result of every test of
/// every control). A trailing `[*]` adds nothing. Offsets in errors are in `text`.
pub fn parse_for_each(text: &str) -> Result<Vec<FieldPath>, SyntaxError> {
    let mut paths = Vec::new();
    let mut offset = 0;
    let parts: Vec<&str> = text.split("[*]").collect();
    let last = parts.len() - 1;
    for (i, part) in parts.into_iter().enumerate() {
        let relative = i > 0;
        if part.is_empty() && i == last && relative {
            break; // a trailing `[*]`
        }
        let path = FieldPath::parse(part).map_err(|e| SyntaxError {
            text: text.to_string(),
            offset: offset + e.offset,
            message: if part.is_empty() {
                "expected a path before '[*]'".to_string()
            } else {
                e.message
            },
        })?;
        if relative && !part.starts_with('.') && !part.starts_with('[') {
            return Err(SyntaxError {
                text: text.to_string(),
                offset,
                message: "expected '.' or '[' after '[*]'".to_string(),
            });
        }
        paths.push(path);
        offset += part.len() + 3;
    }
    Ok(paths)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// Alternatives, tried in order.
    Field(Vec<Alternative>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Alternative {
    Path(FieldPath),
    Literal(String),
}

/// Splits a hole's text on `//` outside `[...]` and `"..."`: (offset, part).
fn split_alternatives(raw: &str) -> Vec<(usize, &str)> {
    let bytes = raw.as_bytes();
    let (mut parts, mut start, mut depth, mut quoted, mut i) = (Vec::new(), 0, 0usize, false, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => quoted = !quoted,
            b'[' if !quoted => depth += 1,
            b']' if !quoted => depth = depth.saturating_sub(1),
            b'/' if !quoted && depth == 0 && bytes.get(i + 1) == Some(&b'/') => {
                parts.push((start, &raw[start..i]));
                i += 2;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push((start, &raw[start..]));
    parts
}

/// Parses one hole (`.a // .b // "x"`); offsets in errors are within `raw`.
fn parse_hole(raw: &str) -> Result<Vec<Alternative>, SyntaxError> {
    let mut alternatives = Vec::new();
    for (start, part) in split_alternatives(raw) {
        let lead = part.len() - part.trim_start().len();
        let trimmed = part.trim();
        if trimmed.starts_with('"') {
            let literal = trimmed
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .filter(|s| !s.contains('"'))
                .ok_or_else(|| SyntaxError {
                    text: raw.to_string(),
                    offset: start + lead,
                    message: "unterminated or malformed quoted default".to_string(),
                })?;
            alternatives.push(Alternative::Literal(literal.to_string()));
        } else {
            let path = FieldPath::parse(trimmed).map_err(|e| SyntaxError {
                text: raw.to_string(),
                offset: start + lead + e.offset,
                message: e.message,
            })?;
            alternatives.push(Alternative::Path(path));
        }
    }
    Ok(alternatives)
}

/// Text with `{{ .path }}` holes; a hole whose path is missing (or null)
/// renders empty, unless it lists alternatives (`{{ .path // .other // "default" }}`):
/// then the first present, non-empty one.
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
            let alternatives = parse_hole(raw).map_err(|e| SyntaxError {
                text: text.to_string(),
                offset: offset + open + 2 + e.offset,
                message: e.message,
            })?;
            pieces.push(Piece::Field(alternatives));
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
                Piece::Field(alternatives) => {
                    if let Some(text) = Self::first_present(alternatives, value) {
                        out.push_str(&text);
                    }
                }
            }
        }
        out
    }

    /// The field paths the template reads, in order (alternatives included).
    pub fn paths(&self) -> impl Iterator<Item = &FieldPath> {
        self.pieces
            .iter()
            .flat_map(|p| match p {
                Piece::Literal(_) => [].iter(),
                Piece::Field(alternatives) => alternatives.iter(),
            })
            .filter_map(|a| match a {
                Alternative::Path(p) => Some(p),
                Alternative::Literal(_) => None,
            })
    }

    fn first_present(alternatives: &[Alternative], value: &Value) -> Option<String> {
        alternatives.iter().find_map(|a| match a {
            Alternative::Path(p) => p.get_text(value).filter(|t| !t.is_empty()),
            Alternative::Literal(s) => Some(s.clone()),
        })
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

    #[test]
    fn for_each_paths_split_on_wildcards() {
        let doc = json!({"a": [{"b": [1]}]});
        let texts = |t: &str| -> Vec<String> {
            parse_for_each(t)
                .expect(t)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(texts(".results"), [".results"]);
        assert_eq!(texts(".a[*].b"), [".a", ".b"]);
        assert_eq!(texts(".a[*].b[*]"), [".a", ".b"]);
        assert_eq!(texts(".a[*][\"x.y\"]"), [".a", "[\"x.y\"]"]);
        assert_eq!(
            parse_for_each(".a[*].b").expect("ok")[1].get(&doc["a"][0]),
            Some(&json!([1]))
        );
        assert_eq!(parse_for_each(".a[*]b").expect_err("no dot").offset, 5);
        assert_eq!(
            parse_for_each("[*].a").expect_err("nothing before").offset,
            0
        );
        assert_eq!(parse_for_each(".a[*]..b").expect_err("bad").offset, 6);
    }

    #[test]
    fn alternatives_take_the_first_present_non_empty_value() {
        let doc = json!({"a": null, "b": "", "c": "see", "m": {"x/y": 1}});
        let render = |t: &str| Template::parse(t).expect(t).render(&doc);
        assert_eq!(render("{{ .a // .b // .c }}"), "see");
        assert_eq!(render("{{ .a // .missing }}"), "");
        assert_eq!(render(r#"v={{ .a // "none" }}"#), "v=none");
        assert_eq!(render(r#"{{ .m["x/y"] // "no" }}"#), "1");
        assert_eq!(render(r#"{{ "" // .c }}"#), "");
        let t = Template::parse(r#"{{ .a // .c // "d" }}"#).expect("valid");
        let paths: Vec<String> = t.paths().map(ToString::to_string).collect();
        assert_eq!(paths, [".a", ".c"]);
        assert_eq!(
            Template::parse(r#"{{ .a // "x }}"#)
                .expect_err("bad literal")
                .offset,
            9
        );
        assert_eq!(
            Template::parse("{{ .a // .b..c }}")
                .expect_err("bad path")
                .offset,
            12
        );
    }
}
