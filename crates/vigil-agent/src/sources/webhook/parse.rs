//! A request body into records, all or nothing: the first bad record makes
//! the whole request a 400 naming its line and field
//! (`line 4: priority: missing`, `line 1: items[3].verb: missing`).
//!
//! A body is a stream of JSON documents separated by whitespace: one
//! document (pretty-printed or not), JSON lines, or concatenated objects.
//! Falco: each document is one alert. Audit: each document is an `Event` or
//! an `EventList` (what the API server's webhook backend sends).

use super::WebhookRecord;
use crate::config::EndpointKind;
use serde_json::Value;
use vigil_pipeline::sources::{audit, FalcoAlert, LineError, RecordError};

/// Every record of `body`, or the first error.
pub fn records(kind: EndpointKind, body: &[u8]) -> Result<Vec<WebhookRecord>, LineError> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    // The line of a document's first byte, counted incrementally.
    let (mut line, mut counted_to) = (1usize, 0usize);
    loop {
        // Where the next document starts (its first non-blank byte).
        let from = stream.byte_offset();
        let Some(skip) = body[from..].iter().position(|b| !b.is_ascii_whitespace()) else {
            break;
        };
        let start = from + skip;
        line += body[counted_to..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted_to = start;
        let Some(next) = stream.next() else { break };
        let value = match next {
            Ok(value) => value,
            Err(e) => {
                return Err(LineError {
                    line,
                    error: RecordError::syntax(&e),
                })
            }
        };
        let at = |error| LineError { line, error };
        match kind {
            EndpointKind::Falco => out.push(WebhookRecord::Falco(Box::new(
                FalcoAlert::from_value(value).map_err(at)?,
            ))),
            EndpointKind::Audit => {
                for event in audit::parse_value(value).map_err(at)? {
                    out.push(WebhookRecord::Audit(Box::new(event.map_err(at)?)));
                }
            }
            EndpointKind::Generic => match value {
                Value::Object(_) | Value::Array(_) => {
                    out.push(WebhookRecord::Generic(Box::new(value)))
                }
                other => {
                    return Err(at(RecordError::new(
                        "",
                        vigil_pipeline::sources::Problem::Invalid(format!(
                            "a JSON object or array is expected, found {}",
                            vigil_model::json::kind_of(&other)
                        )),
                    )))
                }
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT: &str = r#"{"rule":"Terminal shell in container","priority":"Critical","output":"shell","time":"2023-05-25T13:44:05.478445995Z","output_fields":{"k8s.pod.name":"web","k8s.ns.name":"shop"}}"#;

    fn event(verb: &str) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a-{verb}","stage":"ResponseComplete","verb":"{verb}","user":{{"username":"alice"}},"stageTimestamp":"2024-01-01T00:00:00Z"}}"#
        )
    }

    fn error(kind: EndpointKind, body: &str) -> String {
        match records(kind, body.as_bytes()) {
            Err(e) => e.to_string(),
            Ok(r) => panic!("expected an error, got {} records", r.len()),
        }
    }

    #[test]
    fn falco_single_pretty_and_json_lines() {
        assert_eq!(
            records(EndpointKind::Falco, ALERT.as_bytes())
                .expect("one")
                .len(),
            1
        );
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(ALERT).expect("json"))
                .expect("pretty");
        assert_eq!(
            records(EndpointKind::Falco, pretty.as_bytes())
                .expect("pretty")
                .len(),
            1
        );
        let lines = format!("{ALERT}\n\n{ALERT}\r\n{ALERT}\n");
        assert_eq!(
            records(EndpointKind::Falco, lines.as_bytes())
                .expect("lines")
                .len(),
            3
        );
        assert!(records(EndpointKind::Falco, b"  \n")
            .expect("blank")
            .is_empty());
    }

    #[test]
    fn the_first_bad_record_names_its_line_and_field() {
        let missing = ALERT.replace(r#""priority":"Critical","#, "");
        let body = format!("{ALERT}\n{ALERT}\n\n{missing}\n{ALERT}\n");
        assert_eq!(
            error(EndpointKind::Falco, &body),
            "line 4: priority: missing"
        );
        let syntax = format!("{ALERT}\n{{\"rule\": \n");
        let e = error(EndpointKind::Falco, &syntax);
        assert!(e.starts_with("line 2: invalid JSON:"), "{e}");
        assert_eq!(
            error(EndpointKind::Falco, "[1]"),
            "line 1: record: expected an object, got [1]"
        );
    }

    #[test]
    fn audit_event_list_single_event_and_lines() {
        let list = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{},{}]}}"#,
            event("get"),
            event("list")
        );
        assert_eq!(
            records(EndpointKind::Audit, list.as_bytes())
                .expect("list")
                .len(),
            2
        );
        assert_eq!(
            records(EndpointKind::Audit, event("get").as_bytes())
                .expect("one")
                .len(),
            1
        );
        let lines = format!("{}\n{}\n", event("get"), event("delete"));
        assert_eq!(
            records(EndpointKind::Audit, lines.as_bytes())
                .expect("lines")
                .len(),
            2
        );
        let bad = event("get").replace(r#""verb":"get","#, "");
        let list = format!(r#"{{"kind":"EventList","items":[{},{bad}]}}"#, event("get"));
        assert_eq!(
            error(EndpointKind::Audit, &list),
            "line 1: items[1].verb: missing"
        );
        assert_eq!(
            error(EndpointKind::Audit, r#"{"kind": 0}"#),
            "line 1: kind: expected a string, got 0"
        );
    }

    #[test]
    fn generic_bodies_are_json_documents_objects_or_arrays() {
        let got = records(
            EndpointKind::Generic,
            b"{\"job\": \"a\"}\n[{\"job\": \"b\"}]\n",
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[1], WebhookRecord::Generic(v) if v.is_array()));
        let e = error(EndpointKind::Generic, "{}\n3");
        assert!(e.starts_with("line 2: "), "{e}");
        assert!(
            e.contains("a JSON object or array is expected, found a number"),
            "{e}"
        );
    }
}
