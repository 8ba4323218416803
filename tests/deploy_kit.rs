//! The deployment kit in `deploy/` against the service it deploys: every metric the Grafana
//! dashboard and the Prometheus alert rules name is one `/metrics` exports, both files are
//! well-formed, and the systemd unit and nginx site keep the promises `deploy/README.md` makes.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::*;
use serde_json::Value;
use wecom_callback::Service;

/// The value of `key = …` in `config.example.toml` (the defaults a deployment starts from).
fn example_setting(key: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let text = std::fs::read_to_string(&path).expect("config.example.toml");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key} = ")))
        .and_then(|rest| rest.split('#').next())
        .map(|value| value.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("config.example.toml has no {key}"))
}

fn deploy_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `wecom_callback_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("wecom_callback_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The series names a scrape exports: from `# TYPE` lines (counters as `_total`, histograms as
/// `_bucket`/`_sum`/`_count`) and from the samples themselves.
fn exported(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            let mut parts = declared.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            match kind {
                "counter" => {
                    names.insert(format!("{}_total", name.trim_end_matches("_total")));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {
                    names.insert(name.to_owned());
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// Every `expr` string in the dashboard (panel targets) and its template queries.
fn dashboard_queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("expr" | "definition", Value::String(query)) => out.push(query.clone()),
                    ("query", Value::String(query)) if query.contains("wecom_callback_") => {
                        out.push(query.clone());
                    }
                    _ => dashboard_queries(field, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| dashboard_queries(item, out)),
        _ => {}
    }
}

/// One rule of the alerts file: its `alert` name and the keys and `expr` it has.
#[derive(Debug, Default)]
struct Rule {
    alert: String,
    keys: BTreeSet<String>,
    expr: String,
    severity: String,
}

/// Reads the rules of a Prometheus rules file by its structure: `groups:` → `- name:` →
/// `rules:` → one `- alert:` block per rule with its keys one indentation level in.
fn alert_rules(yaml: &str) -> Vec<Rule> {
    assert!(!yaml.contains('\t'), "YAML must not be indented with tabs");
    let lines: Vec<&str> = yaml
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .collect();
    assert_eq!(
        lines.first().copied(),
        Some("groups:"),
        "starts with groups:"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.trim_start().starts_with("- name: ")),
        "a named group"
    );
    assert!(
        lines.iter().any(|line| line.trim() == "rules:"),
        "a rules list"
    );
    let mut rules: Vec<Rule> = Vec::new();
    let mut rule_indent = 0;
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim_start();
        if let Some(name) = text.strip_prefix("- alert: ") {
            rule_indent = indent + 2;
            rules.push(Rule {
                alert: name.trim().to_owned(),
                ..Rule::default()
            });
            continue;
        }
        let Some(rule) = rules.last_mut() else {
            continue;
        };
        if indent == rule_indent
            && let Some((key, value)) = text.split_once(':')
        {
            rule.keys.insert(key.to_owned());
            if key == "expr" {
                rule.expr = value.trim().to_owned();
            }
        } else if indent > rule_indent && text.starts_with("severity:") {
            rule.severity = text.trim_start_matches("severity:").trim().to_owned();
        }
    }
    rules
}

