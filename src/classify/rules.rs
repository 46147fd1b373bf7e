//! The evidence rules and the aggregate splitter behind [`classify`].
//!
//! A message is cut into *parts*: the elements of a kubelet aggregate `[e1, e2]` (the
//! text before and after the aggregate joins the first and last element). Each part is
//! one error chain from one pull attempt, so the rules that combine evidence work per
//! part: `fetch anonymous token` / `fetch oauth token` decide who a 401 in the same part
//! belongs to, `platform-mismatch` replaces `not-found`, `dns` replaces
//! `network-unreachable` (a DNS timeout is an `i/o timeout` too), and a more specific
//! 401 cause (or `access-denied`) replaces the generic `unauthorized`. The causes of all
//! parts are then listed in order of first appearance, deduplicated.
//!
//! Rules look for phrases, never for an image name: the patterns contain a space, a
//! `: ` or a gRPC/HTTP status shape that an image reference (no spaces) cannot produce.

use super::Cause;
use regex::{Regex, RegexSet, SetMatches};
use std::sync::{LazyLock, OnceLock};

/// What a rule's match is evidence of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evidence {
    /// The cause itself.
    Is(Cause),
    /// A 401 (or its text) whose owner is decided by a qualifier in the same part.
    Auth401,
    /// No credentials were used for the attempt (`fetch anonymous token`, or the kubelet
    /// fell back to anonymous after its credential provider failed).
    Anonymous,
    /// Credentials were used for the attempt (`fetch oauth token`).
    WithCredentials,
    /// An HTTP status; capture group 1 is the code.
    Status,
}

use Evidence::*;

/// The rules. Case-sensitive unless a pattern says `(?i:…)`.
const RULES: &[(Evidence, &str)] = &[
    // --- status codes (containerd 1.6 `unexpected status: 401 Unauthorized`, >= 1.7
    // `unexpected status from GET request to <url>: 401 Unauthorized`, blob fetch
    // `unexpected status code <url>: 429 Too Many Requests`, CRI-O `invalid status code
    // from registry 403 (Forbidden)`, Docker `received unexpected HTTP status: 503 …`).
    (
        Status,
        r"(?:^|[\s:(\[])([45]\d\d) \(?(?:Bad Request|Unauthorized|Forbidden|Not Found|Method Not Allowed|Request Timeout|Conflict|Too Many Requests|Internal Server Error|Not Implemented|Bad Gateway|Service Unavailable|Gateway Timeout|HTTP Version Not Supported|Insufficient Storage)\b",
    ),
    (Status, r"(?i:\bstatus(?: code)?:? |\bAPI error \()([45]\d\d)\b"),
    // --- authentication
    (
        Auth401,
        r"\bunauthorized: |\bUNAUTHORIZED\b|authentication required|invalid username/password",
    ),
    (
        Anonymous,
        r"fetch anonymous token|Failed getting credential from external registry credential provider",
    ),
    (WithCredentials, r"fetch oauth token"),
    (Is(Cause::UnauthorizedAnonymous), r"no basic auth credentials"),
    (
        Is(Cause::UnauthorizedCredentials),
        r"(?i:invalid clientid or client secret)|cannot be authenticated with the token provided|incorrect username or password|Application not registered with AAD|AADSTS7000215|AADSTS7000222|\binvalid_client\b",
    ),
    // --- authorization and network policy
    (Is(Cause::ForbiddenNetwork), r"is not allowed access|client with IP '"),
    (
        Is(Cause::AccessDenied),
        r#"pull access denied|\binsufficient_scope(?::|")|requested access to the resource is denied"#,
    ),
    // --- image reference
    (
        Is(Cause::NotFound),
        r"code = (?:NotFound|5) desc|: not found\b|(?i:manifest unknown)|MANIFEST_UNKNOWN|NAME_UNKNOWN|BLOB_UNKNOWN|\bname unknown\b|repository name not known to registry|manifest for \S+ not found|\bblob unknown\b",
    ),
    (
        Is(Cause::PlatformMismatch),
        r"no match for platform in manifest|no matching manifest for \S+ in the manifest list|no image found in (?:manifest list|image index) for architecture|does not match the specified platform|cannot be used on this platform",
    ),
    (
        Is(Cause::InvalidImageName),
        r"\bInvalidImageName\b|Failed to apply default image tag|invalid reference format|couldn't parse image (?:reference|name)",
    ),
    (Is(Cause::PullSecretMissing), r"Unable to retrieve (?:some image )?pull secrets?\b"),
    // --- transport
    (
        Is(Cause::Dns),
        r"\blookup [^\s:]+(?: on \S+)?: |no such host|server misbehaving|Temporary failure in name resolution|Name or service not known",
    ),
    (
        Is(Cause::NetworkUnreachable),
        r"i/o timeout|connection refused|no route to host|network is unreachable|host is unreachable|TLS handshake timeout|connection timed out|connection reset by peer|Client\.Timeout exceeded|request canceled while waiting for connection",
    ),
    (
        Is(Cause::Tls),
        r"\bx509: |\btls: |server gave HTTP response to HTTPS client|certificate signed by unknown authority",
    ),
    (
        Is(Cause::RateLimited),
        r#"(?i:\btoomanyrequests)(?:: |")|pull QPS exceeded|reached your (?:unauthenticated )?pull rate limit"#,
    ),
];

