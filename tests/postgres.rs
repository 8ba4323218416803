//! Several instances on one PostgreSQL database (guarantee 8), end to end over HTTP: retries
//! reaching both instances are handled once, one `gettoken` serves all, a customer's events
//! keep their order whichever instance took them, a killed instance's work is taken over when
//! its leases expire, a database that goes away costs 503s (fast), never a hang or a lost
//! event, and a plug-in blocking every handler thread holds up no acknowledgement.
//!
//! They need a PostgreSQL server: `postgres@127.0.0.1:5432` with trust authentication, or
//! `DATABASE_URL`. Each test works in a database of its own, dropped at the end.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;
use wecom_callback::store::{EventFilter, Inbox, PostgresInbox, Status};
use wecom_callback::{Context, Event, Handler, HandlerResult, Running, Service};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

// --- a database per test ---------------------------------------------------------------------

use wecom_callback::testing::postgres::{TestDatabase as TestDb, server_address};

// --- instances ---------------------------------------------------------------------------------

/// The common test config on PostgreSQL at `url`; `top` and `extra` as in `common::config`.
fn pg_config(url: &str, top: &str, extra: &str) -> wecom_callback::Config {
    config(
        &format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n{top}"),
        extra,
    )
}

async fn start(config: wecom_callback::Config, handler: Option<Arc<dyn Handler>>) -> Running {
    let mut service = Service::new(config);
    if let Some(handler) = handler {
        service = service.handler_arc(handler);
    }
    service.start().await.expect("start an instance")
}

fn base(running: &Running) -> String {
    format!("http://{}", running.addr())
}

/// A new-customer event; `n` makes it distinct.
fn new_customer(external: &str, code: &str, n: usize) -> String {
    let now = wecom_callback_now_secs();
    format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID><State><![CDATA[s{n}]]></State><WelcomeCode><![CDATA[{code}]]></WelcomeCode></xml>"
    )
}

/// An inbox on the test database, to look at what the instances stored.
async fn inspect(db: &TestDb) -> PostgresInbox {
    let config = pg_config(&db.url(), "", "");
    PostgresInbox::connect(&config.store)
        .await
        .expect("connect to the test database")
}

/// Wait until `check` holds, up to `limit`.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached within {limit:?}");
}

// --- the tests -----------------------------------------------------------------------------------

/// WeCom's retries of one event (sealed with different nonces) reaching both instances at the
/// same moment are one event, handled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_at_both_instances_are_handled_once() {
    let db = TestDb::create().await;
    let recorder = Recorder::default();
    let handler: Arc<dyn Handler> = Arc::new(recorder.clone());
    let a = start(pg_config(&db.url(), "", ""), Some(handler.clone())).await;
    let b = start(pg_config(&db.url(), "", ""), Some(handler)).await;
    let (base_a, base_b) = (base(&a), base(&b));
    let client = reqwest::Client::new();

    let events = 20;
    for i in 0..events {
        let xml = new_customer(&format!("wm{i}"), &format!("CODE{i}"), i);
        let sends = (0..4).map(|retry| {
            let base = if retry % 2 == 0 { &base_a } else { &base_b };
            let sealed = seal(&xml, &format!("n{i}-{retry}"));
            let client = client.clone();
            async move { post(&client, base, &sealed).await.0 }
        });
        let statuses = futures::future::join_all(sends).await;
        assert_eq!(statuses, vec![200; 4], "event {i}");
    }
    eventually(|| recorder.seen().len() >= events).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = recorder.seen();
    let ids: HashSet<i64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(seen.len(), events, "{seen:?}");
    assert_eq!(ids.len(), events);
    a.stop().await;
    b.stop().await;
}

