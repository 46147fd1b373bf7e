//! Message → causes (signatures.md §5).
//!
//! [`classify`] turns the text of an image-pull failure (a kubelet event, a waiting
//! message, a kubelet/containerd/CRI-O/Docker log line, a `kubectl describe` or
//! `kubectl get events` row) into the causes it carries, using only the evidence in the
//! text. A kubelet aggregate `[e1, e2]` is split into its elements and each element is
//! classified on its own (see [`rules`]), so one message can carry several causes.
//!
//! ```
//! use acr_chaos::classify::{classify, Cause};
//! let msg = r#"Failed to pull image "acr.azurecr.io/app:v1": rpc error: code = Unknown desc = failed to pull and unpack image "acr.azurecr.io/app:v1": failed to resolve reference "acr.azurecr.io/app:v1": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized"#;
//! assert_eq!(classify(msg), vec![Cause::UnauthorizedAnonymous]);
//! assert!(classify(r#"Back-off pulling image "acr.azurecr.io/app:v1""#).is_empty());
//! ```

pub mod cli;
mod corpus;
mod rules;
mod texts;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use corpus::bench_corpus;
pub use rules::classify;

/// A cause of an image-pull failure: the taxonomy of signatures.md §5.
///
/// Serialized (serde, JSON Schema, [`std::fmt::Display`], [`std::str::FromStr`]) as its
/// kebab-case id, e.g. `unauthorized-anonymous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Cause {
    /// 401 and no credentials reached the registry.
    UnauthorizedAnonymous,
    /// Credentials were sent and refused.
    UnauthorizedCredentials,
    /// 401 where the text does not tell whether credentials were sent.
    Unauthorized,
    /// Registry firewall / network rules / public access disabled (403).
    ForbiddenNetwork,
    /// Private or nonexistent repository on a public registry.
    AccessDenied,
    /// Tag, manifest, repository or blob missing.
    NotFound,
    /// No manifest for the node's OS/architecture.
    PlatformMismatch,
    /// TCP to the registry fails.
    NetworkUnreachable,
    /// The registry name does not resolve.
    Dns,
    /// Certificate or TLS/HTTP mismatch.
    Tls,
    /// Throttled by the registry or the kubelet.
    RateLimited,
    /// A referenced imagePullSecret does not exist.
    PullSecretMissing,
    /// The image reference cannot be parsed.
    InvalidImageName,
    /// The registry answered 5xx.
    RegistryError,
}

const ALL: &[Cause] = &[
    Cause::UnauthorizedAnonymous,
    Cause::UnauthorizedCredentials,
    Cause::Unauthorized,
    Cause::ForbiddenNetwork,
    Cause::AccessDenied,
    Cause::NotFound,
    Cause::PlatformMismatch,
    Cause::NetworkUnreachable,
    Cause::Dns,
    Cause::Tls,
    Cause::RateLimited,
    Cause::PullSecretMissing,
    Cause::InvalidImageName,
    Cause::RegistryError,
];

impl Cause {
    /// The cause id of signatures.md §5, e.g. `forbidden-network`.
    pub fn id(self) -> &'static str {
        match self {
            Cause::UnauthorizedAnonymous => "unauthorized-anonymous",
            Cause::UnauthorizedCredentials => "unauthorized-credentials",
            Cause::Unauthorized => "unauthorized",
            Cause::ForbiddenNetwork => "forbidden-network",
            Cause::AccessDenied => "access-denied",
            Cause::NotFound => "not-found",
            Cause::PlatformMismatch => "platform-mismatch",
            Cause::NetworkUnreachable => "network-unreachable",
            Cause::Dns => "dns",
            Cause::Tls => "tls",
            Cause::RateLimited => "rate-limited",
            Cause::PullSecretMissing => "pull-secret-missing",
            Cause::InvalidImageName => "invalid-image-name",
            Cause::RegistryError => "registry-error",
        }
    }

    /// The cause with this id (exact, as [`Cause::id`] spells it).
    pub fn from_id(id: &str) -> Option<Cause> {
        ALL.iter().copied().find(|c| c.id() == id)
    }

    /// Every cause, in taxonomy order.
    pub fn all() -> &'static [Cause] {
        ALL
    }

    /// What the cause means, in one or two sentences.
    pub fn explanation(self) -> &'static str {
        texts::explanation(self)
    }

    /// The first remediation step (with the `az`/`kubectl` command to run), from the
    /// troubleshooting guide.
    pub fn remediation(self) -> &'static str {
        texts::remediation(self)
    }

    /// This cause with its explanation and first remediation step.
    pub fn detail(self) -> CauseDetail {
        CauseDetail {
            cause: self,
            explanation: self.explanation(),
            remediation: self.remediation(),
        }
    }
}

/// A plain string enum of the ids (what scenario files write in `expect.causes`), so that
/// `validate` names them in its hints and editors complete them.
impl JsonSchema for Cause {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cause".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ids: Vec<&str> = ALL.iter().map(|c| c.id()).collect();
        schemars::json_schema!({
            "description": "A cause id from the taxonomy (signatures.md §5).",
            "type": "string",
            "enum": ids,
        })
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// A string that is not a cause id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cause `{given}`; valid causes: {}", valid_ids())]
#[non_exhaustive]
pub struct UnknownCause {
    pub given: String,
}

fn valid_ids() -> String {
    ALL.iter().map(|c| c.id()).collect::<Vec<_>>().join(", ")
}

impl std::str::FromStr for Cause {
    type Err = UnknownCause;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cause::from_id(s.trim()).ok_or_else(|| UnknownCause { given: s.to_owned() })
    }
}

/// `items` (causes, usually) by their `Display` form, separated by `sep`.
pub fn join<T: std::fmt::Display>(items: &[T], sep: &str) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(sep)
}

/// A cause with its explanation and first remediation step, as `classify --output json`
/// prints it: `{"cause": "...", "explanation": "...", "remediation": "..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CauseDetail {
    pub cause: Cause,
    pub explanation: &'static str,
    pub remediation: &'static str,
}

/// The causes of `message` ([`classify`]) with their explanations and remediations.
pub fn explain_message(message: &str) -> Vec<CauseDetail> {
    classify(message).into_iter().map(Cause::detail).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_match_serde() {
        for &c in Cause::all() {
            assert_eq!(Cause::from_id(c.id()), Some(c));
            assert_eq!(c.id().parse::<Cause>().unwrap(), c);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.id()));
            assert_eq!(c.to_string(), c.id());
        }
        assert_eq!(Cause::all().len(), 14);
    }

    #[test]
    fn unknown_id_lists_valid_ones() {
        let err = "unauthorised".parse::<Cause>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`unauthorised`"), "{text}");
        assert!(text.contains("unauthorized-anonymous") && text.contains("registry-error"));
        assert_eq!(Cause::from_id("Not-Found"), None);
    }

    #[test]
    fn every_cause_has_texts() {
        for &c in Cause::all() {
            assert!(c.explanation().len() > 30, "{c}");
            let r = c.remediation();
            assert!(r.contains("az ") || r.contains("kubectl "), "{c}: {r}");
        }
    }
}
