//! Description templates: text with `{placeholder}`s filled when an anomaly
//! fires. Owns the syntax and which placeholders exist; the values come from
//! the anomaly.
//!
//! `{{` and `}}` stand for literal braces. Placeholders: `{count}`,
//! `{threshold}`, `{window}` (the size, e.g. `5m`), `{windowStart}`,
//! `{windowEnd}` (RFC 3339), `{rule}`, and any field the rule groups by
//! (`{cluster}`, `{namespace}`, `{kind}`, `{name}`, `{reason}`,
//! `{eventType}`, `{source}`, `{audience}`). Anything else, or a key field
//! the rule does not group by (its value would not be one value), is refused.

use crate::key::KeyField;

/// A value a description can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    Count,
    Threshold,
    Window,
    WindowStart,
    WindowEnd,
    Rule,
    Key(KeyField),
}

/// The placeholders that do not depend on `groupBy`, with their spelling.
const FIXED: &[(&str, Placeholder)] = &[
    ("count", Placeholder::Count),
    ("threshold", Placeholder::Threshold),
    ("window", Placeholder::Window),
    ("windowStart", Placeholder::WindowStart),
    ("windowEnd", Placeholder::WindowEnd),
    ("rule", Placeholder::Rule),
];

/// Why a template was refused. Offsets are in bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed '{{' at offset {offset}")]
    Unclosed { offset: usize },
    #[error("'}}' without '{{' at offset {offset} (write '}}}}' for a literal brace)")]
    Stray { offset: usize },
    #[error("unknown placeholder {{{name}}}; known: {known}")]
    Unknown { name: String, known: String },
    #[error("placeholder {{{field}}} needs {field} in groupBy (otherwise it has no single value)")]
    NotGrouped { field: KeyField },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Hole(Placeholder),
}

/// A parsed description template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text` for a rule grouping by `group_by`.
    pub fn parse(text: &str, group_by: &[KeyField]) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    literal.push('{');
                    i += 2;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    literal.push('}');
                    i += 2;
                }
                b'}' => return Err(TemplateError::Stray { offset: i }),
                b'{' => {
                    let close = text[i..]
                        .find('}')
                        .ok_or(TemplateError::Unclosed { offset: i })?
                        + i;
                    let name = &text[i + 1..close];
                    if name.contains('{') {
                        return Err(TemplateError::Unclosed { offset: i });
                    }
                    let hole = placeholder(name.trim(), group_by)?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Hole(hole));
                    i = close + 1;
                }
                _ => {
                    // Copy the run up to the next brace in one go (keeps UTF-8 whole).
                    let end = text[i..].find(['{', '}']).map_or(text.len(), |n| n + i);
                    literal.push_str(&text[i..end]);
                    i = end;
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Self {
            text: text.to_string(),
            pieces,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The placeholders used, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Hole(h) => Some(*h),
            Piece::Literal(_) => None,
        })
    }

    /// Fills the template; `value` appends a placeholder's value.
    pub fn render(&self, mut value: impl FnMut(Placeholder, &mut String)) -> String {
        let mut out = String::with_capacity(self.text.len() + 32);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Hole(h) => value(*h, &mut out),
            }
        }
        out
    }
}

fn placeholder(name: &str, group_by: &[KeyField]) -> Result<Placeholder, TemplateError> {
    if let Some((_, p)) = FIXED.iter().find(|(n, _)| *n == name) {
        return Ok(*p);
    }
    match KeyField::parse(name) {
        Some(field) if group_by.contains(&field) => Ok(Placeholder::Key(field)),
        Some(field) => Err(TemplateError::NotGrouped { field }),
        None => {
            let mut known: Vec<String> = Vec::new();
            for n in FIXED
                .iter()
                .map(|(n, _)| *n)
                .chain(group_by.iter().map(|f| f.as_str()))
            {
                let n = format!("{{{n}}}");
                if !known.contains(&n) {
                    known.push(n);
                }
            }
            Err(TemplateError::Unknown {
                name: name.to_string(),
                known: known.join(", "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Template) -> String {
        t.render(|p, out| match p {
            Placeholder::Count => out.push_str("12"),
            Placeholder::Window => out.push_str("5m"),
            Placeholder::Key(f) => {
                out.push('<');
                out.push_str(f.as_str());
                out.push('>');
            }
            other => out.push_str(&format!("{other:?}")),
        })
    }

    #[test]
    fn placeholders_render_and_braces_escape() {
        let t = Template::parse(
            "{count} in {namespace}/{name} within {window} {{literal}} é{ rule }",
            &[KeyField::Namespace, KeyField::Name],
        )
        .expect("valid");
        assert_eq!(
            render(&t),
            "12 in <namespace>/<name> within 5m {literal} éRule"
        );
        assert_eq!(
            t.placeholders().collect::<Vec<_>>(),
            vec![
                Placeholder::Count,
                Placeholder::Key(KeyField::Namespace),
                Placeholder::Key(KeyField::Name),
                Placeholder::Window,
                Placeholder::Rule
            ]
        );
        assert_eq!(
            Template::parse("plain", &[]).expect("literal").as_str(),
            "plain"
        );
        assert_eq!(render(&Template::parse("", &[]).expect("empty")), "");
    }

    #[test]
    fn unknown_and_ungrouped_placeholders_are_refused() {
        let e = Template::parse("{cnt} events", &[KeyField::Namespace]).expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "unknown placeholder {cnt}; known: {count}, {threshold}, {window}, {windowStart}, {windowEnd}, {rule}, {namespace}"
        );
        let e = Template::parse("{reason}", &[KeyField::Namespace]).expect_err("not grouped");
        assert_eq!(
            e,
            TemplateError::NotGrouped {
                field: KeyField::Reason
            }
        );
        assert!(e.to_string().contains("needs reason in groupBy"), "{e}");
    }

    #[test]
    fn broken_braces_say_where() {
        assert_eq!(
            Template::parse("ab {count", &[]),
            Err(TemplateError::Unclosed { offset: 3 })
        );
        assert_eq!(
            Template::parse("a {co{unt}", &[]),
            Err(TemplateError::Unclosed { offset: 2 })
        );
        assert_eq!(
            Template::parse("a } b", &[]),
            Err(TemplateError::Stray { offset: 2 })
        );
    }
}
