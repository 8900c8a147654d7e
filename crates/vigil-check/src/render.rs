//! Writing a report (or the catalogue) for people and tools: a terminal
//! table, SARIF 2.1.0 for code-scanning UIs, the Markdown catalogue that
//! is docs/CHECKS.md. JSON is the report itself (`serde_json`).

pub mod markdown;
pub mod sarif;
pub mod table;

use crate::report::Report;

/// Every check's descriptor as a pretty JSON array.
pub fn catalogue_json() -> String {
    let checks: Vec<_> = crate::catalogue::checks().collect();
    serde_json::to_string_pretty(&checks).unwrap_or_default() + "\n"
}

/// The report as pretty JSON (the documented, versioned schema).
pub fn json(report: &Report) -> String {
    // Serializing plain structs with string keys cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_default()
}
