//! Replays the fixtures: every plaintext callback in `fixtures/events/` through [`Event::parse`]
//! (typed variant, golden JSON, the §3.4 JSON contract), and every encrypted callback in
//! `fixtures/encrypted/` through envelope → signature → decrypt.
//!
//! # Regenerating
//!
//! - Golden JSON (`fixtures/events/*.json`), after a deliberate change to the JSON form:
//!   `BLESS=1 cargo test --test fixtures_replay`
//! - Encrypted fixtures (`fixtures/encrypted/*.{body.xml,query}`), after adding or editing a
//!   plaintext fixture:
//!   `cargo test --test fixtures_replay -- --ignored regenerate_encrypted_fixtures`
//!
//! Both are deterministic (the random prefix, nonce and timestamp derive from the fixture's name
//! and content), so regenerating unchanged fixtures changes nothing. Read `git diff fixtures/`
//! before committing: a golden is a claim about the contract, not whatever the code printed.
//!
//! Encrypted fixtures use official vector set A (`fixtures/vectors/set_a.toml`): token `QDG6eK`,
//! its EncodingAESKey, receive id `wx5823bf96d3bd56c7`, so they can be replayed against a server
//! configured with those values, e.g. with `wecom-callback decrypt`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use sha1::{Digest, Sha1};
use wecom_callback::event::{ChatChange, ContactChange, TagChange, snake_case};
use wecom_callback::{Envelope, Event, MsgCrypt};

const TOKEN_A: &str = "QDG6eK";
const KEY_A: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const RECEIVE_ID_A: &str = "wx5823bf96d3bd56c7";
const AGENT_ID_A: &str = "218";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `(stem, plaintext)` of every `fixtures/events/*.xml`, sorted by name.
fn event_fixtures() -> Vec<(String, String)> {
    let dir = fixtures().join("events");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (stem, text)
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 26,
        "expected the whole fixture set, found {}",
        out.len()
    );
    out
}

/// What a fixture must parse into.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Contact(ContactChange),
    Chat(ChatChange),
    Tag(TagChange),
    Acquisition(&'static str),
    Unknown,
}

/// Every fixture and what it must be. A fixture missing here, or an entry without a file, fails.
const EXPECTED: &[(&str, Expect)] = &[
    (
        "change_external_contact__add_external_contact",
        Expect::Contact(ContactChange::AddExternalContact),
    ),
    (
        "change_external_contact__edit_external_contact",
        Expect::Contact(ContactChange::EditExternalContact),
    ),
    (
        "change_external_contact__add_half_external_contact",
        Expect::Contact(ContactChange::AddHalfExternalContact),
    ),
    (
        "change_external_contact__del_external_contact",
        Expect::Contact(ContactChange::DelExternalContact),
    ),
    (
        "change_external_contact__del_follow_user",
        Expect::Contact(ContactChange::DelFollowUser),
    ),
    (
        "change_external_contact__transfer_fail",
        Expect::Contact(ContactChange::TransferFail),
    ),
    (
        "change_external_contact__msg_audit_approved",
        Expect::Contact(ContactChange::MsgAuditApproved),
    ),
    (
        "change_external_chat__create",
        Expect::Chat(ChatChange::Create),
    ),
    (
        "change_external_chat__update",
        Expect::Chat(ChatChange::Update),
    ),
    (
        "change_external_chat__dismiss",
        Expect::Chat(ChatChange::Dismiss),
    ),
    (
        "change_external_tag__create",
        Expect::Tag(TagChange::Create),
    ),
    (
        "change_external_tag__update",
        Expect::Tag(TagChange::Update),
    ),
    (
        "change_external_tag__delete",
        Expect::Tag(TagChange::Delete),
    ),
    (
        "change_external_tag__shuffle",
        Expect::Tag(TagChange::Shuffle),
    ),
    (
        "customer_acquisition__balance_low",
        Expect::Acquisition("balance_low"),
    ),
    (
        "customer_acquisition__link_unavailable",
        Expect::Acquisition("link_unavailable"),
    ),
    (
        "customer_acquisition__friend_request",
        Expect::Acquisition("friend_request"),
    ),
    (
        "customer_acquisition__customer_start_chat",
        Expect::Acquisition("customer_start_chat"),
    ),
    (
        "customer_acquisition__message_from_customer",
        Expect::Acquisition("message_from_customer"),
    ),
    (
        "customer_acquisition__quota_expire_soon",
        Expect::Acquisition("quota_expire_soon"),
    ),
    (
        "no_cdata__add_external_contact",
        Expect::Contact(ContactChange::AddExternalContact),
    ),
    (
        "extra_field__add_external_contact",
        Expect::Contact(ContactChange::AddExternalContact),
    ),
    (
        "legacy__chat_update_comma_list",
        Expect::Chat(ChatChange::Update),
    ),
    ("unknown__new_event", Expect::Unknown),
    ("unknown__third_party_infotype", Expect::Unknown),
    ("unknown__text_message", Expect::Unknown),
];

