//! Per-callback CPU cost: what the server does for one POST before it stores the event —
//! envelope → signature → decrypt → `Event::parse` — on the sealed `add_external_contact`
//! fixture, plus each step alone.
//!
//! Run: `cargo bench --bench callback` (quick: `-- --warm-up-time 1 --measurement-time 3`).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wecom_callback::crypto;
use wecom_callback::{Envelope, Event, MsgCrypt};

const NAME: &str = "change_external_contact__add_external_contact";

struct Sample {
    crypt: MsgCrypt,
    body: Vec<u8>,
    msg_signature: String,
    timestamp: String,
    nonce: String,
    encrypt: String,
    plaintext: String,
}

fn load() -> Sample {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let read =
        |p: &str| std::fs::read(root.join(p)).unwrap_or_else(|e| panic!("fixtures/{p}: {e}"));
    let body = read(&format!("encrypted/{NAME}.body.xml"));
    let query = String::from_utf8(read(&format!("encrypted/{NAME}.query"))).unwrap();
    let param = |key: &str| {
        query
            .trim()
            .split('&')
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_else(|| panic!("{key} missing from {query:?}"))
            .to_owned()
    };
    let crypt = MsgCrypt::new(
        "QDG6eK",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "wx5823bf96d3bd56c7",
    )
    .unwrap();
    let encrypt = Envelope::parse(&body).unwrap().encrypt;
    let plaintext = String::from_utf8(read(&format!("events/{NAME}.xml"))).unwrap();
    Sample {
        crypt,
        msg_signature: param("msg_signature"),
        timestamp: param("timestamp"),
        nonce: param("nonce"),
        body,
        encrypt,
        plaintext,
    }
}

/// The whole inbound path for one callback.
fn handle(s: &Sample, body: &[u8]) -> Event {
    let envelope = Envelope::parse(body).unwrap();
    let plaintext = s
        .crypt
        .verify_and_decrypt(&s.msg_signature, &s.timestamp, &s.nonce, &envelope.encrypt)
        .unwrap();
    Event::parse(&plaintext).unwrap()
}

fn benches(c: &mut Criterion) {
    let s = load();
    assert_eq!(handle(&s, &s.body), Event::parse(&s.plaintext).unwrap());

    let mut whole = c.benchmark_group("callback");
    whole.throughput(Throughput::Elements(1));
    whole.bench_function("envelope+verify+decrypt+parse", |b| {
        b.iter(|| handle(&s, black_box(&s.body)))
    });
    whole.finish();

    let mut steps = c.benchmark_group("step");
    steps.bench_function("envelope_parse", |b| {
        b.iter(|| Envelope::parse(black_box(&s.body)).unwrap())
    });
    steps.bench_function("verify_signature", |b| {
        b.iter(|| {
            s.crypt
                .verify(
                    &s.msg_signature,
                    &s.timestamp,
                    &s.nonce,
                    black_box(&s.encrypt),
                )
                .unwrap()
        })
    });
    steps.bench_function("decrypt", |b| {
        b.iter(|| s.crypt.decrypt(black_box(&s.encrypt)).unwrap())
    });
    steps.bench_function("event_parse", |b| {
        b.iter(|| Event::parse(black_box(&s.plaintext)).unwrap())
    });
    steps.bench_function("event_to_json", |b| {
        let event = Event::parse(&s.plaintext).unwrap();
        b.iter(|| serde_json::to_string(black_box(&event)).unwrap())
    });
    steps.bench_function("encrypt", |b| {
        b.iter(|| {
            s.crypt
                .encrypt_with_random(black_box(s.plaintext.as_bytes()), *b"0123456789abcdef")
                .unwrap()
        })
    });
    steps.bench_function("signature", |b| {
        b.iter(|| crypto::signature("QDG6eK", &s.timestamp, &s.nonce, black_box(&s.encrypt)))
    });
    steps.finish();
}

criterion_group!(callback, benches);
criterion_main!(callback);
