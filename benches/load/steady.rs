//! A steady sender (a callback every 1/rate s, each on its own task) for latency at a given
//! rate; and a flood of `/healthz` and `/metrics` requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::callbacks::Sealed;

/// Latencies of a steady run, sorted, and when each welcome code was acknowledged.
pub struct Steady {
    pub latencies: Vec<Duration>,
    pub errors: usize,
    pub acks: HashMap<String, Instant>,
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Send `requests` to `url` at `rate` per second.
pub async fn send(url: &str, requests: Arc<Vec<Sealed>>, rate: usize) -> Steady {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let acks = Arc::new(Mutex::new(HashMap::new()));
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(requests.len());
    for i in 0..requests.len() {
        tokio::time::sleep_until(started + interval * i as u32).await;
        let (client, requests, url, acks) = (
            client.clone(),
            requests.clone(),
            url.to_owned(),
            acks.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = &requests[i];
            let t = Instant::now();
            let ok = client
                .post(format!("{url}?{}", r.query))
                .body(r.body.clone())
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            let done = Instant::now();
            if let Ok(mut a) = acks.lock() {
                a.insert(r.welcome_code.clone(), done);
            }
            (done - t, ok)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, ok) = task.await.expect("task");
        latencies.push(l);
        errors += usize::from(!ok);
    }
    latencies.sort();
    let acks = Arc::try_unwrap(acks)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_default();
    Steady {
        latencies,
        errors,
        acks,
    }
}

/// `clients` loops GETting `/healthz` and `/metrics` at `base` until `stop`; returns how many.
pub fn flood_admin(
    base: &str,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    let base = base.to_owned();
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(clients)
            .build()
            .expect("client");
        let count = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..clients {
            let (client, base, stop, count) =
                (client.clone(), base.clone(), stop.clone(), count.clone());
            tasks.push(tokio::spawn(async move {
                let path = if i % 2 == 0 { "/healthz" } else { "/metrics" };
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(r) = client.get(format!("{base}{path}")).send().await {
                        let _ = r.bytes().await;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
        count.load(Ordering::Relaxed)
    })
}
