//! Shared helpers for the end-to-end tests: a config, sealing fixtures, a recording handler.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wecom_callback::callback::{self, Sealed};
use wecom_callback::{Config, Context, Event, Handler, HandlerError, HandlerResult, MsgCrypt};

pub const TOKEN: &str = "QDG6eK";
pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
pub const CORP_ID: &str = "wx5823bf96d3bd56c7";

/// A config with one app `contacts` at `/callback/contacts`; `extra` is appended to `[[apps]]`
/// and `top` goes before it (the memory store unless `top` has a `[store]`).
pub fn config(top: &str, extra: &str) -> Config {
    let store = if top.contains("[store]") {
        ""
    } else {
        "[store]\nbackend = \"memory\""
    };
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "2s"
{store}
[dispatch]
backoff_base = "10ms"
backoff_max = "50ms"
max_attempts = 3
{top}
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "{CORP_ID}"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
{extra}
"#
    );
    Config::from_toml(&text, &|_| None).expect("test config")
}

pub fn crypt() -> MsgCrypt {
    MsgCrypt::new(TOKEN, AES_KEY, CORP_ID).expect("crypt")
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/events")
}

/// Every plaintext event fixture: (file name, XML).
pub fn event_fixtures() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/events")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(name)).expect("fixture")
}

/// Seal a plaintext as a POST with a fresh nonce.
pub fn seal(plaintext: &str, nonce: &str) -> Sealed {
    callback::seal_post(
        &crypt(),
        plaintext.as_bytes(),
        "1700000000",
        nonce,
        *b"0123456789abcdef",
    )
    .expect("seal")
}

/// POST a sealed callback; returns (status, body).
pub async fn post(client: &reqwest::Client, base: &str, sealed: &Sealed) -> (u16, String) {
    let url = format!(
        "{base}/callback/contacts?{}",
        sealed.query.to_query_string()
    );
    let r = client
        .post(url)
        .body(sealed.body.clone().unwrap_or_default())
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// What a [`Recorder`] saw: (event id, kind, order key).
pub type Seen = Vec<(i64, String, Option<String>)>;

/// Records every event it sees; fails the first `fail_first` attempts of each event.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Seen>>,
    pub fail_first: u32,
    pub name: &'static str,
}

impl Recorder {
    pub fn named(name: &'static str) -> Self {
        Recorder {
            name,
            ..Default::default()
        }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

#[wecom_callback::async_trait]
impl Handler for Recorder {
    fn name(&self) -> &str {
        if self.name.is_empty() {
            "recorder"
        } else {
            self.name
        }
    }

    async fn on_event(&self, ctx: &Context, event: &Event) -> HandlerResult {
        if ctx.attempt <= self.fail_first {
            return Err(HandlerError::transient(format!(
                "attempt {} fails",
                ctx.attempt
            )));
        }
        self.seen
            .lock()
            .unwrap()
            .push((ctx.event_id, event.kind(), event.order_key()));
        Ok(())
    }
}

/// Wait until `check` holds, up to 10 s.
pub async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 10 s");
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until `{base}/healthz` answers 200, up to 10 s.
pub async fn wait_healthy(base: &str) {
    for _ in 0..500 {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("server did not become healthy");
}
