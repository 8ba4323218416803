//! The deliveries engine end to end: a plug-in that panics or hangs stays alone with its own
//! deliveries; a store that cannot write answers 503 in time and writes nothing half; a success
//! that could not be recorded is not run again; order per customer survives a restart with
//! deliveries in backoff; memory stays flat with a large backlog.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use wecom_callback::store::{DeliveryStatus, EventFilter, Inbox, MemoryInbox, SqliteInbox, Status};
use wecom_callback::testing::FakeWecom;
use wecom_callback::{ContactEvent, Context, Event, Handler, HandlerResult, Service};

/// Panics on the first event of customer `wmBoom`; records every event it handles.
#[derive(Clone, Default)]
struct Panicky {
    seen: Arc<Mutex<Vec<(i64, String)>>>,
}

#[wecom_callback::async_trait]
impl Handler for Panicky {
    fn name(&self) -> &str {
        "panicky"
    }

    async fn on_add_external_contact(&self, ctx: &Context, e: &ContactEvent) -> HandlerResult {
        let seq = e
            .extra
            .iter()
            .find(|(name, _)| name == "Seq")
            .map(|(_, value)| value.to_text())
            .unwrap_or_default();
        if e.external_user_id == "wmBoom" && seq == "0" {
            panic!("boom for {}", e.external_user_id);
        }
        self.seen.lock().unwrap().push((ctx.event_id, seq));
        Ok(())
    }
}

/// A handler that panics on one customer's event: that delivery ends dead with the panic
/// message after its attempts; the same customer's next event is handled; the event's other
/// handler is done.
#[tokio::test]
async fn a_panicking_handler_is_a_recorded_failure_and_the_lane_moves_on() {
    let panicky = Panicky::default();
    let other = Recorder::named("other");
    let inbox = Arc::new(MemoryInbox::new());
    let running = Service::new(config("", ""))
        .handler(panicky.clone())
        .handler(other.clone())
        .with_inbox(inbox.clone())
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();
    for seq in 0..2 {
        let sealed = seal(&customer_event("wmBoom", "C", seq), &format!("n{seq}"));
        assert_eq!(post(&client, &base, &sealed).await.0, 200);
    }
    eventually(|| panicky.seen.lock().unwrap().len() == 1 && other.seen().len() == 2).await;
    let first = other.seen()[0].0;
    wait_until!(inbox.get(first).await.unwrap().unwrap().status == Status::Failed);
    let deliveries = inbox.deliveries(first).await.unwrap();
    let dead = deliveries.iter().find(|d| d.handler == "panicky").unwrap();
    assert_eq!(dead.status, DeliveryStatus::Dead);
    assert_eq!(dead.attempts, 3);
    let error = dead.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("panicked: boom for wmBoom"), "{error}");
    let done = deliveries.iter().find(|d| d.handler == "other").unwrap();
    assert_eq!(done.status, DeliveryStatus::Done);
    assert_eq!(panicky.seen.lock().unwrap()[0].1, "1", "the next event ran");
    running.stop().await;
}

/// A handler that hangs is cut off at its `timeout` (a transient failure), and holds up only
/// its own deliveries.
#[tokio::test]
async fn a_hanging_handler_times_out() {
    struct Hangs;
    #[wecom_callback::async_trait]
    impl Handler for Hangs {
        fn name(&self) -> &str {
            "hangs"
        }
        async fn on_event(&self, _: &Context, _: &Event) -> HandlerResult {
            std::future::pending::<()>().await;
            Ok(())
        }
    }
    let other = Recorder::named("other");
    let inbox = Arc::new(MemoryInbox::new());
    let running = Service::new(config("", "[apps.plugins.hangs]\ntimeout = \"100ms\"\n"))
        .handler(Hangs)
        .handler(other.clone())
        .with_inbox(inbox.clone())
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", running.addr());
    let sealed = seal(&customer_event("wmSlow", "C", 0), "n");
    assert_eq!(post(&reqwest::Client::new(), &base, &sealed).await.0, 200);
    eventually(|| other.seen().len() == 1).await;
    let id = other.seen()[0].0;
    wait_until!(inbox.get(id).await.unwrap().unwrap().status == Status::Failed);
    let deliveries = inbox.deliveries(id).await.unwrap();
    let hung = deliveries.iter().find(|d| d.handler == "hangs").unwrap();
    assert_eq!(hung.status, DeliveryStatus::Dead);
    assert!(
        hung.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("timed out after 100ms"),
        "{hung:?}"
    );
    running.stop().await;
}

