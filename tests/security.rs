//! Hostile traffic, end to end (architecture §3.2, §3.3, §4.6, §6):
//!
//! - **No decryption oracle.** Someone who knows only the Token can sign anything. Every signed
//!   request that does not open (1,000 random ciphertexts, and one crafted for each failure
//!   cause, sent by POST and as a GET echostr) gets the same status and the same body. No answer
//!   holds any part of a plaintext. A captured POST ciphertext sent again as a GET echostr is
//!   refused the same way.
//! - **Timestamp window.** A callback 11 minutes old gets 401 and a log line that names clock
//!   skew. One 9 minutes old gets 200, and with the window off an old one gets 200 too. These
//!   tests run the real binary and read its stderr.
//! - **Fuzz over the whole HTTP path.** Proptest sends raw HTTP/1.1 over TCP: any query and any
//!   body, signed or not. Every request gets an answer, never a 5xx, and never a decrypted byte.
//!   The server is still healthy at the end.
//! - **Admin listener.** With `admin_listen` set, `/healthz` and `/metrics` are served only
//!   there. The `api_calls` series of two apps stay apart.
//! - **Redirects.** A forward target answering 307 is not followed. The delivery is retried and
//!   then dead, and the stored error says why.
//! - **No secret in logs or stored errors.** The real binary gets every fixture and every kind of
//!   failure. Neither its log nor any event's `events show` output holds a secret or the forward
//!   URL's password or query, and neither the log nor a stored error holds a WelcomeCode.

mod common;

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use wecom_callback::callback::{self, CallbackQuery};
use wecom_callback::store::{DeliveryStatus, EventFilter, Inbox, MemoryInbox};
use wecom_callback::{Envelope, MsgCrypt, Service};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

// ---------------------------------------------------------------------------------------------
// Crafting ciphertexts: the test plays both sides, so it holds the real key.

/// An EncodingAESKey's 32 bytes.
fn key_bytes(aes_key: &str) -> Vec<u8> {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(aes_key)
    .unwrap()
}

/// AES-256-CBC under the test key over exact bytes (no framing, no padding): any plaintext
/// layout, however bad.
fn raw_cipher(plain: &[u8]) -> String {
    raw_cipher_with(AES_KEY, plain)
}

/// [`raw_cipher`] under another EncodingAESKey.
fn raw_cipher_with(aes_key: &str, plain: &[u8]) -> String {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
    assert_eq!(plain.len() % 16, 0, "whole blocks only");
    let key = key_bytes(aes_key);
    let mut buf = plain.to_vec();
    let n = buf.len();
    cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &key[..16])
        .unwrap()
        .encrypt_padded_mut::<NoPadding>(&mut buf, n)
        .unwrap();
    STANDARD.encode(buf)
}

/// What the server's AES pass sees for `encrypt`: the raw decryption, padding and all; `None`
/// when it is not base64 of whole blocks (then nothing is decrypted).
fn raw_decrypt(encrypt: &str) -> Option<Vec<u8>> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::NoPadding};
    let mut buf = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(encrypt.replace(' ', "+"))
    .ok()?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return None;
    }
    let key = key_bytes(AES_KEY);
    let n = cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &key[..16])
        .unwrap()
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .unwrap()
        .len();
    buf.truncate(n);
    Some(buf)
}

/// Whether `encrypt` decodes to the same ciphertext as `genuine`: base64 decoders (ours and
/// the official libraries') ignore the spare bits of the last character, and ours a line
/// break at the end, so a different string can carry the genuine callback.
fn opens_as_genuine(encrypt: &str, genuine: &str) -> bool {
    let trimmed = encrypt.trim_end_matches(['\r', '\n']);
    encrypt == genuine
        || (raw_decrypt(trimmed).is_some() && raw_decrypt(trimmed) == raw_decrypt(genuine))
}

/// `encrypt` (which ends in padding) with the lowest bit of its last character flipped: a bit
/// the decoded bytes do not hold.
fn with_a_spare_bit_set(encrypt: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let at = encrypt
        .find('=')
        .expect("the genuine Encrypt ends in padding")
        - 1;
    let mut respelled = encrypt.as_bytes().to_vec();
    let index = ALPHABET.iter().position(|&c| c == respelled[at]).unwrap();
    respelled[at] = ALPHABET[index ^ 1];
    String::from_utf8(respelled).unwrap()
}

const PREFIX: &[u8; 16] = b"RANDOMPREFIXQXZJ";

/// `random ‖ length ‖ msg ‖ receive_id`, with the length field given.
fn frame_with_len(len: u32, msg: &[u8], receive_id: &[u8]) -> Vec<u8> {
    let mut out = PREFIX.to_vec();
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    out.extend_from_slice(receive_id);
    out
}

fn frame(msg: &[u8], receive_id: &[u8]) -> Vec<u8> {
    frame_with_len(msg.len() as u32, msg, receive_id)
}

/// PKCS#7 over 32-byte blocks, then `spoil` may break it.
fn padded(mut buf: Vec<u8>, spoil: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let pad = 32 - buf.len() % 32;
    buf.extend(std::iter::repeat_n(pad as u8, pad));
    spoil(&mut buf);
    buf
}

/// A plaintext callback: what must never come back in an answer.
const SECRET_XML: &[u8] =
    b"<xml><Secret><![CDATA[CONFIDENTIAL CUSTOMER QXZJ KWVB]]></Secret><WelcomeCode>WCQXZJ</WelcomeCode></xml>";

