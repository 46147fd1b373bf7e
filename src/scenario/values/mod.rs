//! Validated string values of scenario and target files: image references, ARM ids,
//! GUIDs, URLs, CIDRs, names. Each type parses with [`FromStr`] (the same check the
//! `validate` command runs, located) and (de)serializes as a plain string.

use regex::Regex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::fmt;
use std::str::FromStr;

/// A value that failed its check: what is wrong, and what would be valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct Invalid {
    pub message: String,
    pub hint: Option<String>,
}

impl Invalid {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Invalid { message: message.into(), hint: Some(hint.into()) }
    }
}

/// Implements `Serialize` (via `Display`), `Deserialize` (via `FromStr`) and a string
/// `JsonSchema` carrying the check name the validator dispatches on.
macro_rules! string_value {
    ($ty:ty, $check:literal, $desc:expr) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$ty>::from_str(&s).map_err(|e| match e.hint {
                    Some(h) => serde::de::Error::custom(format!("{} (valid: {h})", e.message)),
                    None => serde::de::Error::custom(e.message),
                })
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                let mut schema = json_schema!({
                    "type": "string",
                    "description": $desc,
                    "x-acr-chaos-check": $check,
                });
                if let Some(p) = $crate::scenario::values::editor_pattern($check) {
                    schema.insert("pattern".into(), p.into());
                }
                schema
            }
        }
    };
}

const GUID_RE: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
const DOMAIN_RE: &str = "(localhost|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:[0-9]+)?";
const COMPONENT_RE: &str = "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*";
const TAG_RE: &str = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";

/// A regex (ECMA-262) for editors, never stricter than the check itself: `validate` runs
/// the check, editors use the pattern for early squiggles.
pub fn editor_pattern(check: &str) -> Option<String> {
    let image = format!(
        "(({DOMAIN_RE})/)?{COMPONENT_RE}(/{COMPONENT_RE})*(:{TAG_RE})?(@sha256:[0-9a-f]{{64}})?"
    );
    Some(match check {
        "guid" => format!("^{GUID_RE}$"),
        "dns-label" => "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$".into(),
        "k8s-name" => "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$".into(),
        "image-tag" => format!("^{TAG_RE}$"),
        "acr-token-name" => "^[A-Za-z0-9-]{5,50}$".into(),
        "env-name" => "^[A-Za-z_][A-Za-z0-9_]*$".into(),
        "nsg-rule-name" => "^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$".into(),
        "url" => "^[Hh][Tt][Tt][Pp][Ss]?://".into(),
        "arm-id" => "^/[Ss][Uu][Bb][Ss][Cc][Rr][Ii][Pp][Tt][Ii][Oo][Nn][Ss]/".into(),
        "principal" => format!("^(kubelet|{GUID_RE})$"),
        "role" => format!("^(AcrPull|AcrPush|Owner|Contributor|Reader|{GUID_RE})$"),
        "scope" => "^(registry|resource-group|subscription|/.+)$".into(),
        "image-ref" => format!("^{image}$"),
        "image-spec" => format!("^(target:[a-z0-9]([-a-z0-9]*[a-z0-9])?|{image})$"),
        "non-empty" => "\\S".into(),
        _ => return None,
    })
}

/// Run the named check on a string (what the schema's `x-acr-chaos-check` names).
pub fn run_check(check: &str, value: &str) -> Result<(), Invalid> {
    match check {
        "duration" => super::Duration::parse(value)
            .map(drop)
            .map_err(|e| Invalid::new(e.to_string(), super::duration::DURATION_FORM)),
        "image-ref" => ImageRef::from_str(value).map(drop),
        "image-spec" => ImageSpec::from_str(value).map(drop),
        "regex" => MessageRegex::from_str(value).map(drop),
        "url" => HttpUrl::from_str(value).map(drop),
        "guid" => Guid::from_str(value).map(drop),
        "arm-id" => ArmId::from_str(value).map(drop),
        "registry-id" => typed_arm_id(value, "Microsoft.ContainerRegistry/registries"),
        "cluster-id" => typed_arm_id(value, "Microsoft.ContainerService/managedClusters"),
        "nsg-id" => typed_arm_id(value, "Microsoft.Network/networkSecurityGroups"),
        "cidr" => Cidr::from_str(value).map(drop),
        "dns-label" => DnsLabel::from_str(value).map(drop),
        "k8s-name" => K8sName::from_str(value).map(drop),
        "host" => RegistryHost::from_str(value).map(drop),
        "principal" => Principal::from_str(value).map(drop),
        "role" => Role::from_str(value).map(drop),
        "scope" => Scope::from_str(value).map(drop),
        "image-tag" => ImageTag::from_str(value).map(drop),
        "acr-token-name" => AcrTokenName::from_str(value).map(drop),
        "env-name" => EnvName::from_str(value).map(drop),
        "cluster-ref" => ClusterRef::from_str(value).map(drop),
        "non-empty" => NonEmpty::from_str(value).map(drop),
        "nsg-rule-name" => NsgRuleName::from_str(value).map(drop),
        "label-key" => check_label_key(value),
        "label-value" => check_label_value(value),
        _ => Ok(()),
    }
}