/// A TCP server that accepts connections and never answers (a forward target that silently
/// drops everything). Returns its address; the sockets are held until the test ends.
async fn black_hole() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// A forward target that accepts connections and never answers, while 500 new customers a
/// second arrive for 10 s: every customer is still greeted (`welcome` never waits behind
/// `forward`). `cargo bench --bench load` reports how soon after each acknowledgement.
#[tokio::test]
async fn welcome_never_waits_behind_a_dead_forward_target() {
    let api = FakeWecom::start().await;
    let hole = black_hole().await;
    let dir = tempfile::tempdir().unwrap();
    let running = Service::new(config(
        &format!(
            "[api]\nbase_url = \"{}\"\n[store]\nbackend = \"sqlite\"\npath = {:?}\n",
            api.url(),
            dir.path().join("inbox.db").display().to_string()
        ),
        &format!(
            "secret = \"app-secret\"\n[apps.welcome]\ntext = \"hi\"\n[[apps.forward]]\nurl = \"http://{hole}/events\"\n"
        ),
    ))
    .start()
    .await
    .unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();
    let total = 5000;
    let started = Instant::now();
    let mut sends = Vec::new();
    for i in 0..total {
        // 500 a second: callback i leaves at i × 2 ms.
        let due = started + Duration::from_millis(2 * i as u64);
        tokio::time::sleep_until(due.into()).await;
        let (client, base) = (client.clone(), base.clone());
        sends.push(tokio::spawn(async move {
            let sealed = seal(
                &customer_event(&format!("wm{i:05}"), &format!("CODE{i:05}"), i),
                &i.to_string(),
            );
            post(&client, &base, &sealed).await.0
        }));
    }
    for send in sends {
        assert_eq!(send.await.unwrap(), 200);
    }
    let greeted = || async { api.calls_to("send_welcome_msg").len() };
    wait_until!(greeted().await >= total, 30);
    assert_eq!(greeted().await, total, "every new customer greeted");
    running.stop().await;
}