/// The typed families, as named in fixture files `<family>__<change_type>.xml`.
const FAMILIES: [&str; 4] = [
    "change_external_contact",
    "change_external_chat",
    "change_external_tag",
    "customer_acquisition",
];

fn expectation(stem: &str) -> Expect {
    EXPECTED
        .iter()
        .find(|(name, _)| *name == stem)
        .map(|(_, e)| *e)
        .unwrap_or_else(|| {
            panic!("fixture {stem}.xml has no entry in EXPECTED (tests/fixtures_replay.rs)")
        })
}

fn parse(stem: &str, xml: &str) -> Event {
    Event::parse(xml).unwrap_or_else(|e| panic!("{stem}.xml does not parse: {e}"))
}

/// The golden form: pretty JSON with a trailing newline, keys in the order the library emits.
fn render(json: &Json) -> String {
    let mut s = serde_json::to_string_pretty(json).unwrap();
    s.push('\n');
    s
}

/// A flat, key-wise diff of two JSON objects, for failure messages.
fn json_diff(expected: &Json, actual: &Json) -> String {
    let (Some(e), Some(a)) = (expected.as_object(), actual.as_object()) else {
        return format!("- {expected}\n+ {actual}\n");
    };
    let mut out = String::new();
    for (k, ev) in e {
        match a.get(k) {
            None => writeln!(out, "-   {k:?}: {ev}").unwrap(),
            Some(av) if av != ev => {
                writeln!(out, "-   {k:?}: {ev}").unwrap();
                writeln!(out, "+   {k:?}: {av}").unwrap();
            }
            Some(_) => {}
        }
    }
    for (k, av) in a {
        if !e.contains_key(k) {
            writeln!(out, "+   {k:?}: {av}").unwrap();
        }
    }
    if out.is_empty() {
        let ek: Vec<_> = e.keys().collect();
        let ak: Vec<_> = a.keys().collect();
        writeln!(
            out,
            "  same keys and values, different order:\n  golden: {ek:?}\n  actual: {ak:?}"
        )
        .unwrap();
    }
    out
}

#[test]
fn every_fixture_has_an_expectation_and_vice_versa() {
    let on_disk: BTreeSet<String> = event_fixtures().into_iter().map(|(s, _)| s).collect();
    let listed: BTreeSet<String> = EXPECTED.iter().map(|(s, _)| s.to_string()).collect();
    let unlisted: Vec<_> = on_disk.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "fixtures without an EXPECTED entry: {unlisted:?}; EXPECTED entries without a file: {missing:?}"
    );
}