/// One Encrypt value per way a signed ciphertext can fail to open.
fn crafted_ciphertexts() -> Vec<(&'static str, String)> {
    let id = CORP_ID.as_bytes();
    let other_id = MsgCrypt::new(TOKEN, AES_KEY, "wwOTHERCORPQXZJ0001").unwrap();
    let not_xml = b"CONFIDENTIAL CUSTOMER NOTE QXZJ, NOT XML AT ALL";
    let mut not_utf8 = vec![0xff, 0xfe];
    not_utf8.extend_from_slice(b"CONFIDENTIAL QXZJ ");
    not_utf8.extend_from_slice(&[0xc3, 0x28, 0xa0, 0xa1]);
    let doctype = b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"CONFIDENTIAL QXZJ\">]><xml><A>&e;</A></xml>";
    let truncated = b"<xml><ToUserName><![CDATA[CONFIDENTIAL CUSTOMER QXZJ";
    let seal = |crypt: &MsgCrypt, msg: &[u8]| crypt.encrypt_with_random(msg, *PREFIX).unwrap();
    vec![
        ("not base64", "!!!not-base64:CONFIDENTIAL!!!".to_owned()),
        ("base64 of a bad length", "QUJDR".to_owned()),
        ("empty after decoding", "====".to_owned()),
        ("not block aligned", STANDARD.encode(&SECRET_XML[..17])),
        (
            "padding byte 0",
            raw_cipher(&padded(frame(SECRET_XML, id), |b| {
                *b.last_mut().unwrap() = 0
            })),
        ),
        (
            "padding byte 33",
            raw_cipher(&padded(frame(SECRET_XML, id), |b| {
                *b.last_mut().unwrap() = 33
            })),
        ),
        (
            "inconsistent padding",
            raw_cipher(&padded(frame(SECRET_XML, id), |b| {
                let n = b.len();
                b[n - 1] = 7;
                b[n - 4] = 6;
            })),
        ),
        (
            "padding longer than the plaintext",
            raw_cipher(&[b"CONFIDENTIALQXZ".as_slice(), &[32]].concat()),
        ),
        (
            "frame shorter than its header",
            raw_cipher(&padded(PREFIX.to_vec(), |_| {})),
        ),
        (
            "length field 0",
            raw_cipher(&padded(frame_with_len(0, SECRET_XML, id), |_| {})),
        ),
        (
            "length field past the end",
            raw_cipher(&padded(frame_with_len(9999, SECRET_XML, id), |_| {})),
        ),
        (
            "length field u32::MAX",
            raw_cipher(&padded(frame_with_len(u32::MAX, SECRET_XML, id), |_| {})),
        ),
        (
            "receive id not UTF-8",
            raw_cipher(&padded(frame(SECRET_XML, b"wx\xff\xfe\x80"), |_| {})),
        ),
        ("another receive id", seal(&other_id, SECRET_XML)),
        ("plaintext not XML", seal(&crypt(), not_xml)),
        ("plaintext not UTF-8", seal(&crypt(), &not_utf8)),
        ("plaintext with a DOCTYPE", seal(&crypt(), doctype)),
        ("plaintext truncated XML", seal(&crypt(), truncated)),
        ("empty plaintext", seal(&crypt(), b"")),
    ]
}

/// The first `n`-byte run of `plain` that is in `answer` but not in `request` (the attacker's
/// own bytes may come back; plaintext may not).
fn leaked(answer: &[u8], request: &[u8], plain: &[u8], n: usize) -> Option<String> {
    let holds = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    plain
        .windows(n)
        .find(|w| holds(answer, w) && !holds(request, w))
        .map(|w| String::from_utf8_lossy(w).into_owned())
}

fn now_string() -> String {
    wecom_callback_now_secs().to_string()
}

// ---------------------------------------------------------------------------------------------
// No oracle

