//! The server end to end over real HTTP on a random port: URL verification, every fixture kind
//! reaching a handler exactly once, retries recognised, hostile input refused with a 4xx and
//! nothing stored, handler retries and dead letters.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use wecom_callback::callback;
use wecom_callback::store::{EventFilter, Inbox, MemoryInbox, RetryFilter, Status};
use wecom_callback::{Running, Service};

async fn start(recorder: &Recorder, inbox: Arc<dyn Inbox>) -> (Running, String) {
    let running = Service::new(config("", ""))
        .handler(recorder.clone())
        .with_inbox(inbox)
        .start()
        .await
        .expect("start");
    let base = format!("http://{}", running.addr());
    (running, base)
}

/// GET verification answers the bare plaintext, for the official vector and a sealed one
/// whose echostr holds '+' sent raw (not percent-encoded).
#[tokio::test]
async fn url_verification_answers_the_bare_plaintext() {
    // The official vector is from 2014: no timestamp window for it.
    let mut config = config("", "");
    config.server.timestamp_tolerance = Duration::ZERO;
    let running = Service::new(config).start().await.unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();
    let official = "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D";
    for query in [official.to_owned(), official.replace("%2B", "+")] {
        let r = client
            .get(format!("{base}/callback/contacts?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "1616140317555161061");
    }
    running.stop().await;
}

/// Every fixture kind, POSTed sealed, reaches the handler exactly once; the same event sealed
/// again three times (new nonce, so new ciphertext and signature) is acknowledged but not
/// handled again.
#[tokio::test]
async fn every_fixture_is_handled_exactly_once_despite_retries() {
    let recorder = Recorder::default();
    let inbox = Arc::new(MemoryInbox::new());
    let (running, base) = start(&recorder, inbox.clone()).await;
    let client = reqwest::Client::new();
    let fixtures = event_fixtures();
    assert!(
        fixtures.len() >= 20,
        "expected every event kind in fixtures/events"
    );
    for (name, xml) in &fixtures {
        for attempt in 0..4 {
            let sealed = seal(xml, &format!("{name}-{attempt}"));
            let (status, body) = post(&client, &base, &sealed).await;
            assert_eq!(
                (status, body.as_str()),
                (200, ""),
                "{name} attempt {attempt}"
            );
        }
    }
    eventually(|| recorder.seen().len() >= fixtures.len()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = recorder.seen();
    assert_eq!(seen.len(), fixtures.len(), "{seen:?}");
    let mut ids: Vec<i64> = seen.iter().map(|s| s.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), fixtures.len());
    assert_eq!(inbox.stats(0).await.unwrap().events_pending, 0);
    running.stop().await;
}

/// A callback is answered with the app's `reply`: an empty body and no `Content-Type` by
/// default (self-built apps), `text/plain` when the app replies `success`.
#[tokio::test]
async fn the_answer_to_a_callback_is_the_apps_reply() {
    let client = reqwest::Client::new();
    for (extra, body, content_type) in [
        ("", "", None),
        ("reply = \"success\"", "success", Some("text/plain")),
    ] {
        let running = Service::new(config("", extra)).start().await.unwrap();
        let sealed = seal(
            &fixture("change_external_contact__add_external_contact.xml"),
            "reply",
        );
        let r = post_response(&client, &format!("http://{}", running.addr()), &sealed).await;
        assert_eq!(r.status(), 200);
        let header = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header.as_deref(), content_type, "{extra:?}");
        assert_eq!(r.text().await.unwrap(), body);
        running.stop().await;
    }
}

/// Hostile and malformed requests: each gets its 4xx within a second, nothing is stored, and
/// the server still handles a real event afterwards.
#[tokio::test]
async fn hostile_input_gets_a_4xx_and_nothing_is_stored() {
    let recorder = Recorder::default();
    let inbox = Arc::new(MemoryInbox::new());
    let (running, base) = start(&recorder, inbox.clone()).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let good_xml = fixture("change_external_contact__add_external_contact.xml");
    let good = seal(&good_xml, "good");
    let q = good.query.to_query_string();
    let body = good.body.clone().unwrap();
    let c = crypt();
    let ts = wecom_callback_now_secs().to_string();
    let signed = |encrypt: &str| {
        let sig = c.signature(&ts, "n", encrypt);
        (
            format!("msg_signature={sig}&timestamp={ts}&nonce=n"),
            format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
        )
    };
    let raw_cipher = |plain: &[u8]| {
        // Encrypt exact bytes (no framing or padding) to forge bad plaintext layouts.
        use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
        use base64::Engine;
        let key = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_allow_trailing_bits(true)
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        )
        .decode(AES_KEY)
        .unwrap();
        let mut buf = plain.to_vec();
        let n = buf.len();
        cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &key[..16])
            .unwrap()
            .encrypt_padded_mut::<NoPadding>(&mut buf, n)
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(buf)
    };
    let other_token = wecom_callback::MsgCrypt::new("OtherToken1", AES_KEY, CORP_ID).unwrap();
    let other_sig = other_token.signature(&good.query.timestamp, &good.query.nonce, {
        let e = wecom_callback::Envelope::parse(body.as_bytes()).unwrap();
        Box::leak(e.encrypt.into_boxed_str())
    });
    let wrong_key = wecom_callback::MsgCrypt::new(
        TOKEN,
        "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
        CORP_ID,
    )
    .unwrap();
    let wrong_key_sealed =
        callback::seal_post(&wrong_key, good_xml.as_bytes(), &ts, "2", [1; 16]).unwrap();
    let wrong_id = wecom_callback::MsgCrypt::new(TOKEN, AES_KEY, "ww1436e0e65a779aee").unwrap();
    let wrong_id_sealed =
        callback::seal_post(&wrong_id, good_xml.as_bytes(), &ts, "2", [1; 16]).unwrap();
    let mut pad0 = vec![b'a'; 16];
    pad0.extend_from_slice(&4u32.to_be_bytes());
    pad0.extend_from_slice(b"<x/>");
    pad0.resize(32, 0);
    let mut pad33 = pad0.clone();
    pad33.resize(64, 33);
    pad33[31] = 33;
    let mut long_len = vec![b'a'; 16];
    long_len.extend_from_slice(&9999u32.to_be_bytes());
    long_len.resize(64, 24);
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>"#;

    let mut cases: Vec<(&str, String, String, u16)> = vec![
        (
            "tampered signature",
            q.replace("msg_signature=", "msg_signature=0"),
            body.clone(),
            401,
        ),
        (
            "missing signature",
            format!(
                "timestamp={}&nonce={}",
                good.query.timestamp, good.query.nonce
            ),
            body.clone(),
            400,
        ),
        (
            "token of another app",
            format!(
                "msg_signature={other_sig}&timestamp={}&nonce={}",
                good.query.timestamp, good.query.nonce
            ),
            body.clone(),
            401,
        ),
        (
            "wrong key",
            wrong_key_sealed.query.to_query_string(),
            wrong_key_sealed.body.clone().unwrap(),
            400,
        ),
        (
            "wrong receive id",
            wrong_id_sealed.query.to_query_string(),
            wrong_id_sealed.body.clone().unwrap(),
            400,
        ),
        ("doctype bomb", q.clone(), bomb.to_owned(), 400),
        ("external entity", q.clone(), xxe.to_owned(), 400),
        ("empty body", q.clone(), String::new(), 400),
        (
            "no Encrypt",
            q.clone(),
            "<xml><ToUserName>x</ToUserName></xml>".to_owned(),
            400,
        ),
        (
            "oversized body",
            q.clone(),
            format!("<xml><Encrypt>{}</Encrypt></xml>", "A".repeat(70_000)),
            413,
        ),
    ];
    for (name, plain_or_cipher) in [
        ("non-base64", "!!!not base64!!!".to_owned()),
        ("not block aligned", "QUJDREVGRw==".to_owned()),
        ("pad byte 0", raw_cipher(&pad0)),
        ("pad byte 33", raw_cipher(&pad33)),
        ("length past the end", raw_cipher(&long_len)),
    ] {
        let (query, body) = signed(&plain_or_cipher);
        cases.push((name, query, body, 400));
    }
    for (name, query, body, expected) in cases {
        let started = Instant::now();
        let r = client
            .post(format!("{base}/callback/contacts?{query}"))
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, expected, "{name}: {text}");
        let after_signature = [
            "wrong key",
            "wrong receive id",
            "non-base64",
            "not block aligned",
            "pad byte 0",
            "pad byte 33",
            "length past the end",
        ];
        if after_signature.contains(&name) {
            assert_eq!(text, "undecryptable", "{name}: one answer for every cause");
        }
        assert!(
            !text.is_empty() && !text.contains('\n'),
            "{name}: one short line, got {text:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    let r = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .put(format!("{base}/callback/contacts?{q}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");
    assert_eq!(
        inbox
            .list(EventFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        0,
        "nothing stored"
    );

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for reason in ["too_large", "bad_signature", "bad_xml", "bad_ciphertext"] {
        assert!(
            metrics.contains(&format!("outcome=\"{reason}\"")),
            "{reason} counted: {metrics}"
        );
    }

    let (status, _) = post(&client, &base, &good).await;
    assert_eq!(status, 200);
    eventually(|| recorder.seen().len() == 1).await;
    running.stop().await;
}

/// A failing handler is retried alone; the others are not re-run. One that keeps failing makes
/// the event a dead letter, which `retry` makes pending again.
#[tokio::test]
async fn failing_handler_is_retried_alone_then_dead_lettered() {
    let good = Recorder::named("good");
    let flaky = Recorder {
        fail_first: 2,
        name: "flaky",
        ..Default::default()
    };
    let broken = Recorder {
        fail_first: 100,
        name: "broken",
        ..Default::default()
    };
    let inbox = Arc::new(MemoryInbox::new());
    let running = Service::new(config("", ""))
        .handler(good.clone())
        .handler(flaky.clone())
        .handler(broken.clone())
        .with_inbox(inbox.clone())
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", running.addr());
    let sealed = seal(
        &fixture("change_external_contact__add_external_contact.xml"),
        "x",
    );
    assert_eq!(post(&reqwest::Client::new(), &base, &sealed).await.0, 200);
    eventually(|| flaky.seen().len() == 1).await;
    let id = flaky.seen()[0].0;
    wait_until!(inbox.get(id).await.unwrap().unwrap().status == Status::Failed);
    assert_eq!(inbox.get(id).await.unwrap().unwrap().status, Status::Failed);
    assert_eq!(good.seen().len(), 1, "the good handler ran once");
    let deliveries = inbox.deliveries(id).await.unwrap();
    let broken_run = deliveries.iter().find(|r| r.handler == "broken").unwrap();
    assert_eq!(broken_run.attempts, 3);
    assert!(
        broken_run
            .last_error
            .as_deref()
            .unwrap()
            .contains("gave up after 3 attempts")
    );

    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"wecom_callback_dead_letters{app="contacts",handler="broken"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"stored\""), "{metrics}");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);

    let retried = inbox
        .retry(RetryFilter {
            event_id: Some(id),
            handler: None,
        })
        .await
        .unwrap();
    assert_eq!(retried, 1);
    eventually(|| true).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        good.seen().len(),
        1,
        "retry does not re-run handlers that succeeded"
    );
    running.stop().await;
}

