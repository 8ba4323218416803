//! The official WXBizMsgCrypt test vectors (protocol.md §4.1 set A, §4.2 set B), the derived
//! vectors of §4.4, and the negative cases of §4.5 — all read from `fixtures/vectors/`.
//!
//! Besides decrypting, every official ciphertext is re-encrypted with the random prefix recovered
//! from it and must come out byte for byte: that pins the frame layout, the 32-byte padding and
//! the base64 form, not just "some encryption that we can also decrypt".

use std::path::{Path, PathBuf};

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use wecom_callback::callback::{self, CallbackQuery};
use wecom_callback::crypto::{self, AesKey, CryptoError};
use wecom_callback::{Envelope, MsgCrypt};

// ---------------------------------------------------------------------------------------------
// Vector files

#[derive(Debug, Deserialize)]
struct VectorSet {
    token: String,
    encoding_aes_key: String,
    receive_id: String,
    aes_key_hex: String,
    get: GetVector,
    post: PostVector,
}

#[derive(Debug, Deserialize)]
struct GetVector {
    msg_signature: String,
    timestamp: String,
    nonce: String,
    echostr: String,
    echostr_percent_encoded: String,
    plaintext: String,
    random: String,
    msg_len: usize,
    pad: usize,
}

#[derive(Debug, Deserialize)]
struct PostVector {
    msg_signature: String,
    timestamp: String,
    nonce: String,
    body_file: String,
    plaintext_file: String,
    random: String,
    msg_len: usize,
    pad: usize,
}

#[derive(Debug, Deserialize)]
struct Derived {
    token: String,
    encoding_aes_key: String,
    random: String,
    timestamp: String,
    nonce: String,
    vector: Vec<DerivedVector>,
}

#[derive(Debug, Deserialize)]
struct DerivedVector {
    name: String,
    receive_id: String,
    plaintext: Option<String>,
    plaintext_file: Option<String>,
    msg_len: usize,
    pad: usize,
    encrypt: String,
    encrypt_percent_encoded: Option<String>,
    msg_signature: String,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors")
}

