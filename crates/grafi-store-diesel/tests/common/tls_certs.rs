//! A throw-away PKI for TLS tests, made with `rcgen`: a test CA, a server certificate it signs
//! whose SubjectAltName is ONLY the DNS name `localhost` (so a client verifying the host name
//! accepts `host=localhost` and rejects `host=127.0.0.1`), and a second, unrelated CA (the
//! "wrong CA"). The CA certificates are written as PEM files for the client's `sslrootcert`;
//! the server's certificate and key go into a private instance's data directory
//! ([`TestPki::server_files`], key mode 0600) with [`TestPki::server_settings`].
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::private_pg::DataFile;

/// The server certificate's only SubjectAltName.
pub const SERVER_DNS_NAME: &str = "localhost";

pub struct TestPki {
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    /// PEM of a CA that signed nothing the server presents.
    pub wrong_ca_pem: String,
    /// PEM of the server certificate (signed by the CA; SAN = DNS `localhost` only).
    pub server_cert_pem: String,
    /// PEM (PKCS#8) of the server certificate's private key.
    pub server_key_pem: String,
    ca_path: PathBuf,
    wrong_ca_path: PathBuf,
    // Dropped last: removes the PEM files.
    dir: tempfile::TempDir,
}

/// A CA certificate (self-signed) and its issuer (to sign with).
fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no SAN");
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "grafi-rs tests");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2100, 1, 1);
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("self-signed CA");
    (cert.pem(), Issuer::new(params, key))
}

impl TestPki {
    pub fn new() -> Self {
        let (ca_pem, ca) = new_ca("grafi test CA");
        let (wrong_ca_pem, _wrong) = new_ca("grafi WRONG test CA");

        let mut params =
            CertificateParams::new(vec![SERVER_DNS_NAME.to_owned()]).expect("server SAN");
        // The common name is not a host name: with a SAN present, clients ignore the CN, and
        // this one would not match anything anyway.
        params
            .distinguished_name
            .push(DnType::CommonName, "grafi test server");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2099, 1, 1);
        assert_eq!(
            params.subject_alt_names,
            vec![SanType::DnsName(
                SERVER_DNS_NAME.try_into().expect("DNS name")
            )],
            "the server certificate names exactly one host: localhost"
        );
        let server_key = KeyPair::generate().expect("server key");
        let server_cert = params
            .signed_by(&server_key, &ca)
            .expect("server certificate");

        let dir = tempfile::Builder::new()
            .prefix("grafi-pki-")
            .tempdir()
            .expect("temp dir");
        let ca_path = dir.path().join("ca.pem");
        let wrong_ca_path = dir.path().join("wrong-ca.pem");
        std::fs::write(&ca_path, &ca_pem).expect("write ca.pem");
        std::fs::write(&wrong_ca_path, &wrong_ca_pem).expect("write wrong-ca.pem");
        Self {
            ca_pem,
            wrong_ca_pem,
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            ca_path,
            wrong_ca_path,
            dir,
        }
    }

    /// The CA that signed the server certificate, as a PEM file (`sslrootcert`).
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// An unrelated CA, as a PEM file (`sslrootcert` that must not verify the server).
    pub fn wrong_ca_path(&self) -> &Path {
        &self.wrong_ca_path
    }

    /// The server certificate and key for a private instance's data directory (the key 0600,
    /// as PostgreSQL requires); pair with [`TestPki::server_settings`].
    pub fn server_files(&self) -> Vec<DataFile> {
        vec![
            DataFile::new("server.crt", self.server_cert_pem.clone(), 0o644),
            DataFile::new("server.key", self.server_key_pem.clone(), 0o600),
        ]
    }

    /// postgresql.conf settings that turn TLS on with [`TestPki::server_files`].
    pub fn server_settings() -> &'static [(&'static str, &'static str)] {
        &[
            ("ssl", "on"),
            ("ssl_cert_file", "'server.crt'"),
            ("ssl_key_file", "'server.key'"),
        ]
    }
}
