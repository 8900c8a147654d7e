//! What an Ingester's status says: the `Ready` condition (with the field
//! path of what is wrong), the generation it reflects, the last-event time
//! and the counters that show a silent or failing source. The counters are
//! shared with the runtime and the writer; building the status is pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use vigil_model::IngesterStatus;

/// Running totals of one Ingester (kept across reconfigurations).
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub created: AtomicU64,
    /// Observations updated because their finding changed.
    pub updated: AtomicU64,
    pub filtered: AtomicU64,
    pub deduped: AtomicU64,
    pub errors: AtomicU64,
    /// Unix seconds of the last record; 0 = none yet.
    last_event: AtomicI64,
    last_error: Mutex<Option<String>>,
    /// Why the source cannot read right now (cleared once it lists again).
    source_problem: Mutex<Option<String>>,
    /// The agent-wide metric every error is also counted in.
    errors_metric: prometheus_client::metrics::counter::Counter,
}

impl Counters {
    /// Counters whose errors also count in `errors_metric`.
    pub fn new(errors_metric: prometheus_client::metrics::counter::Counter) -> Self {
        Self {
            errors_metric,
            ..Default::default()
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn event_at(&self, at: Timestamp) {
        Self::add(&self.received, 1);
        self.last_event.fetch_max(at.as_second(), Ordering::Relaxed);
    }

    /// A record or object that could not be read or mapped.
    pub fn error(&self, message: String) {
        Self::add(&self.errors, 1);
        self.errors_metric.inc();
        tracing::warn!(error = %message, "ingester record not read");
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(bounded(message));
    }

    pub fn source_failing(&self, message: Option<String>) {
        *self
            .source_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = message.map(bounded);
    }

    pub fn source_problem(&self) -> Option<String> {
        self.source_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn snapshot(&self, status: &mut IngesterStatus) {
        let get = |c: &AtomicU64| Some(c.load(Ordering::Relaxed));
        status.events_received = get(&self.received);
        status.observations_created = get(&self.created);
        status.observations_updated = get(&self.updated);
        status.events_filtered = get(&self.filtered);
        status.events_deduped = get(&self.deduped);
        status.errors = get(&self.errors);
        status.last_error = self
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let last = self.last_event.load(Ordering::Relaxed);
        status.last_event_time = (last > 0)
            .then(|| Timestamp::from_second(last).ok().map(Time))
            .flatten();
    }
}

/// The counters of every Ingester this process runs, by uid: shared by the
/// leader's controller (which writes the status) and the webhook endpoints
/// every replica serves (which count pushed records).
#[derive(Clone, Default)]
pub struct CountersBook {
    by_uid: std::sync::Arc<Mutex<std::collections::HashMap<String, std::sync::Arc<Counters>>>>,
    errors_metric: prometheus_client::metrics::counter::Counter,
}

impl CountersBook {
    pub fn new(errors_metric: prometheus_client::metrics::counter::Counter) -> Self {
        Self {
            by_uid: Default::default(),
            errors_metric,
        }
    }

    /// The counters of `uid`, created at first use.
    pub fn of(&self, uid: &str) -> std::sync::Arc<Counters> {
        let mut book = self.by_uid.lock().unwrap_or_else(|e| e.into_inner());
        book.entry(uid.to_string())
            .or_insert_with(|| std::sync::Arc::new(Counters::new(self.errors_metric.clone())))
            .clone()
    }

    /// Forgets a deleted Ingester.
    pub fn forget(&self, uid: &str) {
        let mut book = self.by_uid.lock().unwrap_or_else(|e| e.into_inner());
        book.remove(uid);
    }
}

/// Longest message kept in a status (an API error can quote a whole body).
pub const MAX_MESSAGE: usize = 1024;

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn bounded(message: String) -> String {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    format!("{}...", prefix(&message, MAX_MESSAGE - 3))
}

/// Whether the Ingester runs, and if not why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Valid and its source runs.
    Running,
    /// The spec is refused; `message` names the field. `kept` is the
    /// generation still running, if an earlier one was valid.
    Invalid { message: String, kept: Option<i64> },
    /// Valid, but the source cannot read (no such resource, forbidden…).
    SourceFailing { message: String },
}

impl Readiness {
    fn condition_parts(&self) -> (&'static str, &'static str, String) {
        match self {
            Readiness::Running => ("True", "Running", "the source runs".to_string()),
            Readiness::Invalid { message, kept } => (
                "False",
                "InvalidSpec",
                match kept {
                    Some(g) => {
                        format!("{message} (generation {g}, the last valid one, keeps running)")
                    }
                    None => format!("{message} (nothing runs for this Ingester)"),
                },
            ),
            Readiness::SourceFailing { message } => ("False", "SourceFailing", message.clone()),
        }
    }
}

/// The status to write: `previous` keeps the condition's transition time
/// when its status does not change.
pub fn build(
    previous: Option<&IngesterStatus>,
    readiness: &Readiness,
    generation: Option<i64>,
    counters: &Counters,
    now: Timestamp,
) -> IngesterStatus {
    let (status, reason, message) = readiness.condition_parts();
    let prior = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == "Ready"));
    let since = match prior {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(now),
    };
    let mut out = IngesterStatus {
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message,
            observed_generation: generation,
            last_transition_time: since,
        }],
        observed_generation: generation,
        ..Default::default()
    };
    counters.snapshot(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn ready_keeps_its_transition_time_until_it_changes() {
        let c = Counters::default();
        let first = build(None, &Readiness::Running, Some(1), &c, at(0));
        assert_eq!(first.conditions[0].status, "True");
        let again = build(Some(&first), &Readiness::Running, Some(2), &c, at(50));
        assert_eq!(again.conditions[0].last_transition_time, Time(at(0)));
        assert_eq!(again.observed_generation, Some(2));
        let bad = Readiness::Invalid {
            message: "spec.mapping.severity: set from (with map) or default".into(),
            kept: Some(2),
        };
        let failed = build(Some(&again), &bad, Some(3), &c, at(60));
        let cond = &failed.conditions[0];
        assert_eq!(
            (cond.status.as_str(), cond.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert_eq!(cond.last_transition_time, Time(at(60)));
        assert!(cond.message.starts_with("spec.mapping.severity: "));
        assert!(cond.message.contains("generation 2"));
    }

    #[test]
    fn messages_are_bounded() {
        let c = Counters::default();
        c.error("é".repeat(2000));
        c.source_failing(Some("x".repeat(5000)));
        let s = build(None, &Readiness::Running, None, &c, at(0));
        let last = s.last_error.unwrap();
        assert!(last.len() <= MAX_MESSAGE && last.ends_with("..."));
        assert_eq!(c.source_problem().unwrap().len(), MAX_MESSAGE);
    }

    #[test]
    fn counters_and_the_last_event_show_in_the_status() {
        let c = Counters::default();
        let empty = build(None, &Readiness::Running, Some(1), &c, at(0));
        assert_eq!(empty.last_event_time, None);
        assert_eq!(empty.events_received, Some(0));
        c.event_at(at(5));
        c.event_at(at(3));
        Counters::add(&c.created, 2);
        c.error("default/r: spec.mapping.eventType: …".into());
        let s = build(None, &Readiness::Running, Some(1), &c, at(9));
        assert_eq!(s.events_received, Some(2));
        assert_eq!(s.observations_created, Some(2));
        assert_eq!(s.errors, Some(1));
        assert_eq!(s.last_event_time, Some(Time(at(5))));
        assert!(s.last_error.unwrap().starts_with("default/r: "));
    }
}