fn read(name: &str) -> Vec<u8> {
    let path = vectors_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let text = String::from_utf8(read(name)).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn set_a() -> VectorSet {
    load("set_a.toml")
}

fn set_b() -> VectorSet {
    load("set_b.toml")
}

impl VectorSet {
    fn crypt(&self) -> MsgCrypt {
        MsgCrypt::new(&self.token, &self.encoding_aes_key, &self.receive_id).unwrap()
    }

    fn post_body(&self) -> Vec<u8> {
        read(&self.post.body_file)
    }

    fn post_encrypt(&self) -> String {
        Envelope::parse(&self.post_body()).unwrap().encrypt
    }

    fn post_plaintext(&self) -> Vec<u8> {
        read(&self.post.plaintext_file)
    }
}

fn random16(text: &str) -> [u8; 16] {
    text.as_bytes()
        .try_into()
        .unwrap_or_else(|_| panic!("random prefix {text:?} is not 16 bytes"))
}

/// Percent-decode exactly once (the vector files hold the form WeCom puts in the URL).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The padding WeCom adds to a frame of `16 + 4 + msg_len + receive_id_len` bytes.
fn expected_pad(msg_len: usize, receive_id: &str) -> usize {
    32 - (16 + 4 + msg_len + receive_id.len()) % 32
}

// ---------------------------------------------------------------------------------------------
// Raw AES, to build frames the library would never produce

fn key_bytes(hex_key: &str) -> [u8; 32] {
    hex::decode(hex_key).unwrap().try_into().unwrap()
}

/// AES-256-CBC (IV = key[..16]) over `plain`, which must already be whole blocks; base64.
fn raw_encrypt(key: &[u8; 32], plain: &[u8]) -> String {
    assert_eq!(plain.len() % 16, 0);
    let mut buf = plain.to_vec();
    let n = buf.len();
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    cbc::Encryptor::<aes::Aes256>::new(key.into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, n)
        .unwrap();
    STANDARD.encode(buf)
}

/// AES-256-CBC decrypt without unpadding, to look at the raw padding.
fn raw_decrypt(key: &[u8; 32], encrypt: &str) -> Vec<u8> {
    use aes::cipher::BlockDecryptMut;
    let mut buf = STANDARD.decode(encrypt).unwrap();
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    let n = cbc::Decryptor::<aes::Aes256>::new(key.into(), &iv.into())
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .unwrap()
        .len();
    buf.truncate(n);
    buf
}

/// A frame `random ‖ be32(msg_len) ‖ body`, padded with `pad` bytes of value `pad_byte`.
fn frame(msg_len: u32, body: &[u8], pad: usize, pad_byte: u8) -> Vec<u8> {
    let mut out = b"0123456789abcdef".to_vec();
    out.extend_from_slice(&msg_len.to_be_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + pad, pad_byte);
    out
}

// ---------------------------------------------------------------------------------------------
// Official sets

#[test]
fn vector_files_are_self_consistent() {
    for set in [set_a(), set_b()] {
        assert_eq!(set.get.msg_len, set.get.plaintext.len());
        assert_eq!(set.post.msg_len, set.post_plaintext().len());
        assert_eq!(set.get.pad, expected_pad(set.get.msg_len, &set.receive_id));
        assert_eq!(
            set.post.pad,
            expected_pad(set.post.msg_len, &set.receive_id)
        );
        assert_eq!(
            percent_decode(&set.get.echostr_percent_encoded),
            set.get.echostr
        );
    }
}

fn check_key(set: &VectorSet) {
    // A strict base64 engine rejects both official keys (non-zero trailing bits, §1.2) ...
    assert!(
        STANDARD
            .decode(format!("{}=", set.encoding_aes_key))
            .is_err()
    );
    // ... the library must not: it decodes them to the documented 32 bytes.
    let key = AesKey::from_encoding_aes_key(&set.encoding_aes_key).unwrap();
    let canonical = STANDARD
        .decode(format!("{}=", key.to_encoding_aes_key()))
        .unwrap();
    assert_eq!(hex::encode(canonical), set.aes_key_hex);
}

#[test]
fn set_a_key_decodes_despite_trailing_bits() {
    check_key(&set_a());
}

#[test]
fn set_b_key_decodes_despite_trailing_bits() {
    check_key(&set_b());
}

fn check_get(set: &VectorSet) {
    let g = &set.get;
    let crypt = set.crypt();
    assert_eq!(
        crypto::signature(&set.token, &g.timestamp, &g.nonce, &g.echostr),
        g.msg_signature
    );
    assert_eq!(
        crypt.signature(&g.timestamp, &g.nonce, &g.echostr),
        g.msg_signature
    );
    crypto::verify_signature(
        &set.token,
        &g.msg_signature,
        &g.timestamp,
        &g.nonce,
        &g.echostr,
    )
    .unwrap();

    let plain = crypt
        .verify_and_decrypt(&g.msg_signature, &g.timestamp, &g.nonce, &g.echostr)
        .unwrap();
    assert_eq!(plain, g.plaintext);

    let frame = crypt.decrypt_frame(&g.echostr).unwrap();
    assert_eq!(frame.random, random16(&g.random));
    assert_eq!(frame.msg, g.plaintext.as_bytes());
    assert_eq!(frame.receive_id, set.receive_id);

    // The raw buffer: whole 32-byte blocks ending in `pad` bytes of value `pad`.
    let raw = raw_decrypt(&key_bytes(&set.aes_key_hex), &g.echostr);
    assert_eq!(raw.len() % 32, 0);
    assert!(
        raw[raw.len() - g.pad..]
            .iter()
            .all(|&b| usize::from(b) == g.pad)
    );

    // Re-encrypting with the recovered random prefix reproduces the official echostr.
    let again = crypt
        .encrypt_with_random(g.plaintext.as_bytes(), frame.random)
        .unwrap();
    assert_eq!(again, g.echostr);
    let free = crypto::seal(
        crypt.key(),
        g.plaintext.as_bytes(),
        &set.receive_id,
        frame.random,
    )
    .unwrap();
    assert_eq!(free, g.echostr);

    // Through the query layer, exactly as the URL arrives (percent-encoded once).
    let url_query = format!(
        "msg_signature={}&timestamp={}&nonce={}&echostr={}",
        g.msg_signature, g.timestamp, g.nonce, g.echostr_percent_encoded
    );
    let query = CallbackQuery::parse(&url_query).unwrap();
    assert_eq!(query.echostr.as_deref(), Some(g.echostr.as_str()));
    assert_eq!(
        callback::open_get(&crypt, &query, callback::TimestampWindow::OFF).unwrap(),
        g.plaintext
    );
}

fn check_post(set: &VectorSet) {
    let p = &set.post;
    let crypt = set.crypt();
    let body = set.post_body();
    let envelope = Envelope::parse(&body).unwrap();
    assert_eq!(
        envelope.to_user_name.as_deref(),
        Some(set.receive_id.as_str())
    );
    let encrypt = &envelope.encrypt;

    assert_eq!(
        crypto::signature(&set.token, &p.timestamp, &p.nonce, encrypt),
        p.msg_signature
    );
    crypt
        .verify(&p.msg_signature, &p.timestamp, &p.nonce, encrypt)
        .unwrap();

    let plain = crypt
        .verify_and_decrypt(&p.msg_signature, &p.timestamp, &p.nonce, encrypt)
        .unwrap();
    assert_eq!(
        plain.as_bytes(),
        set.post_plaintext(),
        "POST plaintext must match byte for byte"
    );

    let frame = crypt.decrypt_frame(encrypt).unwrap();
    assert_eq!(frame.random, random16(&p.random));
    assert_eq!(frame.msg.len(), p.msg_len);
    assert_eq!(frame.receive_id, set.receive_id);

    let raw = raw_decrypt(&key_bytes(&set.aes_key_hex), encrypt);
    assert_eq!(raw.len(), 16 + 4 + p.msg_len + set.receive_id.len() + p.pad);
    assert!(
        raw[raw.len() - p.pad..]
            .iter()
            .all(|&b| usize::from(b) == p.pad)
    );

    let again = crypt
        .encrypt_with_random(&set.post_plaintext(), frame.random)
        .unwrap();
    assert_eq!(
        &again, encrypt,
        "re-encryption must reproduce the official Encrypt"
    );

    // Through the query layer.
    let query = CallbackQuery::parse(&format!(
        "msg_signature={}&timestamp={}&nonce={}",
        p.msg_signature, p.timestamp, p.nonce
    ))
    .unwrap();
    assert_eq!(
        callback::open_post(&crypt, &query, &body, callback::TimestampWindow::OFF)
            .unwrap()
            .as_bytes(),
        set.post_plaintext()
    );
}

#[test]
fn set_a_get_verification() {
    let set = set_a();
    assert_eq!(set.get.plaintext, "1616140317555161061");
    check_get(&set);
}

#[test]
fn set_b_get_verification() {
    let set = set_b();
    assert_eq!(set.get.plaintext, "1288432023552776189");
    check_get(&set);
}

#[test]
fn set_a_post_callback() {
    let set = set_a();
    assert_eq!(set.post.pad, 30, "pad 30 > 16: the proof of 32-byte PKCS#7");
    check_post(&set);
}

#[test]
fn set_b_post_callback() {
    let set = set_b();
    let plain = String::from_utf8(set.post_plaintext()).unwrap();
    assert!(plain.contains("<Content>你好</Content>"));
    assert_eq!(set.post.msg_len, 228, "msg_len counts UTF-8 bytes");
    check_post(&set);
}

// ---------------------------------------------------------------------------------------------
// Derived vectors (§4.4)

#[test]
fn derived_vectors_reproduce_byte_for_byte() {
    let d: Derived = load("derived.toml");
    assert_eq!(d.vector.len(), 3);
    assert_eq!(
        d.encoding_aes_key,
        set_a().encoding_aes_key,
        "derived vectors use the set-A key"
    );
    for v in &d.vector {
        let crypt = MsgCrypt::new(&d.token, &d.encoding_aes_key, &v.receive_id).unwrap();
        let plaintext = match (&v.plaintext, &v.plaintext_file) {
            (Some(p), None) => p.clone().into_bytes(),
            (None, Some(f)) => read(f),
            _ => panic!("{}: exactly one of plaintext, plaintext_file", v.name),
        };
        assert_eq!(plaintext.len(), v.msg_len, "{}", v.name);
        assert_eq!(v.pad, expected_pad(v.msg_len, &v.receive_id), "{}", v.name);

        let sealed = crypt
            .encrypt_with_random(&plaintext, random16(&d.random))
            .unwrap();
        assert_eq!(sealed, v.encrypt, "{}: encryption", v.name);
        assert_eq!(
            crypt.signature(&d.timestamp, &d.nonce, &v.encrypt),
            v.msg_signature,
            "{}",
            v.name
        );

        let opened = crypt
            .verify_and_decrypt(&v.msg_signature, &d.timestamp, &d.nonce, &v.encrypt)
            .unwrap();
        assert_eq!(opened.as_bytes(), plaintext, "{}: decryption", v.name);
        let frame = crypt.decrypt_frame(&v.encrypt).unwrap();
        assert_eq!(frame.receive_id, v.receive_id, "{}", v.name);
        assert_eq!(frame.random, random16(&d.random), "{}", v.name);

        let raw = raw_decrypt(&key_bytes(&set_a().aes_key_hex), &v.encrypt);
        assert!(
            raw[raw.len() - v.pad..]
                .iter()
                .all(|&b| usize::from(b) == v.pad),
            "{}",
            v.name
        );

        if let Some(encoded) = &v.encrypt_percent_encoded {
            assert_eq!(percent_decode(encoded), v.encrypt, "{}", v.name);
            let query = CallbackQuery::parse(&format!(
                "msg_signature={}&timestamp={}&nonce={}&echostr={encoded}",
                v.msg_signature, d.timestamp, d.nonce
            ))
            .unwrap();
            assert_eq!(
                callback::open_get(&crypt, &query, callback::TimestampWindow::OFF)
                    .unwrap()
                    .as_bytes(),
                plaintext,
                "{}",
                v.name
            );
        }
    }
}

#[test]
fn full_block_padding_is_a_block_of_spaces_and_not_trimmed() {
    let d: Derived = load("derived.toml");
    let v = d
        .vector
        .iter()
        .find(|v| v.name == "full_block_padding")
        .unwrap();
    assert_eq!(v.pad, 32);
    let raw = raw_decrypt(&key_bytes(&set_a().aes_key_hex), &v.encrypt);
    assert_eq!(raw.len(), 96);
    assert_eq!(&raw[64..], &[b' '; 32], "pad 32 is a whole block of 0x20");
    let crypt = MsgCrypt::new(&d.token, &d.encoding_aes_key, &v.receive_id).unwrap();
    assert_eq!(crypt.decrypt(&v.encrypt).unwrap(), "x".repeat(26));

    // Messages ending in spaces (0x20 = pad 32's byte value) survive, at every length mod 32.
    for n in 0..=64 {
        let msg = format!("{}{}", "y".repeat(n % 7), " ".repeat(n));
        let sealed = crypt
            .encrypt_with_random(msg.as_bytes(), random16(&d.random))
            .unwrap();
        assert_eq!(crypt.decrypt(&sealed).unwrap(), msg, "{n} trailing spaces");
    }
}

#[test]
fn empty_receive_id() {
    let d: Derived = load("derived.toml");
    let v = d
        .vector
        .iter()
        .find(|v| v.name == "empty_receive_id_echostr")
        .unwrap();
    assert_eq!(v.receive_id, "");
    assert!(
        v.encrypt.contains('+'),
        "the point of this vector: '+' must survive the URL"
    );
    let crypt = MsgCrypt::new(&d.token, &d.encoding_aes_key, "").unwrap();
    assert_eq!(crypt.decrypt(&v.encrypt).unwrap(), "1616140317555161061");
    // An app configured with a CorpID refuses it: an empty id is an id like any other.
    let corp = MsgCrypt::new(&d.token, &d.encoding_aes_key, "wx5823bf96d3bd56c7").unwrap();
    let err = corp.decrypt(&v.encrypt).unwrap_err();
    assert_eq!(err.code(), -40005);
    assert_eq!(
        err.to_string(),
        "receive id  does not match wx5823bf96d3bd56c7"
    );
}

// ---------------------------------------------------------------------------------------------
// Negative tests (§4.5)

#[test]
fn wrong_token_is_40001() {
    for set in [set_a(), set_b()] {
        let wrong = MsgCrypt::new("WrongToken", &set.encoding_aes_key, &set.receive_id).unwrap();
        let g = &set.get;
        let err = wrong
            .verify_and_decrypt(&g.msg_signature, &g.timestamp, &g.nonce, &g.echostr)
            .unwrap_err();
        assert_eq!(err, CryptoError::SignatureMismatch);
        assert_eq!(err.code(), -40001);
        assert!(err.is_authentication());
        let p = &set.post;
        let err = wrong
            .verify(
                &p.msg_signature,
                &p.timestamp,
                &p.nonce,
                &set.post_encrypt(),
            )
            .unwrap_err();
        assert_eq!(err.code(), -40001);
        // A changed timestamp or nonce is just as wrong.
        let right = set.crypt();
        assert_eq!(
            right
                .verify(&g.msg_signature, "1409659590", &g.nonce, &g.echostr)
                .unwrap_err()
                .code(),
            -40001
        );
        assert_eq!(
            right
                .verify(&g.msg_signature, &g.timestamp, "1", &g.echostr)
                .unwrap_err()
                .code(),
            -40001
        );
    }
}

#[test]
fn flipped_byte_in_the_last_block_is_a_padding_or_buffer_error() {
    for set in [set_a(), set_b()] {
        let crypt = set.crypt();
        for encrypt in [set.get.echostr.clone(), set.post_encrypt()] {
            let raw = STANDARD.decode(&encrypt).unwrap();
            let n = raw.len();
            // Every byte of the last ciphertext block, and (deterministic: it flips the matching
            // plaintext byte) the last byte of the block before it.
            for i in (n - 16..n).chain([n - 17]) {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut bad = raw.clone();
                    bad[i] ^= flip;
                    let bad = STANDARD.encode(&bad);
                    let err = crypt
                        .decrypt(&bad)
                        .expect_err("a flipped byte must not decrypt");
                    assert!(
                        matches!(err.code(), -40007 | -40008),
                        "byte {i} ^ {flip:#x}: {err} ({})",
                        err.code()
                    );
                    // And the signature, computed over the original, refuses it first.
                    let p = &set.get;
                    assert_eq!(
                        crypt
                            .verify_and_decrypt(&p.msg_signature, &p.timestamp, &p.nonce, &bad)
                            .unwrap_err()
                            .code(),
                        -40001
                    );
                }
            }
        }
    }
}

