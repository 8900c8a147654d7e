//! The detector: signals in, anomalies out. Owns the per-signal flow
//! (match, lateness, counting, firing), the watermark and the counters; the
//! entries themselves live in `state`.
//!
//! Per signal: skip it if it is an anomaly (`source: vigil-detect`); find
//! the rules it matches (by reason, then the other conditions); drop it as
//! late if its event time is older than the watermark; advance the
//! watermark (closing and forgetting windows that end at or before it);
//! then, for each matching rule and each of the rule's windows containing
//! the event time, count it in the (rule, key, window) entry and fire when
//! the threshold is reached.

use crate::anomaly::{Anomaly, SOURCE};
use crate::index::ReasonIndex;
use crate::key::{KeyField, MAX_KEY_FIELDS};
use crate::rules::{RuleSet, Threshold};
use crate::signal::Signal;
use crate::state::{Remembered, State, MAX_SAMPLES};
use crate::template::Placeholder;
use foldhash::fast::RandomState;
use k8s_openapi::jiff::Timestamp;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::Duration;
use vigil_pipeline::Audience;

/// How the detector bounds lateness and memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorConfig {
    /// How far behind the newest event time seen a signal may be and still
    /// count. The watermark is the newest event time minus this.
    pub allowed_lateness: Duration,
    /// Live (rule, key, window) entries at most; when full, the entry whose
    /// window ends first is evicted (counted in [`DetectorStats::evicted`]).
    pub max_entries: usize,
    /// Signal ids and distinct values remembered at most, over all entries
    /// (8 bytes each, plus slack). When spent, a new id is counted without
    /// being remembered and a new distinct value is not counted (both counted
    /// in [`DetectorStats::untracked`]).
    pub max_tracked: usize,
    /// Sample ids per anomaly (at most 16).
    pub max_samples: usize,
}

impl Default for DetectorConfig {
    /// 30 s of lateness, 50 000 entries, 500 000 remembered ids and values,
    /// 5 samples. An entry takes about 224 bytes plus its key and sample
    /// texts (some 600 bytes in all with five 63-character ids), a
    /// remembered hash 8 bytes (16 with vector slack): about 40 MB at worst,
    /// far less for a stream whose storms are few.
    fn default() -> Self {
        Self {
            allowed_lateness: Duration::from_secs(30),
            max_entries: 50_000,
            max_tracked: 500_000,
            max_samples: 5,
        }
    }
}

/// Counters since the detector was built (the agent exports them as metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorStats {
    /// Signals processed.
    pub signals: u64,
    /// Signals skipped because they are anomalies (`source: vigil-detect`).
    pub own: u64,
    /// (signal, rule) matches counted (late ones excluded).
    pub matched: u64,
    /// Signals matching a rule that were older than the watermark: ignored.
    pub late: u64,
    /// Contributions ignored because the entry had already counted the id.
    pub duplicates: u64,
    /// Ids or distinct values not remembered because `max_tracked` was reached.
    pub untracked: u64,
    /// Anomalies raised.
    pub anomalies: u64,
    /// Entries forgotten because their window closed.
    pub expired: u64,
    /// Entries evicted before their window closed because `max_entries` was reached.
    pub evicted: u64,
}

/// The windowed anomaly detector. Pure: no I/O, no clock, no threads; feed it
/// signals in any order within the allowed lateness.
#[derive(Debug)]
pub struct Detector {
    rules: RuleSet,
    index: ReasonIndex,
    config: DetectorConfig,
    lateness_ms: i64,
    /// The newest event time seen (ms).
    newest_ms: Option<i64>,
    state: State,
    hasher: RandomState,
    /// Scratch: the rules the current signal matches.
    matched: Vec<u32>,
    stats: DetectorStats,
}

impl Detector {
    pub fn new(rules: RuleSet, config: DetectorConfig) -> Self {
        let lateness_ms = i64::try_from(config.allowed_lateness.as_millis()).unwrap_or(i64::MAX);
        Self {
            index: ReasonIndex::new(rules.rules()),
            state: State::new(config.max_entries, config.max_tracked),
            rules,
            lateness_ms,
            newest_ms: None,
            hasher: RandomState::default(),
            matched: Vec::new(),
            stats: DetectorStats::default(),
            config,
        }
    }

    /// The default rules with the default configuration.
    pub fn with_default_rules() -> Self {
        Self::new(RuleSet::default_rules(), DetectorConfig::default())
    }

    /// Counts one signal; appends the anomalies it fires to `out` (rules in
    /// order, then windows oldest first).
    pub fn process(&mut self, signal: &Signal<'_>, out: &mut Vec<Anomaly>) {
        self.stats.signals += 1;
        if signal.spec.source == SOURCE {
            self.stats.own += 1;
            return;
        }
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        let rules = self.rules.rules();
        matched.extend(
            self.index
                .candidates(signal.reason)
                .iter()
                .copied()
                .filter(|&r| rules[r as usize].conditions().matches_except_reason(signal)),
        );
        let at = signal.at.as_millisecond();
        if self.watermark_ms().is_some_and(|wm| at < wm) {
            if !matched.is_empty() {
                self.stats.late += 1;
            }
        } else {
            if self.newest_ms.is_none_or(|newest| at > newest) {
                self.newest_ms = Some(at);
                self.state.expire(at.saturating_sub(self.lateness_ms));
            }
            for &r in &matched {
                self.count(r, signal, at, out);
            }
        }
        self.matched = matched;
    }

