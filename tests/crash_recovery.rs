//! The real binary is SIGKILLed after acknowledging events whose handler had not succeeded yet;
//! restarted on the same database, it handles every event, none twice.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn sigkill_loses_nothing_and_duplicates_nothing() {
    let sink = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&sink)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config_path = binary_config(
        dir.path(),
        port,
        &format!(
            "[store]\npath = \"{}\"\n[dispatch]\nbackoff_base = \"200ms\"\nbackoff_max = \"1s\"\nmax_attempts = 1000",
            dir.path().join("inbox.db").display()
        ),
        &format!(
            "[[apps.forward]]\nurl = \"{}/events\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
            sink.uri()
        ),
    );
    let base = format!("http://127.0.0.1:{port}");

    let first_log = dir.path().join("first.log");
    let mut first = spawn_binary(&config_path, &first_log);
    wait_healthy(&base).await;
    let client = reqwest::Client::new();
    let template = fixture("change_external_contact__add_external_contact.xml");
    let total = 12;
    for i in 0..total {
        let xml = template.replace("<CreateTime>", &format!("<Seq>{i}</Seq><CreateTime>"));
        let (status, _) = post(&client, &base, &seal(&xml, &format!("n{i}"))).await;
        assert_eq!(status, 200);
    }
    // Let some forward attempts fail, then kill without any chance to clean up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill().expect("SIGKILL");
    first.wait().unwrap();

    sink.reset().await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&sink)
        .await;
    let second_log = dir.path().join("second.log");
    let mut second = spawn_binary(&config_path, &second_log);
    wait_healthy(&base).await;
    wait_until!(sink.received_requests().await.unwrap_or_default().len() >= total);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = sink.received_requests().await.unwrap_or_default();
    // SIGTERM: a graceful stop that exits 0.
    Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .expect("kill -TERM");
    let mut exited = None;
    for _ in 0..250 {
        if let Some(status) = second.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = exited.unwrap_or_else(|| {
        second.kill().ok();
        panic!("no exit within 5 s of SIGTERM")
    });
    assert!(status.success(), "{status:?}");

    // Logs say what happened without secrets or decrypted content.
    let logs = std::fs::read_to_string(&first_log).unwrap()
        + &std::fs::read_to_string(&second_log).unwrap();
    assert!(logs.contains("serving"), "{logs}");
    assert!(logs.contains("shutting down"), "{logs}");
    for secret in [
        TOKEN,
        AES_KEY,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "CBAtZCAy5jv0Fj",
        "wmqfKbDgAAj3lR0",
        "<xml>",
    ] {
        assert!(!logs.contains(secret), "logs contain {secret}");
    }

    let ids: Vec<String> = delivered
        .iter()
        .map(|r| {
            r.headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        ids.len(),
        total,
        "every event delivered exactly once: {ids:?}"
    );
    assert_eq!(distinct.len(), total);
    let key =
        wecom_callback::plugins::WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
    for r in &delivered {
        let header = |name: &str| r.headers.get(name).unwrap().to_str().unwrap().to_owned();
        let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
        assert_eq!(
            header("webhook-signature"),
            key.sign(&header("webhook-id"), timestamp, &r.body)
        );
    }
}
