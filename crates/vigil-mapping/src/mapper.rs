//! The compiled mapping and its application to one source value. Owns the
//! expansion (records, then `forEach` elements), the per-finding filters and
//! the building of each Observation spec; names and fingerprints are the
//! pipeline's.

use crate::time::parse_time;
use crate::MappingError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use vigil_model::ingester::{Filters, IngesterSpec, Mapping};
use vigil_model::template::{parse_for_each, FieldPath, Template};
use vigil_model::validate::validate_observation;
use vigil_model::{Category, ObservationSpec, ResourceRef, Severity};
use vigil_pipeline::enrich::{labels_for, Audience};
use vigil_pipeline::fingerprint::{observation_name, Fingerprinter, Text};
use vigil_pipeline::glob::glob_match;
use vigil_pipeline::{Candidate, Fingerprint};

/// `.item` of an element kept by `forEachKeepEmpty`.
static NULL: Value = Value::Null;

/// The key an element is reachable under in `forEach` templates.
const ITEM: &str = "item";
/// With a nested `forEach`, the enclosing elements, outermost first.
const PARENTS: &str = "parents";

/// One Observation a mapping produced, with the key that identifies its finding.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedObservation {
    pub spec: ObservationSpec,
    /// Stable per finding: the rendered `spec.mapping.key` (or, without one,
    /// the record's identity plus the element's canonical JSON). An unchanged
    /// finding has the same key on every re-scan.
    pub key: String,
    /// Which record of the input (0 for a single object) and which `forEach`
    /// element of it (`None` without `forEach`) this came from.
    pub record: usize,
    pub element: Option<usize>,
}

impl MappedObservation {
    /// The pipeline's fingerprint of (source, eventType, key): equal for the
    /// same finding in every process and every re-scan.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprinter::new().fingerprint_parts(
            &self.spec.source,
            "",
            "",
            "",
            &self.spec.event_type,
            Text::Exact(&self.key),
        )
    }

    /// The Observation name for one dedup window: `<source>-<eventType>-<16 hex>`,
    /// at most 63 characters, as the pipeline names every Observation.
    pub fn name_in_window(&self, window: i64) -> String {
        self.name_with(self.fingerprint(), window)
    }

    /// [`MappedObservation::name_in_window`] with the fingerprint already at
    /// hand (hot paths compute it once).
    pub fn name_with(&self, fingerprint: Fingerprint, window: i64) -> String {
        observation_name(
            &self.spec.source,
            &self.spec.event_type,
            fingerprint,
            window,
        )
    }

    /// The name with no window (window 0): one Observation per finding for as
    /// long as it exists, so a re-scan's create conflicts instead of duplicating.
    pub fn name(&self) -> String {
        self.name_in_window(0)
    }

    /// A pipeline [`Candidate`] (window 0): in the affected object's namespace,
    /// else `fallback_namespace`; labelled with audience, source and fingerprint.
    pub fn candidate(&self, fallback_namespace: &str, audience: Audience) -> Candidate {
        self.candidate_with(self.fingerprint(), 0, fallback_namespace, audience)
    }

    /// [`MappedObservation::candidate`] in dedup window `window`, with the
    /// fingerprint already at hand.
    pub fn candidate_with(
        &self,
        fingerprint: Fingerprint,
        window: i64,
        fallback_namespace: &str,
        audience: Audience,
    ) -> Candidate {
        let namespace = self
            .spec
            .resource
            .as_ref()
            .and_then(|r| r.namespace.clone())
            .unwrap_or_else(|| fallback_namespace.to_string());
        Candidate {
            name: self.name_with(fingerprint, window),
            namespace,
            labels: labels_for(audience, &self.spec.source, fingerprint),
            spec: self.spec.clone(),
            fingerprint: fingerprint.to_hex(),
        }
    }
}

/// Findings the Ingester's filters dropped, by the filter that dropped them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    /// `spec.filters.match`.
    pub r#match: u64,
    /// `spec.filters.minSeverity`.
    pub severity: u64,
    /// `spec.filters.{include,exclude}Namespaces`, on the affected object.
    pub namespace: u64,
    /// `spec.filters.{include,exclude}Kinds`, on the affected object.
    pub kind: u64,
    /// `spec.filters.{include,exclude}EventTypes`.
    pub event_type: u64,
    /// `spec.filters.before`: the time is later than the horizon, or missing.
    pub time: u64,
}