/// With only the Token, 1,000 signed random ciphertexts and one crafted for each failure cause,
/// sent by POST and again as a GET echostr, all get one status, one content type and one body
/// (400 `undecryptable`). No answer holds a 4-byte run of anything they decrypt to. A captured
/// POST ciphertext sent back as a signed GET echostr is refused the same way, and its XML does
/// not come back. Genuine callbacks still work, and nothing refused is stored.
#[tokio::test]
async fn signed_garbage_gets_one_answer_and_no_plaintext() {
    let inbox = Arc::new(MemoryInbox::new());
    let running = Service::new(config("", ""))
        .with_inbox(inbox.clone())
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();
    let c = crypt();

    let mut cases: Vec<(String, String)> = crafted_ciphertexts()
        .into_iter()
        .map(|(name, e)| (name.to_owned(), e))
        .collect();
    let mut rng = StdRng::seed_from_u64(0x0AC1E);
    for i in 0..1000 {
        let len = if i % 2 == 0 {
            16 * rng.gen_range(1..=40)
        } else {
            rng.gen_range(1..=640)
        };
        let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        let mut text = STANDARD.encode(&bytes);
        if i % 5 == 1 {
            text = text.trim_end_matches('=').to_owned();
        }
        cases.push((format!("random #{i} ({len} bytes)"), text));
    }
    // The attack on URL verification: a captured POST's Encrypt, under its own signature
    // (the GET signature is computed the same way), sent back as an echostr.
    let captured = seal(
        &fixture("change_external_contact__add_external_contact.xml"),
        "captured",
    );
    let captured_encrypt = Envelope::parse(captured.body.as_deref().unwrap().as_bytes())
        .unwrap()
        .encrypt;

    let mut answers: BTreeSet<(u16, String, String)> = BTreeSet::new();
    let mut failures = Vec::new();
    let mut check =
        |name: &str, how: &str, request: &[u8], plain: &[u8], answer: (u16, String, String)| {
            let (status, content_type, body) = answer;
            if (status, body.as_str()) != (400, "undecryptable") {
                failures.push(format!("{name} ({how}): {status} {body:?}"));
            }
            if let Some(run) = leaked(body.as_bytes(), request, plain, 4) {
                failures.push(format!(
                    "{name} ({how}): the answer holds plaintext {run:?}"
                ));
            }
            answers.insert((status, content_type, body));
        };
    for (i, (name, encrypt)) in cases.iter().enumerate() {
        let timestamp = now_string();
        let query = CallbackQuery {
            msg_signature: c.signature(&timestamp, &format!("n{i}"), encrypt),
            timestamp,
            nonce: format!("n{i}"),
            echostr: None,
        };
        let plain = raw_decrypt(encrypt).unwrap_or_default();
        let body = Envelope {
            encrypt: encrypt.clone(),
            to_user_name: Some(CORP_ID.to_owned()),
            agent_id: None,
        }
        .to_xml();
        let r = client
            .post(format!(
                "{base}/callback/contacts?{}",
                query.to_query_string()
            ))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        check(name, "POST", body.as_bytes(), &plain, answer_of(r).await);
        // The same signature signs it as an echostr.
        let get = CallbackQuery {
            echostr: Some(encrypt.clone()),
            ..query
        };
        let r = client
            .get(format!(
                "{base}/callback/contacts?{}",
                get.to_query_string()
            ))
            .send()
            .await
            .unwrap();
        check(name, "GET", encrypt.as_bytes(), &plain, answer_of(r).await);
    }
    let replayed = CallbackQuery {
        echostr: Some(captured_encrypt.clone()),
        ..captured.query.clone()
    };
    let r = client
        .get(format!(
            "{base}/callback/contacts?{}",
            replayed.to_query_string()
        ))
        .send()
        .await
        .unwrap();
    let answer = answer_of(r).await;
    assert!(!answer.2.contains("<xml") && !answer.2.contains("CDATA"));
    check(
        "captured POST ciphertext",
        "GET echostr",
        captured_encrypt.as_bytes(),
        &raw_decrypt(&captured_encrypt).unwrap(),
        answer,
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(answers.len(), 1, "one answer for every cause: {answers:?}");

    // The same paths answer genuine requests, so the refusals above mean something.
    let (status, _) = post(&client, &base, &captured).await;
    assert_eq!(status, 200);
    let verification =
        callback::seal_get(&c, b"1616140317555161061", &now_string(), "v", *PREFIX).unwrap();
    let r = client
        .get(format!(
            "{base}/callback/contacts?{}",
            verification.query.to_query_string()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "1616140317555161061");
    let stored = inbox
        .list(EventFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "only the genuine callback is stored");
    running.stop().await;
}

/// (status, content type, body) of an answer.
async fn answer_of(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, r.text().await.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// The real binary

/// Run the binary's `events --config F …`; its stdout.
fn events_cli(config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wecom-callback"))
        .args(["events", "--config"])
        .arg(config)
        .args(args)
        .output()
        .expect("run events");
    assert!(
        out.status.success(),
        "events {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An app section with the common test credentials.
fn app_section(name: &str, path: &str) -> String {
    format!(
        "[[apps]]\nname = \"{name}\"\npath = \"{path}\"\ncorp_id = \"{CORP_ID}\"\ntoken = \"{TOKEN}\"\nencoding_aes_key = \"{AES_KEY}\"\n"
    )
}

/// A callback sealed `age_secs` ago (negative: in the future).
fn sealed_at(xml: &str, age_secs: i64, nonce: &str) -> callback::Sealed {
    callback::seal_post(
        &crypt(),
        xml.as_bytes(),
        &(wecom_callback_now_secs() - age_secs).to_string(),
        nonce,
        *PREFIX,
    )
    .unwrap()
}

/// Serve `server_keys` with one app; run `f` against its base URL; return the log.
async fn with_binary<F, Fut>(server_keys: &str, f: F) -> String
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    with_binary_on("backend = \"memory\"", server_keys, f).await
}

/// [`with_binary`] on the store `store` (the `[store]` section's keys).
async fn with_binary_on<F, Fut>(store: &str, server_keys: &str, f: F) -> String
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n{server_keys}\n[store]\n{store}\n{}",
            app_section("contacts", "/callback/contacts")
        ),
    )
    .unwrap();
    let log = dir.path().join("serve.log");
    let child = spawn_binary(&config_path, &log);
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base).await;
    f(base).await;
    stop_binary(child).await;
    std::fs::read_to_string(&log).unwrap()
}

/// The summary line `serve` logs at its stop (`callbacks in the last …`).
fn summary_line(log: &str) -> &str {
    log.lines()
        .find(|l| l.contains("callbacks in the last"))
        .unwrap_or_else(|| panic!("{log}"))
}

/// The default window (10 minutes): a callback 11 minutes old, or 11 minutes in the future, is
/// refused with 401. The log line names the reason and clock skew. One 9 minutes old is stored.
#[tokio::test]
async fn stale_timestamps_are_refused_with_a_clock_skew_log_line() {
    let log = with_binary("", |base| async move {
        let client = reqwest::Client::new();
        let xml = fixture("change_external_contact__edit_external_contact.xml");
        let old = sealed_at(&xml, 11 * 60, "old");
        assert_eq!(
            post(&client, &base, &old).await,
            (401, "timestamp outside the allowed window".to_owned())
        );
        let future = sealed_at(&xml, -11 * 60, "future");
        assert_eq!(post(&client, &base, &future).await.0, 401);
        let recent = sealed_at(&xml, 9 * 60, "recent");
        assert_eq!(post(&client, &base, &recent).await, (200, String::new()));
    })
    .await;
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("callback refused"))
        .collect();
    assert_eq!(refusals.len(), 2, "{log}");
    for line in &refusals {
        assert!(line.contains("stale_timestamp"), "{line}");
        assert!(line.contains("clock skew"), "{line}");
    }
    assert!(refusals[0].contains("behind our clock"), "{}", refusals[0]);
    assert!(
        refusals[1].contains("ahead of our clock"),
        "{}",
        refusals[1]
    );
    // The summary line at the stop counts the one stored and the two refused.
    let summary = summary_line(&log);
    assert!(
        summary.contains("stored=1") && summary.contains("refused=2"),
        "{summary}"
    );
}

