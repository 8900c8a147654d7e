//! The ConfigMap adapter: a report kept in one key of a ConfigMap (by name or
//! label selector), parsed as JSON, YAML, kube-bench or Checkov output and
//! handed over whole each time the ConfigMap changes; the runtime's findings
//! diff keeps unchanged findings from being emitted again.

use crate::ingesters::runtime::Change;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::mpsc;
use vigil_model::ingester::{ConfigMapAdapter, ReportFormat};

/// Largest report read from a key (a ConfigMap holds at most 1 MiB anyway).
const MAX_REPORT_BYTES: usize = 1 << 20;

pub async fn run(
    client: Client,
    adapter: &ConfigMapAdapter,
    changes: &mpsc::Sender<Change>,
) -> Result<(), String> {
    let namespace = adapter
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let mut config = watcher::Config::default();
    if let Some(name) = &adapter.name {
        config = config.fields(&format!("metadata.name={name}"));
    }
    if let Some(labels) = &adapter.label_selector {
        config = config.labels(labels);
    }
    let stream_name = namespace.clone();
    let mut watch = watcher(api, config).default_backoff().boxed();
    while let Some(item) = watch.next().await {
        let change = match item {
            Err(err) => Change::Failing(format!(
                "watching ConfigMaps in {namespace}: {}",
                super::informer::explain(&err)
            )),
            Ok(watcher::Event::Init) => Change::Listing {
                stream: stream_name.clone(),
            },
            Ok(watcher::Event::InitDone) => Change::Synced {
                stream: stream_name.clone(),
            },
            Ok(watcher::Event::InitApply(cm) | watcher::Event::Apply(cm)) => {
                let key = key_of(&cm);
                match report(&cm, &adapter.key, adapter.format) {
                    Ok(object) => Change::Applied {
                        stream: stream_name.clone(),
                        key,
                        object,
                    },
                    Err(message) => Change::Unreadable(format!("ConfigMap {key}: {message}")),
                }
            }
            Ok(watcher::Event::Delete(cm)) => Change::Deleted {
                key: key_of(&cm),
                object: serde_json::Value::Null,
            },
        };
        if changes.send(change).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

fn key_of(cm: &ConfigMap) -> String {
    format!(
        "{}/{}",
        cm.metadata.namespace.as_deref().unwrap_or_default(),
        cm.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The report in `key`, parsed; errors name the key and what is wrong.
pub fn report(
    cm: &ConfigMap,
    key: &str,
    format: ReportFormat,
) -> Result<serde_json::Value, String> {
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or_else(|| format!("data key {key:?} is missing"))?;
    parse(text, key, format)
}

/// Parses a report's text in the given format. Pure.
pub fn parse(text: &str, key: &str, format: ReportFormat) -> Result<serde_json::Value, String> {
    if text.len() > MAX_REPORT_BYTES {
        return Err(format!(
            "data key {key:?} holds {} bytes, more than {MAX_REPORT_BYTES}",
            text.len()
        ));
    }
    let json = |t: &str| {
        serde_json::from_str::<serde_json::Value>(t)
            .map_err(|e| format!("data key {key:?} is not valid JSON: {e}"))
    };
    match format {
        ReportFormat::Json | ReportFormat::Checkov => json(text),
        ReportFormat::Yaml => serde_saphyr::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("data key {key:?} is not valid YAML: {e}")),
        // Older kube-bench writes a bare array of controls; the preset reads
        // `{"Controls": [...]}` as newer versions write it.
        ReportFormat::KubeBench => match json(text)? {
            serde_json::Value::Array(controls) => Ok(serde_json::json!({"Controls": controls})),
            v @ serde_json::Value::Object(_) => Ok(v),
            other => Err(format!(
                "data key {key:?}: kube-bench output is an object or an array of controls, found {}",
                vigil_model::json::kind_of(&other)
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_errors_name_the_key() {
        assert_eq!(
            parse("a: 1", "k", ReportFormat::Yaml).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            parse("[{\"id\": \"1\"}]", "k", ReportFormat::KubeBench).unwrap(),
            serde_json::json!({"Controls": [{"id": "1"}]})
        );
        let err = parse("{", "report.json", ReportFormat::Checkov).unwrap_err();
        assert!(
            err.starts_with("data key \"report.json\" is not valid JSON"),
            "{err}"
        );
        let err = parse("3", "r", ReportFormat::KubeBench).unwrap_err();
        assert!(err.contains("found a number"), "{err}");
        let cm = ConfigMap::default();
        assert_eq!(
            report(&cm, "x", ReportFormat::Json).unwrap_err(),
            "data key \"x\" is missing"
        );
    }
}