impl Dropped {
    pub fn total(&self) -> u64 {
        self.r#match + self.severity + self.namespace + self.kind + self.event_type + self.time
    }
}

/// What one application produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    pub observations: Vec<MappedObservation>,
    pub dropped: Dropped,
}

#[derive(Debug, Clone)]
struct SeverityRule {
    from: Option<FieldPath>,
    /// Lowercased tool value → severity.
    map: BTreeMap<String, Severity>,
    default: Option<Severity>,
}

#[derive(Debug, Clone, Default)]
struct RecordFilters {
    r#match: Vec<(FieldPath, Vec<String>)>,
    /// `spec.filters.before`: the time field and the horizon in seconds.
    before: Option<(FieldPath, i64)>,
    min_severity: Option<Severity>,
    include_namespaces: Vec<String>,
    exclude_namespaces: Vec<String>,
    include_kinds: Vec<String>,
    exclude_kinds: Vec<String>,
    include_event_types: Vec<String>,
    exclude_event_types: Vec<String>,
}

/// `spec.mapping` (and the record-level `spec.filters`) compiled once.
#[derive(Debug, Clone)]
pub struct Mapper {
    source: String,
    category: Category,
    /// Array paths, each expanded within the previous one's elements.
    for_each: Vec<FieldPath>,
    /// `spec.mapping.forEachKeepEmpty`.
    keep_empty: bool,
    key: Option<Template>,
    event_type: Template,
    severity: SeverityRule,
    resource: [(&'static str, Option<Template>); 4],
    details: Vec<(String, Template)>,
    detected_at: Option<Template>,
    ttl_seconds: Option<i64>,
    filters: RecordFilters,
    /// `spec.deduplication.fields`: part of every finding's key.
    dedup_fields: Vec<FieldPath>,
}

fn template(path: &str, text: &Option<String>) -> Result<Option<Template>, MappingError> {
    text.as_deref()
        .map(|t| Template::parse(t).map_err(|e| MappingError::new(path, e.to_string())))
        .transpose()
}

fn field_path(path: &str, text: &str) -> Result<FieldPath, MappingError> {
    FieldPath::parse(text).map_err(|e| MappingError::new(path, e.to_string()))
}

fn is_event_type(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

impl Mapper {
    /// Compiles a spec the shared validator accepted. A mapping must say how
    /// to fill every required Observation field: `category`, `eventType` and
    /// `severity` (a `from` or a `default`).
    pub fn new(spec: &IngesterSpec) -> Result<Mapper, MappingError> {
        let m: &Mapping = spec
            .mapping
            .as_ref()
            .ok_or_else(|| MappingError::new("spec.mapping", "required to map source objects"))?;
        let category = m.category.ok_or_else(|| {
            MappingError::new("spec.mapping.category", "required to build an Observation")
        })?;
        let event_type = template("spec.mapping.eventType", &m.event_type)?.ok_or_else(|| {
            MappingError::new("spec.mapping.eventType", "required to build an Observation")
        })?;
        let sev = m.severity.as_ref().ok_or_else(|| {
            MappingError::new("spec.mapping.severity", "required to build an Observation")
        })?;
        if sev.from.is_none() && sev.default.is_none() {
            return Err(MappingError::new(
                "spec.mapping.severity",
                "set from (with map) or default",
            ));
        }
        let severity = SeverityRule {
            from: sev
                .from
                .as_deref()
                .map(|p| field_path("spec.mapping.severity.from", p))
                .transpose()?,
            map: sev
                .map
                .iter()
                .map(|(k, v)| (k.to_lowercase(), *v))
                .collect(),
            default: sev.default,
        };
        let r = m.resource.clone().unwrap_or_default();
        let resource = [
            (
                "apiVersion",
                template("spec.mapping.resource.apiVersion", &r.api_version)?,
            ),
            ("kind", template("spec.mapping.resource.kind", &r.kind)?),
            ("name", template("spec.mapping.resource.name", &r.name)?),
            (
                "namespace",
                template("spec.mapping.resource.namespace", &r.namespace)?,
            ),
        ];
        let details = m
            .details
            .iter()
            .map(|(name, t)| {
                Template::parse(t).map(|t| (name.clone(), t)).map_err(|e| {
                    MappingError::new(format!("spec.mapping.details.{name}"), e.to_string())
                })
            })
            .collect::<Result<_, _>>()?;
        let ttl_seconds = spec
            .ttl
            .as_deref()
            .map(|t| {
                vigil_model::duration::parse(t)
                    .map(|d| d.as_secs() as i64)
                    .map_err(|e| MappingError::new("spec.ttl", e.to_string()))
            })
            .transpose()?;
        Ok(Mapper {
            source: spec.source.clone(),
            category,
            for_each: m
                .for_each
                .as_deref()
                .map(|p| {
                    parse_for_each(p)
                        .map_err(|e| MappingError::new("spec.mapping.forEach", e.to_string()))
                })
                .transpose()?
                .unwrap_or_default(),
            keep_empty: m.for_each_keep_empty == Some(true),
            key: match template("spec.mapping.key", &m.key)? {
                Some(t) if t.is_literal() => {
                    return Err(MappingError::new(
                        "spec.mapping.key",
                        "reads no field: every finding would share one key",
                    ))
                }
                key => key,
            },
            event_type,
            severity,
            resource,
            details,
            detected_at: template("spec.mapping.detectedAt", &m.detected_at)?,
            ttl_seconds,
            filters: RecordFilters::new(spec.filters.as_ref())?,
            dedup_fields: spec
                .deduplication
                .iter()
                .flat_map(|d| d.fields.iter().enumerate())
                .map(|(i, p)| field_path(&format!("spec.deduplication.fields[{i}]"), p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Maps one source value: an object, a JSON array of objects, or a
    /// `kind: *List` with `items`.
    pub fn apply(&self, source: &Value) -> Result<Mapped, MappingError> {
        self.apply_at(source, Timestamp::now())
    }

    /// [`Mapper::apply`] as of `now`, which only `spec.filters.before` reads.
    pub fn apply_at(&self, source: &Value, now: Timestamp) -> Result<Mapped, MappingError> {
        let mut out = Mapped::default();
        for (index, record) in records(source).into_iter().enumerate() {
            self.apply_record(index, record, now, &mut out)?;
        }
        Ok(out)
    }

    /// Whether the result depends on the time (`spec.filters.before`): the
    /// same object may yield a finding later without changing.
    pub fn reads_clock(&self) -> bool {
        self.filters.before.is_some()
    }

    fn apply_record(
        &self,
        index: usize,
        record: &Value,
        now: Timestamp,
        out: &mut Mapped,
    ) -> Result<(), MappingError> {
        let Some(fields) = record.as_object() else {
            return Err(MappingError::new(
                "spec.mapping",
                format!(
                    "record {index} is not an object (found {})",
                    vigil_model::json::kind_of(record)
                ),
            ));
        };
        if self.for_each.is_empty() {
            if let Some(obs) = self.build(index, None, record, record, now, out)? {
                out.observations.push(obs);
            }
            return Ok(());
        }
        // (enclosing elements, element), level by level.
        let mut level: Vec<(Vec<&Value>, &Value)> = vec![(Vec::new(), record)];
        for (depth, path) in self.for_each.iter().enumerate() {
            let mut next = Vec::new();
            for (parents, value) in level {
                let found = elements(path.get(value));
                if found.is_empty() && depth > 0 && self.keep_empty {
                    // Kept once, with `.item` null.
                    let mut parents = parents.clone();
                    parents.push(value);
                    next.push((parents, &NULL));
                    continue;
                }
                for element in found {
                    let mut parents = parents.clone();
                    if depth > 0 {
                        parents.push(value);
                    }
                    next.push((parents, element));
                }
            }
            level = next;
        }
        if level.is_empty() {
            return Ok(());
        }
        let mut context = fields.clone();
        context.insert(ITEM.to_string(), Value::Null);
        let nested = self.for_each.len() > 1;
        let mut context = Value::Object(context);
        for (i, (parents, element)) in level.into_iter().enumerate() {
            context[ITEM] = element.clone();
            if nested {
                context[PARENTS] = Value::Array(parents.into_iter().cloned().collect());
            }
            if let Some(obs) = self.build(index, Some(i), record, &context, now, out)? {
                out.observations.push(obs);
            }
        }
        Ok(())
    }

    /// One Observation from one context (the record, with `.item` under `forEach`),
    /// or `None` when a filter drops it (counted in `out.dropped`).
    fn build(
        &self,
        record_index: usize,
        element: Option<usize>,
        record: &Value,
        ctx: &Value,
        now: Timestamp,
        out: &mut Mapped,
    ) -> Result<Option<MappedObservation>, MappingError> {
        let at = match element {
            Some(e) => format!(
                "record {record_index}, {} element {e}",
                self.for_each_text()
            ),
            None => format!("record {record_index}"),
        };
        let f = &self.filters;
        if !f
            .r#match
            .iter()
            .all(|(path, values)| path.get_text(ctx).is_some_and(|v| values.contains(&v)))
        {
            out.dropped.r#match += 1;
            return Ok(None);
        }
        if let Some((path, within)) = &f.before {
            let due = path
                .get_text(ctx)
                .and_then(|t| parse_time(&t).ok())
                .is_some_and(|t| t.as_second() <= now.as_second().saturating_add(*within));
            if !due {
                out.dropped.time += 1;
                return Ok(None);
            }
        }
        let severity = self.severity(ctx, &at)?;
        if f.min_severity.is_some_and(|min| severity < min) {
            out.dropped.severity += 1;
            return Ok(None);
        }
        let event_type = self.event_type.render(ctx);
        if !is_event_type(&event_type) {
            return Err(MappingError::new(
                "spec.mapping.eventType",
                format!(
                    "rendered {event_type:?} at {at}, which must match ^[a-z0-9_]+$ (at most 63)"
                ),
            ));
        }
        if !admits(&f.include_event_types, &f.exclude_event_types, &event_type) {
            out.dropped.event_type += 1;
            return Ok(None);
        }
        let resource = self.resource(ctx);
        let field = |get: fn(&ResourceRef) -> &Option<String>| {
            resource
                .as_ref()
                .and_then(|r| get(r).clone())
                .unwrap_or_default()
        };
        if !admits(
            &f.include_namespaces,
            &f.exclude_namespaces,
            &field(|r| &r.namespace),
        ) {
            out.dropped.namespace += 1;
            return Ok(None);
        }
        if !admits(&f.include_kinds, &f.exclude_kinds, &field(|r| &r.kind)) {
            out.dropped.kind += 1;
            return Ok(None);
        }
        let details: Map<String, Value> = self
            .details
            .iter()
            .filter_map(|(name, t)| {
                let text = t.render(ctx);
                (!text.is_empty()).then(|| (name.clone(), Value::String(text)))
            })
            .collect();
        let detected_at = match &self.detected_at {
            None => None,
            Some(t) => match t.render(ctx) {
                text if text.is_empty() => None,
                text => Some(Time(parse_time(&text).map_err(|e| {
                    MappingError::new("spec.mapping.detectedAt", format!("{e} at {at}"))
                })?)),
            },
        };
        let key = match &self.key {
            Some(t) => {
                if t.paths()
                    .all(|p| p.get_text(ctx).is_none_or(|v| v.is_empty()))
                {
                    return Err(MappingError::new(
                        "spec.mapping.key",
                        format!("every field it reads is missing or empty at {at}: a key must identify the finding"),
                    ));
                }
                t.render(ctx)
            }
            None => default_key(record, element.map(|_| ctx)),
        };
        let key = self.with_dedup_fields(key, ctx);
        let spec = ObservationSpec {
            source: self.source.clone(),
            category: self.category,
            severity,
            event_type,
            resource,
            details: (!details.is_empty()).then_some(Value::Object(details)),
            detected_at,
            ttl_seconds_after_creation: self.ttl_seconds,
        };
        validate_observation(&spec)
            .map_err(|e| MappingError::new("spec.mapping", format!("{e} at {at}")))?;
        Ok(Some(MappedObservation {
            spec,
            key,
            record: record_index,
            element,
        }))
    }

    /// Folds the values of `spec.deduplication.fields` into the key, so
    /// findings that differ only there are told apart (missing → empty).
    fn with_dedup_fields(&self, mut key: String, ctx: &Value) -> String {
        for path in &self.dedup_fields {
            key.push('|');
            key.push_str(&path.get_text(ctx).unwrap_or_default());
        }
        key
    }

    fn for_each_text(&self) -> String {
        let parts: Vec<String> = self.for_each.iter().map(ToString::to_string).collect();
        parts.join("[*]")
    }

    fn severity(&self, ctx: &Value, at: &str) -> Result<Severity, MappingError> {
        let rule = &self.severity;
        let value = rule
            .from
            .as_ref()
            .and_then(|p| p.get_text(ctx))
            .filter(|v| !v.trim().is_empty());
        let from = || {
            rule.from
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        };
        match value {
            None => rule.default.ok_or_else(|| {
                MappingError::new(
                    "spec.mapping.severity",
                    format!("no value at {} ({at}) and no default", from()),
                )
            }),
            Some(v) => {
                let v = v.trim();
                if let Some(s) = rule.map.get(&v.to_lowercase()) {
                    return Ok(*s);
                }
                v.parse::<Severity>().or_else(|e| {
                    rule.default.ok_or_else(|| {
                        MappingError::new(
                            "spec.mapping.severity",
                            format!(
                                "{e} (read from {} at {at}; add it to map or set default)",
                                from()
                            ),
                        )
                    })
                })
            }
        }
    }

    fn resource(&self, ctx: &Value) -> Option<ResourceRef> {
        let mut r = ResourceRef::default();
        for (field, t) in &self.resource {
            let Some(t) = t else { continue };
            let text = t.render(ctx);
            if text.is_empty() {
                continue;
            }
            let slot = match *field {
                "apiVersion" => &mut r.api_version,
                "kind" => &mut r.kind,
                "name" => &mut r.name,
                _ => &mut r.namespace,
            };
            *slot = Some(text);
        }
        (r != ResourceRef::default()).then_some(r)
    }
}

impl RecordFilters {
    fn new(filters: Option<&Filters>) -> Result<Self, MappingError> {
        let Some(f) = filters else {
            return Ok(Self::default());
        };
        let r#match = f
            .r#match
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Ok((
                    field_path(&format!("spec.filters.match[{i}].path"), &m.path)?,
                    m.values.clone(),
                ))
            })
            .collect::<Result<_, MappingError>>()?;
        let before = f
            .before
            .as_ref()
            .map(|b| {
                let within = vigil_model::duration::parse(&b.within)
                    .map_err(|e| MappingError::new("spec.filters.before.within", e.to_string()))?;
                Ok::<_, MappingError>((
                    field_path("spec.filters.before.path", &b.path)?,
                    within.as_secs() as i64,
                ))
            })
            .transpose()?;
        Ok(Self {
            r#match,
            before,
            min_severity: f.min_severity,
            include_namespaces: f.include_namespaces.clone(),
            exclude_namespaces: f.exclude_namespaces.clone(),
            include_kinds: f.include_kinds.clone(),
            exclude_kinds: f.exclude_kinds.clone(),
            include_event_types: f.include_event_types.clone(),
            exclude_event_types: f.exclude_event_types.clone(),
        })
    }
}

/// The elements at a `forEach` step: none for missing or null, the array's
/// items, or the value itself where one object stands for a list.
fn elements(value: Option<&Value>) -> Vec<&Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    }
}

/// Include lists (when set) admit only what they name; exclude lists win.
fn admits(include: &[String], exclude: &[String], value: &str) -> bool {
    (include.is_empty() || include.iter().any(|p| glob_match(p, value)))
        && !exclude.iter().any(|p| glob_match(p, value))
}

/// The records of a source value: each element of an array, each item of a
/// `kind: *List`, or the value itself.
fn records(source: &Value) -> Vec<&Value> {
    match source {
        Value::Array(items) => items.iter().collect(),
        Value::Object(o)
            if o.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && o.get("items").is_some_and(Value::is_array) =>
        {
            o["items"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default()
        }
        other => vec![other],
    }
}

/// Without `spec.mapping.key`: the record's kind/namespace/name (its uid when
/// it has no name), plus, under `forEach`, the canonical JSON (keys sorted) of
/// the element and of its parents (nested `forEach`), so the same finding keys
/// alike whatever order its fields come in. `context` is the element's context.
fn default_key(record: &Value, context: Option<&Value>) -> String {
    let text = |p: &[&str]| {
        p.iter()
            .try_fold(record, |v, k| v.get(*k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let name = match text(&["metadata", "name"]) {
        n if n.is_empty() => text(&["metadata", "uid"]),
        n => n,
    };
    let mut key = format!(
        "{}/{}/{}",
        text(&["kind"]),
        text(&["metadata", "namespace"]),
        name
    );
    if let Some(ctx) = context {
        key.push('/');
        canonical(&ctx[ITEM], &mut key);
        if let Some(parents) = ctx.get(PARENTS) {
            key.push('/');
            canonical(parents, &mut key);
        }
    }
    key
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&o[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
