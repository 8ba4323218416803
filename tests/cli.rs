//! The command line as a user runs it: `parse`, `decrypt`, `seal`, `check-config`, `replay`
//! and `events`, with one-line errors and non-zero exits.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use wecom_callback::store::{
    Appended, Inbox, NewDelivery, NewEvent, Outcome, SqliteInbox, dedup_key,
};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wecom-callback"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run wecom-callback")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_owned()
}

fn example_config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config.example.toml")
        .display()
        .to_string()
}

/// `config.example.toml` written into `dir` with its SQLite store at `db`.
fn example_config_with_store(dir: &Path, db: &Path) -> std::path::PathBuf {
    let config = dir.join("config.toml");
    let example = std::fs::read_to_string(example_config()).unwrap();
    std::fs::write(
        &config,
        example.replace("data/wecom-callback.db", &db.display().to_string()),
    )
    .unwrap();
    config
}

fn fixture_path(name: &str) -> String {
    fixtures_dir().join(name).display().to_string()
}

#[test]
fn parse_prints_one_json_line_per_file() {
    let o = run(&[
        "parse",
        &fixture_path("change_external_contact__add_external_contact.xml"),
        &fixture_path("change_external_chat__update.xml"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["change_type"], "add_external_contact");
    assert!(lines[1]["mem_change_list"].is_array());

    let bad = run(&["parse", "/no/such/file.xml"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).starts_with("error: cannot read /no/such/file.xml"));
}

/// Output into a pipe whose reader is gone (`wecom-callback … | head -1` once `head` has its
/// line) ends the command quietly with SIGPIPE's status, never a panic.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let seal = [
        "seal",
        "--config",
        &example_config(),
        &fixture_path("change_external_contact__add_external_contact.xml"),
    ];
    let parse = ["parse", &fixture_path("change_external_chat__update.xml")];
    for args in [&seal[..], &parse[..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = bin().args(args).stdout(writer).output().unwrap();
        assert_eq!(o.status.code(), Some(141), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

/// `seal` with nothing to seal (an empty file, or no file and nothing piped in) says so, rather
/// than sealing an empty plaintext that the server would refuse.
#[test]
fn seal_refuses_an_empty_plaintext() {
    let config = example_config();
    let o = run(&["seal", "--config", &config, "--verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: nothing to seal: stdin is empty"),
        "{}",
        stderr(&o)
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.xml");
    std::fs::write(&empty, "").unwrap();
    let o = run(&["seal", "--config", &config, &empty.display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("empty.xml is empty"), "{}", stderr(&o));
}

/// `seal --verify` takes the echostr as `echo` pipes it (its line ending is not part of the
/// echostr), and warns when the server would refuse the one it seals.
#[test]
fn seal_verify_takes_a_piped_echostr_and_warns_of_a_bad_one() {
    use std::io::Write;
    let config = example_config();
    let seal = |input: &str| {
        let mut child = bin()
            .args(["seal", "--config", &config, "--verify"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    for piped in ["1234567890\n", "1234567890\r\n", "1234567890"] {
        let sealed = seal(piped);
        assert!(sealed.status.success(), "{piped:?}: {}", stderr(&sealed));
        assert_eq!(stderr(&sealed), "", "{piped:?}");
        let query = stdout(&sealed).trim().to_owned();
        let opened = run(&["decrypt", "--config", &config, "--query", &query]);
        assert!(opened.status.success(), "{}", stderr(&opened));
        assert_eq!(stdout(&opened), "1234567890\n", "{piped:?}");
    }
    let o = seal("\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: nothing to seal: stdin holds only a line ending"),
        "{}",
        stderr(&o)
    );
    for bad in ["two words\n", "<xml/>", "1234567890\n\n"] {
        let o = seal(bad);
        assert!(o.status.success(), "{bad:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("warning: not an echostr the server answers"),
            "{bad:?}: {}",
            stderr(&o)
        );
    }
}

/// `seal` warns when the file is not a callback the server would take — a golden `.json`
/// picked for its `.xml`, say — and seals it anyway (to test that refusal); a fixture's XML
/// seals without a word.
#[test]
fn seal_warns_of_a_plaintext_the_server_would_refuse() {
    let config = example_config();
    let seal = |name: &str| run(&["seal", "--config", &config, &fixture_path(name)]);
    let xml = seal("change_external_chat__create.xml");
    assert!(xml.status.success(), "{}", stderr(&xml));
    assert_eq!(stderr(&xml), "");
    let json = seal("change_external_chat__create.json");
    assert!(json.status.success(), "{}", stderr(&json));
    assert!(
        stderr(&json).starts_with("warning: not a callback the server takes (malformed xml"),
        "{}",
        stderr(&json)
    );
    let query = stdout(&json).lines().next().unwrap_or_default().to_owned();
    assert!(
        query.starts_with("msg_signature="),
        "sealed anyway: {query}"
    );
}

#[test]
fn seal_then_decrypt_round_trips_and_tampering_is_named() {
    let file = fixture_path("change_external_contact__add_external_contact.xml");
    let config = example_config();
    let sealed = run(&[
        "seal",
        "--config",
        &config,
        "--timestamp",
        "1700000000",
        "--nonce",
        "42",
        &file,
    ]);
    assert!(sealed.status.success(), "{}", stderr(&sealed));
    let text = stdout(&sealed);
    let mut lines = text.lines();
    let query = lines.next().unwrap().to_owned();
    let body = lines.next().unwrap().to_owned();
    assert!(query.contains("timestamp=1700000000&nonce=42"));
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body.xml");
    std::fs::write(&body_path, &body).unwrap();
    let body_arg = body_path.display().to_string();

    let o = run(&["decrypt", "--config", &config, "--query", &query, &body_arg]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(json["event"], "change_external_contact");

    let tampered = query.replace("nonce=42", "nonce=43");
    let o = run(&[
        "decrypt", "--config", &config, "--query", &tampered, &body_arg,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: signature mismatch"),
        "{}",
        stderr(&o)
    );

    let verify = run(&[
        "seal", "--config", &config, "--verify", "--nonce", "1", &file,
    ]);
    let q = stdout(&verify).lines().next().unwrap().to_owned();
    assert!(q.contains("echostr="));
    let o = run(&["decrypt", "--config", &config, "--query", &q]);
    assert!(stdout(&o).starts_with("<xml>"));
}

#[test]
fn decrypt_official_vector_a() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.xml");
    std::fs::write(&body, "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>").unwrap();
    let o = run(&[
        "decrypt",
        "--config",
        &example_config(),
        "--query",
        "msg_signature=477715d11cdb4164915debcba66cb864d751f3e6&timestamp=1409659813&nonce=1372623149",
        &body.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(json["content"], "hello");
    assert_eq!(json["msg_id"], "4561255354251345929");
}

#[test]
fn check_config_names_the_problem() {
    let o = run(&["check-config", "--config", &example_config()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(": ok (1 app; store: sqlite)"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("contacts at /callback/contacts: no plug-ins"));

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let example = std::fs::read_to_string(example_config()).unwrap();
    let unknown = write(
        "unknown.toml",
        &example.replace("[server]", "[server]\nlisten_port = 1"),
    );
    let o = run(&["check-config", "--config", &unknown]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("listen_port"), "{}", stderr(&o));

    let var = write(
        "var.toml",
        &example.replace(
            "token = \"QDG6eK\"",
            "token = \"${WECOM_TEST_UNSET_TOKEN}\"",
        ),
    );
    let o = bin()
        .args(["check-config", "--config", &var])
        .env_remove("WECOM_TEST_UNSET_TOKEN")
        .output()
        .unwrap();
    assert_eq!(
        stderr(&o),
        "error: environment variable WECOM_TEST_UNSET_TOKEN is not set (used by apps[0].token)"
    );
    let o = bin()
        .args(["check-config", "--config", &var])
        .env("WECOM_TEST_UNSET_TOKEN", "abc123")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let key = write(
        "key.toml",
        &example.replace("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "short"),
    );
    let o = run(&["check-config", "--config", &key]);
    assert!(
        stderr(&o).contains("apps[0].encoding_aes_key"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("short"));
}

#[test]
fn replay_runs_fixtures_through_the_configured_handlers() {
    let o = run(&[
        "replay",
        "--config",
        &example_config(),
        &fixture_path("change_external_contact__add_external_contact.xml"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("change_external_contact/add_external_contact (no handler takes it)")
    );
}

/// `events` on a store that does not exist names the path and creates nothing: a mistyped
/// `store.path` would otherwise list an empty store it had just made.
#[test]
fn events_on_a_missing_store_names_it_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo").join("inbox.db");
    let config = example_config_with_store(dir.path(), &db);
    let config = config.display().to_string();
    for args in [&["list"][..], &["show", "1"], &["purge", "--before", "0"]] {
        let o = run(&[&["events", "--config", &config][..], args].concat());
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&o),
            format!(
                "error: no store at {}: serve creates it at its first start (check store.path; \
                 a relative path is taken from the working directory)",
                db.display()
            )
        );
    }
    assert!(!db.exists() && !db.parent().unwrap().exists());
}

#[tokio::test]
async fn events_list_show_and_retry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inbox.db");
    let config = example_config_with_store(dir.path(), &db);
    let xml = fixture("change_external_contact__add_external_contact.xml");
    let id = {
        let inbox = SqliteInbox::open(&db).unwrap();
        let Appended::New { id, leased } = inbox
            .append(NewEvent {
                app: "contacts".into(),
                dedup_key: dedup_key("contacts", &xml, None),
                kind: "change_external_contact/add_external_contact".into(),
                lane: None,
                plaintext: xml.clone(),
                received_at: 1,
                deliveries: vec![NewDelivery {
                    handler: "welcome".into(),
                    lease: true,
                }],
                lease_until: i64::MAX,
            })
            .await
            .unwrap()
        else {
            panic!("new")
        };
        inbox
            .settle(
                leased[0].id,
                1,
                Outcome::Dead {
                    error: "welcome_code expired".into(),
                },
            )
            .await
            .unwrap();
        id
    };
    let config = config.display().to_string();
    let o = run(&["events", "--config", &config, "list", "--status", "failed"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with(&format!(
        "{id}\tfailed\tcontacts\tchange_external_contact/add_external_contact"
    )));

    let o = run(&["events", "--config", &config, "show", &id.to_string()]);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        shown["event"]["welcome_code"],
        xml_value(&xml, "WelcomeCode")
    );
    assert_eq!(shown["deliveries"][0]["handler"], "welcome");
    assert_eq!(shown["deliveries"][0]["status"], "dead");
    assert_eq!(shown["deliveries"][0]["last_error"], "welcome_code expired");

    let o = run(&["events", "--config", &config, "retry", "--failed"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // `--config` also after the subcommand, where people write it.
    let o = run(&["events", "list", "--status", "pending", "--config", &config]);
    assert!(
        stdout(&o).starts_with(&format!("{id}\tpending")),
        "{}",
        stderr(&o)
    );
    let o = run(&["events", "--config", &config, "show", "999"]);
    assert_eq!(stderr(&o), "error: no event 999");

    // Dead letters survive the purge of finished events; `--failed` removes them.
    let o = run(&["events", "--config", &config, "retry", "--failed"]);
    assert!(o.status.success(), "{}", stderr(&o));
    {
        let inbox = SqliteInbox::open(&db).unwrap();
        let now = wecom_callback_now_ms();
        let batch = inbox
            .lease("contacts", "welcome", 1, now, now + 30_000)
            .await
            .unwrap();
        inbox
            .settle(
                batch.deliveries[0].delivery.id,
                1,
                Outcome::Dead {
                    error: "again".into(),
                },
            )
            .await
            .unwrap();
    }
    let o = run(&["events", "--config", &config, "purge", "--before", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "0 finished events deleted");
    let o = run(&["events", "--config", &config, "list", "--status", "failed"]);
    assert!(stdout(&o).starts_with(&format!("{id}\tfailed")));
    let o = run(&[
        "events", "--config", &config, "purge", "--failed", "--before", "0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "1 failed events deleted");
    let o = run(&["events", "--config", &config, "list"]);
    assert_eq!(stdout(&o), "");
}

fn wecom_callback_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn xml_value(xml: &str, name: &str) -> String {
    let start = xml.find(&format!("<{name}>")).unwrap() + name.len() + 2;
    let end = xml.find(&format!("</{name}>")).unwrap();
    xml[start..end]
        .trim_start_matches("<![CDATA[")
        .trim_end_matches("]]>")
        .to_owned()
}