/// Another connection holds SQLite's write lock for 7 s: every callback is answered within
/// WeCom's 5 s, with 503 or 200; every 200'd event is handled exactly once after the lock is
/// released; no 503'd event is in the store.
#[tokio::test]
async fn a_held_sqlite_lock_costs_503s_never_timeouts_or_half_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inbox.db");
    let recorder = Recorder::default();
    let running = Service::new(config(
        &format!(
            "[store]\nbackend = \"sqlite\"\npath = {:?}\n",
            db.display().to_string()
        ),
        "",
    ))
    .handler(recorder.clone())
    .start()
    .await
    .unwrap();
    let base = format!("http://{}", running.addr());
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let locked_at = Instant::now();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(7)).await;
        holder.execute_batch("COMMIT").unwrap();
    });
    let client = reqwest::Client::new();
    let mut sends = Vec::new();
    for i in 0..40usize {
        let due = locked_at + Duration::from_millis(200 * i as u64);
        tokio::time::sleep_until(due.into()).await;
        let (client, base) = (client.clone(), base.clone());
        sends.push(tokio::spawn(async move {
            let external = format!("wmLock{i:02}");
            let sealed = seal(&customer_event(&external, "C", i), &i.to_string());
            let asked = Instant::now();
            let (status, _) = post(&client, &base, &sealed).await;
            (external, status, asked.elapsed())
        }));
    }
    let mut answered = Vec::new();
    for send in sends {
        answered.push(send.await.unwrap());
    }
    release.await.unwrap();
    for (external, status, took) in &answered {
        assert!(*took < Duration::from_secs(5), "{external} took {took:?}");
        assert!(*status == 200 || *status == 503, "{external}: {status}");
    }
    let acked: HashSet<&str> = answered
        .iter()
        .filter(|(_, s, _)| *s == 200)
        .map(|(e, _, _)| e.as_str())
        .collect();
    assert!(
        answered.iter().any(|(_, s, _)| *s == 503),
        "the lock was held: some callbacks must have been refused"
    );
    let inbox = SqliteInbox::open(&db).unwrap();
    let stored: HashSet<String> = inbox
        .list(EventFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .filter_map(|e| Event::parse(&e.plaintext).ok())
        .filter_map(|e| e.external_user_id().map(str::to_owned))
        .collect();
    let stored: HashSet<&str> = stored.iter().map(String::as_str).collect();
    assert_eq!(stored, acked, "exactly the acknowledged events are stored");
    eventually(|| recorder.seen().len() >= acked.len()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = recorder.seen();
    let ids: HashSet<i64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(seen.len(), acked.len(), "each handled exactly once");
    assert_eq!(ids.len(), acked.len());
    running.stop().await;
}

/// Blocks until the gate opens, then records the event: a success that happens while the
/// store cannot record it.
#[derive(Clone, Default)]
struct Gated {
    open: Arc<AtomicBool>,
    runs: Arc<Mutex<HashMap<i64, usize>>>,
}

#[wecom_callback::async_trait]
impl Handler for Gated {
    fn name(&self) -> &str {
        "gated"
    }

    async fn on_event(&self, ctx: &Context, _: &Event) -> HandlerResult {
        while !self.open.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        *self.runs.lock().unwrap().entry(ctx.event_id).or_default() += 1;
        Ok(())
    }
}

/// The store's disk fills up mid-run (an injected write error): callbacks get 503 at once and
/// the server stays up; handler successes that could not be recorded are recorded once space
/// returns and never run again; every acknowledged event is handled exactly once.
#[tokio::test]
async fn a_full_disk_is_503_and_no_success_runs_twice() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Arc::new(Faulty::new(
        SqliteInbox::open(&dir.path().join("inbox.db")).unwrap(),
    ));
    let gated = Gated::default();
    let running = Service::new(config("", "[apps.plugins.gated]\ntimeout = \"60s\"\n"))
        .handler(gated.clone())
        .with_inbox(inbox.clone())
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();
    let total = 40;
    for i in 0..total {
        let sealed = seal(
            &customer_event(&format!("wmFull{i:02}"), "C", i),
            &i.to_string(),
        );
        assert_eq!(post(&client, &base, &sealed).await.0, 200);
    }
    // The disk fills while the handlers run.
    inbox.fail(true);
    for i in 0..5 {
        let sealed = seal(
            &customer_event(&format!("wmLate{i}"), "C", i),
            &format!("late{i}"),
        );
        let asked = Instant::now();
        let (status, _) = post(&client, &base, &sealed).await;
        assert_eq!(status, 503);
        assert!(asked.elapsed() < Duration::from_secs(5));
    }
    gated.open.store(true, Ordering::SeqCst);
    eventually(|| gated.runs.lock().unwrap().len() == 16).await;
    // Their outcomes cannot be recorded yet.
    wait_until!(inbox.refused_settles.load(Ordering::SeqCst) > 0);
    assert!(inbox.refused_settles.load(Ordering::SeqCst) > 0);
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 503);
    // Space returns.
    inbox.fail(false);
    eventually(|| gated.runs.lock().unwrap().len() == total).await;
    for _ in 0..500 {
        let pending = inbox
            .list(EventFilter {
                status: Some(Status::Pending),
                handler: None,
                limit: 100,
            })
            .await
            .unwrap();
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let runs = gated.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), total);
    assert!(
        runs.values().all(|n| *n == 1),
        "a success ran twice: {runs:?}"
    );
    let done = inbox
        .list(EventFilter {
            status: Some(Status::Done),
            handler: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(done.len(), total);
    running.stop().await;
}

/// 5,000 events of 50 customers are pending when the service starts, 1,000 of them in
/// backoff: every customer's events are still handled in arrival order.
#[tokio::test]
async fn order_per_customer_holds_across_a_restart_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inbox.db");
    let total = 5000;
    let xmls = (0..total).map(|i| customer_event(&format!("wmRestart{:02}", i % 50), "C", i));
    store_unleased(&db, xmls, "recorder").await;
    {
        // Every fifth delivery failed once and waits for its retry.
        let conn = rusqlite::Connection::open(&db).unwrap();
        let retry_at = wecom_callback_now_secs() * 1000 + 700;
        let n = conn
            .execute(
                "UPDATE deliveries SET attempts = 1, next_at = ?1, last_error = 'busy'
                 WHERE id % 5 = 0",
                [retry_at],
            )
            .unwrap();
        assert_eq!(n, 1000);
    }
    let recorder = Recorder::default();
    let running = Service::new(config(
        &format!(
            "[store]\nbackend = \"sqlite\"\npath = {:?}\n",
            db.display().to_string()
        ),
        "",
    ))
    .handler(recorder.clone())
    .start()
    .await
    .unwrap();
    wait_until!(recorder.seen().len() >= total, 30);
    let seen = recorder.seen();
    assert_eq!(seen.len(), total);
    let mut last: HashMap<String, i64> = HashMap::new();
    for (id, _, lane) in &seen {
        let lane = lane.clone().unwrap_or_default();
        if let Some(previous) = last.insert(lane.clone(), *id) {
            assert!(previous < *id, "{lane}: {id} ran after {previous}");
        }
    }
    assert_eq!(last.len(), 50);
    running.stop().await;
}

