//! End-to-end load benchmark: `cargo bench --bench load [-- SCENARIO…]`.
//!
//! Scenarios (all of them when none is named):
//! - `throughput`: distinct, validly sealed callbacks driven by `wrk` (one thread, 32
//!   connections) at a bare actix-web endpoint and at `wecom-callback serve` with each store —
//!   SQLite `full` (the default config, `info` logging), SQLite `normal`, memory, and PostgreSQL
//!   (a fresh database on the server of `DATABASE_URL`, by default the local one; skipped when
//!   it cannot be reached), and SQLite `full` and PostgreSQL again with a `forward` handler
//!   posting every event to the bare endpoint (after each of their runs the benchmark waits
//!   until the handler's backlog has run, so that it does not run in another target's turn);
//!   with `LOAD_BASELINE_BIN=path/to/older/wecom-callback`, that binary's SQLite figures side
//!   by side, and this build's callbacks/s and CPU per callback as ratios of that binary's in
//!   the same runs. Every target gets three runs, interleaved; the table shows each target's
//!   median run: callbacks/s, the ratio to the bare endpoint, ack p50/p99, server CPU per
//!   callback (also by thread, below the table; and for PostgreSQL on this machine, the
//!   database server's CPU per callback) and peak RSS. Ratios are refused when the bare endpoint is not
//!   at least 3× the SQLite target: then the generator, not the service, is the limit. A second
//!   table counts each `forward` target's callbacks until every delivery ran (the run and its
//!   backlog together): callbacks handled per second, and server and database CPU per handled
//!   callback.
//! - `steady`: 1,000 callbacks/s for 5 s to the default config: ack p50/p99 and peak RSS.
//! - `flood`: the same with 200 clients hammering `/healthz` and `/metrics`: ack p99 with and
//!   without the flood, once with the probes on the callback port and once on `admin_listen`.
//! - `welcome`: 500 new customers/s for 10 s with `welcome` (against a fake WeCom) and a
//!   `forward` whose target accepts connections and never answers: how soon after each
//!   acknowledgement `send_welcome_msg` arrives; on SQLite, then on PostgreSQL (when reachable).
//! - `instructions`: instructions per callback through `serve` on SQLite under
//!   `valgrind --tool=callgrind` (the figure noise cannot move): the difference between runs of
//!   1,100 and 100 sequential callbacks, divided by 1,000; with `LOAD_BASELINE_BIN`, that
//!   binary's count too, and this build's as a ratio of it.
//! - `instructions-concurrent`: the same with 32 callbacks in flight, 41,000 against 1,000
//!   created over time as under full load — so the writer commits groups and sweeps dedup
//!   keys as it does there; about a minute (not in the default set).
//! - `syscalls`: system calls per callback, by call, for the bare endpoint and `serve` on
//!   SQLite `full` under `wrk`, counted by `perf stat` (needs root; not in the default set).
//!
//! - `prepare`: only write the sealed callbacks (`requests-N.txt`) into `LOAD_DIR`, to drive a
//!   target by hand (e.g. under a profiler).
//!
//! `wrk` is a Debian package (`apt-get install wrk`); valgrind too. `LOAD_SECONDS` (default 4)
//! sets the length of each throughput run, `LOAD_CALLBACKS` (default [`DISTINCT_PER_ROUND`])
//! the distinct callbacks sealed for each round.

mod callbacks;
mod fakes;
mod steady;
mod syscalls;
mod targets;
mod wrk;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use steady::percentile;
use targets::Target;
use wecom_callback::testing::postgres::{TestDatabase, server_address};

const ROUNDS: usize = 3;
const CONNECTIONS: usize = 32;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wecom-callback"))
}

/// The `forward` handler's signing key in the benchmark (a Standard Webhooks `whsec_` key).
const FORWARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const SQLITE_FULL: &str = "backend = \"sqlite\"\npath = \"{dir}/inbox.db\"";
const SQLITE_NORMAL: &str =
    "backend = \"sqlite\"\npath = \"{dir}/inbox.db\"\nsynchronous = \"normal\"";