/// Fifty new customers at once, spread over both instances: exactly one `gettoken` between
/// them, and one welcome message each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gettoken_for_all_instances() {
    let db = TestDb::create().await;
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"errcode": 0, "errmsg": "ok", "access_token": "TKN", "expires_in": 7200}),
                )
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/send_welcome_msg"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"errcode": 0, "errmsg": "ok"})),
        )
        .mount(&api)
        .await;
    let top = format!("[api]\nbase_url = \"{}\"", api.uri());
    let extra = "secret = \"app-secret\"\n[apps.welcome]\ntext = \"你好\"";
    let a = start(pg_config(&db.url(), &top, extra), None).await;
    let b = start(pg_config(&db.url(), &top, extra), None).await;
    let (base_a, base_b) = (base(&a), base(&b));
    let client = reqwest::Client::new();

    let customers = 50;
    let sends = (0..customers).map(|i| {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        let sealed = seal(
            &new_customer(&format!("wm{i}"), &format!("CODE{i}"), i),
            &format!("n{i}"),
        );
        let client = client.clone();
        async move { post(&client, base, &sealed).await.0 }
    });
    let statuses = futures::future::join_all(sends).await;
    assert_eq!(statuses, vec![200; customers]);

    let sent = || async {
        api.received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == "/cgi-bin/externalcontact/send_welcome_msg")
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null))
            .collect::<Vec<_>>()
    };
    within(Duration::from_secs(30), async || {
        sent().await.len() >= customers
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let codes: HashSet<String> = sent()
        .await
        .iter()
        .map(|r| r["welcome_code"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(codes.len(), customers);
    assert_eq!(sent().await.len(), customers);
    let gettoken = api
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/cgi-bin/gettoken")
        .count();
    assert_eq!(gettoken, 1, "one gettoken for both instances");
    a.stop().await;
    b.stop().await;
}

/// Records the event ids it handles, after a random pause (so that a run started out of turn
/// would finish out of turn).
#[derive(Clone, Default)]
struct Slow {
    seen: Arc<Mutex<Vec<i64>>>,
}

#[wecom_callback::async_trait]
impl Handler for Slow {
    fn name(&self) -> &str {
        "slow"
    }

    async fn on_event(&self, ctx: &Context, _event: &Event) -> HandlerResult {
        let pause = rand::random::<u64>() % 40;
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(ctx.event_id);
        }
        Ok(())
    }
}

/// Each customer's events, sent alternately to the two instances, are handled in the order
/// they were acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_keeps_arrival_order_across_instances() {
    let db = TestDb::create().await;
    let slow = Slow::default();
    let handler: Arc<dyn Handler> = Arc::new(slow.clone());
    let a = start(pg_config(&db.url(), "", ""), Some(handler.clone())).await;
    let b = start(pg_config(&db.url(), "", ""), Some(handler)).await;
    let bases = [base(&a), base(&b)];
    let client = reqwest::Client::new();

    // Two customers, interleaved; each event acknowledged before the next is sent.
    let per_customer = 12;
    let mut acknowledged: HashMap<&str, Vec<String>> = HashMap::new();
    for i in 0..per_customer * 2 {
        let customer = if i % 2 == 0 { "wmAlice" } else { "wmBob" };
        let xml = new_customer(customer, &format!("CODE{i}"), i);
        let base = &bases[(i / 2) % 2];
        let (status, _) = post(&client, base, &seal(&xml, &format!("n{i}"))).await;
        assert_eq!(status, 200, "event {i}");
        acknowledged.entry(customer).or_default().push(xml);
    }

    let inbox = inspect(&db).await;
    let total = per_customer * 2;
    within(Duration::from_secs(30), async || {
        slow.seen.lock().map(|s| s.len()).unwrap_or(0) >= total
    })
    .await;
    let stored = inbox
        .list(EventFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let id_of: HashMap<&str, i64> = stored
        .iter()
        .map(|e| (e.plaintext.as_str(), e.id))
        .collect();
    let seen = slow.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), total, "{seen:?}");
    for (customer, xmls) in &acknowledged {
        let in_ack_order: Vec<i64> = xmls.iter().map(|x| id_of[x.as_str()]).collect();
        let in_handled_order: Vec<i64> = seen
            .iter()
            .copied()
            .filter(|id| in_ack_order.contains(id))
            .collect();
        assert_eq!(in_handled_order, in_ack_order, "{customer}");
    }
    a.stop().await;
    b.stop().await;
}

/// The real binary is SIGKILLed while its handlers run (the forward target hangs at first):
/// the other instance takes the acknowledged deliveries over once their leases expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_leaves_its_work_to_the_other() {
    let db = TestDb::create().await;
    let sink = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .respond_with(ResponseTemplate::new(500).set_delay(Duration::from_secs(60)))
        .mount(&sink)
        .await;
    let forward = format!(
        "[[apps.forward]]\nurl = \"{}/events\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
        sink.uri()
    );

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
backend = "postgres"
url = "{url}"
[dispatch]
lease = "3s"
backoff_base = "200ms"
backoff_max = "1s"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "{CORP_ID}"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
{forward}
"#,
            url = db.url(),
        ),
    )
    .unwrap();
    let log = dir.path().join("killed.log");
    let mut killed = spawn_binary(&config_path, &log);
    let killed_base = format!("http://127.0.0.1:{port}");
    wait_healthy(&killed_base).await;
    let survivor = start(pg_config(&db.url(), "", &forward), None).await;

    let client = reqwest::Client::new();
    let total = 8;
    for i in 0..total {
        let xml = new_customer(&format!("wm{i}"), &format!("CODE{i}"), i);
        let (status, _) = post(&client, &killed_base, &seal(&xml, &format!("n{i}"))).await;
        assert_eq!(status, 200);
    }
    // Its forward attempts are in flight (the sink hangs): kill it without a chance to clean up.
    within(Duration::from_secs(10), async || {
        sink.received_requests().await.unwrap_or_default().len() >= total
    })
    .await;
    killed.kill().expect("SIGKILL");
    killed.wait().unwrap();

    sink.reset().await;
    Mock::given(method("POST"))
        .and(path("/events"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&sink)
        .await;
    let delivered = || async {
        sink.received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|r| {
                r.headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .collect::<HashSet<String>>()
    };
    within(Duration::from_secs(30), async || {
        delivered().await.len() >= total
    })
    .await;
    let inbox = inspect(&db).await;
    within(Duration::from_secs(10), async || {
        inbox
            .list(EventFilter {
                status: Some(Status::Done),
                handler: None,
                limit: 100,
            })
            .await
            .map(|done| done.len() == total)
            .unwrap_or(false)
    })
    .await;
    assert_eq!(delivered().await.len(), total);
    survivor.stop().await;
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!logs.contains("<xml>"), "no decrypted content in logs");
}