#[test]
fn every_fixture_matches_its_golden_json() {
    let bless = std::env::var_os("BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (stem, xml) in event_fixtures() {
        let actual = parse(&stem, &xml).to_json();
        let rendered = render(&actual);
        let golden_path = fixtures().join("events").join(format!("{stem}.json"));
        if bless {
            std::fs::write(&golden_path, &rendered).unwrap();
            eprintln!("blessed {}", golden_path.display());
            continue;
        }
        let Ok(golden_text) = std::fs::read_to_string(&golden_path) else {
            failures.push(format!(
                "{stem}: no golden {} — create it with BLESS=1 cargo test --test fixtures_replay",
                golden_path.display()
            ));
            continue;
        };
        checked += 1;
        if golden_text != rendered {
            let golden: Json = serde_json::from_str(&golden_text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", golden_path.display()));
            failures.push(format!(
                "{stem}: to_json() differs from fixtures/events/{stem}.json\n{}",
                json_diff(&golden, &actual)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ from their golden JSON:\n\n{}\n\
         If the new output is what the contract (architecture §3.4) wants, regenerate with\n    \
         BLESS=1 cargo test --test fixtures_replay\nand read `git diff fixtures/events/` before committing.",
        failures.len(),
        checked,
        failures.join("\n")
    );
}

#[test]
fn every_fixture_is_its_expected_variant() {
    for (stem, xml) in event_fixtures() {
        let event = parse(&stem, &xml);
        let want = expectation(&stem);
        match (want, &event) {
            (Expect::Contact(c), Event::Contact(e)) => assert_eq!(e.change, c, "{stem}"),
            (Expect::Chat(c), Event::Chat(e)) => assert_eq!(e.change, c, "{stem}"),
            (Expect::Tag(c), Event::Tag(e)) => assert_eq!(e.change, c, "{stem}"),
            (Expect::Acquisition(c), Event::Acquisition(e)) => {
                assert_eq!(e.change.as_str(), c, "{stem}")
            }
            (Expect::Unknown, Event::Unknown(u)) => {
                assert_eq!(
                    u.raw_xml, xml,
                    "{stem}: raw_xml must be the plaintext byte for byte"
                );
            }
            _ => panic!("{stem}: expected {want:?}, parsed {event:?}"),
        }
        // The file name is `<event>__<change_type>` for the typed families.
        let (family, change) = stem.split_once("__").unwrap();
        if FAMILIES.contains(&family) {
            assert_eq!(event.kind(), format!("{family}/{change}"), "{stem}");
        }
    }
}

/// Architecture §3.4, checked on every fixture independently of the goldens.
#[test]
fn json_follows_the_contract() {
    const NUMBERS: [&str; 5] = [
        "create_time",
        "join_scene",
        "quit_scene",
        "mem_change_cnt",
        "strategy_id",
    ];
    for (stem, xml_text) in event_fixtures() {
        let event = parse(&stem, &xml_text);
        let json = event.to_json();
        let obj = json
            .as_object()
            .unwrap_or_else(|| panic!("{stem}: not an object"));
        for (key, value) in obj {
            assert!(
                !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{stem}: key {key:?} is not snake_case"
            );
            assert!(
                !value.is_null() && !value.is_object(),
                "{stem}: {key} = {value} (flat object, no nulls)"
            );
        }
        // Nothing is dropped: every element of the document appears under its snake_case name.
        for name in top_level_elements(&xml_text) {
            let key = snake_case(&name);
            assert!(
                obj.contains_key(&key),
                "{stem}: element {name} is missing from the JSON as {key}"
            );
        }
        let is_unknown = matches!(event, Event::Unknown(_));
        if is_unknown {
            // Every element kept as a string (containers as arrays of strings); create_time a number.
            for (key, value) in obj {
                if key == "create_time" {
                    assert!(value.is_i64(), "{stem}: create_time = {value}");
                } else {
                    let ok = value.is_string()
                        || value
                            .as_array()
                            .is_some_and(|a| a.iter().all(Json::is_string));
                    assert!(
                        ok,
                        "{stem}: unknown kinds keep {key} as a string, got {value}"
                    );
                }
            }
        } else {
            for key in ["event", "change_type"] {
                assert!(
                    obj.get(key).is_some_and(Json::is_string),
                    "{stem}: {key} missing"
                );
            }
            for (key, value) in obj {
                if NUMBERS.contains(&key.as_str()) {
                    assert!(
                        value.is_i64(),
                        "{stem}: {key} must be a number, got {value}"
                    );
                } else if key == "mem_change_list" {
                    let items = value
                        .as_array()
                        .unwrap_or_else(|| panic!("{stem}: mem_change_list = {value}"));
                    assert!(
                        items.iter().all(Json::is_string),
                        "{stem}: mem_change_list = {value}"
                    );
                } else {
                    assert!(
                        value.is_string(),
                        "{stem}: {key} must be a string, got {value}"
                    );
                }
            }
        }
    }
}

fn event_json(stem: &str) -> Json {
    let path = fixtures().join("events").join(format!("{stem}.xml"));
    parse(stem, &std::fs::read_to_string(path).unwrap()).to_json()
}

#[test]
fn variants_of_one_event_agree() {
    let add = event_json("change_external_contact__add_external_contact");
    assert_eq!(
        event_json("no_cdata__add_external_contact"),
        add,
        "CDATA and plain text must read the same"
    );

    let mut with_extra = add.clone();
    with_extra
        .as_object_mut()
        .unwrap()
        .insert("add_way".into(), Json::from("202"));
    let extra = event_json("extra_field__add_external_contact");
    assert_eq!(extra, with_extra, "an unknown element is kept, as a string");

    let items = event_json("change_external_chat__update");
    let legacy = event_json("legacy__chat_update_comma_list");
    assert_eq!(
        legacy, items,
        "comma-joined MemChangeList reads like <Item>s"
    );
    assert_eq!(items["mem_change_list"].as_array().map(Vec::len), Some(3));
}

// ---------------------------------------------------------------------------------------------
// Encrypted fixtures

/// Deterministic sealing inputs for one fixture: `(random, timestamp, nonce)`.
fn seal_inputs(stem: &str, plaintext: &str) -> ([u8; 16], String, String) {
    let digest = Sha1::digest(format!("wecom-callback fixture {stem}").as_bytes());
    let hex = hex::encode(digest);
    // 16 lowercase hex characters: alphanumeric, like the official libraries' random prefixes.
    let random: [u8; 16] = hex.as_bytes()[..16].try_into().unwrap();
    let nonce = u32::from_be_bytes(digest[16..20].try_into().unwrap()).to_string();
    // WeCom's `timestamp` is close to the event's CreateTime; use it when there is one.
    let timestamp = Event::parse(plaintext)
        .ok()
        .and_then(|e| e.create_time())
        .unwrap_or(1_718_000_000)
        .to_string();
    (random, timestamp, nonce)
}

/// `(query, body)` of a fixture sealed with vector set A.
fn seal(stem: &str, plaintext: &str) -> (String, String) {
    let crypt = MsgCrypt::new(TOKEN_A, KEY_A, RECEIVE_ID_A).unwrap();
    let (random, timestamp, nonce) = seal_inputs(stem, plaintext);
    let encrypt = crypt
        .encrypt_with_random(plaintext.as_bytes(), random)
        .unwrap();
    let signature = crypt.signature(&timestamp, &nonce, &encrypt);
    let body = Envelope {
        encrypt,
        to_user_name: Some(RECEIVE_ID_A.to_owned()),
        agent_id: Some(AGENT_ID_A.to_owned()),
    }
    .to_xml();
    let query = format!("msg_signature={signature}&timestamp={timestamp}&nonce={nonce}");
    (query, body)
}

fn query_value<'a>(query: &'a str, key: &str) -> &'a str {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("query {query:?} has no {key}"))
}

/// Regenerates `fixtures/encrypted/` from `fixtures/events/*.xml`. See the module docs.
#[test]
#[ignore = "generator: cargo test --test fixtures_replay -- --ignored regenerate_encrypted_fixtures"]
fn regenerate_encrypted_fixtures() {
    let dir = fixtures().join("encrypted");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
    for (stem, plaintext) in event_fixtures() {
        let (query, body) = seal(&stem, &plaintext);
        std::fs::write(dir.join(format!("{stem}.query")), format!("{query}\n")).unwrap();
        std::fs::write(dir.join(format!("{stem}.body.xml")), body).unwrap();
        eprintln!("sealed {stem}");
    }
}

#[test]
fn encrypted_fixtures_decrypt_to_their_plaintext() {
    let crypt = MsgCrypt::new(TOKEN_A, KEY_A, RECEIVE_ID_A).unwrap();
    let dir = fixtures().join("encrypted");
    let hint = "regenerate with: cargo test --test fixtures_replay -- --ignored regenerate_encrypted_fixtures";
    let mut sealed: BTreeSet<String> = BTreeSet::new();
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}; {hint}", dir.display()))
    {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".body.xml") {
            sealed.insert(stem.to_owned());
        }
    }
    let events = event_fixtures();
    let plain: BTreeSet<String> = events.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(
        sealed, plain,
        "fixtures/encrypted must hold exactly one sealed copy per event fixture; {hint}"
    );

    for (stem, plaintext) in &events {
        let body = std::fs::read(dir.join(format!("{stem}.body.xml"))).unwrap();
        let query = std::fs::read_to_string(dir.join(format!("{stem}.query"))).unwrap();
        let query = query.trim_end();
        let envelope = Envelope::parse(&body).unwrap_or_else(|e| panic!("{stem}: envelope: {e}"));
        assert_eq!(
            envelope.to_user_name.as_deref(),
            Some(RECEIVE_ID_A),
            "{stem}"
        );
        crypt
            .verify(
                query_value(query, "msg_signature"),
                query_value(query, "timestamp"),
                query_value(query, "nonce"),
                &envelope.encrypt,
            )
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let decrypted = crypt
            .decrypt(&envelope.encrypt)
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert!(
            decrypted == *plaintext,
            "{stem}: decrypts to something other than events/{stem}.xml; {hint}"
        );
        // And the whole path agrees with the plaintext's own parse.
        assert_eq!(parse(stem, &decrypted), parse(stem, plaintext));
    }
}

