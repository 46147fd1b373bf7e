//! Hand-written matchers for the fixed grammars of scenario and target values.
//!
//! These used to be `regex` patterns behind `LazyLock`s; compiling them (the tag pattern's
//! Unicode `\w` above all) cost ~50 ms on the first `validate`, more than the rest of the
//! command. Each function states the pattern it replaces; `tests` below checks them
//! against the `regex` crate on a table of edge cases, so the grammar cannot drift.

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Non-empty, every byte in `inner`, first and last byte in `edge`.
fn bounded(s: &str, edge: fn(u8) -> bool, inner: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&f), Some(&l)) => edge(f) && edge(l) && b.iter().all(|&c| inner(c)),
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
pub(super) fn dns_label(s: &str) -> bool {
    bounded(s, lower_alnum, |c| lower_alnum(c) || c == b'-')
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
pub(super) fn dns_subdomain(s: &str) -> bool {
    s.split('.').all(dns_label)
}

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$` (a label name or value)
pub(super) fn label_name(s: &str) -> bool {
    bounded(s, alnum, |c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
}

/// `^(localhost|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(:[0-9]{1,5})?$`
pub(super) fn host(s: &str) -> bool {
    let (name, port) = match s.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (s, None),
    };
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()));
    let name_ok = name.split('.').all(|l| bounded(l, alnum, |c| alnum(c) || c == b'-'));
    port_ok && name_ok
}

/// `^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$` (a repository path component)
pub(super) fn path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && lower_alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false; // empty, or a separator at the start / after a separator
        }
        if i == b.len() {
            return true;
        }
        let sep = i;
        while i < b.len() && !lower_alnum(b[i]) {
            i += 1;
        }
        let ok = match &b[sep..i] {
            b"." | b"_" | b"__" => true,
            run => run.iter().all(|&c| c == b'-'),
        };
        if !ok {
            return false;
        }
    }
}

/// `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$` (ASCII, as the OCI distribution spec says)
pub(super) fn tag(s: &str) -> bool {
    let word = |c: u8| alnum(c) || c == b'_';
    s.len() <= 128
        && s.as_bytes().first().is_some_and(|&c| word(c))
        && s.bytes().all(|c| word(c) || c == b'.' || c == b'-')
}

/// `^sha256:[0-9a-f]{64}$`
pub(super) fn digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64 && h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`
pub(super) fn env_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
        && b.iter().all(|&c| alnum(c) || c == b'_')
}

/// `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
pub(super) fn guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// `^[A-Za-z0-9-]{5,50}$`
pub(super) fn acr_token(s: &str) -> bool {
    (5..=50).contains(&s.len()) && s.bytes().all(|c| alnum(c) || c == b'-')
}

/// `^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$`
pub(super) fn nsg_rule(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: u8| alnum(c) || matches!(c, b'_' | b'.' | b'-');
    s.len() <= 80
        && b.first().is_some_and(|&c| alnum(c))
        && b.last().is_some_and(|&c| alnum(c) || c == b'_')
        && b.iter().all(|&c| inner(c))
}

/// Case-insensitive `prefix` at the start of `s`; the rest.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// `(?i)^/subscriptions/<guid>(/resourceGroups/[-\w._()]+(/providers/[A-Za-z0-9.]+(/[^/\s]+/[^/\s]+)+)?)?$`
/// (`\w` and `\s` are Unicode here, as resource group names may be).
pub(super) fn arm_id(s: &str) -> bool {
    let Some(rest) = strip_prefix_ci(s, "/subscriptions/") else { return false };
    let (sub, rest) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !guid(sub) {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = strip_prefix_ci(rest, "/resourceGroups/") else { return false };
    let (rg, rest) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let rg_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')');
    if rg.is_empty() || !rg.chars().all(rg_char) {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = strip_prefix_ci(rest, "/providers/") else { return false };
    let (ns, rest) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if ns.is_empty() || !ns.bytes().all(|c| alnum(c) || c == b'.') {
        return false;
    }
    // then one or more `/type/name` pairs, no segment empty or holding whitespace
    let Some(rest) = rest.strip_prefix('/') else { return false };
    let segments: Vec<&str> = rest.split('/').collect();
    segments.len().is_multiple_of(2)
        && segments.iter().all(|seg| !seg.is_empty() && !seg.chars().any(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// Values at the edges of the grammars.
    const SAMPLES: &[&str] = &[
        "",
        "a",
        "A",
        "-",
        "_",
        ".",
        "a-b",
        "a--b",
        "-a",
        "a-",
        "a.b",
        "a..b",
        ".a",
        "a.",
        "a_b",
        "a__b",
        "a___b",
        "a._b",
        "a-.b",
        "ab_",
        "_ab",
        "Ab",
        "aB",
        "9",
        "x9-y",
        "localhost",
        "localhost:5000",
        "acr.azurecr.io",
        "acr.azurecr.io:443",
        "a:123456",
        "a:",
        ":1",
        "a.b:1",
        "a-.b",
        "ée",
        "tag.v1-rc",
        "v1",
        "ü",
        "sha256:",
        "A_B",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "12345678-1234-1234-1234-123456789abc",
        "12345678-1234-1234-1234-123456789abg",
        "12345678-1234-1234-1234123456789abc",
        "abcde",
        "abcd",
        "ab-cd-ef",
        "rule_",
        "rule.",
        "_rule",
        "r",
        "/subscriptions/12345678-1234-1234-1234-123456789abc",
        "/SUBSCRIPTIONS/12345678-1234-1234-1234-123456789abc/resourcegroups/rg",
        "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/rg(1)-é",
        "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/",
        "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r",
        "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r/tokens/t",
        "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries",
        "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/rg/providers/Microsoft.Network/x/a b",
        "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/rg/providers/M/x//",
        "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/rg/providers/",
        "/subscriptions/12345678-1234-1234-1234-123456789abc/other",
    ];

    type Matcher = fn(&str) -> bool;

    /// Each matcher against the pattern it replaces.
    #[test]
    fn matchers_agree_with_the_patterns_they_replace() {
        let long = [
            "a".repeat(128),
            "a".repeat(129),
            "a".repeat(50),
            "a".repeat(51),
            "a".repeat(80),
            "a".repeat(81),
        ];
        let pairs: [(Matcher, &str); 12] = [
            (dns_label, r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
            (dns_subdomain, r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
            (label_name, r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"),
            (
                host,
                r"^(localhost|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(:[0-9]{1,5})?$",
            ),
            (path_component, r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$"),
            (tag, r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"),
            (digest, r"^sha256:[0-9a-f]{64}$"),
            (env_name, r"^[A-Za-z_][A-Za-z0-9_]*$"),
            (
                guid,
                r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            ),
            (acr_token, r"^[A-Za-z0-9-]{5,50}$"),
            (nsg_rule, r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$"),
            (
                arm_id,
                r"(?i)^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(/resourceGroups/[-\w._()]+(/providers/[A-Za-z0-9.]+(/[^/\s]+/[^/\s]+)+)?)?$",
            ),
        ];
        for (matcher, pattern) in pairs {
            let re = Regex::new(pattern).unwrap();
            for s in SAMPLES.iter().copied().chain(long.iter().map(String::as_str)) {
                assert_eq!(matcher(s), re.is_match(s), "{pattern} on {s:?}");
            }
        }
    }
}