#[test]
fn receive_id_mismatch_is_40005_and_named() {
    let a = set_a();
    let other = MsgCrypt::new(&a.token, &a.encoding_aes_key, "ww1436e0e65a779aee").unwrap();
    for encrypt in [a.get.echostr.clone(), a.post_encrypt()] {
        let err = other.decrypt(&encrypt).unwrap_err();
        assert_eq!(err.code(), -40005);
        assert!(err.is_authentication());
        assert_eq!(
            err.to_string(),
            "receive id wx5823bf96d3bd56c7 does not match ww1436e0e65a779aee"
        );
    }
    // `open` itself does not judge the id: it returns it.
    let frame = crypto::open(a.crypt().key(), &a.get.echostr).unwrap();
    assert_eq!(frame.receive_id, "wx5823bf96d3bd56c7");
    // Prefix and extension of the right id are mismatches too.
    for id in [
        "wx5823bf96d3bd56c",
        "wx5823bf96d3bd56c7x",
        "WX5823BF96D3BD56C7",
        "",
    ] {
        let c = MsgCrypt::new(&a.token, &a.encoding_aes_key, id).unwrap();
        assert_eq!(
            c.decrypt(&a.get.echostr).unwrap_err().code(),
            -40005,
            "{id:?}"
        );
    }
}