/// Events of one customer are handled in arrival order, one at a time.
#[tokio::test]
async fn one_customer_in_order() {
    let recorder = Recorder::default();
    let inbox = Arc::new(MemoryInbox::new());
    let (running, base) = start(&recorder, inbox).await;
    let client = reqwest::Client::new();
    let template = fixture("change_external_contact__edit_external_contact.xml");
    for i in 0..20 {
        let xml = template.replace("<CreateTime>", &format!("<Seq>{i}</Seq><CreateTime>"));
        assert_eq!(
            post(&client, &base, &seal(&xml, &i.to_string())).await.0,
            200
        );
    }
    eventually(|| recorder.seen().len() == 20).await;
    let ids: Vec<i64> = recorder.seen().iter().map(|s| s.0).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    running.stop().await;
}

/// A store that cannot write (another process holds SQLite's write lock): the server answers
/// 503 (so WeCom retries) well within WeCom's 5 s, `/healthz` says so, and both recover when
/// the lock is released.
#[tokio::test]
async fn store_unavailable_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inbox.db");
    let running = Service::new(config(
        &format!(
            "[store]\nbackend = \"sqlite\"\npath = {:?}\n",
            path.display().to_string()
        ),
        "",
    ))
    .handler(Recorder::default())
    .start()
    .await
    .unwrap();
    let base = format!("http://{}", running.addr());
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let sealed = seal(
        &fixture("change_external_contact__add_external_contact.xml"),
        "x",
    );
    let started = Instant::now();
    let (status, body) = post(&reqwest::Client::new(), &base, &sealed).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        (status, body.as_str()),
        (503, "store unavailable, retry later")
    );
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 503);
    holder.execute_batch("COMMIT").unwrap();
    let (status, _) = post(&reqwest::Client::new(), &base, &sealed).await;
    assert_eq!(status, 200);
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    running.stop().await;
}

