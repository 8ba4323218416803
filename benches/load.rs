//! End-to-end load benchmark: `cargo bench --bench load`.
//!
//! Sends many distinct, validly sealed add_external_contact callbacks over HTTP to the real
//! `wecom-callback serve` (SQLite inbox, then memory inbox), and in the same run to a bare
//! actix-web endpoint that only answers 200. Prints callbacks/s of each, the ratio to the bare
//! endpoint, p50/p99 acknowledgement latency, peak RSS of the server process, and p99 latency at
//! a steady 1,000 callbacks/s. With `welcome` enabled against a local fake WeCom API it also
//! measures, at 500 new customers per second, the time from each callback's acknowledgement to
//! its send_welcome_msg arriving at the fake API.
//!
//! Environment: `LOAD_SECONDS` (default 5) per throughput run, `LOAD_CONCURRENCY` (default 32).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use wecom_callback::MsgCrypt;
use wecom_callback::callback::seal_post;

const TOKEN: &str = "QDG6eK";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const CORP_ID: &str = "wx5823bf96d3bd56c7";

/// Throughput runs per target.
const ROUNDS: usize = 3;

/// One prepared request: URL query and body, plus its welcome code.
#[derive(Clone)]
struct Prepared {
    query: String,
    body: String,
    welcome_code: String,
}

fn prepare(count: usize, create_time: i64) -> Vec<Prepared> {
    let crypt = MsgCrypt::new(TOKEN, AES_KEY, CORP_ID).expect("crypt");
    (0..count)
        .map(|i| {
            let code = format!("WELCOME{i:08}");
            let xml = format!(
                "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmLoad{i:08}]]></ExternalUserID><State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[{code}]]></WelcomeCode></xml>"
            );
            let mut random = [b'0'; 16];
            random[..8].copy_from_slice(format!("{i:08}").as_bytes());
            let sealed = seal_post(&crypt, xml.as_bytes(), "1700000000", &i.to_string(), random)
                .expect("seal");
            Prepared {
                query: sealed.query.to_query_string(),
                body: sealed.body.unwrap_or_default(),
                welcome_code: code,
            }
        })
        .collect()
}

struct RunResult {
    per_second: f64,
    latencies: Vec<Duration>,
    errors: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Send as fast as `concurrency` connections allow for `seconds`.
async fn flood(
    base: &str,
    requests: Arc<Vec<Prepared>>,
    concurrency: usize,
    seconds: u64,
) -> RunResult {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, requests, base) = (
            client.clone(),
            next.clone(),
            requests.clone(),
            base.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = requests.get(i) else { break };
                let t = Instant::now();
                let ok = client
                    .post(format!("{base}?{}", p.query))
                    .body(p.body.clone())
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                latencies.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("task");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    RunResult {
        per_second: latencies.len() as f64 / elapsed,
        latencies,
        errors,
    }
}

/// Send at a steady `rate` per second for `seconds`; returns latencies and each request's
/// acknowledgement instant by welcome code.
async fn steady(
    base: &str,
    requests: Arc<Vec<Prepared>>,
    rate: usize,
    seconds: usize,
) -> (RunResult, HashMap<String, Instant>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let acks = Arc::new(Mutex::new(HashMap::new()));
    let total = (rate * seconds).min(requests.len());
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until(started + interval * i as u32).await;
        let (client, requests, base, acks) = (
            client.clone(),
            requests.clone(),
            base.to_owned(),
            acks.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let p = &requests[i];
            let t = Instant::now();
            let ok = client
                .post(format!("{base}?{}", p.query))
                .body(p.body.clone())
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            let done = Instant::now();
            if let Ok(mut a) = acks.lock() {
                a.insert(p.welcome_code.clone(), done);
            }
            (done - t, ok)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, ok) = task.await.expect("task");
        latencies.push(l);
        if !ok {
            errors += 1;
        }
    }
    latencies.sort();
    let elapsed = started.elapsed().as_secs_f64();
    let acks = Arc::try_unwrap(acks)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_default();
    (
        RunResult {
            per_second: latencies.len() as f64 / elapsed,
            latencies,
            errors,
        },
        acks,
    )
}

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

