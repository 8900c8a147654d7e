//! Splitting a YAML stream at its document markers (`---`, `...`) without
//! parsing it, so each document can be parsed, located and reported alone.
//! A marker is a line starting with `---` followed by nothing or blank; YAML
//! forbids such a line inside a document, even inside block scalars.

/// One document of a YAML stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<'a> {
    /// 1-based; text before the first marker counts only when it has content.
    pub index: usize,
    /// The document's text (after the `---` on its marker line).
    pub text: &'a str,
    /// 1-based file line of `text`'s first line.
    pub start_line: usize,
    /// 1-based file line of the first line that is neither blank nor a comment
    /// (`start_line` for an empty document).
    pub content_line: usize,
    /// The Helm template it was rendered from (`# Source: chart/templates/x.yaml`).
    pub helm_source: Option<String>,
}

impl Document<'_> {
    /// Only blank lines, comments and directives.
    pub fn is_empty(&self) -> bool {
        self.text.lines().all(is_noise)
    }
}

fn is_noise(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t.starts_with('%')
}

/// For a marker line: how many bytes of it to skip, and whether it ends a
/// document (`...`) rather than starting one (`---`).
fn marker(line: &str) -> Option<(usize, bool)> {
    for marker in ["---", "..."] {
        if let Some(rest) = line.strip_prefix(marker) {
            if rest.is_empty() || rest.starts_with([' ', '\t', '\r']) {
                return Some(if marker == "---" {
                    (3, false)
                } else {
                    (line.len(), true)
                });
            }
        }
    }
    None
}

/// Splits `text` into its documents, in order.
pub fn split_documents(text: &str) -> Vec<Document<'_>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // (where the text starts, its first line, where its marker line starts,
    // whether the segment follows an end marker)
    let mut starts: Vec<(usize, usize, usize, bool)> = vec![(0, 1, 0, true)];
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if let Some((skip, ends)) = marker(line.trim_end_matches('\n')) {
            starts.push((offset + skip, i + 1, offset, ends));
        }
        offset += line.len();
    }
    let mut docs = Vec::with_capacity(starts.len());
    for (n, &(begin, line, _, after_end)) in starts.iter().enumerate() {
        let end = starts
            .get(n + 1)
            .map_or(text.len(), |&(_, _, marker, _)| marker);
        let body = text.get(begin..end.max(begin)).unwrap_or("");
        let doc = describe(body, line);
        if after_end && doc.is_empty() {
            continue; // nothing before the first `---` or after a `...`
        }
        docs.push(Document {
            index: docs.len() + 1,
            ..doc
        });
    }
    docs
}

fn describe(text: &str, start_line: usize) -> Document<'_> {
    let mut content_line = None;
    let mut helm_source = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(src) = t.strip_prefix("# Source:") {
            helm_source.get_or_insert_with(|| src.trim().to_string());
        }
        if content_line.is_none() && !is_noise(line) {
            content_line = Some(start_line + i);
        }
    }
    Document {
        index: 0,
        text,
        start_line,
        content_line: content_line.unwrap_or(start_line),
        helm_source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Vec<(usize, usize, bool, Option<String>)> {
        split_documents(text)
            .iter()
            .map(|d| (d.index, d.content_line, d.is_empty(), d.helm_source.clone()))
            .collect()
    }

    #[test]
    fn a_single_document_without_markers() {
        assert_eq!(summary("a: 1\nb: 2\n"), vec![(1, 1, false, None)]);
    }

    #[test]
    fn leading_marker_and_comments_do_not_make_a_document() {
        let text = "# header\n---\n\nkind: A\n---\nkind: B\n";
        assert_eq!(
            summary(text),
            vec![(1, 4, false, None), (2, 6, false, None)]
        );
    }

    #[test]
    fn helm_output_keeps_sources_and_empty_documents() {
        let text = "---\n# Source: web/templates/sa.yaml\nkind: ServiceAccount\n---\n# Source: web/templates/empty.yaml\n---\n# Source: web/templates/deploy.yaml\nkind: Deployment\n";
        assert_eq!(
            summary(text),
            vec![
                (1, 3, false, Some("web/templates/sa.yaml".into())),
                (2, 4, true, Some("web/templates/empty.yaml".into())),
                (3, 8, false, Some("web/templates/deploy.yaml".into())),
            ]
        );
    }

    #[test]
    fn content_on_the_marker_line_belongs_to_the_document() {
        let docs = split_documents("--- {kind: A}\n--- # note\nkind: B\n");
        assert_eq!(docs[0].text, " {kind: A}\n");
        assert_eq!(docs[0].content_line, 1);
        assert_eq!(docs[1].content_line, 3);
    }

    #[test]
    fn dashes_that_are_not_markers_stay_inside() {
        let text = "a: |\n  ---\n  text\n----: x\n";
        assert_eq!(split_documents(text).len(), 1);
    }

    #[test]
    fn document_end_marker_and_crlf() {
        let text = "kind: A\r\n...\r\n---\r\nkind: B\r\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].text, "kind: A\r\n");
        assert_eq!((docs[1].index, docs[1].content_line), (2, 4));
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        assert_eq!(summary("\u{feff}kind: A\n"), vec![(1, 1, false, None)]);
    }
}
