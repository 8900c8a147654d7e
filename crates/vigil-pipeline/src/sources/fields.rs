//! Reads typed fields out of a parsed JSON object, naming the field in every
//! error: `rule: missing`, `priority: unknown value "Urgent", ...`,
//! `items[3].user.username: expected a string, got 7`. Owns
//! [`RecordError`] and [`LineError`]; it knows no tool's schema.
//!
//! Fields are moved out of the object (`remove`), so nothing is copied.
//! JSON `null` counts as absent, as Go's encoders write it for unset fields.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};
use std::fmt;

/// Why a record could not be read, and which field it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Dotted path of the field (`user.username`, `items[2].stage`), empty
    /// for the record as a whole.
    pub field: String,
    pub problem: Problem,
}

/// What is wrong with the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not JSON at all (serde_json's message, with line and column).
    Syntax(String),
    /// Required and absent (or `null`).
    Missing,
    /// Required and an empty string.
    Empty,
    /// The wrong JSON type; `found` is the value, abbreviated.
    WrongType {
        expected: &'static str,
        found: String,
    },
    /// A string outside the allowed set.
    UnknownValue {
        value: String,
        expected: &'static str,
    },
    /// Present and of the right type, but unusable (a malformed time, ...).
    Invalid(String),
}

impl RecordError {
    pub fn new(field: impl Into<String>, problem: Problem) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }

    /// Input that is not JSON.
    pub fn syntax(e: &serde_json::Error) -> Self {
        Self::new("", Problem::Syntax(e.to_string()))
    }

    /// The same error for a field of an enclosing object or list: `prefix`
    /// is prepended to the path (`items[3]` + `verb` → `items[3].verb`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = match self.field.is_empty() {
            true => prefix.to_string(),
            false => format!("{prefix}.{}", self.field),
        };
        self
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::Syntax(m) if self.field.is_empty() => return write!(f, "invalid JSON: {m}"),
            _ if self.field.is_empty() => f.write_str("record: ")?,
            _ => write!(f, "{}: ", self.field)?,
        }
        match &self.problem {
            Problem::Syntax(m) => write!(f, "invalid JSON: {m}"),
            Problem::Missing => f.write_str("missing"),
            Problem::Empty => f.write_str("empty"),
            Problem::WrongType { expected, found } => write!(f, "expected {expected}, got {found}"),
            Problem::UnknownValue { value, expected } => {
                write!(f, "unknown value {value:?}, expected {expected}")
            }
            Problem::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RecordError {}

/// A [`RecordError`] in a JSON-lines file, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub error: RecordError,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

impl std::error::Error for LineError {}

/// The non-blank lines of a JSON-lines text, each with its 1-based number.
pub fn json_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// `value` abbreviated for an error message.
pub fn describe(value: &Value) -> String {
    const MAX: usize = 40;
    let mut s = value.to_string();
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn wrong(field: &str, expected: &'static str, found: &Value) -> RecordError {
    RecordError::new(
        field,
        Problem::WrongType {
            expected,
            found: describe(found),
        },
    )
}

/// A JSON document that must be an object.
pub fn root_object(value: Value) -> Result<Map<String, Value>, RecordError> {
    match value {
        Value::Object(m) => Ok(m),
        other => Err(wrong("", "an object", &other)),
    }
}

/// The object under `key` moved out, or `None`; `path` names it in errors.
pub fn take_object(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Map<String, Value>>, RecordError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(wrong(path, "an object", &other)),
    }
}

/// Any value under `key` moved out (`null` is absent).
pub fn take_value(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    map.remove(key).filter(|v| !v.is_null())
}

/// An optional string.
pub fn take_string(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, RecordError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong(path, "a string", &other)),
    }
}

/// A required, non-empty string.
pub fn require_string(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<String, RecordError> {
    match take_string(map, key, path)? {
        None => Err(RecordError::new(path, Problem::Missing)),
        Some(s) if s.is_empty() => Err(RecordError::new(path, Problem::Empty)),
        Some(s) => Ok(s),
    }
}

/// An optional list of strings (`path[i]` names a bad element).
pub fn take_strings(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Vec<String>, RecordError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => Err(wrong(&format!("{path}[{i}]"), "a string", &other)),
            })
            .collect(),
        Some(other) => Err(wrong(path, "a list of strings", &other)),
    }
}

