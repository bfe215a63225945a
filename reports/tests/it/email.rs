//! E-mail through a real SMTP server (aiosmtpd): plain on loopback with AUTH, STARTTLS with
//! a private CA, and the failures.

use std::path::Path;

use chorale_reports::{ConfigError, DeliveryError, Event, Notifier, NotifierConfig, Templates};
use chorale_testkit::webhook::unused_port;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::support::config::{Secrets, config, notifier};
use crate::support::sample::{Sample, report as sample};
use crate::support::smtp::{SinkOptions, SmtpSink};

const PASSWORD: &str = "s3cret-smtp-pa55";

fn email_config(port: u16, tls: &str, password: &Value, ca_file: Option<&Path>) -> Value {
    let mut smtp = json!({ "host": "127.0.0.1", "port": port, "tls": tls, "username": "chorale", "password": password });
    if let Some(ca) = ca_file {
        smtp["caFile"] = json!(ca);
    }
    json!({
        "name": "release-managers",
        "events": ["failure", "approval-needed"],
        "timeoutSeconds": 10,
        "email": {
            "smtp": smtp,
            "from": "Chorale <chorale@example.com>",
            "to": ["release@example.com", "Team Lead <lead@example.com>"],
        }
    })
}

async fn send(notifier: &Notifier) -> Result<(), DeliveryError> {
    let message = notifier
        .message(&sample(Sample::Red), Event::Failure)
        .unwrap();
    notifier.send(&message).await
}

#[tokio::test]
async fn plain_smtp_on_loopback_with_auth_delivers_html_and_text() {
    let sink = SmtpSink::start(SinkOptions {
        credentials: Some(("chorale".to_owned(), PASSWORD.to_owned())),
        tls: None,
    })
    .await;
    let secrets = Secrets::new();
    let notifier = notifier(email_config(
        sink.port,
        "none",
        &secrets.file("smtp-password", PASSWORD),
        None,
    ));
    assert!(notifier.wants(Event::Failure) && !notifier.wants(Event::Success));
    send(&notifier).await.unwrap();

    let records = sink.wait_for(1).await;
    let record = &records[0];
    assert_eq!(record["login"], "chorale");
    assert_eq!(record["tls"], false);
    assert_eq!(record["subject"], "❌ demo 1.0.20261123 is RED");
    assert_eq!(record["mailFrom"], "chorale@example.com");
    assert_eq!(
        record["rcptTos"],
        json!(["release@example.com", "lead@example.com"])
    );
    assert_eq!(record["contentType"], "multipart/alternative");
    let parts = record["parts"].as_array().unwrap();
    assert_eq!(parts[0]["contentType"], "text/plain");
    assert_eq!(parts[1]["contentType"], "text/html");
    assert!(
        parts[0]["content"]
            .as_str()
            .unwrap()
            .contains("Failed tests (4):")
    );
    assert!(
        parts[1]["content"]
            .as_str()
            .unwrap()
            .contains("<code>test_order_total</code>")
    );
    let raw = &sink.raw_messages()[0];
    assert!(!raw.contains(PASSWORD));
}

#[tokio::test]
async fn a_wrong_password_is_a_final_error() {
    let sink = SmtpSink::start(SinkOptions {
        credentials: Some(("chorale".to_owned(), PASSWORD.to_owned())),
        tls: None,
    })
    .await;
    let secrets = Secrets::new();
    let notifier = notifier(email_config(
        sink.port,
        "none",
        &secrets.file("smtp-password", "wrong-password"),
        None,
    ));
    let error = send(&notifier).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Smtp { .. }), "{error:?}");
    assert!(!error.is_retryable(), "{error}");
    assert!(error.to_string().contains("535"), "{error}");
    assert!(!error.to_string().contains("wrong-password"));
}

