//! Driving a target with `wrk` (one thread, many connections, a Lua script streaming distinct
//! pre-sealed callbacks from a file) and reading its report.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The script: each request is the next `query<TAB>body` line of `$LOAD_REQUESTS`, POSTed to
/// `$LOAD_PATH`; at the end of the file it starts again (those are duplicates).
const SCRIPT: &str = r#"
local file = assert(io.open(os.getenv("LOAD_REQUESTS"), "r"))
local path = os.getenv("LOAD_PATH")
local headers = { ["Content-Type"] = "text/xml" }
request = function()
  local line = file:read("*l")
  if line == nil then
    file:seek("set", 0)
    line = file:read("*l")
  end
  local tab = string.find(line, "\t", 1, true)
  return wrk.format("POST", path .. "?" .. string.sub(line, 1, tab - 1), headers, string.sub(line, tab + 1))
end
"#;

/// What one wrk run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub per_second: f64,
    pub requests: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub failed: u64,
}

/// Whether `wrk` is installed.
pub fn available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// Run wrk against `url` (host and path) for `seconds` with `connections`.
pub fn run(dir: &Path, url: &str, requests: &Path, seconds: u64, connections: usize) -> Report {
    let script = dir.join("load.lua");
    if !script.exists() {
        std::fs::write(&script, SCRIPT).expect("wrk script");
    }
    let (base, path) = match url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
    {
        Some(at) => (&url[..at], &url[at..]),
        None => (url, "/"),
    };
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(base)
        .env("LOAD_REQUESTS", requests)
        .env("LOAD_PATH", path)
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    parse(&text)
}

fn parse(text: &str) -> Report {
    let mut report = Report::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => report.per_second = n.parse().unwrap_or_default(),
            [n, "requests", "in", ..] => report.requests = n.parse().unwrap_or_default(),
            ["50%", t] => report.p50 = duration(t),
            ["99%", t] => report.p99 = duration(t),
            ["Non-2xx", "or", "3xx", "responses:", n] => report.failed += n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                report.failed += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    report
}

fn duration(text: &str) -> Duration {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: f64 = n.parse().unwrap_or_default();
    let seconds = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => 0.0,
    };
    Duration::from_secs_f64(seconds)
}
