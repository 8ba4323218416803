//! The `api` command as a user runs it, against a fake WeCom (wiremock): the answer is printed
//! as received (fields the types do not know included), `--all` walks every page and prints
//! each item once, 84061 from `list` is an empty list, and API calls go through `[api] proxy`
//! or the usual proxy environment variables.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "TOKEN-never-shown";
const SECRET: &str = "S3CRET-never-shown";

/// WeCom's answer: HTTP 200 with `errcode`/`errmsg` and `payload`'s fields.
fn answer(code: i64, message: &str, payload: Value) -> ResponseTemplate {
    let mut body = json!({"errcode": code, "errmsg": message});
    if let (Some(body), Value::Object(payload)) = (body.as_object_mut(), payload) {
        body.extend(payload);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn ok(payload: Value) -> ResponseTemplate {
    answer(0, "ok", payload)
}

async fn mount_gettoken(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .and(query_param("corpsecret", SECRET))
        .respond_with(ok(json!({"access_token": TOKEN, "expires_in": 7200})))
        .mount(server)
        .await;
}

/// A config whose one app has a secret; `api` is the body of `[api]`.
fn write_config(dir: &Path, api: &str) -> PathBuf {
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[api]
{api}
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "wwAPICLI"
token = "QDG6eK"
encoding_aes_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
secret = "{SECRET}"
"#
        ),
    )
    .expect("config");
    file
}

/// Runs the binary with a clean proxy environment (the caller adds what it tests).
fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wecom-callback"));
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(var);
    }
    command
}

fn api(config: &Path, args: &[&str]) -> Output {
    bin()
        .arg("api")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run api")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_owned()
}