/// What a check accepts, in a few words (for "missing field" and "expected a list of …").
pub fn check_form(check: &str) -> &'static str {
    match check {
        "duration" => "a duration, e.g. 30s, 5m, 1h30m, 500ms",
        "image-ref" => "an image reference [host[:port]/]path[:tag][@sha256:<64 hex>]",
        "image-spec" => "an image reference, or target:<alias> (e.g. target:acr)",
        "regex" => "a Rust regex",
        "url" => "an absolute http(s) URL",
        "guid" => "a GUID xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
        "arm-id" => {
            "an ARM id /subscriptions/<guid>/resourceGroups/<rg>/providers/<ns>/<type>/<name>"
        }
        "registry-id" => {
            "/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name>"
        }
        "cluster-id" => {
            "/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.ContainerService/managedClusters/<name>"
        }
        "nsg-id" => {
            "/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Network/networkSecurityGroups/<name>"
        }
        "cidr" => "an IP address or CIDR, e.g. 203.0.113.0/24",
        "dns-label" => "a lowercase name (a-z, 0-9, '-', at most 63 characters)",
        "k8s-name" => "a Kubernetes object name (lowercase a-z, 0-9, '-', '.')",
        "host" => "a registry host, host[:port]",
        "principal" => "kubelet, or an object id (GUID)",
        "role" => "AcrPull, AcrPush, Owner, Contributor, Reader, or a role definition GUID",
        "scope" => "registry, resource-group, subscription, or an ARM id",
        "image-tag" => "an image tag [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
        "acr-token-name" => "an ACR token name (5 to 50 letters, digits or '-')",
        "env-name" => "the name of an environment variable",
        "cluster-ref" => "an AKS cluster ARM id, or its name",
        "non-empty" => "a non-empty string",
        "nsg-rule-name" => "an NSG rule name (1 to 80 letters, digits, '_', '.', '-')",
        "label-key" => "a label key [prefix/]name, name at most 63 characters",
        "label-value" => "a label value, at most 63 characters of letters, digits, '-', '_', '.'",
        _ => "a string",
    }
}

fn typed_arm_id(s: &str, ty: &str) -> Result<(), Invalid> {
    ArmId::from_str(s)?.expect_type(ty)
}

/// A Kubernetes label key: `[prefix/]name`, prefix a DNS subdomain, name at most 63.
fn check_label_key(s: &str) -> Result<(), Invalid> {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok = prefix.is_none_or(|p| p.len() <= 253 && chars::dns_subdomain(p));
    if prefix_ok && name.len() <= 63 && chars::label_name(name) {
        Ok(())
    } else {
        Err(Invalid::new(format!("{s:?} is not a label key"), check_form("label-key")))
    }
}

/// A Kubernetes label value: empty, or at most 63 characters.
fn check_label_value(s: &str) -> Result<(), Invalid> {
    if s.is_empty() || (s.len() <= 63 && chars::label_name(s)) {
        Ok(())
    } else {
        Err(Invalid::new(format!("{s:?} is not a label value"), check_form("label-value")))
    }
}

const IMAGE_FORM: &str = "[host[:port]/]path[:tag][@sha256:<64 hex>], path components lowercase [a-z0-9] separated by . _ __ or -, tag [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";

/// A string with at least one non-blank character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NonEmpty(pub String);
impl FromStr for NonEmpty {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if s.trim().is_empty() {
            return Err(Invalid::new("must not be empty", "a non-empty string"));
        }
        Ok(NonEmpty(s.to_string()))
    }
}

/// Defines a `String` newtype with `Display`, `AsRef<str>` and `as_str`.
macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

impl fmt::Display for NonEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_value!(NonEmpty, "non-empty", "A non-empty string.");