#[test]
fn echostr_with_plus_turned_into_space_still_works() {
    for set in [set_a(), set_b()] {
        let g = &set.get;
        assert!(g.echostr.contains('+'));
        let spaced = g.echostr.replace('+', " ");
        let crypt = set.crypt();
        // The crypto layer repairs spaces before base64 ...
        assert_eq!(crypt.decrypt(&spaced).unwrap(), g.plaintext);
        // ... and the query layer repairs them before the signature check, whether the URL
        // carried a literal '+' (form-decoders turn it into a space) or an encoded space.
        for mangled in [
            g.echostr_percent_encoded.replace("%2B", "+"),
            g.echostr_percent_encoded.replace("%2B", "%20"),
        ] {
            let query = CallbackQuery::parse(&format!(
                "msg_signature={}&timestamp={}&nonce={}&echostr={mangled}",
                g.msg_signature, g.timestamp, g.nonce
            ))
            .unwrap();
            assert_eq!(
                query.echostr.as_deref(),
                Some(g.echostr.as_str()),
                "{mangled}"
            );
            assert_eq!(
                callback::open_get(&crypt, &query, callback::TimestampWindow::OFF).unwrap(),
                g.plaintext,
                "{mangled}"
            );
        }
    }
}

#[test]
fn truncated_or_overlong_length_is_40008() {
    let a = set_a();
    let key = key_bytes(&a.aes_key_hex);
    let crypt = a.crypt();
    let id = a.receive_id.as_bytes();
    let mut body = b"hello".to_vec();
    body.extend_from_slice(id);
    let rest = body.len() as u32; // 5 + 18 = 23 bytes after the length field
    let pad = expected_pad(5, &a.receive_id);

    // Sanity: the honest frame decrypts.
    let good = raw_encrypt(&key, &frame(5, &body, pad, pad as u8));
    assert_eq!(crypt.decrypt(&good).unwrap(), "hello");
    // msg_len exactly the rest: whole buffer is the message, receive id empty -> -40005.
    let all = raw_encrypt(&key, &frame(rest, &body, pad, pad as u8));
    assert_eq!(crypt.decrypt(&all).unwrap_err().code(), -40005);

    for claimed in [rest + 1, rest + 1000, u32::MAX] {
        let bad = raw_encrypt(&key, &frame(claimed, &body, pad, pad as u8));
        let err = crypt.decrypt(&bad).unwrap_err();
        assert_eq!(err.code(), -40008, "msg_len {claimed}: {err}");
        assert!(
            err.to_string().contains(&format!("length field {claimed}")),
            "{err}"
        );
    }

    // Frames shorter than random + length field (20 bytes) after unpadding.
    for kept in [0usize, 1, 16, 19] {
        let plain = {
            let mut p = vec![b'r'; kept];
            let pad = 32 - kept % 32;
            p.resize(kept + pad, pad as u8);
            p
        };
        let err = crypt.decrypt(&raw_encrypt(&key, &plain)).unwrap_err();
        assert_eq!(err.code(), -40008, "{kept}-byte frame: {err}");
        assert!(err.to_string().contains("shorter than 20"), "{err}");
    }
    // 20 bytes with msg_len 0 and no receive id is a valid (empty) frame.
    let empty = raw_encrypt(&key, &frame(0, b"", 12, 12));
    let frame0 = crypto::open(crypt.key(), &empty).unwrap();
    assert!(frame0.msg.is_empty() && frame0.receive_id.is_empty());
}