#[tokio::test]
async fn starttls_with_a_private_ca() {
    let pki = tempfile::tempdir().unwrap();
    make_ca_and_server_certificate(pki.path());
    let sink = SmtpSink::start(SinkOptions {
        credentials: Some(("chorale".to_owned(), PASSWORD.to_owned())),
        tls: Some((pki.path().join("server.pem"), pki.path().join("server.key"))),
    })
    .await;
    let secrets = Secrets::new();
    let password = secrets.file("smtp-password", PASSWORD);
    let notifier = notifier(email_config(
        sink.port,
        "starttls",
        &password,
        Some(&pki.path().join("ca.pem")),
    ));
    send(&notifier).await.unwrap();
    let records = sink.wait_for(1).await;
    assert_eq!(records[0]["tls"], true);
    assert_eq!(records[0]["login"], "chorale");

    // Without the private CA the server is not trusted: a final error, nothing sent.
    let untrusted = notifier_from(email_config(sink.port, "starttls", &password, None));
    let error = send(&untrusted).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(sink.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn an_smtp_server_that_is_down_is_retryable() {
    let port = unused_port();
    let secrets = Secrets::new();
    let notifier = notifier(email_config(
        port,
        "none",
        &secrets.file("smtp-password", PASSWORD),
        None,
    ));
    let error = send(&notifier).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("release-managers: SMTP server 127.0.0.1:{port}: ")),
        "{error}"
    );
}

#[test]
fn plain_smtp_is_refused_for_a_remote_host() {
    let mut value = email_config(25, "none", &json!({ "env": "UNUSED" }), None);
    value["email"]["smtp"]["host"] = json!("smtp.example.com");
    value["email"]["smtp"]
        .as_object_mut()
        .unwrap()
        .remove("username");
    value["email"]["smtp"]
        .as_object_mut()
        .unwrap()
        .remove("password");
    let err = Notifier::from_config_with_env(
        &config(value),
        std::sync::Arc::new(Templates::builtin()),
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ConfigError::PlainSmtpNotLoopback {
            notifier: "release-managers".to_owned(),
            host: "smtp.example.com".to_owned()
        }
    );
}

#[test]
fn a_configuration_is_checked_without_reading_its_secrets() {
    // The password's variable is not set: `check` never reads it.
    let good = email_config(25, "none", &json!({ "env": "UNSET_SMTP_PASSWORD" }), None);
    assert_eq!(config(good.clone()).check(), Ok(()));
    let mut remote = good.clone();
    remote["email"]["smtp"]["host"] = json!("smtp.example.com");
    assert_eq!(
        config(remote).check(),
        Err(ConfigError::PlainSmtpNotLoopback {
            notifier: "release-managers".to_owned(),
            host: "smtp.example.com".to_owned()
        })
    );
    let mut nobody = good.clone();
    nobody["email"]["to"] = json!([]);
    assert_eq!(
        config(nobody).check(),
        Err(ConfigError::NoRecipients {
            notifier: "release-managers".to_owned()
        })
    );
    let mut bad_sender = good;
    bad_sender["email"]["from"] = json!("not an address");
    assert!(matches!(
        config(bad_sender).check(),
        Err(ConfigError::InvalidAddress { address, .. }) if address == "not an address"
    ));
    let two = config(json!({
        "name": "both",
        "slack": { "url": { "env": "UNSET_A" } },
        "teams": { "url": { "env": "UNSET_B" } }
    }));
    assert_eq!(
        two.check().unwrap_err().to_string(),
        "notifier both: configure exactly one of slack, dingtalk, lark, teams, webhook, email (found: slack, teams)"
    );
}

fn notifier_from(value: Value) -> Notifier {
    let config: NotifierConfig = config(value);
    Notifier::from_config_with_env(&config, std::sync::Arc::new(Templates::builtin()), &|_| {
        None
    })
    .unwrap()
}

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it, as PEM files
/// `ca.pem`, `server.pem` and `server.key` in `dir`.
fn make_ca_and_server_certificate(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "Chorale Test CA");
    let ca_certificate = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_certificate = server.signed_by(&server_key, &issuer).unwrap();

    std::fs::write(dir.join("ca.pem"), ca_certificate.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server_certificate.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
}
