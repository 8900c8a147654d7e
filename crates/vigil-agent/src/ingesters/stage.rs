//! What one Ingester emits for a new finding: its own dedup window and token
//! bucket (`spec.deduplication`, `spec.rateLimit`), the Observation's name,
//! namespace (the affected object's, `spec.destinations[crd].namespace`, else
//! the Ingester's), audience label and TTL default. Pure: time comes in.
//!
//! Findings of reports are state: named without a window, one Observation
//! per finding for as long as it exists (a restart's re-list conflicts
//! instead of duplicating). Log lines are occurrences: named per dedup
//! window, like the Events pipeline does.

use super::compile::Compiled;
use k8s_openapi::jiff::Timestamp;
use vigil_mapping::MappedObservation;
use vigil_pipeline::dedup::{DedupWindow, Seen};
use vigil_pipeline::enrich::Enricher;
use vigil_pipeline::throttle::TokenBucket;
use vigil_pipeline::{Candidate, DropReason, Outcome, Repeat};

pub struct Stage {
    dedup: Option<DedupWindow>,
    bucket: TokenBucket,
    enricher: Enricher,
    occurrences: bool,
    fallback_namespace: String,
    namespace_override: Option<String>,
    default_ttl: i64,
}

impl Stage {
    /// `enricher` decides platform or customer; `default_ttl` applies when
    /// the Ingester sets no `spec.ttl`.
    pub fn new(compiled: &Compiled, enricher: Enricher, default_ttl: i64) -> Self {
        Self {
            dedup: compiled.dedup.as_ref().map(DedupWindow::new),
            bucket: TokenBucket::new(&compiled.rate),
            enricher,
            occurrences: compiled.occurrences(),
            fallback_namespace: compiled
                .ingester
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            namespace_override: compiled.namespace_override.clone(),
            default_ttl,
        }
    }

    /// Fingerprints the dedup stage holds.
    pub fn dedup_entries(&self) -> usize {
        self.dedup.as_ref().map_or(0, DedupWindow::len)
    }

    pub fn decide(&mut self, found: &MappedObservation, now: Timestamp) -> Outcome {
        let fingerprint = found.fingerprint();
        let mut window = 0;
        if let Some(dedup) = self.dedup.as_mut() {
            let (w, seen) = dedup.observe(fingerprint, now, now);
            window = w;
            if let Seen::Again {
                occurrences,
                last_seen,
            } = seen
            {
                return Outcome::Repeat(Repeat {
                    name: found.name_with(fingerprint, self.window(w)),
                    namespace: self.namespace_of(found),
                    occurrences,
                    last_seen,
                });
            }
        }
        if !self.bucket.try_take(now) {
            if let Some(dedup) = self.dedup.as_mut() {
                dedup.forget(fingerprint, window);
            }
            return Outcome::Dropped(DropReason::Throttled);
        }
        Outcome::Emit(Box::new(self.candidate_with(found, fingerprint, window)))
    }

    /// The Observation a finding is, in dedup window `window` (0 for state).
    pub fn candidate(&self, found: &MappedObservation, window: i64) -> Candidate {
        self.candidate_with(found, found.fingerprint(), window)
    }

    fn candidate_with(
        &self,
        found: &MappedObservation,
        fingerprint: vigil_pipeline::Fingerprint,
        window: i64,
    ) -> Candidate {
        let audience = match &found.spec.resource {
            Some(r) => self.enricher.audience_of(
                r.kind.as_deref().unwrap_or(""),
                r.namespace.as_deref().unwrap_or(""),
                r.name.as_deref().unwrap_or(""),
            ),
            None => vigil_pipeline::Audience::Platform,
        };
        let mut candidate = found.candidate_with(
            fingerprint,
            self.window(window),
            &self.fallback_namespace,
            audience,
        );
        candidate.namespace = self.namespace_of(found);
        candidate
            .spec
            .ttl_seconds_after_creation
            .get_or_insert(self.default_ttl);
        candidate
    }

    /// The window in an Observation's name: its dedup window for
    /// occurrences, none for state.
    fn window(&self, window: i64) -> i64 {
        if self.occurrences {
            window
        } else {
            0
        }
    }

