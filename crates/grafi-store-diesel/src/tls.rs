//! The TLS connector both pools use, built once from [`ConnectionSettings`].
//!
//! tokio-postgres decides whether to ask for TLS (`sslmode` disable / prefer / require); the
//! rustls configuration decides what is checked once TLS is up, as libpq does:
//!
//! | `sslmode` | chain checked | host name checked |
//! |---|---|---|
//! | prefer | no | no |
//! | require | only with a root certificate (`sslrootcert`, or `~/.postgresql/root.crt`) | no |
//! | verify-ca | yes | no |
//! | verify-full | yes | yes |
//!
//! Without the `tls` feature only `disable` and `prefer` connect (in plain text); a mode that
//! requires TLS is a configuration error rather than a silent downgrade.

use grafi_store_core::StoreError;

use crate::conninfo::ConnectionSettings;
#[cfg(feature = "tls")]
use crate::conninfo::SslMode;

#[cfg(feature = "tls")]
pub(crate) type Connector = tokio_postgres_rustls::MakeRustlsConnect;
#[cfg(not(feature = "tls"))]
pub(crate) type Connector = tokio_postgres::NoTls;

/// The connector for `settings` (reads the root certificate file, if any, now).
#[cfg(not(feature = "tls"))]
pub(crate) fn connector(settings: &ConnectionSettings) -> Result<Connector, StoreError> {
    if settings.ssl_mode().allows_plain_text() {
        Ok(tokio_postgres::NoTls)
    } else {
        Err(StoreError::Config(format!(
            "sslmode={} needs TLS, and grafi-store-diesel was built without its `tls` feature",
            settings.ssl_mode()
        )))
    }
}

/// The connector for `settings` (reads the root certificate file, if any, now).
#[cfg(feature = "tls")]
pub(crate) fn connector(settings: &ConnectionSettings) -> Result<Connector, StoreError> {
    rustls_config::connector(settings)
}

#[cfg(feature = "tls")]
mod rustls_config {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::client::WebPkiServerVerifier;
    use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

    use super::*;
    use crate::conninfo::RootCerts;

    pub(super) fn connector(settings: &ConnectionSettings) -> Result<Connector, StoreError> {
        // ring rather than aws-lc-rs (whose build needs cmake): ring offers no post-quantum key
        // exchange, which PostgreSQL servers (OpenSSL) do not negotiate before OpenSSL 3.5.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Config(format!("TLS set-up failed: {e}")))?;
        let roots = || root_store(settings.root_certs());
        // What is checked besides the handshake's signatures: nothing (`prefer`, `require`
        // without a root certificate: encrypted, not authenticated, as libpq), the chain
        // (`verify-ca`, `require` with one), or the chain and the name (`verify-full`).
        let chain = match settings.ssl_mode() {
            // Never used for a handshake in `disable`.
            SslMode::Disable | SslMode::Prefer => None,
            SslMode::Require => explicit_or_default_roots(settings).transpose()?,
            SslMode::VerifyCa => Some(roots()?),
            SslMode::VerifyFull => {
                let config = builder
                    .with_root_certificates(roots()?)
                    .with_no_client_auth();
                return Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config));
            }
        };
        let chain = match chain {
            Some(roots) => Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| StoreError::Config(format!("TLS set-up failed: {e}")))?,
            ),
            None => None,
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NameNotChecked { chain, provider }))
            .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }

    /// libpq's default root certificate file.
    fn default_root_file() -> Option<PathBuf> {
        let home = std::env::var_os("HOME")?;
        let path = Path::new(&home).join(".postgresql").join("root.crt");
        path.is_file().then_some(path)
    }

    /// For `require`: the roots to check the chain against, when there are any.
    fn explicit_or_default_roots(
        settings: &ConnectionSettings,
    ) -> Option<Result<RootCertStore, StoreError>> {
        match settings.root_certs() {
            Some(certs) => Some(root_store(Some(certs))),
            None => default_root_file().map(|path| root_store(Some(&RootCerts::File(path)))),
        }
    }

    /// The given roots; without any, `~/.postgresql/root.crt` if it exists, else the system's.
    fn root_store(certs: Option<&RootCerts>) -> Result<RootCertStore, StoreError> {
        let mut store = RootCertStore::empty();
        let file = match certs {
            Some(RootCerts::File(path)) => Some(path.clone()),
            Some(RootCerts::System) => None,
            None => default_root_file(),
        };
        match file {
            Some(path) => {
                let shown = path.display();
                let certs = CertificateDer::pem_file_iter(&path)
                    .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        StoreError::Config(format!(
                            "sslrootcert {shown}: cannot read certificates: {e}"
                        ))
                    })?;
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(StoreError::Config(format!(
                        "sslrootcert {shown}: no usable certificate in the file"
                    )));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                store.add_parsable_certificates(found.certs);
                if store.is_empty() {
                    return Err(StoreError::Config(
                        "no sslrootcert given and no system root certificates found: set \
                         sslrootcert to the CA file of your server"
                            .into(),
                    ));
                }
            }
        }
        Ok(store)
    }

    /// Every mode but `verify-full`: the server's name is not checked; the chain is when
    /// `chain` holds the roots; the handshake's signatures always are.
    #[derive(Debug)]
    struct NameNotChecked {
        chain: Option<Arc<WebPkiServerVerifier>>,
        provider: Arc<CryptoProvider>,
    }

    impl ServerCertVerifier for NameNotChecked {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            let Some(chain) = &self.chain else {
                return Ok(ServerCertVerified::assertion());
            };
            match chain.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}
