//! The stages for records of the push-based sources, in the same order as
//! for Kubernetes Events; owns that order for them and nothing else.
//!
//! Falco alert: filter (namespace of the object it is about) → normalize
//! (priority → severity, rule → `eventType`) → filter (minimum severity) →
//! dedup (on the alert's `time`) → throttle (the Falco bucket) → enrich.
//!
//! Audit event: filter (stage, verb, namespace) → normalize (the audit
//! rules; none matching is [`DropReason::AuditNoRule`]) → filter (minimum
//! severity) → re-delivery (the same request again is
//! [`DropReason::Unchanged`]) → dedup (on `stageTimestamp`) → throttle (the
//! audit bucket) → enrich.
//!
//! "The same request" is not the auditID alone: a client may set it (the
//! `Audit-ID` request header), and one that reuses an ID must not have its
//! later requests taken for re-deliveries of the first. A request is its
//! auditID with what the API server itself records and the client cannot
//! repeat: the time it was received, plus verb, URI and user. A webhook
//! retry, or a later stage of the same request, matches all of them.
//!
//! As for Events, labels and the Observation's content are built only for
//! what is emitted. An Observation lives in its object's namespace, else in
//! `fallback_namespace`.

use super::{Bucket, Candidate, DropReason, Outcome, Pipeline, Repeat};
use crate::dedup::Seen;
use crate::enrich::labels_for;
use crate::event::KubeEvent;
use crate::fingerprint::{observation_name, Fingerprint, Text};
use crate::sources::audit_rules::{self, AuditMatch};
use crate::sources::{AuditEvent, FalcoAlert, Target};
use vigil_model::ObservationSpec;

/// What identifies one API request across its stages and re-deliveries,
/// besides its auditID (see the module documentation).
fn request_identity(event: &AuditEvent) -> String {
    let received = event
        .request_received
        .or(event.stage_timestamp)
        .map(|t| t.as_nanosecond())
        .unwrap_or_default();
    format!(
        "{received}\0{}\0{}\0{}",
        event.verb,
        event.request_uri.as_deref().unwrap_or(""),
        event.user.username
    )
}

/// One record of any source, for callers that mix them (`vigil replay`).
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    Event(&'a KubeEvent),
    Falco(&'a FalcoAlert),
    Audit(&'a AuditEvent),
}

impl<'a> From<&'a KubeEvent> for Record<'a> {
    fn from(e: &'a KubeEvent) -> Self {
        Record::Event(e)
    }
}

impl<'a> From<&'a FalcoAlert> for Record<'a> {
    fn from(a: &'a FalcoAlert) -> Self {
        Record::Falco(a)
    }
}

impl<'a> From<&'a AuditEvent> for Record<'a> {
    fn from(e: &'a AuditEvent) -> Self {
        Record::Audit(e)
    }
}

impl Pipeline {
    /// Runs one record of any source through every stage.
    pub fn process_record(&mut self, record: Record<'_>) -> Outcome {
        match record {
            Record::Event(e) => self.process(e),
            Record::Falco(a) => self.process_falco(a),
            Record::Audit(e) => self.process_audit(e),
        }
    }

    /// Runs one Falco alert through every stage.
    pub fn process_falco(&mut self, alert: &FalcoAlert) -> Outcome {
        let target = alert.target();
        if let Err(reason) = self.filter.check_namespace(target.scope_namespace()) {
            return Outcome::Dropped(reason);
        }
        if let Err(reason) = self.filter.check_severity(alert.severity()) {
            return Outcome::Dropped(reason);
        }
        let fingerprint = self.fingerprinter.fingerprint_parts(
            &self.sources.falco.source,
            target.kind,
            target.namespace,
            target.name,
            &alert.rule,
            Text::Folded(&alert.output),
        );
        let (window, seen) = match self.admit(Bucket::Falco, fingerprint, Some(alert.time)) {
            Ok(admitted) => admitted,
            Err(reason) => return Outcome::Dropped(reason),
        };
        let event_type = alert.event_type();
        let source = &self.sources.falco.source;
        self.outcome(
            source,
            &event_type,
            &target,
            fingerprint,
            window,
            seen,
            || alert.observation_spec(source, &event_type, self.config.ttl_seconds),
        )
    }

    /// Runs one Kubernetes audit event through every stage.
    pub fn process_audit(&mut self, event: &AuditEvent) -> Outcome {
        if let Err(reason) = self.audit_rules.check(event) {
            return Outcome::Dropped(reason);
        }
        if let Err(reason) = self.filter.check_namespace(event.scope_namespace()) {
            return Outcome::Dropped(reason);
        }
        let Some(matched) = self.audit_rules.classify(event) else {
            return Outcome::Dropped(DropReason::AuditNoRule);
        };
        if let Err(reason) = self.filter.check_severity(matched.severity) {
            return Outcome::Dropped(reason);
        }
        let id = self
            .audit_ids
            .version_of(&event.audit_id, &request_identity(event));
        if id.is_some_and(|v| self.audit_ids.is_unchanged(v)) {
            return Outcome::Dropped(DropReason::Unchanged);
        }
        let target = event.target();
        let fingerprint = self.audit_fingerprint(event, &target, &matched);
        let (window, seen) = match self.admit(Bucket::Audit, fingerprint, Some(event.time())) {
            Ok(admitted) => admitted,
            Err(reason) => return Outcome::Dropped(reason),
        };
        if let Some(v) = id {
            self.audit_ids.record(v);
        }
        let source = &self.sources.audit.source;
        let ttl = self.config.ttl_seconds;
        self.outcome(
            source,
            matched.event_type(),
            &target,
            fingerprint,
            window,
            seen,
            || audit_rules::observation_spec(event, &target, &matched, source, ttl),
        )
    }

    /// Request identities remembered to recognize re-deliveries (a gauge, bounded by
    /// `dedup.max_entries`).
    pub fn tracked_audit_ids(&self) -> usize {
        self.audit_ids.len()
    }

    /// Source, rule, the object (a pod created without a name yet by its
    /// `generateName`), and verb, subresource, user and outcome exactly.
    fn audit_fingerprint(
        &mut self,
        event: &AuditEvent,
        target: &Target<'_>,
        matched: &AuditMatch,
    ) -> Fingerprint {
        let name = match target.name {
            "" => event.generate_name(),
            name => name,
        };
        let text = audit_rules::fingerprint_text(event, matched);
        self.fingerprinter.fingerprint_parts(
            &self.sources.audit.source,
            target.kind,
            target.namespace,
            name,
            matched.event_type(),
            Text::Exact(&text),
        )
    }

    /// The Repeat, or the Candidate with its labels and content.
    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        source: &str,
        event_type: &str,
        target: &Target<'_>,
        fingerprint: Fingerprint,
        window: i64,
        seen: Seen,
        spec: impl FnOnce() -> ObservationSpec,
    ) -> Outcome {
        let name = observation_name(source, event_type, fingerprint, window);
        let namespace = match target.namespace {
            "" => self.config.fallback_namespace.clone(),
            ns => ns.to_string(),
        };
        match seen {
            Seen::Again {
                occurrences,
                last_seen,
            } => Outcome::Repeat(Repeat {
                name,
                namespace,
                occurrences,
                last_seen,
            }),
            Seen::First => {
                let audience =
                    self.enricher
                        .audience_of(target.kind, target.namespace, target.name);
                Outcome::Emit(Box::new(Candidate {
                    name,
                    namespace,
                    labels: labels_for(audience, source, fingerprint),
                    spec: spec(),
                    fingerprint: fingerprint.to_hex(),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests;