/// Lines that are not about a pull even though they carry network words: probe failures
/// (`Liveness probe failed: … connection refused`) and the kubelet failing to reach its
/// own runtime socket (`dial unix /run/containerd/containerd.sock: … connection refused`).
const NOT_A_PULL: &str =
    r"\b(?:Liveness|Readiness|Startup) probe (?:failed|errored)\b|\bdial unix [^\s:]+\.sock\b";

/// How an element of a kubelet aggregate starts (after `[` or a top-level `, `).
const ELEMENT_STARTS: &[&str] = &[
    "rpc error:",
    "failed to ",
    "Error response from daemon",
    "initializing source",
    "Error initializing source",
    "reading manifest",
    "Error reading manifest",
    "pinging container registry",
    "error pinging docker registry",
    "pinging docker registry",
    "choosing an image",
    "unable to retrieve auth token",
    "Requesting bearer token",
    "pull access denied",
    "unexpected status",
    "received unexpected HTTP status",
    "toomanyrequests",
    "unauthorized:",
    "denied:",
    "no basic auth credentials",
    "pull QPS exceeded",
    "Get \"",
    "Head \"",
    "Get \\\"",
    "Head \\\"",
];

struct Compiled {
    set: RegexSet,
    /// Each rule on its own, compiled the first time the set says it matched: a message
    /// matches a few rules, and compiling all of them was most of a run's regex work.
    each: Vec<OnceLock<Regex>>,
    not_a_pull: Regex,
}

impl Compiled {
    fn rule(&self, i: usize) -> &Regex {
        self.each[i].get_or_init(|| Regex::new(RULES[i].1).expect("classifier rule compiles"))
    }
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| Compiled {
    set: RegexSet::new(RULES.iter().map(|(_, p)| *p)).expect("classifier rules compile"),
    each: RULES.iter().map(|_| OnceLock::new()).collect(),
    not_a_pull: Regex::new(NOT_A_PULL).expect("classifier rule compiles"),
});

/// The causes carried by `message`, deduplicated, in order of first appearance.
///
/// Accepts any text an image-pull failure shows up in (event message, waiting message,
/// kubelet klog line, containerd/CRI-O/Docker error, `kubectl describe`/`get events`
/// row). Returns an empty vector for a message without a cause (`Back-off pulling
/// image "x"`, `Error: ErrImagePull`, a success line, an empty line…).
pub fn classify(message: &str) -> Vec<Cause> {
    let c = &*COMPILED;
    let matched = c.set.matches(message);
    if !matched.matched_any() || c.not_a_pull.is_match(message) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for_each_part(message, |part| classify_part(c, &matched, part, &mut out));
    out
}

const NONE: usize = usize::MAX;
/// Number of causes (the length of the per-part evidence table).
const N: usize = super::ALL.len();

fn classify_part(c: &Compiled, matched: &SetMatches, part: &str, out: &mut Vec<Cause>) {
    // First position of each cause's evidence in this part (NONE: absent).
    let mut pos = [NONE; N];
    let (mut auth401, mut anonymous, mut with_creds) = (NONE, NONE, NONE);
    for i in matched.iter() {
        let re = c.rule(i);
        match RULES[i].0 {
            Status => {
                for caps in re.captures_iter(part) {
                    let (Some(all), Some(code)) = (caps.get(0), caps.get(1)) else { continue };
                    let at = all.start();
                    match code.as_str() {
                        "401" => auth401 = auth401.min(at),
                        "403" => note(&mut pos, Cause::ForbiddenNetwork, at),
                        "404" => note(&mut pos, Cause::NotFound, at),
                        "429" => note(&mut pos, Cause::RateLimited, at),
                        s if s.starts_with('5') => note(&mut pos, Cause::RegistryError, at),
                        _ => {}
                    }
                }
            }
            Is(cause) => note(&mut pos, cause, first(re, part)),
            Auth401 => auth401 = auth401.min(first(re, part)),
            Anonymous => anonymous = first(re, part),
            WithCredentials => with_creds = first(re, part),
        }
    }

    if auth401 != NONE {
        let owner = match (anonymous, with_creds) {
            (NONE, NONE) => Cause::Unauthorized,
            (_, NONE) => Cause::UnauthorizedAnonymous,
            (NONE, _) => Cause::UnauthorizedCredentials,
            // Both (unusual): the qualifier closest before the 401 owns it.
            (a, w) => {
                let before = |q: usize| if q < auth401 { q } else { 0 };
                if before(a) >= before(w) {
                    Cause::UnauthorizedAnonymous
                } else {
                    Cause::UnauthorizedCredentials
                }
            }
        };
        note(&mut pos, owner, auth401);
    }
    let has = |pos: &[usize; N], cause: Cause| pos[cause as usize] != NONE;
    if has(&pos, Cause::UnauthorizedAnonymous)
        || has(&pos, Cause::UnauthorizedCredentials)
        || has(&pos, Cause::AccessDenied)
    {
        pos[Cause::Unauthorized as usize] = NONE;
    }
    if has(&pos, Cause::PlatformMismatch) {
        pos[Cause::NotFound as usize] = NONE;
    }
    if has(&pos, Cause::Dns) {
        pos[Cause::NetworkUnreachable as usize] = NONE;
    }

    let mut found: [(usize, Cause); N] = [(NONE, Cause::RegistryError); N];
    let mut n = 0;
    for &cause in Cause::all() {
        if has(&pos, cause) {
            found[n] = (pos[cause as usize], cause);
            n += 1;
        }
    }
    let found = &mut found[..n];
    found.sort_unstable();
    for &(_, cause) in found.iter() {
        if !out.contains(&cause) {
            out.push(cause);
        }
    }
}

