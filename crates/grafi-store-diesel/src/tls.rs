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
        let config = match settings.ssl_mode() {
            // Never used for a handshake in `disable`; `prefer` checks nothing, as libpq.
            SslMode::Disable | SslMode::Prefer => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
                .with_no_client_auth(),
            SslMode::Require => match explicit_or_default_roots(settings) {
                Some(roots) => builder
                    .dangerous()
                    .with_custom_certificate_verifier(chain_only(roots?, provider)?)
                    .with_no_client_auth(),
                None => builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
                    .with_no_client_auth(),
            },
            SslMode::VerifyCa => builder
                .dangerous()
                .with_custom_certificate_verifier(chain_only(roots()?, provider)?)
                .with_no_client_auth(),
            SslMode::VerifyFull => builder
                .with_root_certificates(roots()?)
                .with_no_client_auth(),
        };
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

    fn chain_only(
        roots: RootCertStore,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>, StoreError> {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| StoreError::Config(format!("TLS set-up failed: {e}")))?;
        Ok(Arc::new(ChainOnly(inner)))
    }

    /// `verify-ca`: the chain must lead to a trusted root; the name in it is not checked.
    #[derive(Debug)]
    struct ChainOnly(Arc<WebPkiServerVerifier>);

    impl ServerCertVerifier for ChainOnly {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            match self.0.verify_server_cert(
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
            self.0.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.supported_verify_schemes()
        }
    }

    /// `prefer` and `require` without a root certificate: encrypted, not authenticated (libpq's
    /// meaning of these modes). The handshake signatures are still checked.
    #[derive(Debug)]
    struct Unchecked(Arc<CryptoProvider>);

    impl ServerCertVerifier for Unchecked {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
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
                &self.0.signature_verification_algorithms,
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
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
