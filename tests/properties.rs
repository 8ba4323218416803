//! Property tests: encryption round-trips for any message, key and receive id; and the parsers
//! (`crypto::open`, `Envelope::parse`, `Event::parse` — and through them the XML reader) never panic — on arbitrary
//! input and on mutated real fixtures.
//!
//! Case counts are kept modest so the file runs in a few seconds; raise them locally with
//! `PROPTEST_CASES=10000 cargo test --test properties`.

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use wecom_callback::crypto::{self, AesKey};
use wecom_callback::event::Event;
use wecom_callback::{Envelope, MsgCrypt};

/// The codes a crypto failure may carry (protocol.md §1.7).
const CODES: [i32; 8] = [
    -40001, -40002, -40004, -40005, -40006, -40007, -40008, -40010,
];

fn config(cases: u32) -> ProptestConfig {
    // `PROPTEST_CASES` still overrides, through ProptestConfig's defaults.
    let from_env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: from_env.unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// 43 characters from [A-Za-z0-9], as the WeCom console generates them (most have non-zero
/// trailing bits, which a strict base64 decoder rejects).
fn console_key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{43}"
}

fn any_key() -> impl Strategy<Value = AesKey> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(AesKey::from_bytes),
        console_key().prop_map(|k| AesKey::from_encoding_aes_key(&k).unwrap()),
    ]
}

fn receive_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "w[wxm][0-9a-f]{16}",
        "[A-Za-z0-9_-]{0,40}",
        any::<String>(),
    ]
}

/// Messages: raw bytes of every length mod 32 (and beyond), Chinese text, and XML.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..=100),
        "[\u{4e00}-\u{9fa5}，。！？a-zA-Z0-9 ]{0,80}".prop_map(String::into_bytes),
        "[ -~]{0,64}".prop_map(String::into_bytes),
        (fixture_index(), any::<u8>()).prop_map(|(i, _)| fixtures()[i].1.clone().into_bytes()),
    ]
}

/// `(name, plaintext)` of every event fixture.
fn fixtures() -> &'static Vec<(String, String)> {
    static FIXTURES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/events");
        let mut out: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        out.sort();
        assert!(!out.is_empty());
        out
    })
}

fn fixture_index() -> impl Strategy<Value = usize> {
    0..fixtures().len()
}

/// One edit to a document.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
}

/// Fragments that stress an XML reader.
const FRAGMENTS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<![CDATA[",
    "]]>",
    "<Item>",
    "</Item>",
    "<Item/>",
    "&amp;",
    "&lt;",
    "&#x4F60;",
    "&#0;",
    "&bogus;",
    "&",
    "<!DOCTYPE x [<!ENTITY e \"e\">]>",
    "<?xml version=\"1.0\"?>",
    "<!-- c -->",
    "<xml>",
    "</xml>",
    "<MemChangeList>",
    "<Event>",
    "change_external_chat",
    "<CreateTime>",
    "99999999999999999999",
    "<A><B><C>deep</C></B></A>",
    "\u{0}",
    "\u{feff}",
    "\r\n",
    "你好",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), prop::sample::select(FRAGMENTS))
            .prop_map(|(i, f)| Mutation::Insert(i, f.as_bytes().to_vec())),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 0usize..120).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(doc: &mut Vec<u8>, m: &Mutation) {
    let len = doc.len();
    let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
    match m {
        Mutation::Flip(i, b) if len > 0 => doc[i % len] ^= b | 1,
        Mutation::Flip(..) => {}
        Mutation::Truncate(i) => doc.truncate(at(*i)),
        Mutation::Delete(i, n) => {
            let start = at(*i);
            let end = (start + n).min(len);
            doc.drain(start..end);
        }
        Mutation::Insert(i, bytes) => {
            let start = at(*i);
            doc.splice(start..start, bytes.iter().copied());
        }
        Mutation::Duplicate(i, n) => {
            let start = at(*i);
            let end = (start + n).min(len);
            let copy = doc[start..end].to_vec();
            doc.splice(end..end, copy);
        }
    }
}