/// An optional integer.
pub fn take_i64(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<i64>, RecordError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(other) => Err(wrong(path, "an integer", &other)),
    }
}

/// An optional RFC 3339 time (any precision, `Z` or an offset).
pub fn take_time(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Timestamp>, RecordError> {
    let Some(s) = take_string(map, key, path)? else {
        return Ok(None);
    };
    parse_time(&s, path).map(Some)
}

/// An RFC 3339 time, or an error naming `path`.
pub fn parse_time(s: &str, path: &str) -> Result<Timestamp, RecordError> {
    s.parse::<Timestamp>().map_err(|e| {
        RecordError::new(
            path,
            Problem::Invalid(format!("invalid RFC 3339 time {s:?}: {e}")),
        )
    })
}

/// An optional map of strings to strings (annotations, labels).
pub fn take_string_map(
    map: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Vec<(String, String)>, RecordError> {
    let Some(m) = take_object(map, key, path)? else {
        return Ok(Vec::new());
    };
    m.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(wrong(&format!("{path}.{k}"), "a string", &other)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        root_object(v).expect("an object")
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let mut m = obj(json!({"a": 0, "b": "", "c": null, "t": "yesterday", "l": ["x", 2]}));
        assert_eq!(
            take_string(&mut m, "a", "a").unwrap_err().to_string(),
            "a: expected a string, got 0"
        );
        assert_eq!(
            require_string(&mut m, "b", "b").unwrap_err().to_string(),
            "b: empty"
        );
        assert_eq!(
            require_string(&mut m, "c", "c").unwrap_err().to_string(),
            "c: missing",
            "null is absent"
        );
        assert_eq!(
            require_string(&mut m, "zzz", "zzz")
                .unwrap_err()
                .to_string(),
            "zzz: missing"
        );
        let t = take_time(&mut m, "t", "t").unwrap_err().to_string();
        assert!(
            t.starts_with("t: invalid RFC 3339 time \"yesterday\""),
            "{t}"
        );
        assert_eq!(
            take_strings(&mut m, "l", "tags").unwrap_err().to_string(),
            "tags[1]: expected a string, got 2"
        );
    }

    #[test]
    fn within_prefixes_the_path_and_the_root_has_its_own_wording() {
        let e = RecordError::new("verb", Problem::Missing).within("items[3]");
        assert_eq!(e.to_string(), "items[3].verb: missing");
        let root = root_object(json!([1, 2])).unwrap_err();
        assert_eq!(root.to_string(), "record: expected an object, got [1,2]");
        assert_eq!(root.clone().within("items[0]").field, "items[0]");
        let syntax = serde_json::from_str::<Value>("{").unwrap_err();
        assert!(RecordError::syntax(&syntax)
            .to_string()
            .starts_with("invalid JSON: EOF while parsing"));
        let line = LineError {
            line: 4,
            error: RecordError::new("rule", Problem::Missing),
        };
        assert_eq!(line.to_string(), "line 4: rule: missing");
    }

    #[test]
    fn values_are_abbreviated_in_messages() {
        let long = Value::String("x".repeat(100));
        let d = describe(&long);
        assert!(d.chars().count() <= 41 && d.ends_with('…'), "{d}");
        assert_eq!(describe(&json!(7)), "7");
    }

    #[test]
    fn typed_readers_accept_what_they_should() {
        let mut m = obj(
            json!({"n": 201, "f": 1.5, "t": "2023-05-25T13:44:05.478445995Z",
                               "s": {"k": "v"}, "bad": {"k": 1}}),
        );
        assert_eq!(take_i64(&mut m, "n", "n"), Ok(Some(201)));
        assert!(take_i64(&mut m, "f", "f").is_err());
        let t = take_time(&mut m, "t", "t").unwrap().expect("a time");
        assert_eq!(t.subsec_nanosecond(), 478_445_995);
        assert_eq!(
            take_string_map(&mut m, "s", "s"),
            Ok(vec![("k".into(), "v".into())])
        );
        assert_eq!(
            take_string_map(&mut m, "bad", "annotations")
                .unwrap_err()
                .to_string(),
            "annotations.k: expected a string, got 1"
        );
        assert_eq!(take_i64(&mut m, "absent", "absent"), Ok(None));
    }
}
