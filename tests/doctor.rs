//! `doctor` as a user runs it (the real binary) against the real service on a random port,
//! and against the things that stand between WeCom and it in real deployments: a proxy that
//! re-encodes the query, a slow hop, an HTML page. Each test asserts the exit code and the
//! cause doctor names.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{AES_KEY, CORP_ID, TOKEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wecom_callback::crypto::AesKey;
use wecom_callback::{Running, Service};

/// The real service (memory store) on 127.0.0.1:0, app `contacts` at `/callback/contacts`.
async fn start() -> (Running, SocketAddr) {
    let running = Service::new(common::config("", ""))
        .start()
        .await
        .expect("start the service");
    let addr = running.addr();
    (running, addr)
}

/// A config for doctor: the app as the console has it.
fn doctor_config(dir: &Path, token: &str, key: &str, corp_id: &str) -> String {
    let file = dir.join("doctor.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[store]
backend = "memory"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "{corp_id}"
token = "{token}"
encoding_aes_key = "{key}"
"#
        ),
    )
    .expect("write config");
    file.display().to_string()
}

async fn doctor(config: &str, url: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_wecom-callback"))
        .args(["doctor", "--config", config, "--url", url])
        .output()
        .await
        .expect("run doctor")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_owned()
}

/// The line doctor printed for `step`.
fn line<'a>(out: &'a str, step: &str) -> &'a str {
    out.lines()
        .find(|line| line.contains(step))
        .unwrap_or_else(|| panic!("no line for {step}:\n{out}"))
}

/// Exit 1, the verification line fails naming `cause`, and the summary is on stderr.
fn assert_refused(o: &Output, cause: &str) {
    let out = stdout(o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", stderr(o));
    let verification = line(&out, "URL verification (GET)");
    assert!(
        verification.starts_with("✘ URL verification (GET): ") && verification.contains(cause),
        "expected {cause:?} in:\n{out}"
    );
    assert!(
        verification.contains(" — "),
        "a fix follows the cause: {verification}"
    );
    assert!(
        stderr(o).starts_with("error: ") && stderr(o).contains("回调地址请求不通过"),
        "{}",
        stderr(o)
    );
}

/// Everything a secret could leak into.
fn assert_no_secrets(o: &Output, secrets: &[&str]) {
    let shown = format!("{}{}", stdout(o), stderr(o));
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
}

fn other_key() -> String {
    AesKey::from_bytes([7; 32]).to_encoding_aes_key()
}

/// A TCP proxy in front of `upstream`: the request line of each connection goes through
/// `rewrite`, then waits `delay`; everything else is copied as is.
async fn proxy(upstream: SocketAddr, rewrite: fn(&str) -> String, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (head, rest) = read_head(&mut client).await;
                let Some((request_line, headers)) = head.split_once("\r\n") else {
                    return;
                };
                tokio::time::sleep(delay).await;
                let mut server = TcpStream::connect(upstream).await.expect("upstream");
                let head = format!("{}\r\n{headers}", rewrite(request_line));
                server
                    .write_all(head.as_bytes())
                    .await
                    .expect("forward head");
                server.write_all(&rest).await.expect("forward body");
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    addr
}

/// Reads up to the end of the request head; returns the head and the bytes after it.
async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return (String::from_utf8_lossy(&buf).into_owned(), Vec::new());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (String::from_utf8_lossy(&buf).into_owned(), rest);
        }
    }
}

/// A server answering every request 200 with an HTML login page.
async fn html_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = read_head(&mut stream).await;
                let page = "<!DOCTYPE html><html><body><form>请登录 / sign in</form></body></html>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// With the right Token, EncodingAESKey and CorpID every step passes and doctor exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_good_config_passes_every_step() {
    let (running, addr) = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = doctor_config(dir.path(), TOKEN, AES_KEY, CORP_ID);
    let o = doctor(&config, &format!("http://{addr}/callback/contacts")).await;
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    for step in [
        "DNS resolution",
        "TCP connection",
        "URL verification (GET)",
        "test callback (POST)",
    ] {
        assert!(line(&out, step).starts_with("✔ "), "{out}");
    }
    assert!(!out.contains('✘'), "{out}");
    assert_eq!(stderr(&o), "");
    assert_no_secrets(&o, &[TOKEN, AES_KEY]);
    running.stop().await;
}

/// A Token other than the server's: the signature is refused, and the retry with a plain
/// echostr is refused too — so it is the Token, not the query.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_named() {
    let (running, addr) = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = doctor_config(dir.path(), "WrongToken123", AES_KEY, CORP_ID);
    let o = doctor(&config, &format!("http://{addr}/callback/contacts")).await;
    assert_refused(&o, "wrong Token");
    assert!(line(&stdout(&o), "test callback (POST)").contains("wrong Token"));
    assert_no_secrets(&o, &[TOKEN, AES_KEY, "WrongToken123"]);
    running.stop().await;
}

