//! Message templates: a failure message with its variable parts replaced by typed
//! placeholders, so two runs compare by the *shape* of the text (who wrapped what, which
//! words) and not by run ids, pod names, ports or timestamps.
//!
//! Known values of the observation are replaced first (the probe's image, its registry
//! host, repository and tag, the pod and its namespace), then patterns, most specific
//! first: timestamps, digests, UUIDs, URLs' hosts and ports, IPs, host:port pairs,
//! host names, durations, long hex ids, long numbers. HTTP status codes (three digits)
//! and gRPC codes stay: they are what a signature is about.

use crate::events::Observation;
use regex::Regex;
use std::sync::LazyLock;

/// The placeholders a template can hold.
pub const PLACEHOLDERS: [&str; 14] = [
    "<image>",
    "<repository>",
    "<tag>",
    "<registry>",
    "<namespace>",
    "<pod>",
    "<timestamp>",
    "<digest>",
    "<uuid>",
    "<host>",
    "<ip>",
    "<port>",
    "<duration>",
    "<id>",
];

struct Rule {
    re: Regex,
    to: &'static str,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let r = |re: &str, to: &'static str| Rule { re: Regex::new(re).expect("template rule"), to };
    vec![
        r(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?: [+-]\d{4} \w+)?",
            "<timestamp>",
        ),
        r(r"\bsha(?:256|384|512):[0-9a-fA-F]{32,}\b", "<digest>"),
        r(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            "<uuid>",
        ),
        // acr-chaos run ids (`20261124T041907Z-3f2a`), inside names too
        r(r"\b\d{8}T\d{6}Z-[0-9a-f]{4}\b", "<id>"),
        // scheme://host[:port]: keep the scheme and the path
        r(r"(https?|oci|grpc)://[A-Za-z0-9.\-]+(?::\d+)?", "${1}://<host>"),
        r(r"\[[0-9a-fA-F:]+\]:\d+", "<ip>:<port>"),
        r(r"\b(?:\d{1,3}\.){3}\d{1,3}:\d+\b", "<ip>:<port>"),
        r(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "<ip>"),
        r(
            r"\b[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]+)+:\d+\b",
            "<host>:<port>",
        ),
        r(r"\blocalhost:\d+\b", "<host>:<port>"),
        r(
            r"\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+(?:io|com|net|org|cn|de|us|ms|cloud|local|internal|test|invalid|example|dev|azure|azurecr|lab)\b",
            "<host>",
        ),
        r(
            r"\b\d+(?:\.\d+)?(?:h|m|s|ms|us|µs|ns)(?:\d+(?:\.\d+)?(?:m|s|ms|us|µs|ns))*\b",
            "<duration>",
        ),
        r(
            r"\b(?:[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*|[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*)\b",
            "<hex>",
        ),
        r(r"\b\d{4,}\b", "<n>"),
    ]
});

/// Reduce `message` to its template, using what `obs` knows (image, pod, namespace).
pub fn template(message: &str, obs: Option<&Observation>) -> String {
    let mut s = message.trim().to_string();
    if let Some(o) = obs {
        s = replace_known(&s, o);
    }
    for rule in RULES.iter() {
        if rule.to == "<hex>" {
            s = rule.re.replace_all(&s, |c: &regex::Captures<'_>| hex_id(&c[0])).into_owned();
            continue;
        }
        s = rule.re.replace_all(&s, rule.to).into_owned();
    }
    collapse_spaces(&s)
}

/// The kubelet's wrappers around the pull error, as templates. The same error reaches a
/// probe either in the `Failed` event (`Failed to pull image "<image>": <err>`) or in the
/// container's waiting message (`<err>`; kubelet >= 1.32 in the back-off:
/// `Back-off pulling image "<image>": ErrImagePull: <err>`); which one an observation
/// holds depends on the instant it was taken, so the signature is the error itself.
const WRAPPERS: [&str; 2] =
    ["Failed to pull image \"<image>\": ", "Back-off pulling image \"<image>\": ErrImagePull: "];

/// The error signature of a message: its template without the kubelet's wrapper.
pub fn signature(message: &str, obs: Option<&Observation>) -> String {
    strip_wrapper(&template(message, obs)).to_string()
}

/// A template without the kubelet's wrapper (idempotent; also applied to the templates a
/// baseline file holds, so a hand-edited or older baseline compares the same way).
pub fn strip_wrapper(template: &str) -> &str {
    WRAPPERS.iter().find_map(|w| template.strip_prefix(w)).unwrap_or(template)
}

/// Hex runs of 12+ characters are ids (request ids, object ids); shorter ones stay.
fn hex_id(m: &str) -> String {
    if m.len() >= 12 { "<id>".to_string() } else { m.to_string() }
}

fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parts of an image reference: registry host, repository, tag or digest.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImageParts<'a> {
    pub registry: Option<&'a str>,
    pub repository: &'a str,
    pub tag: Option<&'a str>,
}