/// A TCP proxy to the database that can be cut off (stops accepting, drops every connection)
/// and restored on the same port.
struct Proxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Option<JoinSet<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            target,
            tasks: Arc::new(Mutex::new(None)),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let (target, connections) = (self.target.clone(), Arc::new(Mutex::new(JoinSet::new())));
        let held = connections.clone();
        tasks.spawn(async move {
            // The connections' tasks live as long as this one: aborting it ends them all.
            let _held = held;
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                if let Ok(mut set) = connections.lock() {
                    set.spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            }
        });
        *self.tasks.lock().unwrap() = Some(tasks);
    }

    /// Stop accepting and drop every open connection.
    fn cut(&self) {
        if let Some(mut tasks) = self.tasks.lock().unwrap().take() {
            tasks.abort_all();
        }
    }

    /// Accept again on the same port.
    async fn restore(&self) {
        for _ in 0..100 {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            if socket
                .bind(format!("127.0.0.1:{}", self.port).parse().unwrap())
                .is_ok()
                && let Ok(listener) = socket.listen(128)
            {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot listen on the proxy's port again");
    }
}

/// The database goes away mid-run: callbacks answer 503 within 2 s and `/healthz` says so;
/// when it returns, callbacks are stored again without a restart and every acknowledged event
/// is handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_costs_fast_503s_and_nothing_acknowledged() {
    let db = TestDb::create().await;
    let proxy = Proxy::start(server_address()).await;
    let recorder = Recorder::default();
    let handler: Arc<dyn Handler> = Arc::new(recorder.clone());
    let url = db.url_via(proxy.port);
    let a = start(pg_config(&url, "", ""), Some(handler.clone())).await;
    let b = start(pg_config(&url, "", ""), Some(handler)).await;
    let bases = [base(&a), base(&b)];
    let client = reqwest::Client::new();
    let mut acknowledged = HashSet::new();
    let event = |i: usize| new_customer(&format!("wm{i}"), &format!("CODE{i}"), i);

    for i in 0..6 {
        let (status, _) = post(&client, &bases[i % 2], &seal(&event(i), &format!("n{i}"))).await;
        assert_eq!(status, 200);
        acknowledged.insert(i);
    }

    proxy.cut();
    for i in 6..12 {
        let started = Instant::now();
        let (status, _) = post(&client, &bases[i % 2], &seal(&event(i), &format!("n{i}"))).await;
        let took = started.elapsed();
        assert_eq!(status, 503, "event {i} while the database is away");
        assert!(
            took < Duration::from_secs(2),
            "event {i}: 503 after {took:?}"
        );
    }
    for base in &bases {
        let started = Instant::now();
        let health = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 503);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    proxy.restore().await;
    // WeCom retries what got a 503; the service takes it again without a restart.
    for i in 6..18 {
        let base = &bases[i % 2];
        let mut retry = 0;
        within(Duration::from_secs(30), async || {
            retry += 1;
            let sealed = seal(&event(i), &format!("r{i}-{retry}"));
            post(&client, base, &sealed).await.0 == 200
        })
        .await;
        acknowledged.insert(i);
    }
    for base in &bases {
        within(Duration::from_secs(10), async || {
            client
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
    }
    within(Duration::from_secs(30), async || {
        recorder.seen().len() >= acknowledged.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = recorder.seen();
    let ids: HashSet<i64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(ids.len(), acknowledged.len(), "{seen:?}");
    assert_eq!(
        seen.len(),
        acknowledged.len(),
        "each handled once: {seen:?}"
    );
    a.stop().await;
    b.stop().await;
}

/// A plug-in that blocks its thread (both threads of the handlers' runtime) costs no
/// acknowledgement: the PostgreSQL store runs on a thread of its own.
#[test]
fn a_plugin_blocking_every_handler_thread_does_not_hold_up_intake() {
    let handlers = blocking_test_runtime();
    let db = handlers.block_on(TestDb::create());
    intake_survives_blocked_handler_threads(&handlers, pg_config(&db.url(), "", ""));
    drop(db);
}
