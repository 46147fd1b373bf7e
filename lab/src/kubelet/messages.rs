//! Message texts exactly as the kubelet writes them (events, waiting messages, the
//! aggregate of several pull errors, Go's duration format).

use std::time::Duration;

use crate::cri::CriError;

/// How the kubelet turns a CRI error into text. kubelet >= 1.28 (k8s.io/cri-client
/// `PullImage`) strips the `rpc error: code = Unknown desc = ` prefix: "We can strip the
/// code from unknown status errors since they add no value"; other codes keep it.
pub fn cri_error_text(err: &CriError, strip_unknown: bool) -> String {
    match err.code() {
        Some(tonic::Code::Unknown) if strip_unknown => err.desc(),
        _ => err.to_string(),
    }
}

/// `utilerrors.NewAggregate(errs).Error()`: one distinct message → as is; several →
/// `[e1, e2]`, duplicates dropped.
pub fn aggregate(errs: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errs {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen[0].to_string(),
        _ => format!("[{}]", seen.join(", ")),
    }
}

pub fn pulling(image: &str) -> String {
    format!("Pulling image {}", go_quote(image))
}

pub fn failed_to_pull(image: &str, err: &str) -> String {
    format!("Failed to pull image {}: {err}", go_quote(image))
}

pub fn backoff_event(image: &str) -> String {
    format!("Back-off pulling image {}", go_quote(image))
}

/// The waiting message in back-off; kubelet >= 1.32 appends `: ErrImagePull: <err>`.
pub fn backoff_waiting(image: &str, prev_err: Option<&str>, with_error: bool) -> String {
    match prev_err {
        Some(e) if with_error => format!("{}: ErrImagePull: {e}", backoff_event(image)),
        _ => backoff_event(image),
    }
}

pub fn pulled(image: &str, pull: Duration, total: Duration, size: u64) -> String {
    format!(
        "Successfully pulled image {} in {} ({} including waiting). Image size: {size} bytes.",
        go_quote(image),
        go_duration(truncate_ms(pull)),
        go_duration(truncate_ms(total))
    )
}

pub fn already_present(image: &str) -> String {
    format!("Container image {} already present on machine", go_quote(image))
}

pub fn never_pull(image: &str) -> String {
    format!("Container image {} is not present with pull policy of Never", go_quote(image))
}

pub fn invalid_image(image: &str, err: &str) -> String {
    format!("Failed to apply default image tag {}: {err}", go_quote(image))
}

pub fn inspect_failed(image: &str, err: &str) -> String {
    format!("Failed to inspect image {}: {err}", go_quote(image))
}

pub fn missing_pull_secrets(names: &[String]) -> String {
    format!(
        "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
        names.join(", ")
    )
}

/// Go's `%q` for the strings that occur here (escapes `"` and `\`).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn truncate_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

fn frac(value: u128, digits: u32) -> String {
    // value has `digits` fractional digits; print with trailing zeros stripped.
    let p = 10u128.pow(digits);
    let (int, mut f) = (value / p, value % p);
    if f == 0 {
        return int.to_string();
    }
    let mut width = digits as usize;
    while f % 10 == 0 {
        f /= 10;
        width -= 1;
    }
    format!("{int}.{f:0width$}")
}

/// Go's `time.Duration.String()`.
pub fn go_duration(d: Duration) -> String {
    let n = d.as_nanos();
    if n == 0 {
        return "0s".into();
    }
    if n < 1_000 {
        return format!("{n}ns");
    }
    if n < 1_000_000 {
        return format!("{}µs", frac(n, 3));
    }
    if n < 1_000_000_000 {
        return format!("{}ms", frac(n, 6));
    }
    let secs = n / 1_000_000_000;
    let sub = n % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let s = frac(s * 1_000_000_000 + sub, 9);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_millis(512)), "512ms");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_millis(1234)), "1.234s");
        assert_eq!(go_duration(Duration::from_secs(62)), "1m2s");
        assert_eq!(go_duration(Duration::from_millis(3_723_005)), "1h2m3.005s");
        assert_eq!(go_duration(Duration::from_nanos(42)), "42ns");
    }

    #[test]
    fn aggregate_like_utilerrors() {
        assert_eq!(aggregate(&[]), "");
        assert_eq!(aggregate(&["a".into()]), "a");
        assert_eq!(aggregate(&["a".into(), "a".into()]), "a");
        assert_eq!(aggregate(&["a".into(), "b".into(), "a".into()]), "[a, b]");
    }

    #[test]
    fn rpc_prefix_stripped_only_for_unknown() {
        let unknown =
            CriError::Status { code: tonic::Code::Unknown, message: "failed to pull".into() };
        let nf = CriError::Status { code: tonic::Code::NotFound, message: "x: not found".into() };
        assert_eq!(cri_error_text(&unknown, true), "failed to pull");
        assert_eq!(
            cri_error_text(&unknown, false),
            "rpc error: code = Unknown desc = failed to pull"
        );
        assert_eq!(cri_error_text(&nf, true), "rpc error: code = NotFound desc = x: not found");
    }

    #[test]
    fn kubelet_texts() {
        assert_eq!(pulling("a.io/x:1"), "Pulling image \"a.io/x:1\"");
        assert_eq!(failed_to_pull("a.io/x:1", "boom"), "Failed to pull image \"a.io/x:1\": boom");
        assert_eq!(
            backoff_waiting("a.io/x:1", Some("boom"), true),
            "Back-off pulling image \"a.io/x:1\": ErrImagePull: boom"
        );
        assert_eq!(
            backoff_waiting("a.io/x:1", Some("boom"), false),
            "Back-off pulling image \"a.io/x:1\""
        );
        assert_eq!(
            pulled("a.io/x:1", Duration::from_micros(812_345), Duration::from_millis(1500), 42),
            "Successfully pulled image \"a.io/x:1\" in 812ms (1.5s including waiting). Image size: 42 bytes."
        );
        assert_eq!(
            missing_pull_secrets(&["a".into(), "b".into()]),
            "Unable to retrieve some image pull secrets (a, b); attempting to pull the image may not succeed."
        );
    }
}