fn main() {
    if let Some(port) = std::env::var("LOAD_BARE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        targets::run_bare(port);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("the load benchmark runs with `cargo bench --bench load`");
        return;
    }
    let named: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let all = ["throughput", "steady", "flood", "welcome", "instructions"];
    let scenarios: Vec<&str> = if named.is_empty() {
        all.to_vec()
    } else {
        named
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let temp = tempfile::tempdir().expect("tempdir");
        // LOAD_DIR keeps the sealed callbacks and stores (to profile a target by hand).
        let kept = std::env::var("LOAD_DIR").ok().map(PathBuf::from);
        if let Some(kept) = &kept
            && let Err(e) = std::fs::create_dir_all(kept)
        {
            eprintln!("LOAD_DIR {}: {e}", kept.display());
            std::process::exit(2);
        }
        let dir = kept.as_deref().unwrap_or(temp.path());
        for scenario in scenarios {
            match scenario {
                "throughput" => throughput(dir).await,
                "steady" => steady_rate(dir, false).await,
                "flood" => steady_rate(dir, true).await,
                "welcome" => welcome(dir).await,
                "instructions" => instructions(dir, Sending::Sequential).await,
                "instructions-concurrent" => instructions(dir, Sending::Concurrent).await,
                "syscalls" => syscalls_per_callback(dir).await,
                "prepare" => {
                    let first: usize = std::env::var("LOAD_SERIES")
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(30);
                    callbacks::write_files(dir, first, ROUNDS, DISTINCT_PER_ROUND);
                    println!("sealed callbacks written to {}", dir.display());
                }
                other => println!(
                    "unknown scenario {other:?} (scenarios: {}, instructions-concurrent, syscalls, prepare)",
                    all.join(", ")
                ),
            }
        }
    });
}

/// The `syscalls` scenario: each target's system calls per callback under `wrk`.
async fn syscalls_per_callback(dir: &Path) {
    if !wrk::available() || !syscalls::available() {
        println!(
            "syscalls: needs wrk and perf with access to the syscall tracepoints (Debian: \
             apt-get install wrk linux-perf; run as root or with kernel.perf_event_paranoid = -1)"
        );
        return;
    }
    let requests = dir.join("requests-syscalls.txt");
    callbacks::write_file(&requests, callbacks::created_over_time(40, 100_000));
    let targets = [
        targets::bare().await,
        targets::serve(
            &binary(),
            dir,
            "serve, SQLite full (default)",
            SQLITE_FULL,
            "",
            "info",
        )
        .await,
    ];
    for target in &targets {
        let calls = syscalls::per_callback(dir, target, &requests, 3, CONNECTIONS);
        let calls: Vec<String> = calls
            .iter()
            .map(|(name, per)| format!("{name} {per:.3}"))
            .collect();
        println!(
            "syscalls per callback, {}: {}",
            target.name,
            calls.join(" · ")
        );
    }
    println!(
        "(counting every call slows the target: its commits then hold fewer callbacks, so the \
         calls made once per commit count more per callback than at full speed)"
    );
}

/// The distinct callbacks sealed for each throughput round: more than any target that stores
/// them answers in a run (up to 100,000 a second for 4 s), so that no run's figure is a blend of
/// new events and retries (`wrk` starts the file again at its end; a retry costs a store less
/// than a new event: ~1.3–2.2 µs of CPU per callback less on SQLite, measured by hand).
const DISTINCT_PER_ROUND: usize = 400_000;