/// Graceful stop lets a running handler finish, and leaves events it did not reach pending in
/// the inbox for the next start.
#[tokio::test]
async fn stop_lets_running_handlers_finish() {
    #[derive(Clone, Default)]
    struct Slow(
        Arc<std::sync::Mutex<Vec<i64>>>,
        Arc<std::sync::atomic::AtomicUsize>,
    );
    #[wecom_callback::async_trait]
    impl wecom_callback::Handler for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        async fn on_event(
            &self,
            ctx: &wecom_callback::Context,
            _: &wecom_callback::Event,
        ) -> wecom_callback::HandlerResult {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.0.lock().unwrap().push(ctx.event_id);
            Ok(())
        }
    }
    let slow = Slow::default();
    let inbox = Arc::new(MemoryInbox::new());
    let running = Service::new(config("", ""))
        .handler(slow.clone())
        .with_inbox(inbox.clone())
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();
    let template = fixture("change_external_contact__edit_external_contact.xml");
    for i in 0..3 {
        // One customer, so the three run one after another.
        let xml = template.replace("<CreateTime>", &format!("<Seq>{i}</Seq><CreateTime>"));
        assert_eq!(
            post(&client, &base, &seal(&xml, &i.to_string())).await.0,
            200
        );
    }
    let started = slow.1.clone();
    eventually(|| started.load(std::sync::atomic::Ordering::SeqCst) == 1).await;
    running.stop().await;
    let handled = slow.0.lock().unwrap().clone();
    assert_eq!(
        handled.len(),
        1,
        "the running handler finished, the queued ones did not start"
    );
    let pending = inbox
        .list(EventFilter {
            status: Some(Status::Pending),
            handler: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 2, "the rest stay in the store");
}

