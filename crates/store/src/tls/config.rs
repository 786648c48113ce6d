//! The rustls client for an `sslmode`: which certificate check, which CAs
//! (a PEM file or the Mozilla roots), and the client certificate.

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::verify::{AnyCert, AnyName};
use super::{SslMode, TlsError};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client for `mode`.
pub(super) fn client_config(
    mode: SslMode,
    root_cert: Option<&str>,
    cert: Option<&str>,
    key: Option<&str>,
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    // libpq: `require` with a CA file given verifies like `verify-ca`.
    let verify = match mode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        SslMode::Require => root_cert.is_some(),
        _ => false,
    };
    let verifier: Arc<dyn ServerCertVerifier> = if verify {
        let path = root_cert.ok_or(TlsError::NoRootCert(mode))?;
        let roots = Arc::new(root_store(path)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsError::Pem {
                what: "sslrootcert",
                path: path.into(),
                reason: e.to_string(),
            })?;
        if mode == SslMode::VerifyFull {
            webpki
        } else {
            Arc::new(AnyName(webpki))
        }
    } else {
        Arc::new(AnyCert(provider))
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (cert, key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = read_certs("sslcert", cert)?;
            let bytes = read("sslkey", key)?;
            let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::Pem {
                what: "sslkey",
                path: key.into(),
                reason: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsError::Config)
        }
        _ => Err(TlsError::ClientCertPair),
    }
}

fn read(what: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        what,
        path: path.into(),
        error,
    })
}

fn read_certs(what: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            path: path.into(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            path: path.into(),
            reason: "no PEM certificate in it".to_string(),
        });
    }
    Ok(certs)
}

/// The CAs of `sslrootcert`: a PEM file, or `system` (the Mozilla roots).
fn root_store(path: &str) -> Result<RootCertStore, TlsError> {
    if path == "system" {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    }
    let mut roots = RootCertStore::empty();
    for cert in read_certs("sslrootcert", path)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            what: "sslrootcert",
            path: path.into(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}