/// Everything a parser user would do with a plaintext; must not panic, whatever it returns.
fn exercise_parsers(bytes: &[u8]) {
    let _ = Envelope::parse(bytes);
    let text = String::from_utf8_lossy(bytes);
    if let Ok(event) = Event::parse(&text) {
        let json = event.to_json();
        assert!(json.is_object());
        let _ = serde_json::to_string(&event).unwrap();
        let _ = (
            event.kind(),
            event.order_key(),
            event.create_time(),
            event.header(),
        );
        if let Event::Unknown(u) = &event {
            assert_eq!(u.raw_xml, text, "unknown events keep the plaintext whole");
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// decrypt ∘ encrypt = id, for any bytes, key, receive id and random prefix.
    #[test]
    fn seal_then_open_is_identity(
        key in any_key(),
        msg in message(),
        rid in receive_id(),
        random in any::<[u8; 16]>(),
    ) {
        let sealed = crypto::seal(&key, &msg, &rid, random).unwrap();
        let raw = STANDARD.decode(&sealed).unwrap();
        // 32-byte PKCS#7: whole 32-byte blocks, and always at least one pad byte.
        prop_assert_eq!(raw.len() % 32, 0);
        prop_assert!(raw.len() > 16 + 4 + msg.len() + rid.len());
        prop_assert!(raw.len() <= 16 + 4 + msg.len() + rid.len() + 32);
        let frame = crypto::open(&key, &sealed).unwrap();
        prop_assert_eq!(&frame.msg, &msg);
        prop_assert_eq!(&frame.receive_id, &rid);
        prop_assert_eq!(frame.random, random);
        // Deterministic given the random prefix.
        prop_assert_eq!(crypto::seal(&key, &msg, &rid, random).unwrap(), sealed);
    }

    /// The same through MsgCrypt with a console-style key, for UTF-8 text (Chinese included).
    #[test]
    fn msgcrypt_round_trips_text(
        key in console_key(),
        token in "[A-Za-z0-9]{1,32}",
        rid in receive_id(),
        text in prop_oneof!["[\u{4e00}-\u{9fa5}，。a-z]{0,100}", any::<String>()],
        timestamp in "[0-9]{10}",
        nonce in "[0-9A-Za-z]{1,16}",
    ) {
        let crypt = MsgCrypt::new(token.clone(), &key, rid.clone()).unwrap();
        let mut rng = rand::thread_rng();
        let encrypt = crypt.encrypt(text.as_bytes(), &mut rng).unwrap();
        let signature = crypt.signature(&timestamp, &nonce, &encrypt);
        prop_assert_eq!(signature.len(), 40);
        prop_assert_eq!(&signature, &crypto::signature(&token, &timestamp, &nonce, &encrypt));
        prop_assert_eq!(crypt.verify_and_decrypt(&signature, &timestamp, &nonce, &encrypt).unwrap(), text);
        // The official libraries' random prefix: 16 alphanumerics.
        let frame = crypt.decrypt_frame(&encrypt).unwrap();
        prop_assert!(frame.random.iter().all(u8::is_ascii_alphanumeric));
        // A different receive id is refused, naming both.
        let other = MsgCrypt::new(token, &key, format!("{rid}x")).unwrap();
        prop_assert_eq!(other.decrypt(&encrypt).unwrap_err().code(), -40005);
    }

    /// Keys: every 43-character console key decodes, and its canonical form decodes to the
    /// same key (the trailing bits are ignored, not rejected).
    #[test]
    fn console_keys_decode(key in console_key()) {
        let k = AesKey::from_encoding_aes_key(&key).unwrap();
        let canonical = k.to_encoding_aes_key();
        prop_assert_eq!(canonical.len(), 43);
        prop_assert_eq!(&canonical[..42], &key[..42]);
        prop_assert_eq!(AesKey::from_encoding_aes_key(&canonical).unwrap(), k);
    }

    /// The signature is the sorted concatenation: argument order does not matter, any change
    /// to a value does.
    #[test]
    fn signature_is_order_free_and_sensitive(
        parts in prop::collection::vec("[ -~]{0,12}", 4),
        which in 0usize..4,
    ) {
        let s = crypto::signature(&parts[0], &parts[1], &parts[2], &parts[3]);
        prop_assert_eq!(&s, &crypto::signature(&parts[3], &parts[2], &parts[1], &parts[0]));
        prop_assert!(crypto::verify_signature(&parts[0], &s, &parts[1], &parts[2], &parts[3]).is_ok());
        let mut changed = parts.clone();
        changed[which].push('~');
        let c = crypto::signature(&changed[0], &changed[1], &changed[2], &changed[3]);
        prop_assert_ne!(&s, &c);
        prop_assert!(crypto::verify_signature(&changed[0], &s, &changed[1], &changed[2], &changed[3]).is_err());
    }

    /// `open` on arbitrary text: an error with an official code, never a panic.
    #[test]
    fn open_never_panics_on_text(key in any_key(), text in any::<String>()) {
        if let Err(e) = crypto::open(&key, &text) {
            prop_assert!(CODES.contains(&e.code()), "{e}");
        }
    }

    /// `open` on arbitrary whole-block ciphertexts (reaches AES, unpadding and the frame parser).
    #[test]
    fn open_never_panics_on_ciphertexts(
        key in any_key(),
        blocks in prop::collection::vec(any::<[u8; 16]>(), 0..8),
        spaces in any::<bool>(),
    ) {
        let raw: Vec<u8> = blocks.concat();
        let mut text = STANDARD.encode(&raw);
        if spaces {
            text = text.replace('+', " ");
        }
        match crypto::open(&key, &text) {
            Ok(frame) => prop_assert!(frame.msg.len() + frame.receive_id.len() + 20 <= raw.len()),
            Err(e) => prop_assert!(matches!(e.code(), -40007 | -40008 | -40010), "{e}"),
        }
    }

    /// Mutated real ciphertexts: decrypt fails cleanly or (rarely) yields some frame.
    #[test]
    fn mutated_ciphertexts_never_panic(i in fixture_index(), m in prop::collection::vec(mutation(), 1..4)) {
        let crypt = MsgCrypt::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7").unwrap();
        let sealed = crypt.encrypt_with_random(fixtures()[i].1.as_bytes(), *b"0123456789abcdef").unwrap();
        let mut bytes = sealed.into_bytes();
        for m in &m {
            apply(&mut bytes, m);
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = crypt.decrypt(&text) {
            prop_assert!(CODES.contains(&e.code()), "{e}");
        }
    }

    /// The parsers on arbitrary bytes.
    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise_parsers(&bytes);
    }

    /// The parsers on arbitrary strings, and on strings built from XML-ish fragments.
    #[test]
    fn parsers_never_panic_on_strings(
        text in any::<String>(),
        pieces in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..30),
    ) {
        exercise_parsers(text.as_bytes());
        exercise_parsers(pieces.concat().as_bytes());
    }

    /// The parsers on mutated real fixtures (and the envelope parser on mutated real bodies).
    #[test]
    fn parsers_never_panic_on_mutated_fixtures(
        i in fixture_index(),
        m in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut doc = fixtures()[i].1.clone().into_bytes();
        for m in &m {
            apply(&mut doc, m);
        }
        exercise_parsers(&doc);
        let mut body = Envelope {
            encrypt: "c2VhbGVk".into(),
            to_user_name: Some("ww0123456789abcdef".into()),
            agent_id: Some("1000002".into()),
        }
        .to_xml()
        .into_bytes();
        for m in &m {
            apply(&mut body, m);
        }
        if let Ok(envelope) = Envelope::parse(&body) {
            prop_assert!(!envelope.encrypt.is_empty());
        }
    }

    /// Typed fields survive any text value: build an event from random strings and read them
    /// back, through CDATA (with `]]>` split) or escaped plain text.
    #[test]
    fn contact_fields_round_trip(
        user in "[^\u{0}-\u{1f}\u{7f}\u{fffe}\u{ffff}]{1,30}",
        external in "wm[A-Za-z0-9_-]{30}",
        state in "[^\u{0}-\u{1f}\u{7f}\u{fffe}\u{ffff}]{0,30}",
        create_time in 0i64..=4_102_444_800,
        cdata in any::<bool>(),
    ) {
        // Surrounding whitespace is trimmed by the reader (documents are indented); keep values
        // free of it so the round trip is exact.
        let user = user.trim().to_owned();
        let state = state.trim().to_owned();
        prop_assume!(!user.is_empty());
        let wrap = |v: &str| {
            if cdata {
                format!("<![CDATA[{}]]>", v.replace("]]>", "]]]]><![CDATA[>"))
            } else {
                v.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
            }
        };
        let doc = format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>sys</FromUserName><CreateTime>{create_time}</CreateTime>\
             <MsgType>event</MsgType><Event>change_external_contact</Event><ChangeType>add_external_contact</ChangeType>\
             <UserID>{}</UserID><ExternalUserID>{}</ExternalUserID><State>{}</State></xml>",
            wrap("ww0123456789abcdef"), wrap(&user), wrap(&external), wrap(&state)
        );
        let event = Event::parse(&doc).unwrap();
        let Event::Contact(c) = &event else {
            return Err(TestCaseError::fail(format!("not a contact event: {event:?}")));
        };
        prop_assert_eq!(&c.user_id, &user);
        prop_assert_eq!(&c.external_user_id, &external);
        prop_assert_eq!(c.state.as_deref(), Some(state.as_str()));
        prop_assert_eq!(c.header.create_time, create_time);
        let json = event.to_json();
        prop_assert_eq!(json["user_id"].as_str(), Some(user.as_str()));
        prop_assert_eq!(json["create_time"].as_i64(), Some(create_time));
    }
}

/// Every message length from 0 to 100 (all residues mod 32, each pad value 1..=32 at least
/// once), for each kind of receive id.
#[test]
fn every_length_mod_32_round_trips() {
    let key = AesKey::from_encoding_aes_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C").unwrap();
    let mut pads_seen = [false; 33];
    for rid in ["", "wx5823bf96d3bd56c7", "ww1436e0e65a779aee-suite"] {
        for len in 0..=100usize {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let sealed = crypto::seal(&key, &msg, rid, [b'r'; 16]).unwrap();
            let frame = crypto::open(&key, &sealed).unwrap();
            assert_eq!(frame.msg, msg, "len {len}, rid {rid:?}");
            assert_eq!(frame.receive_id, rid);
            pads_seen[32 - (20 + len + rid.len()) % 32] = true;
        }
    }
    assert!(
        pads_seen[1..].iter().all(|&s| s),
        "every pad value 1..=32 exercised"
    );
}