/// While the store cannot write (another process holds SQLite's write lock), a callback is
/// answered 503, and the summary line at the stop counts it as unavailable beside the stored
/// retry.
#[tokio::test]
async fn the_summary_line_counts_callbacks_the_store_could_not_take() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inbox.db");
    let store = format!(
        "backend = \"sqlite\"\npath = {:?}",
        db.display().to_string()
    );
    let log = with_binary_on(&store, "", |base| async move {
        let client = reqwest::Client::new();
        let xml = fixture("change_external_contact__edit_external_contact.xml");
        let sealed = sealed_at(&xml, 0, "locked");
        let holder = rusqlite::Connection::open(&db).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        assert_eq!(post(&client, &base, &sealed).await.0, 503);
        holder.execute_batch("COMMIT").unwrap();
        assert_eq!(post(&client, &base, &sealed).await.0, 200);
    })
    .await;
    let summary = summary_line(&log);
    assert!(
        summary.contains("stored=1") && summary.contains("unavailable=1"),
        "{summary}"
    );
}

/// `timestamp_tolerance = "0"` turns the window off: 11 minutes and a day old are stored.
#[tokio::test]
async fn a_window_of_zero_accepts_old_timestamps() {
    let log = with_binary("timestamp_tolerance = \"0\"", |base| async move {
        let client = reqwest::Client::new();
        let xml = fixture("change_external_contact__edit_external_contact.xml");
        for (age, nonce) in [(11 * 60, "old"), (86_400, "older")] {
            let sealed = sealed_at(&xml, age, nonce);
            assert_eq!(post(&client, &base, &sealed).await.0, 200, "{age}s old");
        }
    })
    .await;
    assert!(!log.contains("stale_timestamp"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// Fuzz over the whole HTTP path

/// One started service for every fuzz case, on a runtime of its own.
fn fuzz_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let running = Service::new(config("", "")).start().await.expect("start");
                tx.send(running.addr()).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("fuzz server started")
    })
}

/// One request: method, query bytes (as sent: only what cannot be in a request line is
/// percent-encoded), body, and what must not come back.
#[derive(Clone)]
struct Probe {
    method: &'static str,
    query: Vec<u8>,
    body: Vec<u8>,
    /// A plaintext the request's ciphertext decrypts to (or was made from).
    plain: Vec<u8>,
    /// Signed over a ciphertext that cannot open: the answer must be 400 `undecryptable`.
    undecryptable: bool,
    /// Signed over the genuine ciphertext: the answer must be 200.
    genuine: bool,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("method", &self.method)
            .field("query", &String::from_utf8_lossy(&self.query))
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("plain", &String::from_utf8_lossy(&self.plain))
            .field("undecryptable", &self.undecryptable)
            .field("genuine", &self.genuine)
            .finish()
    }
}

impl Probe {
    fn new(method: &'static str, query: impl Into<Vec<u8>>, body: impl Into<Vec<u8>>) -> Self {
        Probe {
            method,
            query: query.into(),
            body: body.into(),
            plain: Vec::new(),
            undecryptable: false,
            genuine: false,
        }
    }
}

