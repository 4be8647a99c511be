//! TLS to a real VictoriaMetrics serving https with a certificate from a private CA: the
//! configured `tls.ca_file` is what makes the push work, and a client certificate can be sent.

mod common;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

struct Pki {
    ca: std::path::PathBuf,
    server_cert: std::path::PathBuf,
    server_key: std::path::PathBuf,
    client_cert: std::path::PathBuf,
    client_key: std::path::PathBuf,
}

fn pki(dir: &std::path::Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "costpush test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server =
        CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&server_key, &ca).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params.distinguished_name.push(DnType::CommonName, "encode-01");
    let client = client_params.signed_by(&client_key, &ca).unwrap();
    let p = Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    };
    std::fs::write(&p.ca, ca.pem()).unwrap();
    std::fs::write(&p.server_cert, server.pem()).unwrap();
    std::fs::write(&p.server_key, server_key.serialize_pem()).unwrap();
    std::fs::write(&p.client_cert, client.pem()).unwrap();
    std::fs::write(&p.client_key, client_key.serialize_pem()).unwrap();
    p
}

#[test]
fn push_over_https_trusts_the_configured_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let p = pki(tmp.path());
    let vm = Vm::start_tls(&std::fs::read(&p.ca).unwrap(), &p.server_cert, &p.server_key);
    assert!(vm.write_url().starts_with("https://"));

    // Without the CA the certificate is unknown: the push fails and nothing is committed.
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let cfg = write_config(&plain, &fixtures(), &vm.write_url(), "test_results_*.json", "");
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate") || err.contains("unknownissuer"), "{err}");
    assert!(vm.export(r#"{__name__=~"costpush_.*"}"#).is_empty());

    // With the CA (and a client certificate, which this server does not ask for) it lands.
    let with_ca = tmp.path().join("with_ca");
    std::fs::create_dir(&with_ca).unwrap();
    let cfg = write_config(&with_ca, &fixtures(), &vm.write_url(), "test_results_*.json", "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "timeout_seconds: 5}",
        &format!(
            "timeout_seconds: 5, tls: {{ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\"}}}}",
            p.ca.display(),
            p.client_cert.display(),
            p.client_key.display()
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    let out = run(&["once", "--config", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(vm.one(r#"costpush_jobs_total{host="enc-test"}"#).last().1, 6.0);
}

#[test]
fn a_key_that_does_not_parse_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = pki(tmp.path());
    std::fs::write(&p.client_key, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        .unwrap();
    let cfg =
        write_config(tmp.path(), &fixtures(), "https://127.0.0.1:9/api/v1/write", "test_results_*.json", "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "timeout_seconds: 5}",
        &format!(
            "timeout_seconds: 5, tls: {{cert_file: \"{}\", key_file: \"{}\"}}}}",
            p.client_cert.display(),
            p.client_key.display()
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    let out = run(&["validate", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("remote_write.tls.cert_file"));
}
