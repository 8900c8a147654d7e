//! Exemptions written on the objects themselves, read from the object's
//! annotations and (for workloads) its pod template's:
//!
//! - `vigil.kube-zen.io/exempt: "security.privileged,reliability.*"` — ids or
//!   globs, comma-separated; `"true"` or `"*"` exempts every check;
//!   `vigil.kube-zen.io/exempt-reason` says why.
//! - Polaris's `polaris.fairwinds.com/exempt: "true"` and
//!   `polaris.fairwinds.com/<polarisCheck>-exempt: "true"`.
//! - kube-score's `kube-score/ignore: "container-image-tag,pod-probes"`.
//!
//! The Polaris and kube-score forms exempt every vigil check that lists the
//! named check as its equivalent. Config exemptions are `config`'s.

use crate::catalogue::Check;
use crate::object::Manifest;
use crate::util::glob;
use std::collections::BTreeMap;

pub const EXEMPT: &str = "vigil.kube-zen.io/exempt";
pub const EXEMPT_REASON: &str = "vigil.kube-zen.io/exempt-reason";
const POLARIS_PREFIX: &str = "polaris.fairwinds.com/";
const KUBE_SCORE_IGNORE: &str = "kube-score/ignore";

/// The annotations exemptions are read from, object's first.
fn annotation_sets(m: &Manifest) -> Vec<&BTreeMap<String, String>> {
    let mut sets = vec![m.annotations()];
    if let Some(w) = m.workload() {
        if !std::ptr::eq(w.pod_annotations(), m.annotations()) {
            sets.push(w.pod_annotations());
        }
    }
    sets
}

fn truthy(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true")
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Why `check` is exempted on `m` by an annotation, if it is.
pub fn by_annotation(check: &Check, m: &Manifest) -> Option<String> {
    for annotations in annotation_sets(m) {
        if let Some(v) = annotations.get(EXEMPT) {
            let all = truthy(v) || v.trim() == "*";
            if all || list(v).any(|p| glob::matches(p, check.id)) {
                let reason = annotations
                    .get(EXEMPT_REASON)
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                return Some(format!("annotation {EXEMPT}{reason}"));
            }
        }
        if annotations
            .get(&format!("{POLARIS_PREFIX}exempt"))
            .is_some_and(|v| truthy(v))
        {
            return Some(format!("annotation {POLARIS_PREFIX}exempt"));
        }
        for polaris in check.polaris {
            let key = format!("{POLARIS_PREFIX}{polaris}-exempt");
            if annotations.get(&key).is_some_and(|v| truthy(v)) {
                return Some(format!("annotation {key}"));
            }
        }
        if let Some(v) = annotations.get(KUBE_SCORE_IGNORE) {
            if let Some(t) = list(v).find(|t| check.kube_score.contains(t)) {
                return Some(format!("annotation {KUBE_SCORE_IGNORE} ({t})"));
            }
        }
    }
    None
}

/// Entries of `vigil.kube-zen.io/exempt` that name no check, as warnings.
pub fn unknown_entries(m: &Manifest, known: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for annotations in annotation_sets(m) {
        let Some(v) = annotations.get(EXEMPT) else {
            continue;
        };
        if truthy(v) || v.trim() == "*" {
            continue;
        }
        for entry in list(v) {
            if !known.iter().any(|id| glob::matches(entry, id)) {
                out.push(format!(
                    "{} ({}): annotation {EXEMPT} names {entry:?}, which matches no check",
                    m.display_name(),
                    m.origin
                ));
            }
        }
    }
    out
}
