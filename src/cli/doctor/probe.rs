//! The requests `doctor` sends, sealed exactly as WeCom seals them with the app's Token,
//! EncodingAESKey and receive id: the GET URL verification (with an echostr of a chosen shape)
//! and the POSTed probe event. Timestamps are the current time and nonces are digits, as
//! WeCom's are.

use rand::Rng;

use crate::callback;
use crate::crypto::{CryptoError, MsgCrypt, PAD_BLOCK, RANDOM_LEN, random_prefix};

/// The shape of a verification's echostr (base64 of the ciphertext).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// With `+`, `/` and `=` padding, as WeCom's usually are: a proxy that re-encodes or
    /// decodes the query breaks it.
    Escaped,
    /// Letters and digits only: nothing in the query for a proxy to rewrite.
    Plain,
}

/// A sealed GET URL verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verification {
    /// The signed query string (`msg_signature`, `timestamp`, `nonce`, `echostr`).
    pub query: String,
    /// The echostr as sent (base64).
    pub echostr: String,
    /// What the echostr decrypts to: the exact answer WeCom expects.
    pub plaintext: String,
}

/// A sealed POST of the probe event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Probe {
    /// The signed query string.
    pub query: String,
    /// The envelope XML.
    pub body: String,
}

/// How many random prefixes to try for an echostr of the wanted shape. A plain one turns up
/// about once in 60 tries, an escaped one in most tries; failing this many times is a bug.
const TRIES: usize = 20_000;

/// A verification whose echostr has `shape`, signed at `now` (Unix seconds).
///
/// # Errors
/// When encryption fails, or (never in practice) no echostr of that shape turned up.
pub(super) fn verification(
    crypt: &MsgCrypt,
    now: u64,
    shape: Shape,
    rng: &mut impl Rng,
) -> Result<Verification, String> {
    let length = plaintext_length(crypt.receive_id().len(), shape);
    let timestamp = now.to_string();
    let nonce = digits(rng, 10);
    for _ in 0..TRIES {
        // Like WeCom's, the plaintext is a random decimal number.
        let plaintext = digits(rng, length);
        let sealed = callback::seal_get(
            crypt,
            plaintext.as_bytes(),
            &timestamp,
            &nonce,
            random_prefix(rng),
        )
        .map_err(|e| e.to_string())?;
        let Some(echostr) = sealed.query.echostr.clone() else {
            return Err("sealing a verification gave no echostr".to_owned());
        };
        if has_shape(&echostr, shape) {
            return Ok(Verification {
                query: sealed.query.to_query_string(),
                echostr,
                plaintext,
            });
        }
    }
    Err(format!("no echostr of shape {shape:?} in {TRIES} tries"))
}

/// The probe event, sealed as WeCom would POST it at `now`.
///
/// # Errors
/// When encryption fails.
pub(super) fn probe(crypt: &MsgCrypt, now: u64, rng: &mut impl Rng) -> Result<Probe, CryptoError> {
    let plaintext = callback::doctor_probe_xml(crypt.receive_id(), now);
    let sealed = callback::seal_post(
        crypt,
        plaintext.as_bytes(),
        &now.to_string(),
        &digits(rng, 10),
        random_prefix(rng),
    )?;
    Ok(Probe {
        query: sealed.query.to_query_string(),
        body: sealed.body.unwrap_or_default(),
    })
}

/// Whether `echostr` has `shape`.
fn has_shape(echostr: &str, shape: Shape) -> bool {
    match shape {
        Shape::Escaped => echostr.contains('+') && echostr.contains('/') && echostr.ends_with('='),
        Shape::Plain => echostr.bytes().all(|b| b.is_ascii_alphanumeric()),
    }
}

/// A plaintext length (from WeCom's usual 19 digits up) whose ciphertext gets `=` padding in
/// base64 (`Escaped`) or none (`Plain`). Base64 pads unless the byte count is a multiple of 3,
/// and the ciphertext is a whole number of 32-byte blocks, so it is the block count that
/// decides.
fn plaintext_length(receive_id_len: usize, shape: Shape) -> usize {
    let blocks = |length: usize| (RANDOM_LEN + 4 + length + receive_id_len) / PAD_BLOCK + 1;
    (19..19 + 3 * PAD_BLOCK)
        .find(|&length| (blocks(length) % 3 == 0) == (shape == Shape::Plain))
        .unwrap_or(19)
}

/// `count` random decimal digits, the first not 0.
fn digits(rng: &mut impl Rng, count: usize) -> String {
    (0..count)
        .map(|i| char::from(b'0' + rng.gen_range(u8::from(i == 0)..10)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::CallbackQuery;

    fn crypt(receive_id: &str) -> MsgCrypt {
        MsgCrypt::new(
            "QDG6eK",
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            receive_id,
        )
        .unwrap()
    }

    #[test]
    fn verifications_have_the_wanted_shape_and_open() {
        let mut rng = rand::thread_rng();
        for receive_id in [
            "wx5823bf96d3bd56c7",
            "",
            "a-much-longer-suite-id-0123456789",
        ] {
            let crypt = crypt(receive_id);
            for shape in [Shape::Escaped, Shape::Plain] {
                let v = verification(&crypt, 1_700_000_000, shape, &mut rng).unwrap();
                assert!(has_shape(&v.echostr, shape), "{shape:?}: {}", v.echostr);
                let query = CallbackQuery::parse(&v.query).unwrap();
                assert_eq!(query.timestamp, "1700000000");
                assert!(query.nonce.bytes().all(|b| b.is_ascii_digit()));
                assert_eq!(
                    callback::open_get(&crypt, &query, callback::TimestampWindow::OFF).unwrap(),
                    v.plaintext
                );
                if shape == Shape::Plain {
                    assert!(!v.query.contains('%'), "{}", v.query);
                }
            }
        }
    }

    #[test]
    fn the_probe_is_the_doctor_event_and_opens() {
        let crypt = crypt("wx5823bf96d3bd56c7");
        let probe = probe(&crypt, 1_700_000_000, &mut rand::thread_rng()).unwrap();
        let query = CallbackQuery::parse(&probe.query).unwrap();
        let plain = callback::open_post(
            &crypt,
            &query,
            probe.body.as_bytes(),
            callback::TimestampWindow::OFF,
        )
        .unwrap();
        assert_eq!(
            plain,
            callback::doctor_probe_xml("wx5823bf96d3bd56c7", 1_700_000_000)
        );
        assert!(plain.contains(callback::DOCTOR_PROBE_EVENT));
    }
}