/// Store events (plaintexts `xmls`, in this order) of app `contacts` in the SQLite store at
/// `db`, each with a pending, unleased delivery to `handler`: work left for the next start.
async fn store_unleased(db: &std::path::Path, xmls: impl Iterator<Item = String>, handler: &str) {
    let inbox = Arc::new(
        SqliteInbox::open_with(
            db,
            &wecom_callback::store::SqliteOptions {
                full_sync: false,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let events: Vec<String> = xmls.collect();
    // In chunks appended concurrently (one group commit each); a chunk is in arrival order.
    for chunk in events.chunks(2000) {
        let appends = chunk.iter().map(|xml| {
            let inbox = inbox.clone();
            let event = Event::parse(xml).unwrap();
            let new = wecom_callback::store::NewEvent {
                app: "contacts".into(),
                dedup_key: wecom_callback::store::dedup_key("contacts", xml, event.create_time()),
                kind: event.kind(),
                lane: event.order_key(),
                plaintext: xml.clone(),
                received_at: wecom_callback_now_secs() * 1000,
                deliveries: vec![wecom_callback::store::NewDelivery {
                    handler: handler.into(),
                    lease: false,
                }],
                lease_until: 0,
            };
            async move { inbox.append(new).await.unwrap() }
        });
        futures::future::join_all(appends).await;
    }
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// 100,000 deliveries wait behind a forward target that never answers: the real binary keeps
/// its memory flat (peak RSS under 64 MiB) — no task or queue per waiting delivery.
#[tokio::test]
async fn memory_stays_flat_behind_a_dead_forward_target() {
    let hole = black_hole().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inbox.db");
    let total = 100_000;
    let template = fixture("change_external_contact__add_external_contact.xml");
    let xmls = (0..total).map(|i| {
        template.replace(
            "<ExternalUserID><![CDATA[",
            &format!("<Seq>{i}</Seq><ExternalUserID><![CDATA[wm{}-", i % 5000),
        )
    });
    store_unleased(&db, xmls, "forward").await;
    let port = free_port();
    let config_path = binary_config(
        dir.path(),
        port,
        &format!(
            "[store]\npath = \"{}\"\n[log]\nlevel = \"error\"",
            db.display()
        ),
        &format!(
            "[[apps.forward]]\nurl = \"http://{hole}/events\"\ntimeout = \"1s\"\nconcurrency = 64"
        ),
    );
    let mut child = spawn_binary(&config_path, &dir.path().join("serve.log"));
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base).await;
    // Several rounds of timeouts and retries over the whole backlog's lane heads.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let peak = peak_rss_kib(child.id()).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    eprintln!("cpu ticks user {} sys {}", fields[11], fields[12]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        metrics.contains(
            r#"wecom_callback_deliveries_pending{app="contacts",handler="forward"} 100000"#
        ),
        "{metrics}"
    );
    eprintln!("peak RSS with {total} deliveries waiting: {} KiB", peak);
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
}

/// A plug-in that blocks its thread (both threads of the handlers' runtime) costs no
/// acknowledgement: intake runs on the HTTP workers and the SQLite writer thread.
#[test]
fn a_plugin_blocking_every_handler_thread_does_not_hold_up_intake() {
    let dir = tempfile::tempdir().unwrap();
    let handlers = blocking_test_runtime();
    let store = format!(
        "[store]\nbackend = \"sqlite\"\npath = \"{}\"",
        dir.path().join("inbox.db").display()
    );
    intake_survives_blocked_handler_threads(&handlers, config(&store, ""));
}