/// Write back what the runs before left in the page cache, so that no target's run pays (in
/// slower syncs, or in the kernel's writeback on its cores) for the data of the one before.
async fn settle() {
    if let Err(e) = Command::new("sync").status() {
        println!("  cannot run sync ({e}): runs may pay for the writes of the one before");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn throughput(dir: &Path) {
    if !wrk::available() {
        println!(
            "throughput: wrk is not installed (Debian: apt-get install wrk); without a generator \
             the bare endpoint outruns, no ratio would mean anything"
        );
        return;
    }
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let count: usize = std::env::var("LOAD_CALLBACKS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DISTINCT_PER_ROUND);
    println!("throughput: sealing {ROUNDS} × {count} distinct callbacks …");
    let files = callbacks::write_files(dir, 0, ROUNDS, count);
    let mut targets: Vec<Target> = vec![targets::bare().await];
    let ours = binary();
    for (name, store) in [
        ("serve, SQLite full (default)", SQLITE_FULL),
        ("serve, SQLite normal", SQLITE_NORMAL),
        ("serve, memory", "backend = \"memory\""),
    ] {
        targets.push(targets::serve(&ours, dir, name, store, "", "info").await);
    }
    // With a handler: every callback also becomes a delivery, leased, run (a signed POST to
    // the bare endpoint) and settled, while intake goes on.
    let forward = format!(
        "[[apps.forward]]\nurl = \"{}\"\nsecret = \"{FORWARD_SECRET}\"",
        targets[0].url()
    );
    targets.push(
        targets::serve(
            &ours,
            dir,
            "serve, SQLite full + forward",
            SQLITE_FULL,
            &forward,
            "info",
        )
        .await,
    );
    // A fresh database: the same sealed callbacks in one kept from an earlier run would all be
    // duplicates.
    // (One per PostgreSQL target.)
    let databases =
        match futures::future::try_join(TestDatabase::try_create(), TestDatabase::try_create())
            .await
        {
            Ok(pair) => Some(pair),
            Err(e) => {
                println!("throughput: no PostgreSQL target — {e}");
                None
            }
        };
    if let Some((plain, forwarded)) = &databases {
        let server = server_address();
        let local = server.starts_with("127.0.0.1:") || server.starts_with("localhost:");
        for (name, db, handlers) in [
            ("serve, PostgreSQL", plain, ""),
            ("serve, PostgreSQL + forward", forwarded, forward.as_str()),
        ] {
            let store = format!("backend = \"postgres\"\nurl = \"{}\"", db.url());
            let mut target = targets::serve(&ours, dir, name, &store, handlers, "info").await;
            target.local_database = local;
            targets.push(target);
        }
    }
    // Each baseline target beside the target of this build it is compared with.
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    if let Ok(baseline) = std::env::var("LOAD_BASELINE_BIN") {
        let baseline = PathBuf::from(baseline);
        for (ours, name, store) in [
            (
                "serve, SQLite full (default)",
                "baseline, SQLite full",
                SQLITE_FULL,
            ),
            (
                "serve, SQLite normal",
                "baseline, SQLite normal",
                SQLITE_NORMAL,
            ),
        ] {
            if let Some(ours) = targets.iter().position(|t| t.name == ours) {
                pairs.push((ours, targets.len()));
            }
            targets.push(targets::serve(&baseline, dir, name, store, "", "info").await);
        }
    }
    let mut runs: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
    for (round, file) in files.iter().enumerate() {
        for (i, target) in targets.iter().enumerate() {
            settle().await;
            let (before, database_before) = (target.cpu_seconds(), target.database_cpu_seconds());
            let threads_before = target.thread_cpu_seconds();
            let report = wrk::run(dir, &target.url(), file, seconds, CONNECTIONS);
            let cpu = target.cpu_seconds() - before;
            let threads = target
                .thread_cpu_seconds()
                .into_iter()
                .map(|(name, after)| {
                    let spent = after - threads_before.get(&name).copied().unwrap_or_default();
                    (name, spent)
                })
                .collect();
            let database = target
                .database_cpu_seconds()
                .zip(database_before)
                .map(|(after, before)| after - before);
            println!(
                "  round {}: {:<30} {:>9.0}/s",
                round + 1,
                target.name,
                report.per_second
            );
            let drained = target.drain(Duration::from_secs(120)).await;
            let handled = target.handles.then(|| Handled {
                seconds: seconds as f64 + drained.as_secs_f64(),
                cpu: target.cpu_seconds() - before,
                database: target
                    .database_cpu_seconds()
                    .zip(database_before)
                    .map(|(after, before)| after - before),
            });
            runs[i].push(Run {
                report,
                cpu,
                threads,
                database,
                handled,
            });
        }
    }
    let medians: Vec<Run> = runs
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.report.per_second.total_cmp(&b.report.per_second));
            r.remove(r.len() / 2)
        })
        .collect();
    let bare = medians[0].report.per_second;
    let sqlite = medians[1].report.per_second;
    let honest = bare >= 3.0 * sqlite;
    println!(
        "\n| target | callbacks/s | vs bare | ack p50 | ack p99 | server CPU per callback | database CPU per callback | peak RSS | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (run, target) in medians.iter().zip(&targets) {
        let report = &run.report;
        let ratio = if honest {
            format!("{:.2}×", report.per_second / bare)
        } else {
            "–".to_owned()
        };
        let database = run.database.map_or_else(
            || "–".to_owned(),
            |seconds| format!("{:.1} µs", run.per_callback(seconds)),
        );
        println!(
            "| {} | {:.0} | {ratio} | {:.2} ms | {:.2} ms | {:.1} µs | {database} | {:.1} MiB | {} |",
            target.name,
            report.per_second,
            ms(report.p50),
            ms(report.p99),
            run.per_callback(run.cpu),
            target.peak_rss_mib(),
            report.failed
        );
    }
    if !honest {
        println!(
            "\nthe bare endpoint reached only {:.1}× the SQLite target, under the 3× asked of the \
             generator before ratios are reported, so none is (a guard set when the SQLite \
             target ran at 0.2–0.3× of bare; at 0.4× it cannot hold: README, Performance)",
            bare / sqlite.max(1.0)
        );
    }
    println!("(median of {ROUNDS} interleaved runs of {seconds} s, wrk -t1 -c{CONNECTIONS})\n");
    // The bare endpoint stores nothing: for it a callback sent again costs the same.
    for (run, target) in medians.iter().zip(&targets).skip(1) {
        let sent = run.report.requests;
        if sent > count as u64 {
            println!(
                "note: {} was sent {sent} callbacks, more than the {count} distinct ones of a \
                 round: {:.0}% were retries of callbacks it had stored, which cost less than new \
                 ones (raise LOAD_CALLBACKS)",
                target.name,
                (sent - count as u64) as f64 * 100.0 / sent as f64
            );
        }
    }
    threads_table(&medians, &targets);
    baseline_table(&medians, &targets, &pairs);
    handled_table(&medians, &targets);
    // The services stop before their database is dropped.
    drop(targets);
    drop(databases);
}

