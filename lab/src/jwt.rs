//! JWTs of the lab's registry token services.
//!
//! * Registry access tokens in the Docker token-auth format that the CNCF registry
//!   (distribution 2.8) verifies: ES256, header `kid` = the libtrust key id of the signing
//!   certificate's public key (the registry's `rootcertbundle` holds that certificate).
//! * ACR refresh tokens (`/oauth2/exchange`), signed by the same key and verified by the
//!   front door when they come back on `/oauth2/token`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rcgen::{KeyPair, PublicKeyData};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tls::{LabCa, TlsError};

/// Errors verifying a token the lab issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    #[error("token is malformed or its signature is invalid: {0}")]
    Invalid(String),
    #[error("token has expired")]
    Expired,
    #[error("token was issued for '{found}', not '{expected}'")]
    WrongAudience { found: String, expected: String },
    #[error("token is a {found} token, expected a {expected} token")]
    WrongGrant { found: String, expected: String },
}

/// One entry of a registry token's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// Claims of a registry access token (Docker token spec, plus ACR's `grant_type`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub access: Vec<Access>,
    pub grant_type: String,
}

/// Claims of an ACR refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub iss: String,
    /// Object id of the Entra principal the token was exchanged for.
    pub sub: String,
    pub aud: String,
    pub tenant: String,
    pub grant_type: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
}

/// The key (and its CA-issued certificate) that signs every registry token.
pub struct TokenSigner {
    issuer: String,
    kid: String,
    cert_pem: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch (real clock: the registry checks `exp` with its own).
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl TokenSigner {
    /// A fresh P-256 key with a certificate issued by `ca`; `issuer` goes in `iss`.
    pub fn new(ca: &LabCa, issuer: &str) -> Result<TokenSigner, TlsError> {
        let (cert_pem, key) = ca.issue_signing(&format!("{issuer} token signing"))?;
        Ok(Self::from_key(issuer, cert_pem, &key))
    }

    fn from_key(issuer: &str, cert_pem: String, key: &KeyPair) -> TokenSigner {
        TokenSigner {
            issuer: issuer.to_string(),
            kid: libtrust_key_id(&key.subject_public_key_info()),
            cert_pem,
            encoding: EncodingKey::from_ec_der(&key.serialize_der()),
            decoding: DecodingKey::from_ec_der(key.public_key_raw()),
        }
    }

    /// The certificate to give the registry as `rootcertbundle`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The `iss` the registry must be configured with.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The libtrust key id in the JWT header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn sign<T: Serialize>(&self, claims: &T) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        // ES256 over our own freshly generated key and plain serde claims cannot fail.
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_default()
    }

    /// A registry access token for `service` (the `aud`), valid `lifetime_secs`.
    pub fn access_token(
        &self,
        service: &str,
        subject: &str,
        access: Vec<Access>,
        lifetime_secs: i64,
    ) -> String {
        let now = unix_now();
        self.sign(&AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.to_string(),
            aud: service.to_string(),
            exp: now + lifetime_secs,
            nbf: now - 10,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            access,
            grant_type: "access_token".into(),
        })
    }

    /// An ACR refresh token for the Entra principal `object_id`.
    pub fn refresh_token(
        &self,
        service: &str,
        object_id: &str,
        tenant: &str,
        lifetime_secs: i64,
    ) -> String {
        let now = unix_now();
        self.sign(&RefreshClaims {
            iss: self.issuer.clone(),
            sub: object_id.to_string(),
            aud: service.to_string(),
            tenant: tenant.to_string(),
            grant_type: "refresh_token".into(),
            exp: now + lifetime_secs,
            nbf: now - 10,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// Verifies a refresh token this signer issued for `service`.
    pub fn verify_refresh(&self, token: &str, service: &str) -> Result<RefreshClaims, JwtError> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims =
            jsonwebtoken::decode::<RefreshClaims>(token.trim(), &self.decoding, &validation)
                .map_err(|e| JwtError::Invalid(e.to_string()))?
                .claims;
        if claims.grant_type != "refresh_token" {
            return Err(JwtError::WrongGrant {
                found: claims.grant_type,
                expected: "refresh_token".into(),
            });
        }
        if !claims.aud.eq_ignore_ascii_case(service) {
            return Err(JwtError::WrongAudience { found: claims.aud, expected: service.into() });
        }
        if unix_now() >= claims.exp {
            return Err(JwtError::Expired);
        }
        Ok(claims)
    }

    /// Decodes (and verifies the signature of) an access token this signer issued.
    pub fn decode_access(&self, token: &str) -> Result<AccessClaims, JwtError> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<AccessClaims>(token.trim(), &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| JwtError::Invalid(e.to_string()))
    }
}

/// The libtrust key id (docker/libtrust `keyIDFromCryptoKey`): SHA-256 of the DER
/// SubjectPublicKeyInfo, first 240 bits, base32 (RFC 4648, no padding), groups of 4
/// characters joined by `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    let b32 = base32(&digest[..30]);
    let groups: Vec<&str> =
        b32.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    groups.join(":")
}

fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn key_id_has_twelve_groups_of_four() {
        let id = libtrust_key_id(b"anything");
        assert_eq!(id.len(), 48 + 11);
        assert_eq!(id.split(':').count(), 12);
    }

    #[test]
    fn refresh_tokens_round_trip_and_are_checked() {
        let ca = LabCa::generate().unwrap();
        let signer = TokenSigner::new(&ca, "Azure Container Registry").unwrap();
        let other = TokenSigner::new(&ca, "Azure Container Registry").unwrap();
        let rt = signer.refresh_token("r.azurecr.io", "oid-1", "tid", 60);
        assert_eq!(signer.verify_refresh(&rt, "R.azurecr.io").unwrap().sub, "oid-1");
        assert!(matches!(
            signer.verify_refresh(&rt, "x.azurecr.io"),
            Err(JwtError::WrongAudience { .. })
        ));
        assert!(matches!(other.verify_refresh(&rt, "r.azurecr.io"), Err(JwtError::Invalid(_))));
        let expired = signer.refresh_token("r.azurecr.io", "oid-1", "tid", -5);
        assert_eq!(signer.verify_refresh(&expired, "r.azurecr.io").unwrap_err(), JwtError::Expired);
        let at = signer.access_token("r.azurecr.io", "oid-1", vec![], 60);
        assert!(matches!(
            signer.verify_refresh(&at, "r.azurecr.io"),
            Err(JwtError::Invalid(_) | JwtError::WrongGrant { .. })
        ));
        assert_eq!(signer.decode_access(&at).unwrap().aud, "r.azurecr.io");
    }
}