/// Where `re` first matches in `part` (NONE: nowhere).
fn first(re: &Regex, part: &str) -> usize {
    re.find(part).map_or(NONE, |m| m.start())
}

fn note(pos: &mut [usize; N], cause: Cause, at: usize) {
    let slot = &mut pos[cause as usize];
    *slot = (*slot).min(at);
}

fn starts_element(s: &str) -> bool {
    ELEMENT_STARTS.iter().any(|p| s.starts_with(p))
}

/// Calls `f` with each part of `message`, in order: the elements of every kubelet
/// aggregate `[e1, e2, …]`, with the text around an aggregate joined to its first and last
/// element. An aggregate opens at a `[` followed by an element start (`rpc error:`,
/// `failed to …`); it splits on `, ` followed by an element start (or by `]` / the end:
/// an empty element) at its own bracket level only, so `[manifests v1]`, IPv6 addresses
/// and `pull access denied, repository …` stay inside their element. A missing `]`
/// (truncated text) ends the aggregate at the end of the message.
pub(super) fn for_each_part<'a>(message: &'a str, mut f: impl FnMut(&'a str)) {
    let b = message.as_bytes();
    let (mut start, mut depth, mut i) = (0, 0usize, 0);
    while i < b.len() {
        match b[i] {
            b'[' if depth > 0 => depth += 1,
            b'[' if starts_element(&message[i + 1..]) => depth = 1,
            b']' if depth > 0 => depth -= 1,
            b',' if depth == 1 && b.get(i + 1) == Some(&b' ') => {
                let rest = message[i + 2..].trim_start_matches(' ');
                if rest.is_empty() || rest.starts_with(']') || starts_element(rest) {
                    f(&message[start..i]);
                    start = i + 2;
                    i += 2;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    f(&message[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(m: &str) -> Vec<&str> {
        let mut v = Vec::new();
        for_each_part(m, |p| v.push(p));
        v
    }

    #[test]
    fn rules_compile() {
        assert_eq!(COMPILED.each.len(), RULES.len());
        assert_eq!(COMPILED.set.len(), RULES.len());
        // each rule alone, as the classifier compiles it on its first match
        for (i, (_, pattern)) in RULES.iter().enumerate() {
            assert_eq!(COMPILED.rule(i).as_str(), *pattern);
        }
    }

    #[test]
    fn splits_top_level_elements_only() {
        let m = "Failed to pull image \"a\": [rpc error: code = Unknown desc = pulling from host h failed with status code [manifests v1]: 401 Unauthorized, rpc error: code = NotFound desc = a: not found]";
        let p = parts(m);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].ends_with("401 Unauthorized"), "{p:?}");
        assert!(p[1].starts_with("rpc error: code = NotFound"), "{p:?}");
        assert!(p[1].ends_with("not found]"), "{p:?}");
    }

    #[test]
    fn keeps_commas_inside_an_element() {
        let m = "[rpc error: code = Unknown desc = Error response from daemon: pull access denied for x, repository does not exist or may require 'docker login', failed to pull and unpack image \"y\": dial tcp [fd00::1]:443: i/o timeout]";
        let p = parts(m);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].ends_with("'docker login'"), "{p:?}");
    }

    #[test]
    fn trailing_empty_element_and_missing_bracket() {
        assert_eq!(parts("x: [rpc error: a, ]"), vec!["x: [rpc error: a", "]"]);
        assert_eq!(parts("x: [rpc error: a, failed to b"), vec!["x: [rpc error: a", "failed to b"]);
        assert_eq!(parts("no aggregate, failed to x"), vec!["no aggregate, failed to x"]);
        assert_eq!(parts(""), vec![""]);
    }

    #[test]
    fn stray_closing_bracket_before_the_aggregate() {
        let m = "E1124 10:00:00.000000 1234 kuberuntime_manager.go:1256] \"x\" err=\"[rpc error: a, rpc error: b]\"";
        assert_eq!(parts(m).len(), 2);
    }
}