/// Where each target's CPU went in its median run: per callback, by thread name (threads
/// under 0.1 µs left out), so that a change can be aimed at the thread that spends.
fn threads_table(medians: &[Run], targets: &[Target]) {
    println!("server CPU per callback by thread (the same runs):");
    for (run, target) in medians.iter().zip(targets) {
        let threads: Vec<String> = run
            .threads
            .iter()
            .filter(|(_, seconds)| run.per_callback(**seconds) >= 0.1)
            .map(|(name, seconds)| format!("{name} {:.1} µs", run.per_callback(*seconds)))
            .collect();
        println!("  {}: {}", target.name, threads.join(" · "));
    }
    println!();
}

/// This build against the baseline's (`LOAD_BASELINE_BIN`), target by target: the ratios of
/// the median runs' callbacks/s and CPU per callback. Both ran in the same minutes on the same
/// files, so the ratios hold where the machine's own speed does not (it drifts by ±15% and
/// differs from machine to machine).
fn baseline_table(medians: &[Run], targets: &[Target], pairs: &[(usize, usize)]) {
    if pairs.is_empty() {
        return;
    }
    println!("this build against the baseline (the same runs):");
    for &(ours, baseline) in pairs {
        let (now, before) = (&medians[ours], &medians[baseline]);
        let (now_cpu, before_cpu) = (now.per_callback(now.cpu), before.per_callback(before.cpu));
        println!(
            "  {}: callbacks/s {:.2}×, CPU per callback {:.2}× ({now_cpu:.1} against {before_cpu:.1} µs)",
            targets[ours].name,
            now.report.per_second / before.report.per_second.max(1.0),
            now_cpu / before_cpu.max(f64::MIN_POSITIVE),
        );
    }
    println!();
}

