//! Secret redaction for everything a reporter prints or writes.
//!
//! Events must not carry secrets, but reporters do not rely on that: every free-text field
//! goes through [`redact`] before it reaches a report, a log line or the terminal. The
//! patterns aim at what an image-pull run could leak by mistake: JWTs (ACR refresh/access
//! tokens, Entra tokens), base64 dockerconfigjson blobs, `"auth":"…"`/`"password":"…"`
//! JSON members, `password=…`/`client_secret=…` pairs, and `Authorization` headers. They
//! leave ordinary containerd/kubelet error text alone (`failed to fetch anonymous token:
//! unexpected status: 401 Unauthorized` stays as it is).

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

struct Rule {
    re: Regex,
    replacement: &'static str,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |re: &str, replacement: &'static str| Rule {
        re: Regex::new(re).expect("redaction pattern compiles"),
        replacement,
    };
    vec![
        // `Authorization: Bearer …` / `Authorization: Basic …` (any case, `:` or `=`).
        rule(
            r"(?i)(authorization\s*[:=]\s*)(?:bearer|basic)\s+[A-Za-z0-9._~+/\-]+=*",
            "${1}[REDACTED]",
        ),
        // A bare bearer/basic credential (`Bearer <16+ chars>`), but not `Bearer realm="…"`.
        rule(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/\-]{16,}=*", "${1} [REDACTED]"),
        // JWTs and base64-encoded JSON (`eyJ` is base64 of `{"`): tokens, dockerconfigjson.
        rule(r"eyJ[A-Za-z0-9_\-+/]{8,}=*(?:\.[A-Za-z0-9_\-+/]*=*){0,2}", "[REDACTED]"),
        // JSON members holding secrets, also inside escaped JSON (`\"auth\":\"…\"`).
        rule(
            r#"(?i)(\\?"(?:auth|password|identitytoken|registrytoken|access_token|refresh_token|client_secret|clientsecret|secret|token)\\?"\s*:\s*\\?")(?:[^"\\]|\\[^"])*(\\?")"#,
            "${1}[REDACTED]${2}",
        ),
        // key=value pairs (query strings, CLI flags, env assignments).
        rule(
            r"(?i)\b((?:password|passwd|pwd|client[_-]?secret|secret|access[_-]?token|refresh[_-]?token|token|api[_-]?key|sig)\s*=\s*)[^\s&,;'`]+",
            "${1}[REDACTED]",
        ),
        // `password: …` / `client_secret: …` (YAML, logs). Not `token:`, which containerd
        // uses in ordinary error text.
        rule(r"(?i)\b((?:password|passwd|client[_-]?secret)\s*:\s*)[^\s&,;'`]+", "${1}[REDACTED]"),
        // `--password VALUE` / `-p VALUE` style flags as `docker login` prints them.
        rule(r"(--password|--client-secret)(\s+)\S+", "${1}${2}[REDACTED]"),
    ]
});

/// Replace anything that looks like a secret in `text` with `[REDACTED]`.
///
/// Returns the input unchanged (borrowed, no allocation) when nothing matched.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    for rule in RULES.iter() {
        if !rule.re.is_match(&out) {
            continue;
        }
        let replaced = rule.re.replace_all(&out, rule.replacement).into_owned();
        out = Cow::Owned(replaced);
    }
    out
}

/// Redact every string inside a JSON value, in place (keys are left alone).
pub(crate) fn redact_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(r) = redact(s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => map.values_mut().for_each(redact_json),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_pull_errors_alone() {
        let msg = "Failed to pull image \"r.azurecr.io/app:v1\": failed to authorize: failed to \
                   fetch anonymous token: unexpected status: 401 Unauthorized";
        assert!(matches!(redact(msg), Cow::Borrowed(_)));
        let realm = "www-authenticate: Bearer realm=\"https://r.azurecr.io/oauth2/token\"";
        assert_eq!(redact(realm), realm);
        let no_secret = "Invalid clientid or client secret";
        assert_eq!(redact(no_secret), no_secret);
    }

    #[test]
    fn redacts_each_kind() {
        let cases = [
            (
                "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here",
                "token [REDACTED] here",
            ),
            ("login password=hunter2 ok", "login password=[REDACTED] ok"),
            ("client_secret=abc~DEF&grant_type=x", "client_secret=[REDACTED]&grant_type=x"),
            (
                r#"{"auths":{"r.io":{"auth":"dXNlcjpwYXNz"}}}"#,
                r#"{"auths":{"r.io":{"auth":"[REDACTED]"}}}"#,
            ),
            (r#"{\"password\":\"p4ss\"}"#, r#"{\"password\":\"[REDACTED]\"}"#),
            ("Authorization: Bearer abc.def.ghi", "Authorization: [REDACTED]"),
            ("authorization=Basic dXNlcjpwYXNz", "authorization=[REDACTED]"),
            ("password: s3cr3t", "password: [REDACTED]"),
            ("docker login --password Zm9vYmFy r.io", "docker login --password [REDACTED] r.io"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "input: {input}");
        }
    }

    #[test]
    fn redacts_inside_json_values() {
        let mut v = serde_json::json!({"a": ["password=x1"], "b": {"c": "fine"}, "n": 1});
        redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["password=[REDACTED]"], "b": {"c": "fine"}, "n": 1})
        );
    }
}