/// `/callback/contacts?query` with only bytes a request line cannot hold percent-encoded.
fn request_target(query: &[u8]) -> Vec<u8> {
    let mut out = b"/callback/contacts?".to_vec();
    for &b in query {
        if (0x21..=0x7e).contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// Every byte but unreserved ones percent-encoded: a well-formed query value.
fn encode_value(value: &[u8]) -> String {
    value
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Send one raw HTTP/1.1 request; (status, body) or why there was no answer.
fn exchange(
    addr: SocketAddr,
    method: &str,
    target: &[u8],
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("{method} ").into_bytes();
    request.extend_from_slice(target);
    request.extend_from_slice(
        format!(
            " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    request.extend_from_slice(body);
    // The server may answer (and close) before reading everything: the answer still counts.
    let written = stream.write_all(&request);
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    if answer.is_empty() {
        return Err(format!("no answer (write: {written:?}, read: {read:?})"));
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers: {text:?}"))?;
    Ok((status, answer[at + 4..].to_vec()))
}

fn check_probe(addr: SocketAddr, probe: &Probe) -> Result<(), TestCaseError> {
    let target = request_target(&probe.query);
    let (status, body) = exchange(addr, probe.method, &target, &probe.body)
        .map_err(|e| TestCaseError::fail(format!("{e}: {probe:?}")))?;
    prop_assert!(status < 500, "{status}: {probe:?}");
    let request = [target.as_slice(), &probe.body].concat();
    if let Some(run) = leaked(&body, &request, &probe.plain, 6) {
        return Err(TestCaseError::fail(format!(
            "answer {:?} holds plaintext {run:?}: {probe:?}",
            String::from_utf8_lossy(&body)
        )));
    }
    if probe.undecryptable {
        prop_assert_eq!(
            (status, body.as_slice()),
            (400, b"undecryptable".as_slice())
        );
    }
    if probe.genuine {
        prop_assert_eq!(status, 200, "{:?}", probe);
    }
    Ok(())
}

fn fuzz(name: &str, cases: u32, strategy: impl Strategy<Value = Probe>) {
    let addr = fuzz_server();
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    if let Err(e) = runner.run(&strategy, |probe| check_probe(addr, &probe)) {
        panic!("{name}: {e}");
    }
}

fn any_method() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("GET"), Just("POST")]
}

/// The customer and welcome code in [`genuine`]'s plaintext: no answer may hold them.
const GENUINE_VALUES: &str = "wmQXZJSECRETEXTERNAL WELCOMEQXZJSECRETCODE";

/// A genuine sealed callback (a new customer whose values are [`GENUINE_VALUES`]): its query
/// and body.
fn genuine() -> &'static callback::Sealed {
    static SEALED: OnceLock<callback::Sealed> = OnceLock::new();
    SEALED.get_or_init(|| {
        let (external, code) = GENUINE_VALUES.split_once(' ').unwrap();
        seal(&customer_event(external, code, 1), "fuzz")
    })
}

/// Signed over `encrypt` with the Token, now.
fn signed_query(encrypt: &str, echostr: Option<&str>) -> String {
    let ts = now_string();
    CallbackQuery {
        msg_signature: crypt().signature(&ts, "fuzz", encrypt),
        timestamp: ts,
        nonce: "fuzz".into(),
        echostr: echostr.map(str::to_owned),
    }
    .to_query_string()
}

/// A probe carrying `encrypt`, validly signed: as a POST envelope or a GET echostr. Expects 400
/// `undecryptable` whenever the server gets as far as decrypting it.
fn signed_probe(get: bool, encrypt: &str) -> Probe {
    if get {
        // The server turns a space back into '+' before it checks the signature.
        let signed = encrypt.replace(' ', "+");
        let mut probe = Probe::new("GET", signed_query(&signed, Some(encrypt)), Vec::new());
        probe.plain = raw_decrypt(encrypt).unwrap_or_default();
        probe.undecryptable = !encrypt.is_empty();
        probe
    } else {
        let body = Envelope {
            encrypt: encrypt.to_owned(),
            to_user_name: Some(CORP_ID.to_owned()),
            agent_id: Some("1000002".into()),
        }
        .to_xml();
        let parsed = Envelope::parse(body.as_bytes()).ok().map(|e| e.encrypt);
        let mut probe = Probe::new(
            "POST",
            signed_query(parsed.as_deref().unwrap_or(encrypt), None),
            body,
        );
        probe.plain = parsed.as_deref().and_then(raw_decrypt).unwrap_or_default();
        probe.undecryptable = parsed.is_some();
        probe
    }
}

/// Any bytes as the query of a GET or a POST with any body, and nothing crashes, hangs or
/// answers 5xx. Then well-formed queries with random values, validly signed random `Encrypt`
/// values, signed mutations of a genuine body, any bytes under a genuine signature, and
/// mutated ciphertexts of known plaintexts: never a 5xx and never a decrypted byte. Whatever
/// is signed but does not open gets 400 `undecryptable`. The server is still healthy at the
/// end.
#[test]
fn fuzz_the_http_path() {
    // Any query bytes, printable or not; any body.
    fuzz(
        "arbitrary query",
        300,
        (
            any_method(),
            prop_oneof![
                "[ -~]{0,300}".prop_map(String::into_bytes),
                vec(any::<u8>(), 0..300)
            ],
            vec(any::<u8>(), 0..600),
        )
            .prop_map(|(m, q, b)| Probe::new(m, q, b)),
    );

    // WeCom's parameters with random values (and an extra one), around a genuine envelope.
    let value = || {
        prop_oneof![
            "[0-9a-f]{40}".prop_map(String::into_bytes),
            any::<i64>().prop_map(|n| n.to_string().into_bytes()),
            vec(any::<u8>(), 0..60),
            Just(Vec::new()),
        ]
    };
    fuzz(
        "well-formed query",
        300,
        (
            any_method(),
            value(),
            value(),
            value(),
            proptest::option::of(vec(any::<u8>(), 0..200)),
            any::<bool>(),
        )
            .prop_map(|(m, sig, ts, nonce, echostr, extra)| {
                let mut query = format!(
                    "msg_signature={}&timestamp={}&nonce={}",
                    encode_value(&sig),
                    encode_value(&ts),
                    encode_value(&nonce)
                );
                if let Some(e) = echostr {
                    query.push_str(&format!("&echostr={}", encode_value(&e)));
                }
                if extra {
                    query.push_str("&msg_signature_extra=1&=&&x");
                }
                let body = genuine().body.clone().unwrap_or_default();
                Probe::new(m, query, if m == "POST" { body } else { String::new() })
            }),
    );

    // Validly signed random Encrypt values: base64-like, or any text.
    fuzz(
        "signed random Encrypt",
        400,
        (
            any::<bool>(),
            prop_oneof![
                "[A-Za-z0-9+/= ]{1,400}",
                "\\PC{1,120}".prop_map(|s| s.replace("]]>", "")),
            ],
        )
            .prop_map(|(get, encrypt)| signed_probe(get, &encrypt)),
    );

    // A genuine body with bytes changed, inserted or cut, signed over whatever Encrypt it
    // still has. (Its plaintext's tags are the envelope's too, and an XML error may name one:
    // the values are what must not come back.)
    let genuine_body = genuine().body.clone().unwrap_or_default().into_bytes();
    let genuine_encrypt = Envelope::parse(&genuine_body).unwrap().encrypt;
    let plaintext = GENUINE_VALUES.as_bytes().to_vec();
    fuzz(
        "signed mutated body",
        300,
        (
            vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            0u8..3,
        )
            .prop_map(move |(edits, how)| {
                let mut body = genuine_body.clone();
                for (at, byte) in edits {
                    if body.is_empty() {
                        break;
                    }
                    let i = at.index(body.len());
                    match how {
                        0 => body[i] = byte,
                        1 => body.insert(i, byte),
                        _ => body.truncate(i),
                    }
                }
                let (query, undecryptable, genuine) = match Envelope::parse(&body) {
                    Ok(e) => {
                        // Another spelling of the same ciphertext (spare bits set in the last
                        // character, a line break after it) opens like the genuine one.
                        let same = opens_as_genuine(&e.encrypt, &genuine_encrypt);
                        (signed_query(&e.encrypt, None), !same, same)
                    }
                    Err(_) => (signed_query(&genuine_encrypt, None), false, false),
                };
                let mut probe = Probe::new("POST", query, body);
                probe.plain = plaintext.clone();
                probe.undecryptable = undecryptable;
                probe.genuine = genuine;
                probe
            }),
    );

    // The case that found the oracle's mistake above, every run: the genuine Encrypt with a
    // spare bit of its last character set opens as the genuine callback.
    let body = genuine().body.clone().unwrap_or_default();
    let encrypt = Envelope::parse(body.as_bytes()).unwrap().encrypt;
    let respelled = with_a_spare_bit_set(&encrypt);
    let mut probe = Probe::new(
        "POST",
        signed_query(&respelled, None),
        body.replace(&encrypt, &respelled),
    );
    probe.plain = GENUINE_VALUES.as_bytes().to_vec();
    probe.genuine = true;
    check_probe(fuzz_server(), &probe).unwrap();

    // Any bytes as the body under a genuine signature.
    let query = genuine().query.to_query_string();
    fuzz(
        "any body",
        200,
        prop_oneof![
            vec(any::<u8>(), 0..800),
            "<xml>[ -~]{0,300}</xml>".prop_map(String::into_bytes),
        ]
        .prop_map(move |body| {
            let mut probe = Probe::new("POST", query.clone(), body);
            probe.plain = GENUINE_VALUES.as_bytes().to_vec();
            probe
        }),
    );

    // Known plaintexts (never echostr-like: they start with '<'), framed for us or for another
    // receive id, encrypted with the real key, then maybe bit-flipped, cut, extended or
    // shifted, and signed.
    fuzz(
        "signed mutated ciphertext",
        400,
        (
            vec(any::<u8>(), 8..200),
            any::<bool>(),
            0u8..5,
            any::<prop::sample::Index>(),
            any::<[u8; 16]>(),
            any::<bool>(),
        )
            .prop_map(|(tail, ours, mutation, at, random, get)| {
                let msg = [b"<".as_slice(), &tail].concat();
                let id = if ours { CORP_ID } else { "wwSOMEONEELSE" };
                let crypt = MsgCrypt::new(TOKEN, AES_KEY, id).unwrap();
                let encrypt = crypt.encrypt_with_random(&msg, random).unwrap();
                let mut bytes = STANDARD.decode(&encrypt).unwrap();
                match mutation {
                    0 => {}
                    1 => {
                        let i = at.index(bytes.len());
                        bytes[i] ^= 1 << (i % 8);
                    }
                    2 => bytes.truncate(16 * (1 + at.index(bytes.len() / 16))),
                    3 => bytes.extend_from_slice(&random),
                    _ => {
                        bytes.drain(..16);
                    }
                }
                let mut probe = signed_probe(get, &STANDARD.encode(&bytes));
                probe.plain = msg;
                probe.undecryptable = !bytes.is_empty();
                probe
            }),
    );

    // A query far over any header limit is refused, not served or crashed on.
    let huge = format!("echostr={}", "A".repeat(100_000));
    let (status, _) = exchange(fuzz_server(), "GET", &request_target(huge.as_bytes()), b"")
        .unwrap_or_else(|e| panic!("a 100 kB query: {e}"));
    assert!((400..500).contains(&status), "a 100 kB query: {status}");

    let (status, body) = exchange(fuzz_server(), "GET", b"/healthz", b"").unwrap();
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
}

// ---------------------------------------------------------------------------------------------
// Admin endpoints

/// With `admin_listen`, `/healthz` and `/metrics` answer 404 on the callback port and 200 on
/// the admin port, which serves no callback path. Without it they are on the callback port.
#[tokio::test]
async fn admin_endpoints_move_to_the_admin_listener() {
    let mut with_admin = config("", "");
    with_admin.server.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    let running = Service::new(with_admin).start().await.unwrap();
    let public = format!("http://{}", running.addr());
    let admin = format!("http://{}", running.admin_addr().expect("admin listener"));
    let status = |url: String| async move { reqwest::get(url).await.unwrap().status().as_u16() };
    for endpoint in ["/healthz", "/metrics"] {
        assert_eq!(
            status(format!("{public}{endpoint}")).await,
            404,
            "{endpoint}"
        );
        assert_eq!(
            status(format!("{admin}{endpoint}")).await,
            200,
            "{endpoint}"
        );
    }
    let metrics = reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("wecom_callback_store_up"), "{metrics}");
    assert_eq!(
        status(format!("{admin}/callback/contacts")).await,
        404,
        "no callbacks on the admin port"
    );
    let sealed = seal(
        &fixture("change_external_contact__edit_external_contact.xml"),
        "a",
    );
    assert_eq!(post(&reqwest::Client::new(), &public, &sealed).await.0, 200);
    running.stop().await;

    let running = Service::new(config("", "")).start().await.unwrap();
    assert!(running.admin_addr().is_none());
    let public = format!("http://{}", running.addr());
    for endpoint in ["/healthz", "/metrics"] {
        assert_eq!(
            status(format!("{public}{endpoint}")).await,
            200,
            "{endpoint}"
        );
    }
    running.stop().await;
}

/// A fake WeCom API: `gettoken` answers `token`, `send_welcome_msg` answers `welcome_status`.
async fn fake_wecom(token: &str, welcome_status: u16) -> MockServer {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}),
        ))
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/send_welcome_msg"))
        .respond_with(
            ResponseTemplate::new(welcome_status)
                .set_body_json(json!({"errcode": 0, "errmsg": "ok"})),
        )
        .mount(&api)
        .await;
    api
}