/// One throughput run of one target.
struct Run {
    report: wrk::Report,
    /// The target's CPU seconds during the run.
    cpu: f64,
    /// The same by thread name.
    threads: BTreeMap<String, f64>,
    /// The local database server's CPU seconds during the run, for a target storing there.
    database: Option<f64>,
    /// For a target with a handler: the run and the backlog it left, together.
    handled: Option<Handled>,
}

impl Run {
    /// `seconds` (of CPU) spread over the run's callbacks, in µs.
    fn per_callback(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.report.requests.max(1) as f64
    }
}

/// A run with a handler, counted until its last delivery ran.
struct Handled {
    /// The run's seconds plus those its backlog took to run.
    seconds: f64,
    cpu: f64,
    database: Option<f64>,
}

/// The targets with a handler, each callback counted until its delivery ran: what a callback
/// costs when it is handled too, and the rate sustained with nothing left behind.
fn handled_table(medians: &[Run], targets: &[Target]) {
    let rows: Vec<(&Run, &Handled, &Target)> = medians
        .iter()
        .zip(targets)
        .filter_map(|(run, target)| run.handled.as_ref().map(|h| (run, h, target)))
        .collect();
    if rows.is_empty() {
        return;
    }
    println!(
        "| with a handler, until every delivery ran | callbacks handled/s | server CPU per callback | database CPU per callback |"
    );
    println!("|---|---|---|---|");
    for (run, handled, target) in rows {
        let database = handled.database.map_or_else(
            || "–".to_owned(),
            |s| format!("{:.1} µs", run.per_callback(s)),
        );
        println!(
            "| {} | {:.0} | {:.1} µs | {database} |",
            target.name,
            run.report.requests.max(1) as f64 / handled.seconds,
            run.per_callback(handled.cpu)
        );
    }
    println!("(the median run of each: its callbacks over the run's seconds and its backlog's)\n");
}

async fn steady_rate(dir: &Path, flood: bool) {
    if !flood && let Ok(baseline) = std::env::var("LOAD_BASELINE_BIN") {
        let target = targets::serve(
            Path::new(&baseline),
            dir,
            "baseline",
            SQLITE_FULL,
            "",
            "info",
        )
        .await;
        let run = steady::send(&target.url(), Arc::new(callbacks::prepare(9, 5_000)), 1_000).await;
        println!(
            "steady: baseline (SQLite full) at 1000 callbacks/s for 5 s: ack p50 {:.2} ms, p99 {:.2} ms, errors {}",
            ms(percentile(&run.latencies, 0.5)),
            ms(percentile(&run.latencies, 0.99)),
            run.errors
        );
    }
    let target = targets::serve(&binary(), dir, "serve", SQLITE_FULL, "", "info").await;
    let rate = 1_000;
    let quiet = Arc::new(callbacks::prepare(10, rate * 5));
    let without = steady::send(&target.url(), quiet, rate).await;
    println!(
        "steady: serve (SQLite full) at {rate} callbacks/s for 5 s: ack p50 {:.2} ms, p99 {:.2} ms, errors {}, peak RSS {:.1} MiB",
        ms(percentile(&without.latencies, 0.5)),
        ms(percentile(&without.latencies, 0.99)),
        without.errors,
        target.peak_rss_mib()
    );
    if !flood {
        return;
    }
    flood_probes(
        &target.base,
        &target.url(),
        &without,
        11,
        "the callback port",
    )
    .await;
    drop(target);
    // The same with the probes on `admin_listen`: HTTP workers of their own, so probes no
    // longer queue in the callbacks' event loops.
    let admin = targets::free_port();
    let target = targets::serve_on(
        &binary(),
        dir,
        "serve admin_listen",
        SQLITE_FULL,
        "",
        "info",
        Some(admin),
    )
    .await;
    let admin = format!("http://127.0.0.1:{admin}");
    let quiet = Arc::new(callbacks::prepare(13, rate * 5));
    let without = steady::send(&target.url(), quiet, rate).await;
    flood_probes(&admin, &target.url(), &without, 14, "admin_listen").await;
}

