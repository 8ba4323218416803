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

/// Seal a plaintext as a POST, now, with the given nonce.
pub fn seal(plaintext: &str, nonce: &str) -> Sealed {
    callback::seal_post(
        &crypt(),
        plaintext.as_bytes(),
        &wecom_callback_now_secs().to_string(),
        nonce,
        *b"0123456789abcdef",
    )
    .expect("seal")
}

/// POST a sealed callback; returns (status, body).
pub async fn post(client: &reqwest::Client, base: &str, sealed: &Sealed) -> (u16, String) {
    let r = post_response(client, base, sealed).await;
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// POST a sealed callback; returns the whole response (for its headers).
pub async fn post_response(
    client: &reqwest::Client,
    base: &str,
    sealed: &Sealed,
) -> reqwest::Response {
    let url = format!(
        "{base}/callback/contacts?{}",
        sealed.query.to_query_string()
    );
    client
        .post(url)
        .body(sealed.body.clone().unwrap_or_default())
        .send()
        .await
        .expect("post")
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

/// An `add_external_contact` event of customer `external` with welcome code `code`, made
/// distinct by `seq`.
pub fn customer_event(external: &str, code: &str, seq: usize) -> String {
    let now = wecom_callback_now_secs();
    format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID><State><![CDATA[s]]></State><WelcomeCode><![CDATA[{code}]]></WelcomeCode><Seq>{seq}</Seq></xml>"
    )
}

/// Now, in Unix seconds.
pub fn wecom_callback_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A store that fails its writes on demand (an injected disk-full), delegating to `inner`.
pub struct Faulty<I> {
    pub inner: I,
    pub failing: std::sync::atomic::AtomicBool,
    /// Settles refused while failing.
    pub refused_settles: std::sync::atomic::AtomicUsize,
    /// Delivery counts read (`stats`) and store checks (`ping`) so far.
    pub stats_reads: std::sync::atomic::AtomicUsize,
    pub pings: std::sync::atomic::AtomicUsize,
}

impl<I> Faulty<I> {
    pub fn new(inner: I) -> Self {
        Faulty {
            inner,
            failing: Default::default(),
            refused_settles: Default::default(),
            stats_reads: Default::default(),
            pings: Default::default(),
        }
    }

    pub fn fail(&self, on: bool) {
        self.failing.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), wecom_callback::store::StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(wecom_callback::store::StoreError(
                "database or disk is full".into(),
            ))
        } else {
            Ok(())
        }
    }
}

mod faulty {
    use wecom_callback::store::*;

    #[wecom_callback::async_trait]
    impl<I: Inbox> Inbox for super::Faulty<I> {
        async fn append(&self, event: NewEvent) -> Result<Appended, StoreError> {
            self.check()?;
            self.inner.append(event).await
        }
        async fn lease(
            &self,
            app: &str,
            handler: &str,
            limit: usize,
            now: i64,
            until: i64,
        ) -> Result<LeaseBatch, StoreError> {
            self.check()?;
            self.inner.lease(app, handler, limit, now, until).await
        }
        async fn renew(&self, ids: Vec<i64>, until: i64) -> Result<(), StoreError> {
            self.check()?;
            self.inner.renew(ids, until).await
        }
        async fn release(&self, ids: Vec<i64>) -> Result<(), StoreError> {
            self.check()?;
            self.inner.release(ids).await
        }
        async fn settle(
            &self,
            id: i64,
            attempts: u32,
            outcome: Outcome,
        ) -> Result<Settled, StoreError> {
            if let Err(e) = self.check() {
                self.refused_settles
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                return Err(e);
            }
            self.inner.settle(id, attempts, outcome).await
        }
        async fn recover(&self) -> Result<u64, StoreError> {
            self.inner.recover().await
        }
        async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
            self.inner.get(id).await
        }
        async fn deliveries(&self, event_id: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
            self.inner.deliveries(event_id).await
        }
        async fn list(&self, filter: EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
            self.inner.list(filter).await
        }
        async fn retry(&self, filter: RetryFilter) -> Result<u64, StoreError> {
            self.check()?;
            self.inner.retry(filter).await
        }
        async fn redeliver(&self, app: &str, handler: &str, since: i64) -> Result<u64, StoreError> {
            self.check()?;
            self.inner.redeliver(app, handler, since).await
        }
        async fn purge(&self, before: i64, batch: usize) -> Result<u64, StoreError> {
            self.check()?;
            self.inner.purge(before, batch).await
        }
        async fn purge_failed(&self, before: i64) -> Result<u64, StoreError> {
            self.check()?;
            self.inner.purge_failed(before).await
        }
        async fn stats(&self, now: i64) -> Result<Stats, StoreError> {
            self.stats_reads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.stats(now).await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.pings.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.ping().await
        }
    }
}