string_newtype!(
    /// An image reference `[host[:port]/]path[:tag][@sha256:…]`.
    ImageRef
);
impl ImageRef {
    /// The registry host (`docker.io` when the reference names none).
    pub fn host(&self) -> &str {
        split_image(&self.0).0.unwrap_or("docker.io")
    }
    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        split_image(&self.0).2
    }
    /// The reference with its tag (and digest) replaced by `tag`.
    pub fn with_tag(&self, tag: &str) -> String {
        let (host, path, _, _) = split_image(&self.0);
        match host {
            Some(h) => format!("{h}/{path}:{tag}"),
            None => format!("{path}:{tag}"),
        }
    }
}

/// Split into (host, path, tag, digest) without validating.
fn split_image(s: &str) -> (Option<&str>, &str, Option<&str>, Option<&str>) {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    let (host, rest) = match rest.split_once('/') {
        Some((first, tail))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), tail)
        }
        _ => (None, rest),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].find(':') {
        Some(i) => (host, &rest[..last_slash + i], Some(&rest[last_slash + i + 1..]), digest),
        None => (host, rest, None, digest),
    }
}

impl FromStr for ImageRef {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let bad = |what: String| {
            Err(Invalid::new(format!("invalid image reference {s:?}: {what}"), IMAGE_FORM))
        };
        if s.is_empty() {
            return bad("empty".into());
        }
        if s.len() > 255 {
            return bad("longer than 255 characters".into());
        }
        let (host, path, tag, digest) = split_image(s);
        if let Some(h) = host
            && !chars::host(h)
        {
            return bad(format!("registry host {h:?} is not host[:port]"));
        }
        if path.is_empty() {
            return bad("no repository path".into());
        }
        for c in path.split('/') {
            if !chars::path_component(c) {
                let why = if c.chars().any(|ch| ch.is_ascii_uppercase()) {
                    "must be lowercase"
                } else {
                    "is not [a-z0-9] separated by . _ __ or -"
                };
                return bad(format!("path component {c:?} {why}"));
            }
        }
        if let Some(t) = tag
            && !chars::tag(t)
        {
            return bad(format!("tag {t:?} is not [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"));
        }
        if let Some(d) = digest
            && !chars::digest(d)
        {
            return bad(format!("digest {d:?} is not sha256:<64 lowercase hex>"));
        }
        Ok(ImageRef(s.to_string()))
    }
}
string_value!(
    ImageRef,
    "image-ref",
    "An image reference [host[:port]/]path[:tag][@sha256:<64 hex>]."
);

/// A probe image: a full reference, or `target:<alias>` naming one of the target's
/// `probeImages`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageSpec {
    Reference(ImageRef),
    Alias(String),
}
impl FromStr for ImageSpec {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if let Some(alias) = s.strip_prefix("target:") {
            if !chars::dns_label(alias) {
                return Err(Invalid::new(
                    format!("invalid alias {alias:?} in {s:?}"),
                    "target:<alias> with a lowercase name [a-z0-9-], e.g. target:acr",
                ));
            }
            return Ok(ImageSpec::Alias(alias.to_string()));
        }
        ImageRef::from_str(s).map(ImageSpec::Reference).map_err(|e| Invalid {
            hint: Some(format!("target:<alias> (e.g. target:acr), or {IMAGE_FORM}")),
            ..e
        })
    }
}
impl fmt::Display for ImageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSpec::Reference(r) => write!(f, "{r}"),
            ImageSpec::Alias(a) => write!(f, "target:{a}"),
        }
    }
}
string_value!(
    ImageSpec,
    "image-spec",
    "An image reference, or target:<alias> naming one of the target's probeImages."
);

/// A regular expression (Rust `regex` syntax) that a pull-failure message must match.
#[derive(Debug, Clone)]
pub struct MessageRegex(pub Regex);
impl PartialEq for MessageRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}
impl FromStr for MessageRegex {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Regex::new(s).map(MessageRegex).map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim();
            Invalid::new(
                format!("regex does not compile: {}", last.trim_start_matches("error: ")),
                "a Rust regex (https://docs.rs/regex/#syntax), e.g. \"(401 Unauthorized|: not found)\"",
            )
        })
    }
}
impl fmt::Display for MessageRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}
string_value!(
    MessageRegex,
    "regex",
    "A regular expression (Rust regex syntax) the failure message must match."
);