#[test]
fn bad_padding_bytes_are_named() {
    let a = set_a();
    let key = key_bytes(&a.aes_key_hex);
    let crypt = a.crypt();
    let mut body = b"hello".to_vec();
    body.extend_from_slice(a.receive_id.as_bytes()); // 43 bytes framed, 21 bytes of padding room
    for (last, message) in [
        (0u8, "padding byte 0 is not in 1..=32".to_owned()),
        (33, "padding byte 33 is not in 1..=32".to_owned()),
        (48, "padding byte 48 is not in 1..=32".to_owned()),
        (255, "padding byte 255 is not in 1..=32".to_owned()),
    ] {
        let mut plain = frame(5, &body, 21, last);
        assert_eq!(plain.len(), 64);
        *plain.last_mut().unwrap() = last;
        let err = crypt.decrypt(&raw_encrypt(&key, &plain)).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_eq!(err.code(), -40007);
    }
    // A pad byte in range but the others disagreeing.
    let mut plain = frame(5, &body, 21, 21);
    plain[50] = 20;
    let err = crypt.decrypt(&raw_encrypt(&key, &plain)).unwrap_err();
    assert_eq!(err.code(), -40007, "{err}");
    // A pad longer than the whole plaintext (one 16-byte block ending in 32).
    let mut short = vec![b'z'; 16];
    short[15] = 32;
    let err = crypt.decrypt(&raw_encrypt(&key, &short)).unwrap_err();
    assert_eq!(err.code(), -40007, "{err}");
}