async fn requests_to(server: &MockServer, endpoint: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == endpoint)
        .count()
}

/// Two apps whose API clients both called WeCom have their own `api_calls` series, with
/// one call each (neither overwrote the other).
#[tokio::test]
async fn api_calls_are_counted_per_app() {
    let api = fake_wecom("TKN", 200).await;
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nbackend = \"memory\"\n[api]\nbase_url = \"{}\"\n\
         {}secret = \"secret-a\"\n[apps.welcome]\ntext = \"hi a\"\n\
         {}secret = \"secret-b\"\n[apps.welcome]\ntext = \"hi b\"\n",
        api.uri(),
        app_section("a", "/callback/a"),
        app_section("b", "/callback/b"),
    );
    let config = wecom_callback::Config::from_toml(&text, &|_| None).unwrap();
    let running = Service::new(config).start().await.unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();
    for (i, app) in ["a", "b"].into_iter().enumerate() {
        let sealed = seal(&customer_event(&format!("wm{app}"), "CODE", i), app);
        let r = client
            .post(format!(
                "{base}/callback/{app}?{}",
                sealed.query.to_query_string()
            ))
            .body(sealed.body.clone().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{app}");
    }
    let welcome = "/cgi-bin/externalcontact/send_welcome_msg";
    wait_until!(requests_to(&api, welcome).await >= 2);
    assert_eq!(requests_to(&api, welcome).await, 2);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for app in ["a", "b"] {
        let series: Vec<&str> = metrics
            .lines()
            .filter(|l| {
                l.starts_with(&format!("wecom_callback_api_calls{{app=\"{app}\","))
                    && l.contains(welcome)
            })
            .collect();
        assert_eq!(series.len(), 1, "{app}: {metrics}");
        assert!(series[0].ends_with(" 1"), "{}", series[0]);
    }
    running.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Forward

/// A forward target answering 307 is not followed: the `Location` gets nothing. The target is
/// tried `max_attempts` times, then the delivery is dead with an error saying redirects are
/// not followed.
#[tokio::test]
async fn forward_does_not_follow_redirects() {
    let target = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/elsewhere", target.uri())),
        )
        .mount(&target)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&target)
        .await;
    let inbox = Arc::new(MemoryInbox::new());
    let running = Service::new(config(
        "",
        &format!(
            "[[apps.forward]]\nurl = \"{}/hook\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
            target.uri()
        ),
    ))
    .with_inbox(inbox.clone())
    .start()
    .await
    .unwrap();
    let base = format!("http://{}", running.addr());
    let sealed = seal(
        &fixture("change_external_contact__edit_external_contact.xml"),
        "r",
    );
    assert_eq!(post(&reqwest::Client::new(), &base, &sealed).await.0, 200);
    let id = inbox
        .list(EventFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id;
    let mut forward = None;
    for _ in 0..500 {
        let deliveries = inbox.deliveries(id).await.unwrap();
        forward = deliveries.into_iter().find(|d| d.handler == "forward");
        if forward
            .as_ref()
            .is_some_and(|d| d.status == DeliveryStatus::Dead)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let forward = forward.expect("a forward delivery");
    assert_eq!(forward.status, DeliveryStatus::Dead, "{forward:?}");
    assert_eq!(forward.attempts, 3);
    let error = forward.last_error.unwrap_or_default();
    assert!(error.contains("307"), "{error}");
    assert!(error.contains("redirects are not followed"), "{error}");
    assert_eq!(requests_to(&target, "/hook").await, 3);
    assert_eq!(requests_to(&target, "/elsewhere").await, 0);
    running.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// The WelcomeCode values of every fixture.
fn welcome_codes() -> Vec<String> {
    let mut codes: Vec<String> = event_fixtures()
        .iter()
        .filter_map(|(_, xml)| {
            let rest = xml.split("<WelcomeCode>").nth(1)?;
            let rest = rest.strip_prefix("<![CDATA[").unwrap_or(rest);
            let end = rest.find(['<', ']'])?;
            Some(rest[..end].to_owned())
        })
        .filter(|c| !c.is_empty())
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

/// A real run with an app `secret`, `welcome`, and a forward whose URL has a password and a
/// query. The forward target and WeCom both answer 500, so errors are stored. The run gets
/// every fixture and every kind of refusal. Its log and every event's `events show` output
/// contain none of: the URL's password or query value, the Token, the EncodingAESKey, the app
/// secret, the whsec secret, or the access token. The log and the stored errors also never
/// hold a fixture's WelcomeCode. The event itself, shown by `events show`, does hold its
/// WelcomeCode: the store keeps it for the handlers.
#[tokio::test]
async fn secrets_stay_out_of_logs_and_stored_errors() {
    const TOKEN2: &str = "SecTok3nQ9z";
    const AES_KEY2: &str = "Zq8wLk2PxV7nRt4YbM1cJd6FhS3gAe9UoI5yTr0EwQa";
    const APP_SECRET: &str = "AppS3cretValueZ7x";
    const WHSEC: &str = "whsec_c2VjdXJpdHktdGVzdC1mb3J3YXJkLWtleS0wMQ==";
    const ACCESS_TOKEN: &str = "FAKE-ACCESS-TOKEN-r4nd0m";
    let crypt2 = MsgCrypt::new(TOKEN2, AES_KEY2, CORP_ID).unwrap();
    let codes = welcome_codes();
    assert!(codes.len() >= 3, "{codes:?}");

    let api = fake_wecom(ACCESS_TOKEN, 500).await;
    let target = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&target)
        .await;
    let target_port = target.address().port();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
[store]
path = "{db}"
[dispatch]
max_attempts = 2
backoff_base = "10ms"
backoff_max = "50ms"
[api]
base_url = "{api}"
[log]
level = "wecom_callback=debug,info"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "{CORP_ID}"
token = "{TOKEN2}"
encoding_aes_key = "{AES_KEY2}"
secret = "{APP_SECRET}"
[apps.welcome]
text = "hello"
[[apps.forward]]
url = "http://user:pa55word@127.0.0.1:{target_port}/hook?token=qu3ry"
secret = "{WHSEC}"
"#,
            db = dir.path().join("inbox.db").display(),
            api = api.uri(),
        ),
    )
    .unwrap();
    let log_path = dir.path().join("serve.log");
    let child = spawn_binary(&config_path, &log_path);
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base).await;
    let client = reqwest::Client::new();
    let now = now_string();
    let seal2 = |xml: &str, ts: &str, nonce: &str| {
        callback::seal_post(&crypt2, xml.as_bytes(), ts, nonce, *PREFIX).unwrap()
    };
    let send = |query: String, body: Option<String>| {
        let client = client.clone();
        let url = format!("{base}/callback/contacts?{query}");
        async move {
            let r = match body {
                Some(body) => client.post(url).body(body).send().await,
                None => client.get(url).send().await,
            };
            r.unwrap().status().as_u16()
        }
    };

    let fixtures = event_fixtures();
    for (i, (name, xml)) in fixtures.iter().enumerate() {
        let sealed = seal2(xml, &now, &format!("f{i}"));
        let status = send(sealed.query.to_query_string(), sealed.body).await;
        assert_eq!(status, 200, "{name}");
    }
    // Every kind of refusal.
    let good = seal2(&fixtures[0].1, &now, "bad");
    let good_body = good.body.clone().unwrap();
    let good_encrypt = Envelope::parse(good_body.as_bytes()).unwrap().encrypt;
    let mut tampered = good.query.clone();
    tampered.msg_signature = crypt().signature(&now, "bad", &good_encrypt);
    let stale = seal2(&fixtures[1].1, "1409659589", "stale");
    let random = STANDARD.encode([7u8; 48]);
    let other_id = MsgCrypt::new(TOKEN2, AES_KEY2, "wwOTHERCORPQXZJ0001").unwrap();
    let wrong_id =
        callback::seal_post(&other_id, fixtures[2].1.as_bytes(), &now, "w", *PREFIX).unwrap();
    let as_echostr = CallbackQuery {
        echostr: Some(good_encrypt.clone()),
        ..good.query.clone()
    };
    let signed_random = CallbackQuery {
        msg_signature: crypt2.signature(&now, "r", &random),
        timestamp: now.clone(),
        nonce: "r".into(),
        echostr: None,
    };
    let signed = |encrypt: &str, nonce: &str| CallbackQuery {
        msg_signature: crypt2.signature(&now, nonce, encrypt),
        timestamp: now.clone(),
        nonce: nonce.into(),
        echostr: None,
    };
    let not_base64 = "!!!not base64!!!";
    let short_frame = raw_cipher_with(AES_KEY2, &padded(PREFIX.to_vec(), |_| {}));
    let not_xml = crypt2
        .encrypt_with_random(b"CONFIDENTIAL NOTE, NOT XML", *PREFIX)
        .unwrap();
    let envelope = |encrypt: &str| format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
    let refusals: Vec<(&str, String, Option<String>, u16)> = vec![
        (
            "bad signature",
            tampered.to_query_string(),
            Some(good_body.clone()),
            401,
        ),
        (
            "stale timestamp",
            stale.query.to_query_string(),
            stale.body.clone(),
            401,
        ),
        (
            "undecryptable",
            signed_random.to_query_string(),
            Some(envelope(&random)),
            400,
        ),
        (
            "not base64",
            signed(not_base64, "b").to_query_string(),
            Some(envelope(not_base64)),
            400,
        ),
        (
            "short frame",
            signed(&short_frame, "s").to_query_string(),
            Some(envelope(&short_frame)),
            400,
        ),
        (
            "not XML",
            signed(&not_xml, "x").to_query_string(),
            Some(envelope(&not_xml)),
            400,
        ),
        (
            "another receive id",
            wrong_id.query.to_query_string(),
            wrong_id.body.clone(),
            400,
        ),
        (
            "POST replayed as echostr",
            as_echostr.to_query_string(),
            None,
            400,
        ),
        (
            "bad query",
            format!("timestamp={now}&nonce=x"),
            Some(good_body.clone()),
            400,
        ),
        (
            "bad escape",
            format!("msg_signature=%zz&timestamp={now}&nonce=x"),
            Some(good_body.clone()),
            400,
        ),
        (
            "DOCTYPE",
            good.query.to_query_string(),
            Some("<!DOCTYPE x><xml/>".into()),
            400,
        ),
        (
            "oversized body",
            good.query.to_query_string(),
            Some(envelope(&"A".repeat(70_000))),
            413,
        ),
    ];
    for (name, query, body, expected) in refusals {
        assert_eq!(send(query, body).await, expected, "{name}");
    }

    // Let every delivery finish (dead: both targets answer 500).
    let mut pending = String::new();
    for _ in 0..300 {
        pending = events_cli(&config_path, &["list", "--status", "pending"]);
        if pending.trim().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pending.trim().is_empty(), "still pending:\n{pending}");
    stop_binary(child).await;

    let log = std::fs::read_to_string(&log_path).unwrap();
    for reason in [
        "bad_query",
        "bad_xml",
        "bad_signature",
        "stale_timestamp",
        "bad_base64",
        "bad_ciphertext",
        "bad_frame",
        "bad_receive_id",
        "bad_plaintext",
        "bad_echostr",
    ] {
        assert!(log.contains(reason), "no {reason} in the log:\n{log}");
    }
    let never = [
        "pa55word",
        "qu3ry",
        TOKEN2,
        AES_KEY2,
        APP_SECRET,
        WHSEC,
        WHSEC.trim_start_matches("whsec_"),
        ACCESS_TOKEN,
    ];
    for secret in never
        .iter()
        .copied()
        .chain(codes.iter().map(String::as_str))
    {
        assert!(!log.contains(secret), "the log contains {secret}:\n{log}");
    }

    let listed = events_cli(&config_path, &["list", "--limit", "1000"]);
    let ids: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(ids.len(), fixtures.len(), "{listed}");
    let mut stored_errors = 0;
    for id in ids {
        let shown = events_cli(&config_path, &["show", id]);
        for secret in never {
            assert!(
                !shown.contains(secret),
                "events show {id} contains {secret}:\n{shown}"
            );
        }
        let parsed: Value = serde_json::from_str(&shown).unwrap();
        for delivery in parsed["deliveries"].as_array().unwrap() {
            let error = delivery["last_error"].as_str().unwrap_or_default();
            if error.is_empty() {
                continue;
            }
            stored_errors += 1;
            for code in &codes {
                assert!(!error.contains(code.as_str()), "event {id}: {error}");
            }
            if delivery["handler"] == "forward" {
                assert!(
                    error.contains("…@127.0.0.1") && error.contains("/hook?…"),
                    "{error}"
                );
            }
        }
    }
    assert!(
        stored_errors > fixtures.len(),
        "errors were stored: {stored_errors}"
    );
}
