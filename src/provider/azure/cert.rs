//! A service principal's certificate credential: Entra ID's client
//! credentials grant with a client assertion — a JWT signed (RS256) with the
//! certificate's private key, naming the certificate by its SHA-1 thumbprint
//! (`x5t`), as Microsoft documents
//! (<https://learn.microsoft.com/entra/identity-platform/certificate-credentials>).
//!
//! `azure_identity` 1.0 has a certificate credential only behind its
//! `client_certificate` feature, which links OpenSSL; this one signs with
//! `ring` (already in the build for TLS) and hands the assertion to
//! `azure_identity::ClientAssertionCredential`, which does the token request,
//! caching and refresh. The certificate file is PEM with the certificate and
//! its private key (PKCS#8 or PKCS#1), as `az ad sp create-for-rbac
//! --create-cert` writes it; `AZURE_CLIENT_CERTIFICATE_PATH` names it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::http::ClientMethodOptions;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How long an assertion is valid (Entra accepts up to ten minutes).
const LIFETIME_SECS: u64 = 600;

pub struct CertificateAssertion {
    path: PathBuf,
    /// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    audience: String,
    client: String,
    key: RsaKeyPair,
    /// base64url SHA-1 of the certificate's DER.
    x5t: String,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("path", &self.path)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// Read the PEM file at `path`; `authority` is the Entra host
    /// (`AZURE_AUTHORITY_HOST` or the public cloud's).
    pub fn load(
        path: &Path,
        authority: &str,
        tenant: &str,
        client: &str,
    ) -> Result<CertificateAssertion, String> {
        let shown = path.display();
        let bytes = std::fs::read(path)
            .map_err(|e| format!("AZURE_CLIENT_CERTIFICATE_PATH names {shown}: {e}"))?;
        let cert = CertificateDer::from_pem_slice(&bytes).map_err(|_| {
            format!("{shown} holds no PEM certificate (PKCS#12 files are not read: convert with `openssl pkcs12 -nodes`)")
        })?;
        let key = match PrivateKeyDer::from_pem_slice(&bytes)
            .map_err(|_| format!("{shown} holds no PEM private key beside its certificate"))?
        {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(format!("{shown}: the private key is not an RSA key")),
        }
        .map_err(|e| format!("{shown}: the private key cannot sign: {e}"))?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
        Ok(CertificateAssertion {
            path: path.to_owned(),
            audience: format!(
                "{}/{tenant}/oauth2/v2.0/token",
                authority.trim_end_matches('/')
            ),
            client: client.to_owned(),
            key,
            x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
        })
    }

    /// A signed assertion valid from now.
    pub fn assertion(&self) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t});
        let mut jti = [0u8; 16];
        ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut jti)
            .map_err(|_| "no randomness for the assertion id".to_owned())?;
        let jti: String = jti.iter().map(|b| format!("{b:02x}")).collect();
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client,
            "sub": self.client,
            "jti": jti,
            "nbf": now,
            "iat": now,
            "exp": now + LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| format!("{}: signing the assertion failed", self.path.display()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.assertion().map_err(|e| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertions_are_rs256_jwts_naming_the_certificate() {
        let pem = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/azure_tls/client.pem");
        let a = CertificateAssertion::load(&pem, "https://login.example/", "t3n", "c1i").unwrap();
        let jwt = a.assertion().unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(header["x5t"].as_str().unwrap())
                .unwrap()
                .len(),
            20
        );
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://login.example/t3n/oauth2/v2.0/token");
        assert_eq!(claims["iss"], "c1i");
        assert_eq!(claims["sub"], "c1i");
        // The signature verifies with the certificate's public key.
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            a.key.public().as_ref(),
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .expect("a valid RS256 signature");
        let other =
            CertificateAssertion::load(Path::new("/nonexistent.pem"), "https://x", "t", "c");
        assert!(other.unwrap_err().contains("/nonexistent.pem"));
    }
}