string_newtype!(
    /// An http(s) URL.
    HttpUrl
);
impl HttpUrl {
    pub fn url(&self) -> url::Url {
        url::Url::parse(&self.0).expect("validated on construction")
    }
}
impl FromStr for HttpUrl {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let hint = "an absolute http(s) URL, e.g. https://management.azure.com";
        let u = url::Url::parse(s)
            .map_err(|e| Invalid::new(format!("invalid URL {s:?}: {e}"), hint))?;
        if !matches!(u.scheme(), "https" | "http") {
            return Err(Invalid::new(
                format!("URL scheme {:?} is not http or https", u.scheme()),
                hint,
            ));
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err(Invalid::new(format!("URL {s:?} has no host"), hint));
        }
        Ok(HttpUrl(s.to_string()))
    }
}
string_value!(HttpUrl, "url", "An absolute http(s) URL.");

string_newtype!(
    /// A DNS-1123 label: lowercase `[a-z0-9-]`, at most 63 characters (scenario names,
    /// namespace names and prefixes, aliases).
    DnsLabel
);
impl FromStr for DnsLabel {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if s.len() <= 63 && chars::dns_label(s) {
            Ok(DnsLabel(s.to_string()))
        } else {
            Err(Invalid::new(
                format!("{s:?} is not a DNS-1123 label"),
                "at most 63 characters of lowercase a-z, 0-9 and '-', starting and ending alphanumeric",
            ))
        }
    }
}
string_value!(
    DnsLabel,
    "dns-label",
    "A DNS-1123 label: lowercase a-z, 0-9, '-', at most 63 characters."
);

string_newtype!(
    /// A Kubernetes object name (DNS-1123 subdomain), e.g. a Secret's.
    K8sName
);
impl FromStr for K8sName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if s.len() <= 253 && chars::dns_subdomain(s) {
            Ok(K8sName(s.to_string()))
        } else {
            Err(Invalid::new(
                format!("{s:?} is not a Kubernetes object name"),
                "lowercase a-z, 0-9, '-' and '.', at most 253 characters, starting and ending alphanumeric",
            ))
        }
    }
}
string_value!(K8sName, "k8s-name", "A Kubernetes object name (DNS-1123 subdomain).");

string_newtype!(
    /// A registry host, `host[:port]`.
    RegistryHost
);
impl FromStr for RegistryHost {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if chars::host(s) {
            Ok(RegistryHost(s.to_string()))
        } else {
            Err(Invalid::new(
                format!("{s:?} is not a registry host"),
                "host[:port], e.g. myregistry.azurecr.io",
            ))
        }
    }
}
string_value!(RegistryHost, "host", "A registry host, host[:port].");

string_newtype!(
    /// An image tag.
    ImageTag
);
impl FromStr for ImageTag {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if chars::tag(s) {
            Ok(ImageTag(s.to_string()))
        } else {
            Err(Invalid::new(
                format!("{s:?} is not an image tag"),
                "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
            ))
        }
    }
}
string_value!(ImageTag, "image-tag", "An image tag, [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.");

string_newtype!(
    /// The name of an environment variable (never its value).
    EnvName
);
impl FromStr for EnvName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if chars::env_name(s) {
            Ok(EnvName(s.to_string()))
        } else {
            // The value is not echoed: someone may have pasted the secret itself here.
            Err(Invalid::new(
                "not an environment variable name (value not shown: it may be a secret)",
                "the NAME of a variable, [A-Za-z_][A-Za-z0-9_]*, e.g. AZURE_CLIENT_SECRET (never the secret itself)",
            ))
        }
    }
}
string_value!(EnvName, "env-name", "The name of an environment variable (never a secret value).");

