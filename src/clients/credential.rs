//! Where ARM bearer tokens come from: azure_identity credentials chosen by the
//! target's `credential.kind`, or a fixed token (tests). Tokens are never logged.

use super::{ClientError, SecretString};
use async_trait::async_trait;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use std::path::PathBuf;
use std::sync::Arc;

/// The ARM token scope.
pub const ARM_SCOPE_SUFFIX: &str = "/.default";

/// How to authenticate against Entra ID. Built from the target file.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CredentialConfig {
    /// Service principal with a client secret (`AZURE_CLIENT_SECRET` or the env var named).
    ClientSecret { tenant_id: String, client_id: String, secret: SecretString },
    /// Workload identity: a federated token file (`AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity { tenant_id: String, client_id: String, token_file: PathBuf },
    /// Managed identity (IMDS / App Service); optional user-assigned client id.
    ManagedIdentity { client_id: Option<String> },
    /// `az account get-access-token` through the Azure CLI.
    AzureCli { tenant_id: Option<String> },
    /// A fixed bearer token (tests).
    Static(SecretString),
}

impl CredentialConfig {
    /// Short human name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialConfig::ClientSecret { .. } => "client-secret",
            CredentialConfig::WorkloadIdentity { .. } => "workload-identity",
            CredentialConfig::ManagedIdentity { .. } => "managed-identity",
            CredentialConfig::AzureCli { .. } => "azure-cli",
            CredentialConfig::Static(_) => "static",
        }
    }
}

/// Something that hands out bearer tokens for ARM.
#[async_trait]
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    async fn token(&self) -> Result<SecretString, ClientError>;
}

/// A fixed token.
#[derive(Debug)]
pub struct StaticToken(pub SecretString);

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<SecretString, ClientError> {
        Ok(self.0.clone())
    }
}

/// An azure_identity credential asked for one scope (its own cache handles renewal).
#[derive(Debug)]
pub struct AzureToken {
    cred: Arc<dyn TokenCredential>,
    scope: String,
}

#[async_trait]
impl TokenSource for AzureToken {
    async fn token(&self) -> Result<SecretString, ClientError> {
        let t = self
            .cred
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| ClientError::Auth(e.to_string()))?;
        Ok(SecretString::new(t.token.secret()))
    }
}

/// Build a token source.
///
/// `authority_host`: Entra ID host (`https://login.microsoftonline.com` on Azure, the lab's
/// emulator otherwise). `scope`: the token scope (`https://management.azure.com/.default`;
/// see [`arm_scope`]).
/// `http`: the reqwest client (with any extra CA) used as azure_identity's transport.
pub fn token_source(
    config: &CredentialConfig,
    authority_host: Option<&str>,
    scope: &str,
    http: reqwest::Client,
) -> Result<Arc<dyn TokenSource>, ClientError> {
    let scope = scope.to_string();
    let mut options =
        ClientOptions { transport: Some(Transport::new(Arc::new(http))), ..Default::default() };
    if let Some(host) = authority_host {
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = host.trim_end_matches('/').to_string();
        options.cloud = Some(Arc::new(custom.into()));
    }
    let err = |e: azure_core::Error| ClientError::Config(format!("credential: {e}"));
    let cred: Arc<dyn TokenCredential> = match config {
        CredentialConfig::Static(t) => return Ok(Arc::new(StaticToken(t.clone()))),
        CredentialConfig::ClientSecret { tenant_id, client_id, secret } => {
            azure_identity::ClientSecretCredential::new(
                tenant_id,
                client_id.clone(),
                Secret::new(secret.expose().to_string()),
                Some(azure_identity::ClientSecretCredentialOptions { client_options: options }),
            )
            .map_err(err)?
        }
        CredentialConfig::WorkloadIdentity { tenant_id, client_id, token_file } => {
            let mut o = azure_identity::WorkloadIdentityCredentialOptions::default();
            o.credential_options.client_options = options;
            o.tenant_id = Some(tenant_id.clone());
            o.client_id = Some(client_id.clone());
            o.token_file_path = Some(token_file.clone());
            azure_identity::WorkloadIdentityCredential::new(Some(o)).map_err(err)?
        }
        CredentialConfig::ManagedIdentity { client_id } => {
            let o = azure_identity::ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(azure_identity::UserAssignedId::ClientId),
                client_options: options,
            };
            azure_identity::ManagedIdentityCredential::new(Some(o)).map_err(err)?
        }
        CredentialConfig::AzureCli { tenant_id } => {
            let o = azure_identity::AzureCliCredentialOptions {
                tenant_id: tenant_id.clone(),
                ..Default::default()
            };
            azure_identity::AzureCliCredential::new(Some(o)).map_err(err)?
        }
    };
    Ok(Arc::new(AzureToken { cred, scope }))
}

/// `https://management.azure.com/.default` from an ARM endpoint.
pub fn arm_scope(arm_endpoint: &str) -> String {
    format!("{}{}", arm_endpoint.trim_end_matches('/'), ARM_SCOPE_SUFFIX)
}

/// A reqwest client trusting the platform roots plus an optional extra CA (PEM bytes).
pub fn http_client(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::Client, ClientError> {
    super::install_crypto_provider();
    let mut b = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120));
    if let Some(pem) = extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ClientError::Config(format!("extra CA PEM: {e}")))?;
        if certs.is_empty() {
            return Err(ClientError::Config("extra CA PEM holds no certificate".into()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| ClientError::Config(format!("HTTP client: {e}")))
}