/// CPU time (user + system) the process has used, from /proc (clock ticks of 10 ms).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn_serve(dir: &Path, backend: &str, extra: &str, api_base: &str) -> (Child, String) {
    let (backend, synchronous) = backend.split_once('/').unwrap_or((backend, "full"));
    let port = free_port();
    let config = dir.join(format!("{backend}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
[store]
backend = "{backend}"
path = "{db}"
synchronous = "{synchronous}"
[api]
base_url = "{api_base}"
[log]
level = "warn"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "{CORP_ID}"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
{extra}
"#,
            db = dir.join(format!("{backend}-{port}.db")).display()
        ),
    )
    .expect("config");
    let child = Command::new(env!("CARGO_BIN_EXE_wecom-callback"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn serve");
    (child, format!("http://127.0.0.1:{port}"))
}

async fn wait_healthy(base: &str) {
    for _ in 0..500 {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{base} did not become healthy");
}

/// A bare actix-web endpoint that answers 200 to any POST, on its own threads.
fn start_bare() -> String {
    let port = free_port();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(|| {
                App::new().route(
                    "/callback/contacts",
                    web::post().to(|_body: web::Bytes| async { HttpResponse::Ok().finish() }),
                )
            })
            .bind(("127.0.0.1", port))
            .expect("bind bare")
            .run()
            .await
            .expect("bare server");
        });
    });
    format!("http://127.0.0.1:{port}")
}

