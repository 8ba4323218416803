//! The `syscalls` scenario's counting: the system calls a target makes per callback, by call,
//! counted by `perf stat` on the kernel's syscall tracepoints while `wrk` drives the target.
//! It shows what the kernel is asked for per callback — a WAL frame's writes, the WAL index's
//! locks, the syncs, the wakes between threads — which CPU time alone does not say.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::targets::Target;
use super::wrk;

/// Whether `perf` can count syscall tracepoints here (it needs root, or
/// `kernel.perf_event_paranoid` at -1).
pub fn available() -> bool {
    Command::new("perf")
        .args(["stat", "-e", "syscalls:sys_enter_getpid", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Drive `target` with `requests` for `seconds` while `perf` counts its system calls: each
/// call made at least once per hundred callbacks, with its count per callback, most first.
pub fn per_callback(
    dir: &Path,
    target: &Target,
    requests: &Path,
    seconds: u64,
    connections: usize,
) -> Vec<(String, f64)> {
    let out = dir.join("syscalls.csv");
    let mut perf = Command::new("perf")
        .args(["stat", "-x", ",", "-e", "syscalls:sys_enter_*", "-o"])
        .arg(&out)
        .args(["-p", &target.child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("perf");
    // perf opens some hundreds of tracepoints before it counts.
    std::thread::sleep(Duration::from_secs(1));
    let report = wrk::run(dir, &target.url(), requests, seconds, connections);
    let _ = Command::new("kill")
        .args(["-INT", &perf.id().to_string()])
        .status();
    let _ = perf.wait();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let callbacks = report.requests.max(1) as f64;
    let mut calls: Vec<(String, f64)> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let count: f64 = fields.first()?.parse().ok()?;
            let name = fields.get(2)?.strip_prefix("syscalls:sys_enter_")?;
            Some((name.to_owned(), count / callbacks))
        })
        .filter(|(_, per)| *per >= 0.01)
        .collect();
    calls.sort_by(|a, b| b.1.total_cmp(&a.1));
    calls
}