/// The dashboard and the alert rules name only metrics the running service exports.
#[tokio::test]
async fn dashboard_and_alerts_name_only_exported_metrics() {
    let running = Service::new(config("", "")).start().await.expect("start");
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();
    // One callback, so that families with labels have samples too.
    let sealed = seal(
        &fixture("change_external_contact__add_external_contact.xml"),
        "kit",
    );
    assert_eq!(post(&client, &base, &sealed).await.0, 200);
    let scrape = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text");
    running.stop().await;
    let exported = exported(&scrape);
    assert!(
        exported.contains("wecom_callback_callbacks_total"),
        "{scrape}"
    );

    let dashboard: Value =
        serde_json::from_str(&deploy_file("grafana-dashboard.json")).expect("dashboard is JSON");
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(queries.len() >= 10, "{queries:?}");
    let used_by_dashboard: BTreeSet<String> =
        queries.iter().flat_map(|q| metric_names(q)).collect();
    let unknown: Vec<_> = used_by_dashboard.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "dashboard names {unknown:?}; /metrics has {exported:?}"
    );
    for family in [
        "wecom_callback_callbacks_total",
        "wecom_callback_ack_latency_seconds_bucket",
        "wecom_callback_deliveries_pending",
        "wecom_callback_oldest_pending_delivery_seconds",
        "wecom_callback_dead_letters",
        "wecom_callback_api_calls",
    ] {
        assert!(
            used_by_dashboard.contains(family),
            "the dashboard shows {family}"
        );
    }
    assert!(
        queries.iter().any(|q| q.contains("histogram_quantile(")),
        "acknowledgement latency as quantiles"
    );

    let alerts = deploy_file("prometheus-alerts.yml");
    let rules = alert_rules(&alerts);
    assert_eq!(rules.len(), 6, "{rules:?}");
    for rule in &rules {
        for key in ["expr", "labels", "annotations"] {
            assert!(rule.keys.contains(key), "{}: no {key}", rule.alert);
        }
        assert!(!rule.severity.is_empty(), "{}: no severity", rule.alert);
        let unknown: Vec<_> = metric_names(&rule.expr)
            .into_iter()
            .filter(|name| !exported.contains(name))
            .collect();
        assert!(unknown.is_empty(), "{} names {unknown:?}", rule.alert);
    }
    let expr_of = |alert: &str| {
        rules
            .iter()
            .find(|rule| rule.alert == alert)
            .map(|rule| rule.expr.clone())
            .unwrap_or_else(|| panic!("no alert {alert}"))
    };
    assert!(expr_of("WecomCallbackDeadLettersRising").contains("wecom_callback_dead_letters"));
    let stuck = expr_of("WecomCallbackDeliveryStuck");
    assert!(
        stuck.contains("wecom_callback_oldest_pending_delivery_seconds") && stuck.ends_with("> 60")
    );
    let refusals = expr_of("WecomCallbackRefusals");
    assert!(
        refusals.contains("wecom_callback_callbacks_total")
            && refusals.contains(r#"outcome!~"stored|duplicate|verified|probe""#),
        "{refusals}"
    );
    let token = expr_of("WecomCallbackTokenFailures");
    assert!(
        token.contains(r#"path="/cgi-bin/gettoken""#) && token.contains(r#"errcode!="0""#),
        "{token}"
    );
    assert_eq!(
        expr_of("WecomCallbackStoreDown"),
        "wecom_callback_store_up == 0"
    );
}

/// The systemd unit is hardened and stops cleanly within the service's shutdown timeout.
#[test]
fn systemd_unit_is_hardened() {
    let unit = deploy_file("wecom-callback.service");
    let setting = |key: &str| {
        unit.lines()
            .filter_map(|line| line.strip_prefix(&format!("{key}=")))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    for (key, value) in [
        ("User", "wecom-callback"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ReadWritePaths", "/var/lib/wecom-callback"),
        ("StateDirectory", "wecom-callback"),
        ("EnvironmentFile", "/etc/wecom-callback/env"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(setting(key), [value], "{key}");
    }
    let stop = setting("TimeoutStopSec");
    let seconds: u64 = stop
        .first()
        .and_then(|value| value.trim_end_matches('s').parse().ok())
        .expect("TimeoutStopSec in seconds");
    let shutdown: u64 = example_setting("shutdown_timeout")
        .trim_end_matches('s')
        .parse()
        .expect("shutdown_timeout in seconds");
    assert!(
        seconds > 2 * shutdown,
        "TimeoutStopSec {seconds}s must exceed twice shutdown_timeout ({shutdown}s)"
    );
    assert!(setting("ExecStart")[0].contains("serve --config /etc/wecom-callback/"));
}

/// nginx passes only `/callback/` on, with the query untouched and the service's body limit.
#[test]
fn nginx_site_passes_only_callbacks_untouched() {
    let site = deploy_file("nginx.conf");
    let directives: Vec<&str> = site
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .collect();
    let proxy_passes: Vec<&&str> = directives
        .iter()
        .filter(|line| line.starts_with("proxy_pass "))
        .collect();
    assert_eq!(proxy_passes.len(), 1, "{proxy_passes:?}");
    let target = proxy_passes[0]
        .trim_start_matches("proxy_pass ")
        .trim_end_matches(';');
    let after_scheme = target.trim_start_matches("http://");
    assert!(
        !after_scheme.contains('/') && !target.contains('$'),
        "proxy_pass without a URI part keeps the request URI as sent: {target}"
    );
    let locations: Vec<&str> = directives
        .iter()
        .filter_map(|line| line.strip_prefix("location "))
        .collect();
    let pass_at = directives
        .iter()
        .position(|line| line.starts_with("proxy_pass "))
        .unwrap_or_default();
    let enclosing = directives[..pass_at]
        .iter()
        .rev()
        .find_map(|line| line.strip_prefix("location "));
    assert_eq!(enclosing, Some("/callback/ {"), "{locations:?}");
    assert!(
        !locations
            .iter()
            .any(|l| l.contains("metrics") || l.contains("healthz")),
        "/metrics and /healthz are not public: {locations:?}"
    );
    assert!(directives.contains(&"client_max_body_size 64k;"));
    let max_body = config("", "").server.max_body_bytes;
    assert_eq!(
        max_body,
        64 * 1024,
        "nginx's limit matches server.max_body_bytes"
    );
    assert!(directives.contains(&"proxy_buffering off;"));
    assert!(
        directives
            .iter()
            .any(|d| d.starts_with("server 127.0.0.1:8080"))
    );
}