/// Split `host[:port]/repo[:tag][@digest]` the way the reference grammar does: the
/// first component is a registry when it has a `.` or `:` or is `localhost`.
pub fn image_parts(image: &str) -> ImageParts<'_> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let (registry, rest) = match no_digest.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, no_digest),
    };
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (rest, None),
    };
    ImageParts { registry, repository, tag }
}

fn replace_known(message: &str, o: &Observation) -> String {
    let mut s = message.to_string();
    let mut known: Vec<(&str, &str)> = Vec::new();
    if !o.image.is_empty() {
        known.push((o.image.as_str(), "<image>"));
        let p = image_parts(&o.image);
        if let Some(r) = p.registry {
            known.push((r, "<registry>"));
        }
        if p.repository.len() > 2 {
            known.push((p.repository, "<repository>"));
        }
        if let Some(t) = p.tag.filter(|t| t.len() >= 2) {
            known.push((t, "<tag>"));
        }
    }
    if o.pod.len() > 2 {
        known.push((o.pod.as_str(), "<pod>"));
    }
    if o.namespace.len() > 2 {
        known.push((o.namespace.as_str(), "<namespace>"));
    }
    // longest first, so `<image>` wins over its parts
    known.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (k, to) in known {
        s = replace_word(&s, k, to);
    }
    s
}

/// Replace `needle` where it is not part of a longer name (`probe-1` in `probe-12`).
fn replace_word(hay: &str, needle: &str, to: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(i) = rest.find(needle) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + needle.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(is_name) || after.is_some_and(is_name) {
            out.push_str(needle);
        } else {
            out.push_str(to);
        }
        rest = &rest[i + needle.len()..];
    }
    out.push_str(rest);
    out
}

