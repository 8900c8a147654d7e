//! The bundled incident `vigil demo` replays: `examples/incident/`, built by
//! its `generate.py` from the real samples in the shared fixtures plus
//! generated Warning-event storms, embedded in the binary so the demo needs
//! nothing else.

use crate::input::{parse, Format, Parsed};

/// (file name, contents) of the incident's files.
pub const FILES: &[(&str, &str)] = &[
    (
        "incident/events.json",
        include_str!("../../../examples/incident/events.json"),
    ),
    (
        "incident/falco.jsonl",
        include_str!("../../../examples/incident/falco.jsonl"),
    ),
    (
        "incident/audit.jsonl",
        include_str!("../../../examples/incident/audit.jsonl"),
    ),
    (
        "incident/trivy.json",
        include_str!("../../../examples/incident/trivy.json"),
    ),
];

/// The incident's records, read as `vigil replay` reads files.
pub fn inputs() -> Vec<Parsed> {
    FILES
        .iter()
        .map(|(name, text)| parse(name, text, Format::Auto))
        .collect()
}

/// The cluster name the demo's anomalies carry.
pub const CLUSTER: &str = "demo";