mod azure;
mod chars;
pub use azure::*;

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("nginx")]
    #[case("library/nginx:1.27")]
    #[case("myacr.azurecr.io/team/app:v1.2.3")]
    #[case("localhost:5000/probe:latest")]
    #[case("127.0.0.1:5443/a/b_c__d-e.f:tag_1")]
    #[case(
        "mcr.microsoft.com/azurelinux/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )]
    fn image_refs_ok(#[case] s: &str) {
        ImageRef::from_str(s).unwrap();
    }

    #[rstest]
    #[case("", "empty")]
    #[case("myacr.azurecr.io/Team/app:v1", "\"Team\" must be lowercase")]
    #[case("myacr.azurecr.io/app:-bad", "tag \"-bad\"")]
    #[case("myacr.azurecr.io/app@sha256:abc", "digest")]
    #[case("my_acr.io/app", "registry host")]
    #[case("a//b", "path component \"\"")]
    fn image_refs_bad(#[case] s: &str, #[case] why: &str) {
        let e = ImageRef::from_str(s).unwrap_err();
        assert!(e.message.contains(why), "{s:?}: {}", e.message);
    }

    const HEX64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Edges of the OCI distribution reference grammar the hand-written matchers replaced
    /// regexes for: ports, digests (with and without a tag), case, the tag's length limit.
    #[test]
    fn image_ref_edges_accept_and_reject_as_the_grammar_says() {
        let long_tag = "a".repeat(128);
        for ok in [
            "acr.azurecr.io:443/team/app:v1".to_string(),
            format!("localhost:5000/a@sha256:{HEX64}"),
            format!("myacr.azurecr.io/app:v1@sha256:{HEX64}"),
            "MyACR.azurecr.io/app:v1".to_string(),
            "app:V1_RC.2-x".to_string(),
            format!("app:{long_tag}"),
        ] {
            ImageRef::from_str(&ok).unwrap_or_else(|e| panic!("{ok:?}: {}", e.message));
        }
        for (bad, why) in [
            (format!("app:{long_tag}a"), "tag"),
            ("app:".to_string(), "tag \"\""),
            ("app:.x".to_string(), "tag \".x\""),
            (format!("app@sha256:{}", HEX64.to_ascii_uppercase()), "digest"),
            (format!("app@sha512:{HEX64}{HEX64}"), "digest"),
            ("acr.io:123456/app".to_string(), "registry host"),
            ("acr.io:/app".to_string(), "registry host"),
            ("App".to_string(), "must be lowercase"),
        ] {
            let e = ImageRef::from_str(&bad).unwrap_err();
            assert!(e.message.contains(why), "{bad:?}: {}", e.message);
        }
    }

    #[test]
    fn image_parts() {
        let r = ImageRef::from_str("myacr.azurecr.io/team/app:v1").unwrap();
        assert_eq!(r.host(), "myacr.azurecr.io");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.with_tag("nope"), "myacr.azurecr.io/team/app:nope");
        assert_eq!(ImageRef::from_str("localhost:5000/x").unwrap().tag(), None);
    }

    #[test]
    fn image_spec_alias_or_ref() {
        assert_eq!(ImageSpec::from_str("target:acr").unwrap(), ImageSpec::Alias("acr".into()));
        assert!(matches!(ImageSpec::from_str("busybox:1").unwrap(), ImageSpec::Reference(_)));
        assert!(ImageSpec::from_str("target:ACR").is_err());
    }

    #[test]
    fn regex_error_is_short() {
        let e = MessageRegex::from_str("(unclosed").unwrap_err();
        assert!(e.message.starts_with("regex does not compile: "), "{}", e.message);
        assert!(e.message.contains("unclosed group"), "{}", e.message);
    }

    /// Editor patterns must accept everything the checks accept (they may be looser).
    #[rstest]
    #[case("image-ref", "myacr.azurecr.io/team/app:v1.2.3")]
    #[case("image-ref", "localhost:5000/a/b_c__d-e.f:tag_1")]
    #[case(
        "image-ref",
        "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )]
    #[case("image-spec", "target:acr")]
    #[case("image-spec", "docker.io/library/busybox:1.36")]
    #[case("guid", "7F951DDA-4ed3-4680-a7ca-43fe172d538d")]
    #[case("role", "AcrPull")]
    #[case("scope", "resource-group")]
    #[case("principal", "kubelet")]
    #[case("url", "https://management.azure.com/.default")]
    #[case("arm-id", "/subscriptions/00000000-0000-0000-0000-000000000000")]
    #[case("k8s-name", "my.secret-1")]
    #[case("nsg-rule-name", "Deny_ACR_")]
    fn editor_patterns_accept_what_checks_accept(#[case] check: &str, #[case] value: &str) {
        run_check(check, value).unwrap();
        let p = editor_pattern(check).unwrap();
        assert!(Regex::new(&p).unwrap().is_match(value), "{check}: {p} vs {value}");
    }

    #[test]
    fn urls() {
        assert!(HttpUrl::from_str("https://management.azure.com").is_ok());
        assert!(HttpUrl::from_str("ftp://x").is_err());
        assert!(HttpUrl::from_str("management.azure.com").is_err());
    }
}