#[test]
fn encrypted_fixtures_are_up_to_date() {
    let dir = fixtures().join("encrypted");
    for (stem, plaintext) in event_fixtures() {
        let (query, body) = seal(&stem, &plaintext);
        let on_disk_body =
            std::fs::read_to_string(dir.join(format!("{stem}.body.xml"))).unwrap_or_default();
        let on_disk_query =
            std::fs::read_to_string(dir.join(format!("{stem}.query"))).unwrap_or_default();
        assert!(
            on_disk_body == body && on_disk_query.trim_end() == query,
            "fixtures/encrypted/{stem}.* are stale; regenerate with: \
             cargo test --test fixtures_replay -- --ignored regenerate_encrypted_fixtures"
        );
    }
}

/// The names of the root's child elements, read with quick-xml (independently of our reader).
fn top_level_elements(xml: &str) -> Vec<String> {
    use quick_xml::events::Event as XmlEvent;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut depth, mut names) = (0, Vec::new());
    loop {
        match reader.read_event().unwrap() {
            XmlEvent::Start(e) => {
                depth += 1;
                if depth == 2 {
                    names.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
                }
            }
            XmlEvent::Empty(e) if depth == 1 => {
                names.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
            }
            XmlEvent::End(_) => depth -= 1,
            XmlEvent::Eof => return names,
            _ => {}
        }
    }
}