/// Every field WeCom sends is printed, known to the types or not, as one compact line when
/// stdout is not a terminal.
#[tokio::test]
async fn prints_fields_the_types_do_not_know() {
    let server = MockServer::start().await;
    mount_gettoken(&server).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/get_contact_way"))
        .and(body_json(json!({"config_id": "c1"})))
        .respond_with(ok(json!({
            "contact_way": {"config_id": "c1", "type": 1, "scene": 2, "new_in_2030": {"x": [1, 2]}},
            "top_level_surprise": "kept"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &format!("base_url = \"{}\"", server.uri()));

    let o = api(&config, &["get_contact_way", r#"{"config_id":"c1"}"#]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 1, "compact, one line: {text}");
    let printed: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(printed["top_level_surprise"], "kept");
    assert_eq!(printed["contact_way"]["new_in_2030"], json!({"x": [1, 2]}));
    assert_eq!(printed["errcode"], 0);
    assert!(!text.contains(TOKEN) && !stderr(&o).contains(TOKEN));
}

/// `--all` follows `next_cursor` over three pages and prints every item exactly once, one
/// JSON line each.
#[tokio::test]
async fn all_walks_three_cursor_pages() {
    let server = MockServer::start().await;
    mount_gettoken(&server).await;
    for (cursor, chats, next) in [
        (None, ["wr1", "wr2"], "P2"),
        (Some("P2"), ["wr3", "wr4"], "P3"),
        (Some("P3"), ["wr5", "wr6"], ""),
    ] {
        let mut body = json!({"limit": 2});
        if let Some(cursor) = cursor {
            body["cursor"] = json!(cursor);
        }
        let list: Vec<Value> = chats
            .iter()
            .map(|id| json!({"chat_id": id, "status": 0, "unknown_extra": true}))
            .collect();
        Mock::given(method("POST"))
            .and(path("/cgi-bin/externalcontact/groupchat/list"))
            .and(body_json(body))
            .respond_with(ok(json!({"group_chat_list": list, "next_cursor": next})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &format!("base_url = \"{}\"", server.uri()));

    let o = api(&config, &["--all", "groupchat_list", r#"{"limit":2}"#]);
    assert!(o.status.success(), "{}", stderr(&o));
    let items: Vec<Value> = stdout(&o)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let ids: Vec<&str> = items
        .iter()
        .map(|item| item["chat_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["wr1", "wr2", "wr3", "wr4", "wr5", "wr6"]);
    assert!(items.iter().all(|item| item["unknown_extra"] == true));
    assert_eq!(
        stderr(&o),
        "",
        "no progress line when stderr is not a terminal"
    );
    server.verify().await;
}

/// `--all` on `groupchat/statistic` follows `next_offset` until `total`.
#[tokio::test]
async fn all_walks_offset_pages() {
    let server = MockServer::start().await;
    mount_gettoken(&server).await;
    for (offset, owners, next) in [
        (None, ["a", "b"], 2),
        (Some(2), ["c", "d"], 4),
        (Some(4), ["e", "f"], 6),
    ] {
        let mut body = json!({"day_begin_time": 1700000000, "limit": 2});
        if let Some(offset) = offset {
            body["offset"] = json!(offset);
        }
        let items: Vec<Value> = owners
            .iter()
            .map(|owner| json!({"owner": owner, "data": {"chat_total": 1}}))
            .collect();
        Mock::given(method("POST"))
            .and(path("/cgi-bin/externalcontact/groupchat/statistic"))
            .and(body_json(body))
            .respond_with(ok(json!({"total": 6, "next_offset": next, "items": items})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &format!("base_url = \"{}\"", server.uri()));

    let o = api(
        &config,
        &[
            "--all",
            "groupchat_statistic",
            r#"{"day_begin_time":1700000000,"limit":2}"#,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let owners: Vec<String> = stdout(&o)
        .lines()
        .map(|line| {
            let item: Value = serde_json::from_str(line).expect("json line");
            item["owner"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(owners, ["a", "b", "c", "d", "e", "f"]);
    server.verify().await;
}

/// `--all` on a method without pages is a one-line error naming the method; nothing is sent.
#[tokio::test]
async fn all_on_a_method_without_pages_is_an_error() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &format!("base_url = \"{}\"", server.uri()));
    let o = api(
        &config,
        &["--all", "remark", r#"{"userid":"u","external_userid":"e"}"#],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: `remark` is not paged") && err.contains("groupchat_list"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

/// 84061 from `list` (a member without customers) prints WeCom's answer with an empty list and
/// exits 0; other errcodes exit 1 with `errcode N: errmsg` and, for 60020, the fix.
#[tokio::test]
async fn empty_list_and_errors() {
    let server = MockServer::start().await;
    mount_gettoken(&server).await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/externalcontact/list"))
        .respond_with(answer(84061, "not external contact", json!({})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/externalcontact/get_follow_user_list"))
        .respond_with(answer(
            60020,
            "not allow to access from your ip, from ip: 203.0.113.7",
            json!({}),
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &format!("base_url = \"{}\"", server.uri()));

    let o = api(&config, &["list", r#"{"userid":"newbie"}"#]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(printed["external_userid"], json!([]));
    assert_eq!(printed["errcode"], 84061);

    let o = api(&config, &["get_follow_user_list"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: errcode 60020: not allow to access from your ip")
            && err.contains("企业可信IP"),
        "{err}"
    );
    assert_eq!(stdout(&o), "");
}

/// `[api] proxy` sends every call through the proxy; without it, `HTTP_PROXY` from the
/// environment does (reqwest's default, which the client keeps).
#[tokio::test]
async fn calls_use_the_configured_proxy_or_the_environment() {
    let proxy = MockServer::start().await;
    mount_gettoken(&proxy).await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/externalcontact/get_follow_user_list"))
        .respond_with(ok(json!({"follow_user": ["via-proxy"]})))
        .mount(&proxy)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let unreachable = "base_url = \"http://qyapi.wecom.invalid\"";

    let config = write_config(
        dir.path(),
        &format!("{unreachable}\nproxy = \"{}\"", proxy.uri()),
    );
    let o = api(&config, &["get_follow_user_list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("via-proxy"));

    let config = write_config(dir.path(), unreachable);
    let o = bin()
        .env("HTTP_PROXY", proxy.uri())
        .arg("api")
        .arg("--config")
        .arg(&config)
        .arg("get_follow_user_list")
        .output()
        .expect("run api");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("via-proxy"));

    let config = write_config(
        dir.path(),
        &format!("{unreachable}\nproxy = \"socks5://127.0.0.1:1080\""),
    );
    let o = bin()
        .arg("check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run check-config");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("api.proxy"), "{}", stderr(&o));
}