/// Probes and scrapers, however many at once, read the store once: 100 concurrent
/// `/metrics` and `/healthz` requests cost one count of the deliveries and one store check
/// (each reused for a second), and every answer still carries the gauges.
#[tokio::test]
async fn a_flood_of_probes_reads_the_store_once() {
    let inbox = Arc::new(Faulty::new(MemoryInbox::new()));
    let (_running, base) = start(&Recorder::default(), inbox.clone()).await;
    let client = reqwest::Client::new();
    let (stats_before, pings_before) = (
        inbox.stats_reads.load(Ordering::SeqCst),
        inbox.pings.load(Ordering::SeqCst),
    );
    let probes = (0..100).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let path = if i % 2 == 0 { "/metrics" } else { "/healthz" };
            let response = client.get(format!("{base}{path}")).send().await.unwrap();
            (
                path,
                response.status().as_u16(),
                response.text().await.unwrap(),
            )
        }
    });
    let started = Instant::now();
    let answers = futures::future::join_all(probes).await;
    // One read each per second the flood lasted (a stalled machine may stretch it), and one
    // more for a read of the service's own start-up that may land in the count.
    let allowed = 2 + started.elapsed().as_secs() as usize;
    for (path, status, body) in answers {
        assert_eq!(status, 200, "{path}: {body}");
        if path == "/metrics" {
            assert!(body.contains("wecom_callback_inbox_pending 0"), "{body}");
        }
    }
    let stats_reads = inbox.stats_reads.load(Ordering::SeqCst) - stats_before;
    let pings = inbox.pings.load(Ordering::SeqCst) - pings_before;
    assert!(
        (1..=allowed).contains(&stats_reads),
        "{stats_reads} counts read"
    );
    assert!((1..=allowed).contains(&pings), "{pings} store checks");
}

/// Send `body` as a chunked POST to `target` in pieces of `piece` bytes, each written on its
/// own; the answer's status.
async fn post_chunked(addr: std::net::SocketAddr, target: &str, body: &[u8], piece: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(piece) {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        // Written apart, so that the server reads them as separate chunks. A refusal may close
        // the connection before everything is written: the answer still counts.
        if stream.write_all(&framed).await.is_err() {
            break;
        }
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3)?.parse().ok())
        .unwrap_or(0)
}

/// A body that arrives in several chunks (no `Content-Length`) is read whole, and one that
/// grows past `max_body_bytes` that way is refused 413 like one that declares its length.
#[tokio::test]
async fn a_body_in_chunks_is_read_whole_and_limited() {
    let recorder = Recorder::default();
    let (running, _) = start(&recorder, Arc::new(MemoryInbox::new())).await;
    let sealed = seal(
        &fixture("change_external_contact__add_external_contact.xml"),
        "chunks",
    );
    let target = format!("/callback/contacts?{}", sealed.query.to_query_string());
    let body = sealed.body.clone().unwrap();
    assert_eq!(
        post_chunked(running.addr(), &target, body.as_bytes(), 100).await,
        200
    );
    eventually(|| recorder.seen().len() == 1).await;

    let limit = config("", "").server.max_body_bytes;
    let oversized = format!("<xml><Encrypt>{}</Encrypt></xml>", "A".repeat(limit));
    assert_eq!(
        post_chunked(running.addr(), &target, oversized.as_bytes(), 16 * 1024).await,
        413
    );
}
