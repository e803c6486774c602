//! TLS with a private CA (DESIGN.md "Trust", egress): a loopback TLS server whose
//! certificate is signed by a CA made here with rcgen, in front of the Acronis simulator.
//! Without the CA the request fails as `transport` naming the certificate problem; with
//! `--ca-cert`, `TENANTCTL_ACRONIS_CA_CERT` or `ca_cert` in the configuration file it works.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use predicates::str::contains;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tenantctl_simulator::{AcronisConfig, AcronisSim};

/// A certificate authority made for one test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tenantctl test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names`, signed by this CA, and its key.
    fn server_cert(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .extended_key_usages
            .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

/// Starts a TLS server on 127.0.0.1 (port 0) that terminates TLS with `cert` and relays
/// the bytes to `backend`; returns its address. It runs until the test process ends.
fn tls_front(
    backend: SocketAddr,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut back) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
                });
            }
        });
    });
    addr
}

/// The simulator behind a TLS front whose certificate names localhost and 127.0.0.1.
struct Setup {
    sim: AcronisSim,
    ca: Ca,
    url: String,
    home: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let sim = AcronisSim::start(AcronisConfig::default());
        let ca = Ca::new();
        let (cert, key) = ca.server_cert(&["localhost", "127.0.0.1"]);
        let backend: SocketAddr = sim.url().trim_start_matches("http://").parse().unwrap();
        let front = tls_front(backend, cert, key);
        Setup {
            sim,
            ca,
            url: format!("https://localhost:{}", front.port()),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn ca_file(&self) -> PathBuf {
        let path = self.home.path().join("ca.pem");
        std::fs::write(&path, &self.ca.pem).unwrap();
        path
    }

    /// tenantctl with the credentials and the https URL.
    fn tenantctl(&self) -> assert_cmd::Command {
        let mut cmd = tenantctl(self.home.path());
        cmd.envs(acronis_env(&self.sim))
            .env("TENANTCTL_ACRONIS_URL", &self.url);
        cmd
    }
}

const STATUS: &[&str] = &[
    "status",
    "--vendor",
    "acronis",
    "--tenant-name",
    "Acme Corp",
    "--output",
    "json",
];

fn assert_works(out: &assert_cmd::assert::Assert) {
    let result = one_result(&out.get_output().stdout);
    assert_eq!(result["status"], "unchanged", "{result}");
    assert_eq!(result["enabled_before"], true);
}

#[test]
fn without_the_private_ca_the_request_fails_as_transport_naming_the_certificate_problem() {
    let setup = Setup::new();
    let started = std::time::Instant::now();
    let out = setup.tenantctl().args(STATUS).assert().code(1);
    let result = one_result(&out.get_output().stdout);
    assert_eq!(result["error"]["kind"], "transport", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("certificate")
            && message.contains("UnknownIssuer")
            && message.contains("--ca-cert"),
        "{message}"
    );
    // A certificate that is refused once is refused every time: no retries with backoff.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(setup.sim.requests().is_empty());
}

#[test]
fn the_ca_cert_flag_adds_the_private_ca() {
    let setup = Setup::new();
    let out = setup
        .tenantctl()
        .args(STATUS)
        .arg("--ca-cert")
        .arg(setup.ca_file())
        .assert()
        .code(0);
    assert_works(&out);
}

#[test]
fn the_vendor_variable_adds_the_private_ca() {
    let setup = Setup::new();
    let out = setup
        .tenantctl()
        .env("TENANTCTL_ACRONIS_CA_CERT", setup.ca_file())
        .args(STATUS)
        .assert()
        .code(0);
    assert_works(&out);
}

#[test]
fn ca_cert_in_the_configuration_file_adds_the_private_ca_relative_to_the_file() {
    let setup = Setup::new();
    setup.ca_file();
    let config = setup.home.path().join("config.toml");
    std::fs::write(&config, "[vendors.acronis]\nca_cert = \"ca.pem\"\n").unwrap();
    let out = setup
        .tenantctl()
        .arg("--config")
        .arg(&config)
        .args(STATUS)
        .assert()
        .code(0);
    assert_works(&out);

    // A batch reads it too; and --ca-cert works for apply.
    let input = setup.home.path().join("rows.csv");
    std::fs::write(
        &input,
        "vendor,action,tenant_name\nacronis,status,Acme Corp\n",
    )
    .unwrap();
    let journal = setup.home.path().join("audit.jsonl");
    for flags in [
        vec!["--config".to_string(), config.display().to_string()],
        vec![
            "--ca-cert".to_string(),
            setup.ca_file().display().to_string(),
        ],
    ] {
        let out = setup
            .tenantctl()
            .args(["apply", "--output", "json", "--input"])
            .arg(&input)
            .arg("--audit-log")
            .arg(&journal)
            .args(&flags)
            .assert()
            .code(0);
        assert_eq!(
            one_result(&out.get_output().stdout)["status"],
            "unchanged",
            "{flags:?}"
        );
    }
}

#[test]
fn a_certificate_for_another_name_is_refused_even_from_the_trusted_ca() {
    let setup = Setup::new();
    let (cert, key) = setup.ca.server_cert(&["other.example"]);
    let backend: SocketAddr = setup
        .sim
        .url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let front = tls_front(backend, cert, key);
    let out = setup
        .tenantctl()
        .env(
            "TENANTCTL_ACRONIS_URL",
            format!("https://localhost:{}", front.port()),
        )
        .args(STATUS)
        .arg("--ca-cert")
        .arg(setup.ca_file())
        .assert()
        .code(1);
    let result = one_result(&out.get_output().stdout);
    assert_eq!(result["error"]["kind"], "transport");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not valid for this host name"),
        "{message}"
    );
}

#[test]
fn an_unusable_ca_file_is_a_usage_error_with_nothing_sent() {
    let setup = Setup::new();
    let not_pem = setup.home.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for file in [not_pem.as_path(), Path::new("/does/not/exist.pem")] {
        setup
            .tenantctl()
            .args(STATUS)
            .arg("--ca-cert")
            .arg(file)
            .assert()
            .code(2)
            .stdout("")
            .stderr(contains("--ca-cert"));
    }
    setup
        .tenantctl()
        .env("TENANTCTL_ACRONIS_CA_CERT", &not_pem)
        .args(STATUS)
        .assert()
        .code(2)
        .stderr(contains("TENANTCTL_ACRONIS_CA_CERT"));
    assert!(setup.sim.requests().is_empty());
}