    /// Counts signals in order; the anomalies they fire. Same result as one
    /// [`Detector::process`] call per signal, however the stream is batched.
    pub fn process_all<'s, 'a: 's>(
        &mut self,
        signals: impl IntoIterator<Item = &'s Signal<'a>>,
    ) -> Vec<Anomaly> {
        let mut out = Vec::new();
        for s in signals {
            self.process(s, &mut out);
        }
        out
    }

    /// The watermark: the newest event time seen minus the allowed lateness.
    /// Older signals are late; windows ending at or before it are closed.
    pub fn watermark(&self) -> Option<Timestamp> {
        self.watermark_ms().map(timestamp)
    }

    fn watermark_ms(&self) -> Option<i64> {
        self.newest_ms
            .map(|newest| newest.saturating_sub(self.lateness_ms))
    }

    /// The counters.
    pub fn stats(&self) -> DetectorStats {
        DetectorStats {
            expired: self.state.expired,
            evicted: self.state.evicted,
            ..self.stats
        }
    }

    /// Live (rule, key, window) entries (a gauge, at most `max_entries`).
    pub fn live_entries(&self) -> usize {
        self.state.len()
    }

    /// Ids and distinct values remembered (a gauge, at most `max_tracked`).
    pub fn tracked(&self) -> usize {
        self.state.tracked()
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Counts `signal` for rule `r` in each of the rule's windows containing `at`.
    fn count(&mut self, r: u32, signal: &Signal<'_>, at: i64, out: &mut Vec<Anomaly>) {
        self.stats.matched += 1;
        let rule = &self.rules.rules()[r as usize];
        let fields = rule.group_by();
        let mut buf = [""; MAX_KEY_FIELDS];
        for (slot, f) in buf.iter_mut().zip(fields) {
            *slot = signal.value(*f);
        }
        let values = &buf[..fields.len()];
        let mut h = self.hasher.build_hasher();
        h.write_u32(r);
        for v in values {
            v.hash(&mut h);
        }
        let key_hash = h.finish();
        let threshold = rule.threshold();
        let remembered_hash = match threshold {
            Threshold::Count(_) => (!signal.id.is_empty()).then(|| self.hasher.hash_one(signal.id)),
            Threshold::Distinct { field, .. } => Some(self.hasher.hash_one(signal.value(field))),
        };
        let weight = signal.occurrences.max(1);
        let platform = signal.audience == Audience::Platform;
        let max_samples = self.config.max_samples.min(MAX_SAMPLES);
        for w in rule.window().windows_at(at) {
            let hash = self.hasher.hash_one((key_hash, w.start_ms));
            let slot = self.state.find_or_insert(hash, r, w, values);
            if self.state.entry_mut(slot).fired {
                continue;
            }
            let remembered = remembered_hash.map(|h| self.state.remember(slot, h));
            let count = match (threshold, remembered) {
                (Threshold::Count(_), Some(Remembered::Again)) => {
                    self.stats.duplicates += 1;
                    continue;
                }
                (Threshold::Count(_), _) => {
                    if remembered == Some(Remembered::OverBudget) {
                        self.stats.untracked += 1;
                    }
                    let e = self.state.entry_mut(slot);
                    e.count = e.count.saturating_add(weight);
                    e.samples.push(signal.id, max_samples);
                    e.count
                }
                (Threshold::Distinct { .. }, Some(Remembered::New)) => {
                    let n = self.state.remembered(slot) as u64;
                    let e = self.state.entry_mut(slot);
                    e.count = n;
                    e.samples.push(signal.id, max_samples);
                    n
                }
                (Threshold::Distinct { .. }, r) => {
                    if r == Some(Remembered::OverBudget) {
                        self.stats.untracked += 1;
                    }
                    self.state.entry_mut(slot).count
                }
            };
            self.state.entry_mut(slot).platform |= platform;
            if count >= threshold.count() {
                let anomaly = self.fire(r, slot, signal.at);
                out.push(anomaly);
            }
        }
    }

    /// Builds the anomaly of entry `slot` and marks the entry fired.
    fn fire(&mut self, r: u32, slot: u32, detected_at: Timestamp) -> Anomaly {
        self.stats.anomalies += 1;
        let rule = &self.rules.rules()[r as usize];
        let e = self.state.entry_mut(slot);
        let key: Vec<(KeyField, String)> = rule
            .group_by()
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, e.key.get(i).to_string()))
            .collect();
        let (window_start, window_end) = (timestamp(e.window.start_ms), timestamp(e.window.end_ms));
        let count = e.count;
        let threshold = rule.threshold();
        let description = rule.description().render(|p, out| match p {
            Placeholder::Count => out.push_str(&count.to_string()),
            Placeholder::Threshold => out.push_str(&threshold.count().to_string()),
            Placeholder::Window => {
                out.push_str(&vigil_model::duration::format(rule.window().size()))
            }
            Placeholder::WindowStart => out.push_str(&window_start.to_string()),
            Placeholder::WindowEnd => out.push_str(&window_end.to_string()),
            Placeholder::Rule => out.push_str(rule.name()),
            Placeholder::Key(field) => {
                match key
                    .iter()
                    .find(|(f, _)| *f == field)
                    .map(|(_, v)| v.as_str())
                {
                    Some(v) if !v.is_empty() => out.push_str(v),
                    _ => out.push_str("(none)"),
                }
            }
        });
        let anomaly = Anomaly {
            rule: rule.name().to_string(),
            rule_version: rule.version(),
            key,
            window_start,
            window_end,
            count,
            threshold: threshold.count(),
            distinct: threshold.distinct(),
            samples: e.samples.to_vec(),
            severity: rule.severity(),
            category: rule.category(),
            description,
            audience: if e.platform {
                Audience::Platform
            } else {
                Audience::Customer
            },
            detected_at,
        };
        self.state.fire(slot);
        anomaly
    }
}

/// Milliseconds since the epoch as a timestamp, clamped to jiff's range.
fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

#[cfg(test)]
mod tests;
