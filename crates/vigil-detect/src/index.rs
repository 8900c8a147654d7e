//! Which rules a signal can match, found by its reason in one hash lookup
//! instead of trying every rule. Owns only that shortcut: a rule listed for
//! a reason still has its other conditions checked.

use crate::rules::Rule;
use foldhash::fast::RandomState;
use std::collections::HashMap;

/// Rule indexes (in rule order) by reason.
#[derive(Debug, Clone)]
pub(crate) struct ReasonIndex {
    /// Rules naming the reason, merged with the rules naming none.
    by_reason: HashMap<Box<str>, Box<[u32]>, RandomState>,
    /// Rules with no reason condition: all a signal of another reason can match.
    any_reason: Box<[u32]>,
}

impl ReasonIndex {
    pub(crate) fn new(rules: &[Rule]) -> Self {
        let any_reason: Vec<u32> = (0..rules.len() as u32)
            .filter(|&i| rules[i as usize].conditions().reasons().is_empty())
            .collect();
        let mut by_reason: HashMap<Box<str>, Vec<u32>, RandomState> = HashMap::default();
        for (i, rule) in rules.iter().enumerate() {
            for reason in rule.conditions().reasons() {
                let list = by_reason
                    .entry(reason.as_str().into())
                    .or_insert_with(|| any_reason.clone());
                if !list.contains(&(i as u32)) {
                    list.push(i as u32);
                }
            }
        }
        Self {
            by_reason: by_reason
                .into_iter()
                .map(|(k, mut v)| {
                    v.sort_unstable();
                    (k, v.into_boxed_slice())
                })
                .collect(),
            any_reason: any_reason.into_boxed_slice(),
        }
    }

    /// The rules a signal with `reason` may match, in rule order.
    pub(crate) fn candidates(&self, reason: &str) -> &[u32] {
        self.by_reason.get(reason).unwrap_or(&self.any_reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    #[test]
    fn candidates_are_the_rules_naming_the_reason_and_those_naming_none() {
        let yaml = r#"
rules:
  - {name: a, match: {reason: [BackOff, Failed]}, window: {kind: tumbling, size: 1m}, threshold: {count: 1}, severity: low, category: operations}
  - {name: b, window: {kind: tumbling, size: 1m}, threshold: {count: 1}, severity: low, category: operations}
  - {name: c, match: {reason: [Failed, Failed]}, window: {kind: tumbling, size: 1m}, threshold: {count: 1}, severity: low, category: operations}
"#;
        let set = RuleSet::from_yaml(yaml).expect("valid");
        let index = ReasonIndex::new(set.rules());
        assert_eq!(index.candidates("BackOff"), &[0, 1]);
        assert_eq!(index.candidates("Failed"), &[0, 1, 2]);
        assert_eq!(index.candidates("Unhealthy"), &[1]);
        assert_eq!(index.candidates(""), &[1]);
    }
}