/// The right Token with another EncodingAESKey: the signature passes, decryption fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_named() {
    let (running, addr) = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = other_key();
    let config = doctor_config(dir.path(), TOKEN, &key, CORP_ID);
    let o = doctor(&config, &format!("http://{addr}/callback/contacts")).await;
    assert_refused(
        &o,
        "the Token matched, but the EncodingAESKey or the CorpID (receive_id) differs",
    );
    assert_no_secrets(&o, &[TOKEN, AES_KEY, &key]);
    running.stop().await;
}

/// The right Token and key with another CorpID: it decrypts, the receive id does not match.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_corp_id_is_named() {
    let (running, addr) = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = doctor_config(dir.path(), TOKEN, AES_KEY, "ww0000000000000000");
    let o = doctor(&config, &format!("http://{addr}/callback/contacts")).await;
    assert_refused(
        &o,
        "the Token matched, but the EncodingAESKey or the CorpID (receive_id) differs",
    );
    running.stop().await;
}

/// A URL whose path is not the app's: 404, and the fix names the configured path.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_path_is_named() {
    let (running, addr) = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = doctor_config(dir.path(), TOKEN, AES_KEY, CORP_ID);
    let o = doctor(&config, &format!("http://{addr}/callback/contact")).await;
    assert_refused(&o, "nothing answers at this path (404)");
    assert!(line(&stdout(&o), "URL verification (GET)").contains("/callback/contacts"));
    running.stop().await;
}

/// A proxy that re-encodes the query (`%2B` → `%252B`, …) breaks WeCom's echostr but not one
/// of letters and digits: doctor says the query was rewritten, not that a secret is wrong.
/// The POST, whose query has nothing to re-encode, gets through.
#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_rewrites_the_query_is_named() {
    let (running, addr) = start().await;
    let re_encode = |request_line: &str| request_line.replace('%', "%25");
    let front = proxy(addr, re_encode, Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = doctor_config(dir.path(), TOKEN, AES_KEY, CORP_ID);
    let o = doctor(&config, &format!("http://{front}/callback/contacts")).await;
    assert_refused(&o, "a proxy rewrote the query string");
    assert!(!stdout(&o).contains("wrong Token"), "{}", stdout(&o));
    assert!(
        line(&stdout(&o), "test callback (POST)").starts_with("✔ "),
        "{}",
        stdout(&o)
    );
    running.stop().await;
}

/// A hop that takes 1.5 s: the answer is right but later than WeCom's 1 s.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_answer_is_named() {
    let (running, addr) = start().await;
    let slow = proxy(addr, str::to_owned, Duration::from_millis(1500)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = doctor_config(dir.path(), TOKEN, AES_KEY, CORP_ID);
    let o = doctor(&config, &format!("http://{slow}/callback/contacts")).await;
    assert_refused(&o, "the answer was right but took 1.");
    assert!(line(&stdout(&o), "URL verification (GET)").contains("WeCom waits at most 1 s"));
    running.stop().await;
}

/// A 200 HTML page (a proxy's login or error page) is named as such.
#[tokio::test(flavor = "multi_thread")]
async fn an_html_answer_is_named() {
    let page = html_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = doctor_config(dir.path(), TOKEN, AES_KEY, CORP_ID);
    let o = doctor(&config, &format!("http://{page}/callback/contacts")).await;
    assert_refused(&o, "answered an HTML page");
    assert!(line(&stdout(&o), "test callback (POST)").contains("HTML page"));
}

/// Nothing listening: the connection step fails and doctor stops there.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_named() {
    let port = common::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = doctor_config(dir.path(), TOKEN, AES_KEY, CORP_ID);
    let o = doctor(
        &config,
        &format!("http://127.0.0.1:{port}/callback/contacts"),
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        line(&stdout(&o), "TCP connection").contains("connection refused"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("URL verification"));
}

/// A bad URL is a one-line error, not a panic.
#[tokio::test]
async fn a_bad_url_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = doctor_config(dir.path(), TOKEN, AES_KEY, CORP_ID);
    for (url, said) in [
        ("ftp://example.com/x", "must start with https:// or http://"),
        ("not a url", "is not a URL"),
    ] {
        let o = doctor(&config, url).await;
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).starts_with("error: --url") && stderr(&o).contains(said),
            "{}",
            stderr(&o)
        );
        assert_eq!(stderr(&o).lines().count(), 1);
    }
}
