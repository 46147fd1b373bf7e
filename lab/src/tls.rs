//! The lab's certificate authority: made fresh at start-up, it issues the leaf certificates
//! of every TLS endpoint (ACR front door, private hub, ARM, Entra, Kubernetes API) and the
//! certificate whose key signs the registry's JWTs. Everything uses the aws-lc-rs provider
//! explicitly; no process-wide default provider is installed or relied upon.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Errors of the TLS layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("invalid DNS name {name:?} for a certificate: {source}")]
    DnsName { name: String, source: rcgen::Error },
    #[error("rustls configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The aws-lc-rs crypto provider, shared by every rustls config the lab builds.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The lab CA: a self-signed ECDSA P-256 certificate and its key.
pub struct LabCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for LabCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabCa").finish_non_exhaustive()
    }
}

impl LabCa {
    /// Makes a new CA (valid from yesterday for ten years).
    pub fn generate() -> Result<LabCa, TlsError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "acr-chaos lab CA");
        dn.push(DnType::OrganizationName, "acr-chaos lab (not a real CA)");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params);
        let key = KeyPair::generate()?;
        let issuer = CertifiedIssuer::self_signed(params, key)?;
        let cert_pem = issuer.pem();
        Ok(LabCa { issuer, cert_pem })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write_cert(&self, path: &Path) -> Result<(), TlsError> {
        std::fs::write(path, &self.cert_pem)
            .map_err(|source| TlsError::Io { path: path.display().to_string(), source })
    }

    /// Issues a server (and client) leaf certificate for `dns_names` and `ips`.
    /// Returns `(certificate PEM, PKCS#8 key PEM)`.
    pub fn issue(&self, dns_names: &[&str], ips: &[IpAddr]) -> Result<(String, String), TlsError> {
        let (cert, key) = self.issue_raw(dns_names, ips)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Issues a certificate for signing (e.g. the registry token JWT key): no SANs needed.
    /// Returns `(certificate PEM, key)`.
    pub fn issue_signing(&self, common_name: &str) -> Result<(String, KeyPair), TlsError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        set_validity(&mut params);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key))
    }

    fn issue_raw(
        &self,
        dns_names: &[&str],
        ips: &[IpAddr],
    ) -> Result<(rcgen::Certificate, KeyPair), TlsError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, dns_names.first().copied().unwrap_or("acr-chaos lab"));
        params.distinguished_name = dn;
        for name in dns_names {
            let ia5 = (*name)
                .try_into()
                .map_err(|source| TlsError::DnsName { name: (*name).to_string(), source })?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        for ip in ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        set_validity(&mut params);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert, key))
    }

    /// A rustls server config presenting a fresh leaf for `dns_names`/`ips` (chain: leaf, CA),
    /// offering ALPN `h2` and `http/1.1`.
    pub fn rustls_server_config(
        &self,
        dns_names: &[&str],
        ips: &[IpAddr],
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let (cert, key) = self.issue_raw(dns_names, ips)?;
        let chain = vec![cert.der().clone(), self.cert_der()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A rustls client config trusting only this CA.
    pub fn rustls_client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        // The CA was produced by rcgen just now; adding it cannot fail for a valid cert.
        if let Err(e) = roots.add(self.cert_der()) {
            tracing::error!(error = %e, "lab CA rejected by rustls root store");
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        match config {
            Ok(c) => Arc::new(c),
            // The aws-lc-rs default provider always supports the safe default versions.
            Err(e) => unreachable_config(e),
        }
    }
}

#[cold]
fn unreachable_config(e: rustls::Error) -> Arc<rustls::ClientConfig> {
    panic!("aws-lc-rs provider rejected TLS 1.2/1.3 defaults: {e}")
}

/// Lab certificates are valid from 2020 to 2045 (no clock games in the lab).
fn set_validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_leaf_verifiable_by_client_config() {
        let ca = LabCa::generate().unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let (cert, key) =
            ca.issue(&["acrchaoslab.azurecr.io"], &["127.0.0.1".parse().unwrap()]).unwrap();
        assert!(cert.contains("BEGIN CERTIFICATE"));
        assert!(key.contains("PRIVATE KEY"));
        ca.rustls_server_config(&["localhost"], &[]).unwrap();
        let _ = ca.rustls_client_config();
    }

    #[test]
    fn bad_dns_name_is_a_clear_error() {
        let ca = LabCa::generate().unwrap();
        let err = ca.issue(&["bad name\u{7f}é"], &[]).unwrap_err();
        assert!(err.to_string().contains("bad name"), "{err}");
    }
}