/// A fake WeCom API: gettoken, and send_welcome_msg recording when each code arrived.
fn start_fake_api(arrivals: Arc<Mutex<HashMap<String, Instant>>>) -> String {
    let port = free_port();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                let arrivals = arrivals.clone();
                App::new()
                    .route(
                        "/cgi-bin/gettoken",
                        web::get().to(|| async {
                            HttpResponse::Ok().json(serde_json::json!({"errcode":0,"errmsg":"ok","access_token":"TOKEN","expires_in":7200}))
                        }),
                    )
                    .route(
                        "/cgi-bin/externalcontact/send_welcome_msg",
                        web::post().to(move |body: web::Json<serde_json::Value>| {
                            let arrivals = arrivals.clone();
                            async move {
                                let now = Instant::now();
                                if let (Some(code), Ok(mut a)) =
                                    (body.get("welcome_code").and_then(|c| c.as_str()), arrivals.lock())
                                {
                                    a.insert(code.to_owned(), now);
                                }
                                HttpResponse::Ok().json(serde_json::json!({"errcode":0,"errmsg":"ok"}))
                            }
                        }),
                    )
            })
            .bind(("127.0.0.1", port))
            .expect("bind fake api")
            .run()
            .await
            .expect("fake api");
        });
    });
    format!("http://127.0.0.1:{port}")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let concurrency: usize = std::env::var("LOAD_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    // `cargo test --benches` runs benches with --bench absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (seconds, count) = if quick {
        (1, 2_000)
    } else {
        (seconds, 600_000)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        println!("preparing {count} sealed callbacks …");
        let requests = Arc::new(prepare(count, now));

        // Throughput: every target gets `ROUNDS` runs, interleaved so that whatever else the
        // machine does affects all of them alike; each figure is the median run.
        let bare = start_bare();
        let mut targets = vec![("bare actix-web".to_owned(), None, format!("{bare}/callback/contacts"))];
        for backend in ["sqlite", "sqlite/normal", "memory"] {
            let (child, base) = spawn_serve(dir.path(), backend, "", "http://127.0.0.1:9");
            wait_healthy(&base).await;
            targets.push((format!("serve ({backend})"), Some(child), format!("{base}/callback/contacts")));
        }
        let rounds = if quick { 1 } else { ROUNDS };
        let per_round = requests.len() / rounds;
        let mut results: Vec<Vec<(RunResult, f64)>> = targets.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            let slice = Arc::new(requests[round * per_round..(round + 1) * per_round].iter().map(Prepared::clone).collect::<Vec<_>>());
            for (i, (_, child, url)) in targets.iter().enumerate() {
                let pid = child.as_ref().map(Child::id);
                let cpu_before = pid.and_then(cpu_seconds).unwrap_or_default();
                let run = flood(url, slice.clone(), concurrency, seconds).await;
                let cpu = pid.and_then(cpu_seconds).unwrap_or_default() - cpu_before;
                results[i].push((run, cpu));
            }
        }
        let median = |runs: &mut Vec<(RunResult, f64)>| -> (RunResult, f64) {
            runs.sort_by(|a, b| a.0.per_second.total_cmp(&b.0.per_second));
            runs.remove(runs.len() / 2)
        };
        let (bare_run, _) = median(&mut results[0]);
        println!(
            "{:<22}: {:>8.0} callbacks/s  ratio 1.00×  p50 {:.2} ms  p99 {:.2} ms  (median of {rounds} runs of {seconds} s)",
            targets[0].0,
            bare_run.per_second,
            ms(percentile(&bare_run.latencies, 0.5)),
            ms(percentile(&bare_run.latencies, 0.99))
        );
        for (i, (name, child, _)) in targets.iter_mut().enumerate().skip(1) {
            let (run, cpu) = median(&mut results[i]);
            let rss = child.as_ref().and_then(|c| peak_rss_kib(c.id())).unwrap_or_default();
            println!(
                "{name:<22}: {:>8.0} callbacks/s  ratio {:.2}×  p50 {:.2} ms  p99 {:.2} ms  errors {}  peak RSS {:.1} MiB  server CPU {:.0} µs/callback",
                run.per_second,
                run.per_second / bare_run.per_second,
                ms(percentile(&run.latencies, 0.5)),
                ms(percentile(&run.latencies, 0.99)),
                run.errors,
                rss as f64 / 1024.0,
                cpu * 1e6 / run.latencies.len().max(1) as f64
            );
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }

        let (mut child, base) = spawn_serve(dir.path(), "sqlite", "", "http://127.0.0.1:9");
        wait_healthy(&base).await;
        let fresh = Arc::new(prepare(if quick { 500 } else { 3_000 }, now + 1));
        let (run, _) = steady(&format!("{base}/callback/contacts"), fresh, 1_000, if quick { 1 } else { 3 }).await;
        println!(
            "serve (sqlite) at 1,000 callbacks/s: p50 {:.2} ms  p99 {:.2} ms  errors {}  peak RSS {:.1} MiB",
            ms(percentile(&run.latencies, 0.5)),
            ms(percentile(&run.latencies, 0.99)),
            run.errors,
            peak_rss_kib(child.id()).unwrap_or_default() as f64 / 1024.0
        );
        let _ = child.kill();
        let _ = child.wait();

        let arrivals = Arc::new(Mutex::new(HashMap::new()));
        let api = start_fake_api(arrivals.clone());
        let welcome = "secret = \"demo\"\n[apps.welcome]\ntext = \"你好，欢迎！\"\n";
        let (mut child, base) = spawn_serve(dir.path(), "sqlite", welcome, &api);
        wait_healthy(&base).await;
        let fresh_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let fresh = Arc::new(prepare(if quick { 250 } else { 2_500 }, fresh_now));
        let (run, acks) = steady(&format!("{base}/callback/contacts"), fresh, 500, if quick { 1 } else { 5 }).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
        let mut delays: Vec<Duration> = acks
            .iter()
            .filter_map(|(code, ack)| arrivals.get(code).map(|at| at.saturating_duration_since(*ack)))
            .collect();
        delays.sort();
        println!(
            "welcome at 500 customers/s: {} of {} sent; ack → send_welcome_msg p50 {:.2} ms  p99 {:.2} ms  (callback errors {})",
            delays.len(),
            acks.len(),
            ms(percentile(&delays, 0.5)),
            ms(percentile(&delays, 0.99)),
            run.errors
        );
        let _ = child.kill();
        let _ = child.wait();
    });
}