/// The `[[apps]]` section of the `contacts` app (official sample keys), then `extra`.
pub fn app_section(extra: &str) -> String {
    format!(
        "[[apps]]\nname = \"contacts\"\npath = \"/callback/contacts\"\ncorp_id = \"{CORP_ID}\"\ntoken = \"{TOKEN}\"\nencoding_aes_key = \"{AES_KEY}\"\n{extra}\n"
    )
}

/// Write a config file for the real binary listening on `port`: `top` (sections before the
/// app) and the app with `app_extra`. Returns its path.
pub fn binary_config(dir: &Path, port: u16, top: &str, app_extra: &str) -> PathBuf {
    let path = dir.join(format!("config-{port}.toml"));
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n{top}\n{}",
            app_section(app_extra)
        ),
    )
    .expect("write config");
    path
}

/// Start the real binary's `serve` with `config`, its log going to `log`.
pub fn spawn_binary(config: &Path, log: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_wecom-callback"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn wecom-callback")
}

/// SIGTERM, then wait up to 10 s for a clean (exit 0) stop.
pub async fn stop_binary(mut child: std::process::Child) {
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    for _ in 0..500 {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().ok();
    panic!("no exit within 10 s of SIGTERM");
}

/// Poll `$cond` (which may `.await`) every 10 ms until it holds or 10 s (or `$secs`) have
/// passed; the test asserts afterwards, with its own message.
#[macro_export]
macro_rules! wait_until {
    ($cond:expr) => {
        wait_until!($cond, 10)
    };
    ($cond:expr, $secs:expr) => {
        for _ in 0..($secs * 100) {
            if $cond {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
}

/// A handler whose first two runs block their thread (not just their task) for 4 s.
#[derive(Default)]
pub struct Blocker {
    pub blocked: Arc<Mutex<u32>>,
}

#[wecom_callback::async_trait]
impl Handler for Blocker {
    fn name(&self) -> &str {
        "blocker"
    }

    async fn on_event(&self, _ctx: &Context, _event: &Event) -> HandlerResult {
        let block = {
            let mut blocked = self.blocked.lock().unwrap();
            *blocked += 1;
            *blocked <= 2
        };
        if block {
            std::thread::sleep(std::time::Duration::from_secs(4));
        }
        Ok(())
    }
}

/// The runtime handlers run on in [`intake_survives_blocked_handler_threads`]: two threads.
pub fn blocking_test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Start a service with `config` and a [`Blocker`] on `handlers` (from
/// [`blocking_test_runtime`]), block both its threads with two new customers, then check that
/// ten more callbacks are stored and acknowledged (a store intake could not reach within its
/// deadline would answer 503). The client runs on a runtime of its own.
pub fn intake_survives_blocked_handler_threads(handlers: &tokio::runtime::Runtime, config: Config) {
    let blocker = Blocker::default();
    let blocked = blocker.blocked.clone();
    let service = wecom_callback::Service::new(config).handler(blocker);
    let running = handlers
        .block_on(service.start())
        .expect("start the service");
    let base = format!("http://{}", running.addr());
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client_runtime.block_on(async {
        let client = reqwest::Client::new();
        for i in 0..2 {
            let sealed = seal(&customer_event(&format!("wb{i}"), "C", i), &format!("b{i}"));
            assert_eq!(post(&client, &base, &sealed).await.0, 200);
        }
        let started = std::time::Instant::now();
        while *blocked.lock().unwrap() < 2 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the handlers did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for i in 2..12 {
            let sealed = seal(&customer_event(&format!("wb{i}"), "C", i), &format!("b{i}"));
            assert_eq!(post(&client, &base, &sealed).await.0, 200, "callback {i}");
        }
    });
    handlers.block_on(running.stop());
}
