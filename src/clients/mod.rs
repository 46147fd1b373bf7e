//! Clients: the only code in the root crate that knows URLs.
//!
//! - [`arm`]: Azure Resource Manager REST (reqwest + a bearer token from [`credential`]),
//!   with retries (429/5xx/connection errors, honouring `Retry-After`) and LRO polling.
//! - [`kube`]: a `kube::Client` built from the target's kubeconfig/context, and typed
//!   helpers for probe pods, their events, secrets, config maps and leases.
//! - [`credential`]: token sources chosen by the target's `credential.kind`.
//!
//! See ../shared/design/architecture.md §2 and ../shared/reference/azure-rest.md.

pub mod alertmanager;
pub mod arm;
pub mod credential;
pub mod kube;
pub mod loganalytics;
pub mod prometheus;
pub mod registry;
pub mod retry;

use std::sync::Once;

/// Errors of the client layer. Context (method, URL path, status, ARM error code) lives
/// in fields; no variant ever carries a token or secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{method} {path}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Http { method: String, path: String, status: u16, code: Option<String>, message: String },
    /// The request never got an answer (connection refused, reset, TLS, timeout).
    #[error("{method} {path}: {message}")]
    Transport { method: String, path: String, message: String },
    /// A token could not be obtained.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A response body did not have the expected shape.
    #[error("{path}: unexpected response: {message}")]
    Decode { path: String, message: String },
    /// A long-running operation ended in a failed state or timed out.
    #[error("{path}: long-running operation {status}: {message}")]
    Lro { path: String, status: String, message: String },
    /// Client configuration is invalid (endpoint, CA, kubeconfig...).
    #[error("configuration: {0}")]
    Config(String),
    /// A Kubernetes API call failed.
    #[error("kubernetes: {0}")]
    Kube(#[from] ::kube::Error),
    /// A query API answered 200 with a body that is not what its API documents.
    #[error("{path}: unexpected response: {source}")]
    Body {
        path: String,
        #[source]
        source: BodyError,
    },
}

/// What is wrong with a query API's (Prometheus, Log Analytics) successful answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// A member the API always sends is missing.
    #[error("no {0} in the answer")]
    Missing(&'static str),
    /// A member does not have the documented shape.
    #[error("{what}: {source}")]
    Shape {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("unknown resultType {0:?}")]
    ResultType(String),
}

impl ClientError {
    /// HTTP status of the error, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Http { status, .. } => Some(*status),
            ClientError::Kube(::kube::Error::Api(s)) => Some(s.code),
            _ => None,
        }
    }

    /// True for "the object does not exist".
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Worth trying again later: no answer at all (connection refused or reset, timeout),
    /// throttling, or a server-side failure. Everything else needs a human.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Http { status, .. } => retry::RetryPolicy::retryable_status(*status),
            ClientError::Kube(::kube::Error::Api(s)) => {
                retry::RetryPolicy::retryable_status(s.code)
            }
            ClientError::Kube(
                ::kube::Error::HyperError(_)
                | ::kube::Error::Service(_)
                | ::kube::Error::HttpError(_)
                | ::kube::Error::ReadEvents(_),
            ) => true,
            _ => false,
        }
    }
}

/// Install the aws-lc-rs rustls provider once per process (kube, reqwest and
/// azure_identity all use rustls; only aws-lc-rs is compiled in), and seed its random
/// generator on a background thread. A process's first random bytes cost the seeding of
/// AWS-LC's generator; drawn inside the first TLS handshake, they would sit on the path
/// of every command that connects. Commands call this first, so the seeding overlaps
/// with loading their input; the first handshake waits only for what is left of it.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let random = provider.secure_random;
        let seeding = std::thread::Builder::new().name("seed-rng".into()).spawn(move || {
            // a failure here shows again, and is reported, where the bytes are needed
            let _ = random.fill(&mut [0u8; 32]);
        });
        if let Err(e) = seeding {
            tracing::debug!(error = %e, "no thread to seed the random generator early");
        }
        let _ = provider.install_default();
    });
}

/// A string that must never be printed (token passwords, dockerconfigjson...).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret value. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}
