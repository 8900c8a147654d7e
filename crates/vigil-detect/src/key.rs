//! The fields a rule can group by (and count distinct values of), and the
//! compact storage of one group key. Owns field names and key layout; which
//! fields a rule uses is the rule's business, their values the signal's.

use serde::Deserialize;
use std::fmt;

/// A field of a signal that can be part of a group key or counted distinct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyField {
    /// The cluster the signal came from ([`crate::Signal::cluster`]).
    Cluster,
    /// The namespace the finding is about (empty for cluster-scoped objects).
    Namespace,
    /// `spec.resource.kind`.
    Kind,
    /// `spec.resource.name`: the object (Pod, Node, ...).
    Name,
    /// `spec.details.reason`.
    Reason,
    /// `spec.eventType`.
    EventType,
    /// `spec.source`.
    Source,
    /// `platform` or `customer`, from enrich.
    Audience,
}

impl KeyField {
    /// Every field, in declaration order.
    pub const ALL: &'static [KeyField] = &[
        KeyField::Cluster,
        KeyField::Namespace,
        KeyField::Kind,
        KeyField::Name,
        KeyField::Reason,
        KeyField::EventType,
        KeyField::Source,
        KeyField::Audience,
    ];

    /// The spelling in rules, templates and anomaly details.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyField::Cluster => "cluster",
            KeyField::Namespace => "namespace",
            KeyField::Kind => "kind",
            KeyField::Name => "name",
            KeyField::Reason => "reason",
            KeyField::EventType => "eventType",
            KeyField::Source => "source",
            KeyField::Audience => "audience",
        }
    }

    /// The field spelled `name`, if any.
    pub fn parse(name: &str) -> Option<KeyField> {
        KeyField::ALL.iter().copied().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for KeyField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Most fields a key can have: every [`KeyField`] once.
pub const MAX_KEY_FIELDS: usize = 8;

/// The values of one group key, in the rule's `groupBy` order, in one
/// allocation: the texts back to back and where each ends.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyValues {
    text: String,
    ends: [u32; MAX_KEY_FIELDS],
    len: u8,
}

impl KeyValues {
    /// Replaces the stored values (reusing the buffer).
    pub(crate) fn set(&mut self, values: &[&str]) {
        debug_assert!(values.len() <= MAX_KEY_FIELDS);
        self.text.clear();
        self.len = 0;
        for (i, v) in values.iter().take(MAX_KEY_FIELDS).enumerate() {
            self.text.push_str(v);
            self.ends[i] = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
            self.len += 1;
        }
    }

    /// Drops a large buffer so a reused slot does not keep it.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        if self.text.capacity() > 256 {
            self.text = String::new();
        } else {
            self.text.clear();
        }
    }

    pub(crate) fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether these are exactly `values`, in order.
    pub(crate) fn equals(&self, values: &[&str]) -> bool {
        values.len() == self.len() && values.iter().enumerate().all(|(i, v)| self.get(i) == *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_round_trip() {
        for &f in KeyField::ALL {
            assert_eq!(KeyField::parse(f.as_str()), Some(f));
            let parsed: KeyField =
                serde_json::from_value(serde_json::Value::String(f.as_str().into()))
                    .expect("deserializes");
            assert_eq!(parsed, f);
        }
        assert_eq!(KeyField::parse("event_type"), None);
        assert_eq!(KeyField::ALL.len(), MAX_KEY_FIELDS);
    }

    #[test]
    fn key_values_store_and_compare_in_order() {
        let mut k = KeyValues::default();
        k.set(&["c1", "", "web-0"]);
        assert_eq!(k.len(), 3);
        assert_eq!((k.get(0), k.get(1), k.get(2)), ("c1", "", "web-0"));
        assert!(k.equals(&["c1", "", "web-0"]));
        assert!(!k.equals(&["c1", "web-0", ""]), "order matters");
        assert!(!k.equals(&["c1", "", "web-"]));
        assert!(!k.equals(&["c1", ""]));
        assert!(!k.equals(&["c1w", "", "eb-0"]), "boundaries matter");
        k.set(&[]);
        assert!(k.equals(&[]));
    }
}
