//! Label selector matching (`matchLabels` and `matchExpressions`, and the
//! plain map selectors Services use), as the API server evaluates them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// Whether `selector` selects an object with `labels`. An empty selector
/// selects everything, as in a PodDisruptionBudget or NetworkPolicy; a
/// malformed expression (unknown operator) selects nothing.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_label = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_label
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// Whether a selector was given with at least one term.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// A Service-style selector (a plain map): empty selects nothing, since a
/// Service without a selector has its endpoints managed by hand.
pub fn map_matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn match_labels_and_expressions() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![expr("tier", "In", &["front", "edge"])]),
        };
        assert!(matches(&sel, &pod));
        let sel = LabelSelector {
            match_expressions: Some(vec![expr("tier", "NotIn", &["front"])]),
            ..Default::default()
        };
        assert!(!matches(&sel, &pod));
        let sel = LabelSelector {
            match_expressions: Some(vec![
                expr("zone", "DoesNotExist", &[]),
                expr("app", "Exists", &[]),
            ]),
            ..Default::default()
        };
        assert!(matches(&sel, &pod));
        let sel = LabelSelector {
            match_expressions: Some(vec![expr("app", "Bogus", &[])]),
            ..Default::default()
        };
        assert!(!matches(&sel, &pod));
    }

    #[test]
    fn empty_selectors() {
        let pod = labels(&[("app", "web")]);
        assert!(matches(&LabelSelector::default(), &pod));
        assert!(is_empty(&LabelSelector::default()));
        assert!(!map_matches(&BTreeMap::new(), &pod));
        assert!(map_matches(&labels(&[("app", "web")]), &pod));
        assert!(!map_matches(&labels(&[("app", "db")]), &pod));
    }
}
