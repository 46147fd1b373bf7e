//! core/v1 Events as the kubelet's recorder writes them, with the event correlator's
//! de-duplication: the same source, object, type, reason and message bumps `count` and
//! `lastTimestamp` of the existing Event instead of creating a new one.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InvolvedObject {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `spec.containers{name}`, `spec.initContainers{name}` or empty for the pod.
    pub field_path: String,
}

/// Who reports: `kubelet` on a node, or `default-scheduler`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub component: String,
    pub host: String,
}

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// What to write to the API for one recorded event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventWrite {
    /// A new Event object.
    Create(Value),
    /// Bump an existing Event (`namespace`, `name`) to `count` at `last`.
    Bump { namespace: String, name: String, count: u64, last: String },
}

#[derive(Debug, Clone)]
struct Seen {
    name: String,
    count: u64,
}

type Key = (InvolvedObject, Source, EventType, String, String);

/// The correlator's de-duplication cache. One per pod worker is enough (keys include the
/// pod uid); dropping it with the worker bounds memory.
#[derive(Debug, Default)]
pub struct Correlator {
    seen: HashMap<Key, Seen>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Correlator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record an event at `now`; returns the API write to perform.
    pub fn record(
        &mut self,
        obj: &InvolvedObject,
        source: &Source,
        ty: EventType,
        reason: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> EventWrite {
        let key: Key = (obj.clone(), source.clone(), ty, reason.to_string(), message.to_string());
        if let Some(s) = self.seen.get_mut(&key) {
            s.count += 1;
            return EventWrite::Bump {
                namespace: obj.namespace.clone(),
                name: s.name.clone(),
                count: s.count,
                last: ts(now),
            };
        }
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        // client-go: fmt.Sprintf("%v.%x", ref.Name, t.UnixNano()); make it unique per key.
        let name = format!("{}.{:x}", obj.name, nanos as u64 + self.seen.len() as u64);
        self.seen.insert(key, Seen { name: name.clone(), count: 1 });
        EventWrite::Create(event_object(&name, obj, source, ty, reason, message, now))
    }

    /// Forget an event whose object vanished from the API, so the next one is created.
    pub fn forget(&mut self, name: &str) {
        self.seen.retain(|_, s| s.name != name);
    }
}

/// A core/v1 Event object.
pub fn event_object(
    name: &str,
    obj: &InvolvedObject,
    source: &Source,
    ty: EventType,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) -> Value {
    let mut involved = json!({
        "kind": "Pod",
        "namespace": obj.namespace,
        "name": obj.name,
        "uid": obj.uid,
        "apiVersion": "v1",
    });
    if !obj.field_path.is_empty() {
        involved["fieldPath"] = json!(obj.field_path);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": obj.namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": {"component": source.component, "host": source.host},
        "firstTimestamp": ts(now),
        "lastTimestamp": ts(now),
        "count": 1,
        "type": ty.as_str(),
        "eventTime": null,
        "reportingComponent": source.component,
        "reportingInstance": source.host,
    })
}

/// Apply a bump to a stored Event object.
pub fn apply_bump(event: &mut Value, count: u64, last: &str) {
    event["count"] = json!(count);
    event["lastTimestamp"] = json!(last);
    if let Some(m) = event["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj() -> InvolvedObject {
        InvolvedObject {
            namespace: "ns".into(),
            name: "p".into(),
            uid: "u1".into(),
            field_path: "spec.containers{c}".into(),
        }
    }

    fn src() -> Source {
        Source { component: "kubelet".into(), host: "node-0".into() }
    }

    #[test]
    fn same_reason_and_message_aggregate() {
        let mut c = Correlator::new();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let EventWrite::Create(e) = c.record(
            &obj(),
            &src(),
            EventType::Normal,
            "BackOff",
            "Back-off pulling image \"x\"",
            t0,
        ) else {
            panic!("first is a create")
        };
        assert_eq!(e["count"], 1);
        assert_eq!(e["involvedObject"]["fieldPath"], "spec.containers{c}");
        assert_eq!(e["source"]["host"], "node-0");
        assert_eq!(e["firstTimestamp"], "2026-01-01T00:00:00Z");
        let name = e["metadata"]["name"].as_str().unwrap().to_string();
        assert!(name.starts_with("p."));
        let t1 = t0 + chrono::Duration::seconds(5);
        let w = c.record(
            &obj(),
            &src(),
            EventType::Normal,
            "BackOff",
            "Back-off pulling image \"x\"",
            t1,
        );
        assert_eq!(
            w,
            EventWrite::Bump {
                namespace: "ns".into(),
                name: name.clone(),
                count: 2,
                last: "2026-01-01T00:00:05Z".into()
            }
        );
        // A different message is a different event.
        assert!(matches!(
            c.record(&obj(), &src(), EventType::Warning, "Failed", "Error: ErrImagePull", t1),
            EventWrite::Create(_)
        ));
        // Other object, same text: separate.
        let mut o2 = obj();
        o2.uid = "u2".into();
        assert!(matches!(
            c.record(&o2, &src(), EventType::Normal, "BackOff", "Back-off pulling image \"x\"", t1),
            EventWrite::Create(_)
        ));
        c.forget(&name);
        assert!(matches!(
            c.record(
                &obj(),
                &src(),
                EventType::Normal,
                "BackOff",
                "Back-off pulling image \"x\"",
                t1
            ),
            EventWrite::Create(_)
        ));
        let mut ev = e.clone();
        apply_bump(&mut ev, 7, "2026-01-01T00:01:00Z");
        assert_eq!(
            (ev["count"].as_u64(), ev["lastTimestamp"].as_str()),
            (Some(7), Some("2026-01-01T00:01:00Z"))
        );
    }

    #[test]
    fn pod_level_events_have_no_field_path() {
        let mut o = obj();
        o.field_path.clear();
        let e = event_object(
            "n",
            &o,
            &src(),
            EventType::Warning,
            "FailedToRetrieveImagePullSecret",
            "m",
            Utc::now(),
        );
        assert!(e["involvedObject"].get("fieldPath").is_none());
        assert_eq!(e["type"], "Warning");
    }
}