/// A word diff of two templates: unchanged words as they are, removed ones as
/// `[-word-]`, added ones as `{+word+}` (git's `--word-diff=plain` notation).
pub fn word_diff(old: &str, new: &str) -> String {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::from_words(old, new);
    let mut out = String::new();
    let mut open: Option<ChangeTag> = None;
    let close = |out: &mut String, tag: Option<ChangeTag>| match tag {
        Some(ChangeTag::Delete) => out.push_str("-]"),
        Some(ChangeTag::Insert) => out.push_str("+}"),
        _ => {}
    };
    for change in diff.iter_all_changes() {
        let tag = change.tag();
        let text = change.value();
        if open != Some(tag) {
            // whitespace between two changed runs stays outside the markers
            close(&mut out, open);
            match tag {
                ChangeTag::Delete => out.push_str("[-"),
                ChangeTag::Insert => out.push_str("{+"),
                ChangeTag::Equal => {}
            }
            open = Some(tag);
        }
        out.push_str(text);
    }
    close(&mut out, open);
    // markers opened on whitespace read badly: `[- word-]` → ` [-word-]`
    out.replace("[- ", " [-").replace("{+ ", " {+").replace(" -]", "-] ").replace(" +}", "+} ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(image: &str, pod: &str, ns: &str) -> Observation {
        Observation {
            pod: pod.into(),
            namespace: ns.into(),
            image: image.into(),
            ..Observation::default()
        }
    }

    #[test]
    fn run_specific_parts_become_placeholders() {
        let a = "Failed to pull image \"lab.azurecr.io:41234/probe:v1\": failed to pull and unpack image \"lab.azurecr.io:41234/probe:v1\": failed to resolve reference \"lab.azurecr.io:41234/probe:v1\": failed to do request: Head \"https://lab.azurecr.io:41234/v2/probe/manifests/v1\": dial tcp 10.0.0.4:41234: i/o timeout";
        let b = a.replace("41234", "39999").replace("10.0.0.4", "10.0.0.9");
        let ta = template(a, Some(&obs("lab.azurecr.io:41234/probe:v1", "p", "ns")));
        let tb = template(&b, Some(&obs("lab.azurecr.io:39999/probe:v1", "p", "ns")));
        assert_eq!(ta, tb);
        assert!(ta.starts_with("Failed to pull image \"<image>\""), "{ta}");
        assert!(ta.contains("https://<registry>/v2/<repository>/manifests/<tag>"), "{ta}");
        assert!(ta.contains("dial tcp <ip>:<port>: i/o timeout"), "{ta}");
    }

    #[test]
    fn status_codes_stay_and_ids_go() {
        let m = "unexpected status from GET request to https://r.azurecr.io/oauth2/token?scope=repository%3Aprobe%3Apull&service=r.azurecr.io: 401 Unauthorized (request 3f2a9c0d1e2b4a5c, at 2026-11-24T04:19:07.123Z after 1.5s)";
        let t = template(m, None);
        assert!(t.contains("401 Unauthorized"), "{t}");
        assert!(t.contains("<id>") && t.contains("<timestamp>") && t.contains("<duration>"), "{t}");
        assert!(!t.contains("r.azurecr.io"), "{t}");
    }

    #[test]
    fn pods_and_namespaces_of_other_runs_do_not_drift() {
        let m = |ns: &str, pod: &str| {
            format!("pod {ns}/{pod}: Back-off pulling image \"r.azurecr.io/app:v1\"")
        };
        let a = template(
            &m("acr-chaos-20261124t041907z-3f2a-acr-detach", "probe-fault-1"),
            Some(&obs(
                "r.azurecr.io/app:v1",
                "probe-fault-1",
                "acr-chaos-20261124t041907z-3f2a-acr-detach",
            )),
        );
        let b = template(
            &m("acr-chaos-20261125t041907z-77aa-acr-detach", "probe-fault-3"),
            Some(&obs(
                "r.azurecr.io/app:v1",
                "probe-fault-3",
                "acr-chaos-20261125t041907z-77aa-acr-detach",
            )),
        );
        assert_eq!(a, b);
        assert_eq!(a, "pod <namespace>/<pod>: Back-off pulling image \"<image>\"");
    }

    #[test]
    fn event_and_waiting_message_have_one_signature() {
        let o = obs("r.azurecr.io/app:v1", "p", "ns");
        let err = "failed to pull and unpack image \"r.azurecr.io/app:v1\": 401 Unauthorized";
        let event = format!("Failed to pull image \"r.azurecr.io/app:v1\": {err}");
        let backoff =
            format!("Back-off pulling image \"r.azurecr.io/app:v1\": ErrImagePull: {err}");
        let want = signature(err, Some(&o));
        assert_eq!(signature(&event, Some(&o)), want);
        assert_eq!(signature(&backoff, Some(&o)), want);
        assert_eq!(want, "failed to pull and unpack image \"<image>\": 401 Unauthorized");
    }

    #[test]
    fn word_diff_marks_the_rewrap() {
        let old =
            "Failed to pull image \"<image>\": rpc error: code = Unknown desc = failed to pull";
        let new = "Failed to pull image \"<image>\": failed to pull";
        let d = word_diff(old, new);
        assert!(d.contains("[-rpc error: code = Unknown desc =-]"), "{d}");
        assert!(!d.contains("{+"), "{d}");
    }

    #[test]
    fn image_parts_follow_the_reference_grammar() {
        let p = image_parts("r.azurecr.io:5000/team/app:v1@sha256:abc");
        assert_eq!(p.registry, Some("r.azurecr.io:5000"));
        assert_eq!((p.repository, p.tag), ("team/app", Some("v1")));
        assert_eq!(image_parts("busybox").registry, None);
    }
}