/// Send 1,000 callbacks/s (series `series`) to `url` for 5 s while 200 clients probe `/healthz`
/// and `/metrics` at `probed`, and print the ack p99 against `without`'s.
async fn flood_probes(probed: &str, url: &str, without: &steady::Steady, series: usize, on: &str) {
    let rate = 1_000;
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = steady::flood_admin(probed, 200, stop.clone());
    let loud = Arc::new(callbacks::prepare(series, rate * 5));
    let with = steady::send(url, loud, rate).await;
    stop.store(true, Ordering::Relaxed);
    let probes = flooder.await.unwrap_or_default();
    let (quiet_p99, loud_p99) = (
        percentile(&without.latencies, 0.99),
        percentile(&with.latencies, 0.99),
    );
    println!(
        "flood: with 200 clients on /healthz and /metrics at {on} ({probes} requests in 5 s): ack p99 {:.2} ms vs {:.2} ms without ({:.2}×), errors {}",
        ms(loud_p99),
        ms(quiet_p99),
        loud_p99.as_secs_f64() / quiet_p99.as_secs_f64().max(1e-9),
        with.errors
    );
}

async fn welcome(dir: &Path) {
    welcome_on(dir, "SQLite full", SQLITE_FULL).await;
    match TestDatabase::try_create().await {
        Ok(db) => {
            let store = format!("backend = \"postgres\"\nurl = \"{}\"", db.url());
            welcome_on(dir, "PostgreSQL", &store).await;
        }
        Err(e) => println!("welcome: no PostgreSQL run — {e}"),
    }
}

/// The `welcome` scenario on the store of `store` (a `[store]` body).
async fn welcome_on(dir: &Path, name: &str, store: &str) {
    let arrivals = Arc::new(Mutex::new(HashMap::new()));
    let api = fakes::wecom(arrivals.clone());
    let hole = fakes::black_hole();
    let extra = format!(
        "secret = \"demo\"\n[apps.welcome]\ntext = \"你好，欢迎！\"\n[[apps.forward]]\nurl = \"http://{hole}/events\"\n"
    );
    let store = format!("{store}\n[api]\nbase_url = \"{api}\"");
    let target = targets::serve(&binary(), dir, "serve", &store, &extra, "info").await;
    let (rate, seconds) = (500, 10);
    let requests = Arc::new(callbacks::prepare(12, rate * seconds));
    let run = steady::send(&target.url(), requests, rate).await;
    for _ in 0..300 {
        if arrivals.lock().map(|a| a.len()).unwrap_or_default() >= run.acks.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut delays: Vec<Duration> = run
        .acks
        .iter()
        .filter_map(|(code, ack)| {
            arrivals
                .get(code)
                .map(|at| at.saturating_duration_since(*ack))
        })
        .collect();
    delays.sort();
    println!(
        "welcome ({name}): {rate} new customers/s for {seconds} s, forward target never answering: {} of {} greeted; ack → send_welcome_msg p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (callback errors {})",
        delays.len(),
        run.acks.len(),
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.99)),
        ms(delays.last().copied().unwrap_or_default()),
        run.errors
    );
}

