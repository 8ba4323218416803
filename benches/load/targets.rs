//! The processes under load: `wecom-callback serve` with a given store, a bare actix-web
//! endpoint (this benchmark re-run in bare mode), and the helpers that watch them (CPU time and
//! peak memory from /proc).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::callbacks::{AES_KEY, CORP_ID, TOKEN};

/// A process under load and the URL of its callback path.
pub struct Target {
    pub name: String,
    pub child: Child,
    pub base: String,
    /// Stores into the PostgreSQL server on this machine, whose CPU time is counted too.
    pub local_database: bool,
    /// Runs a handler: every callback also becomes a delivery.
    pub handles: bool,
}

impl Target {
    pub fn url(&self) -> String {
        format!("{}/callback/contacts", self.base)
    }

    /// CPU time (user + system) used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id()).unwrap_or_default()
    }

    /// CPU seconds of the target's threads so far, summed by thread name (Linux cuts names
    /// at 15 bytes: actix-web's workers are `actix-server wo`).
    pub fn thread_cpu_seconds(&self) -> BTreeMap<String, f64> {
        let mut by_name = BTreeMap::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return by_name;
        };
        for task in tasks.flatten() {
            let path = task.path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if let Some(seconds) = stat_cpu_seconds(&path.join("stat")) {
                *by_name.entry(name.trim().to_owned()).or_default() += seconds;
            }
        }
        by_name
    }

    /// CPU time used so far by the PostgreSQL server on this machine (every `postgres`
    /// process), in seconds; `None` unless this target stores there.
    pub fn database_cpu_seconds(&self) -> Option<f64> {
        self.local_database.then(postgres_cpu_seconds)
    }

    /// Wait (at most `limit`) until the target has no delivery left to run, so that its
    /// handlers' backlog does not run during another target's turn; returns how long that
    /// took (to within the 20 ms between looks). A target without deliveries (or without
    /// `/metrics`) returns at once.
    ///
    /// Done when every stored callback's delivery has finished (its one handler's outcomes
    /// `done` and `dead` add up to the callbacks stored): live counters, where the
    /// `deliveries_pending` gauge is read from the store at most once a second.
    pub async fn drain(&self, limit: Duration) -> Duration {
        let start = tokio::time::Instant::now();
        while start.elapsed() < limit {
            let Ok(response) = reqwest::get(format!("{}/metrics", self.base)).await else {
                return start.elapsed();
            };
            let Ok(text) = response.text().await else {
                return start.elapsed();
            };
            let sum = |metric: &str, outcomes: &[&str]| -> f64 {
                text.lines()
                    .filter(|l| l.starts_with(metric))
                    .filter(|l| {
                        outcomes
                            .iter()
                            .any(|o| l.contains(&format!("outcome=\"{o}\"")))
                    })
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum()
            };
            let stored = sum("wecom_callback_callbacks_total{", &["stored"]);
            let finished = sum("wecom_callback_handler_outcomes_total{", &["done", "dead"]);
            if !self.handles || finished >= stored {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!("  {}: deliveries still pending after {limit:?}", self.name);
        start.elapsed()
    }

    /// Peak resident memory so far, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        peak_rss_kib(self.child.id()).unwrap_or_default() as f64 / 1024.0
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// CPU time of every process named `postgres` (the server and its backends), in seconds.
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .filter_map(cpu_seconds)
        .sum()
}

fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu_seconds(Path::new(&format!("/proc/{pid}/stat")))
}

/// User and system CPU seconds from a `/proc` `stat` file (a process's or a thread's).
fn stat_cpu_seconds(stat: &Path) -> Option<f64> {
    let stat = std::fs::read_to_string(stat).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Start `binary serve` on a fresh store: `store` is the `[store]` body, `extra` goes into the
/// app. Logging is the default (`info`) unless `log` says otherwise.
pub async fn serve(
    binary: &Path,
    dir: &Path,
    name: &str,
    store: &str,
    extra: &str,
    log: &str,
) -> Target {
    serve_on(binary, dir, name, store, extra, log, None).await
}

/// [`serve`], with `/healthz` and `/metrics` on port `admin` of their own (`admin_listen`)
/// when given.
pub async fn serve_on(
    binary: &Path,
    dir: &Path,
    name: &str,
    store: &str,
    extra: &str,
    log: &str,
    admin: Option<u16>,
) -> Target {
    let port = free_port();
    let admin_listen = admin
        .map(|admin| format!("admin_listen = \"127.0.0.1:{admin}\""))
        .unwrap_or_default();
    let config = dir.join(format!("serve-{port}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
{admin_listen}
[store]
{store}
[log]
level = "{log}"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "{CORP_ID}"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
{extra}
"#,
            store = store.replace(
                "{dir}",
                &dir.join(format!("store-{port}")).display().to_string()
            ),
        ),
    )
    .expect("config");
    let child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let target = Target {
        name: name.to_owned(),
        child,
        base: format!("http://127.0.0.1:{port}"),
        local_database: false,
        handles: !extra.is_empty(),
    };
    match admin {
        Some(admin) => wait_healthy(&format!("http://127.0.0.1:{admin}"), "/healthz").await,
        None => wait_healthy(&target.base, "/healthz").await,
    }
    target
}

/// Start this benchmark again in bare mode: an actix-web endpoint answering 200 to every POST.
pub async fn bare() -> Target {
    let port = free_port();
    let child = Command::new(std::env::current_exe().expect("current exe"))
        .env("LOAD_BARE_PORT", port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn bare");
    let target = Target {
        name: "bare actix-web".into(),
        child,
        base: format!("http://127.0.0.1:{port}"),
        local_database: false,
        handles: false,
    };
    wait_healthy(&target.base, "/callback/contacts").await;
    target
}

/// The bare endpoint itself (in the re-run process).
pub fn run_bare(port: u16) {
    use actix_web::{App, HttpResponse, HttpServer, web};
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| {
            App::new().route(
                "/callback/contacts",
                web::to(|_body: web::Bytes| async { HttpResponse::Ok().finish() }),
            )
        })
        .bind(("127.0.0.1", port))
        .expect("bind bare")
        .run()
        .await
        .expect("bare server");
    });
}

async fn wait_healthy(base: &str, path: &str) {
    for _ in 0..1500 {
        if let Ok(r) = reqwest::get(format!("{base}{path}")).await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{base} did not become healthy");
}