    /// `spec.destinations[crd].namespace`, else the affected object's, else
    /// the Ingester's.
    fn namespace_of(&self, found: &MappedObservation) -> String {
        self.namespace_override
            .clone()
            .or_else(|| {
                found
                    .spec
                    .resource
                    .as_ref()
                    .and_then(|r| r.namespace.clone())
            })
            .unwrap_or_else(|| self.fallback_namespace.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{finding, informer_spec};
    use super::*;
    use serde_json::json;
    use vigil_pipeline::enrich::EnrichConfig;

    fn compiled(extra: serde_json::Value) -> Compiled {
        super::super::test_support::compiled(informer_spec(extra))
    }

    fn stage(extra: serde_json::Value) -> Stage {
        Stage::new(
            &compiled(extra),
            Enricher::new(EnrichConfig::default()),
            604_800,
        )
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn a_new_finding_is_named_without_window_in_its_objects_namespace() {
        let mut s = stage(json!({}));
        let f = finding("a", Some("shop"));
        let Outcome::Emit(c) = s.decide(&f, at(0)) else {
            panic!()
        };
        assert_eq!(c.name, f.name());
        assert_eq!(c.namespace, "shop");
        assert_eq!(c.labels["vigil.kube-zen.io/audience"], "customer");
        assert_eq!(c.spec.ttl_seconds_after_creation, Some(604_800));
        let Outcome::Emit(c) = s.decide(&finding("b", None), at(0)) else {
            panic!()
        };
        assert_eq!(c.namespace, "tools");
        assert_eq!(c.labels["vigil.kube-zen.io/audience"], "platform");
        let Outcome::Emit(c) = s.decide(&finding("c", Some("kube-system")), at(0)) else {
            panic!()
        };
        assert_eq!(c.labels["vigil.kube-zen.io/audience"], "platform");
    }

    #[test]
    fn repeats_within_the_window_fold_and_dedup_can_be_off() {
        let mut s = stage(json!({"deduplication": {"window": "1m"}}));
        let f = finding("a", Some("shop"));
        assert!(matches!(s.decide(&f, at(0)), Outcome::Emit(_)));
        let Outcome::Repeat(r) = s.decide(&f, at(10)) else {
            panic!()
        };
        assert_eq!((r.name.as_str(), r.occurrences), (f.name().as_str(), 2));
        let mut off = stage(json!({"deduplication": {"enabled": false}}));
        assert!(matches!(off.decide(&f, at(0)), Outcome::Emit(_)));
        assert!(matches!(off.decide(&f, at(0)), Outcome::Emit(_)));
    }

    #[test]
    fn the_rate_limit_drops_and_the_destination_namespace_wins() {
        let mut s = stage(json!({"rateLimit": {"eventsPerSecond": 1, "burst": 2},
            "destinations": [{"type": "crd", "namespace": "security"}]}));
        let outcomes: Vec<Outcome> = (0..3)
            .map(|i| s.decide(&finding(&format!("k{i}"), Some("shop")), at(0)))
            .collect();
        let Outcome::Emit(c) = &outcomes[0] else {
            panic!()
        };
        assert_eq!(c.namespace, "security");
        assert!(matches!(outcomes[1], Outcome::Emit(_)));
        assert_eq!(outcomes[2], Outcome::Dropped(DropReason::Throttled));
        // The throttled finding is not remembered as emitted.
        assert!(matches!(
            s.decide(&finding("k2", Some("shop")), at(2)),
            Outcome::Emit(_)
        ));
    }

    #[test]
    fn an_ingesters_ttl_is_kept() {
        let mut s = stage(json!({"ttl": "1h"}));
        let c = compiled(json!({"ttl": "1h"}));
        let mut f = c
            .mapping
            .as_ref()
            .unwrap()
            .apply(&json!({"metadata": {"name": "r"}}))
            .unwrap();
        let Outcome::Emit(c) = s.decide(&f.remove(0), at(0)) else {
            panic!()
        };
        assert_eq!(c.spec.ttl_seconds_after_creation, Some(3600));
    }
}