async fn instructions(dir: &Path, sending: Sending) {
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("instructions: valgrind is not installed (Debian: apt-get install valgrind)");
        return;
    }
    let (small, large, how) = match sending {
        Sending::Sequential => (100, 1_100, "sequential callbacks"),
        Sending::Concurrent => (1_000, 41_000, "32 callbacks in flight"),
    };
    let mut builds = vec![("this build".to_owned(), binary())];
    if let Ok(baseline) = std::env::var("LOAD_BASELINE_BIN") {
        builds.push((format!("baseline {baseline}"), PathBuf::from(baseline)));
    }
    let mut counted = Vec::new();
    for (i, (name, binary)) in builds.iter().enumerate() {
        let mut totals = Vec::new();
        let mut refused = 0;
        for (n, series) in [(small, 20), (large, 21)] {
            let (total, refusals) = callgrind_total(binary, dir, n, series, sending).await;
            totals.push(total);
            refused += refusals;
        }
        // This build must take every callback; an older one may time out under valgrind.
        assert!(
            i > 0 || refused == 0,
            "{refused} callbacks were refused under valgrind"
        );
        if refused > 0 {
            println!(
                "instructions: {name} refused {refused} callbacks under valgrind; no count for it"
            );
            continue;
        }
        let per = (totals[1] as f64 - totals[0] as f64) / (large - small) as f64;
        println!(
            "instructions: {per:.0} instructions per callback through serve (SQLite full, info logging, {how}; callgrind totals {} and {}; {name})",
            totals[0], totals[1]
        );
        counted.push(per);
    }
    if let [now, before] = counted[..] {
        println!(
            "instructions: this build {:.2}× the baseline's",
            now / before.max(1.0)
        );
    }
}

/// How the `instructions` scenarios send their callbacks.
#[derive(Clone, Copy)]
enum Sending {
    /// One after another, created now.
    Sequential,
    /// [`CONNECTIONS`] at a time, created over time as at full load.
    Concurrent,
}

/// Total instructions of `binary`'s `serve` that received `n` callbacks, sent as `sending` says,
/// and how many of them it refused.
async fn callgrind_total(
    binary: &Path,
    dir: &Path,
    n: usize,
    series: usize,
    sending: Sending,
) -> (u64, usize) {
    let port = targets::free_port();
    let out = dir.join(format!("callgrind-{n}.out"));
    let config = dir.join(format!("callgrind-{n}.toml"));
    // A fresh store each time: a kept LOAD_DIR must not add an old WAL's recovery to the count.
    let db = dir.join(format!("callgrind-{n}.db"));
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\nbackend = \"sqlite\"\npath = \"{}\"\n[[apps]]\nname = \"contacts\"\npath = \"/callback/contacts\"\ncorp_id = \"{}\"\ntoken = \"{}\"\nencoding_aes_key = \"{}\"\n",
            db.display(),
            callbacks::CORP_ID,
            callbacks::TOKEN,
            callbacks::AES_KEY
        ),
    )
    .expect("config");
    let mut child = Command::new("valgrind")
        .args(["--tool=callgrind", "--trace-children=no"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(binary)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("valgrind");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..3000 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (requests, in_flight) = match sending {
        Sending::Sequential => (callbacks::prepare(series, n), 1),
        Sending::Concurrent => (
            callbacks::created_over_time(series, n).collect(),
            CONNECTIONS,
        ),
    };
    let refused = futures::stream::iter(requests)
        .map(|sealed| {
            client
                .post(format!("{base}/callback/contacts?{}", sealed.query))
                .body(sealed.body)
                .send()
        })
        .buffer_unordered(in_flight)
        .filter(|r| std::future::ready(!r.as_ref().is_ok_and(|r| r.status().is_success())))
        .count()
        .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary: ")
                .or_else(|| l.strip_prefix("totals: "))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    (total, refused)
}