#[test]
fn non_base64_is_40010() {
    let crypt = set_a().crypt();
    for bad in [
        "!!!!",
        "abc$def=",
        "P9nAzCzy*DtyTWES",
        "====",
        "a",
        "ab=c",
        "你好",
    ] {
        let err = crypt.decrypt(bad).unwrap_err();
        assert_eq!(err, CryptoError::DecodeBase64, "{bad:?}");
        assert_eq!(err.code(), -40010);
    }
}

#[test]
fn non_block_aligned_ciphertext_is_40007() {
    let a = set_a();
    let crypt = a.crypt();
    for len in [0usize, 1, 15, 17, 31, 33, 63] {
        let encrypt = STANDARD.encode(vec![0x5au8; len]);
        let err = crypt.decrypt(&encrypt).unwrap_err();
        assert_eq!(err.code(), -40007, "{len} bytes: {err}");
        if len > 0 {
            assert!(
                err.to_string().contains("not a positive multiple of 16"),
                "{err}"
            );
        }
    }
    // The official echostr with its last 4 bytes cut off (3 base64 chars + padding fixed up).
    let raw = STANDARD.decode(&a.get.echostr).unwrap();
    let cut = STANDARD.encode(&raw[..raw.len() - 4]);
    assert_eq!(crypt.decrypt(&cut).unwrap_err().code(), -40007);
}

#[test]
fn malformed_keys_are_40004() {
    for bad in [
        "",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C=",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2!",
    ] {
        let err = MsgCrypt::new("t", bad, "id").unwrap_err();
        assert_eq!(err.code(), -40004, "{bad:?}");
    }
}
