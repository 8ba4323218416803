//! One callback request, end to end and without I/O: the query string, the envelope, the
//! signature and the decryption — in that order (CBC is unauthenticated, so nothing is
//! decrypted before its signature checks out). The server and the `decrypt`/`seal` commands
//! share this module, so they agree byte for byte.

use std::borrow::Cow;

use crate::crypto::{CryptoError, MsgCrypt, RANDOM_LEN};
use crate::envelope::{Envelope, EnvelopeError};
use crate::event::Event;

/// The `Event` of the probe `wecom-callback doctor` POSTs. It only proves that the path, Token,
/// EncodingAESKey and receive id work, so the server answers it 200 without storing or
/// dispatching it.
pub const DOCTOR_PROBE_EVENT: &str = "wecom_callback_doctor";

/// The plaintext of the probe `wecom-callback doctor` POSTs: a harmless event whose `Event` is
/// [`DOCTOR_PROBE_EVENT`], addressed to `receive_id`, created at `now` (Unix seconds).
pub fn doctor_probe_xml(receive_id: &str, now: u64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{receive_id}]]></ToUserName>\
         <FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{now}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{DOCTOR_PROBE_EVENT}]]></Event>\
         <ChangeType><![CDATA[probe]]></ChangeType></xml>"
    )
}

/// The query parameters WeCom signs a callback with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallbackQuery {
    /// `msg_signature`.
    pub msg_signature: String,
    /// `timestamp`, as sent (never re-formatted: it is signed as a string).
    pub timestamp: String,
    /// `nonce`, as sent.
    pub nonce: String,
    /// `echostr`, for GET URL verification only.
    pub echostr: Option<String>,
}

/// Why a callback was refused.
///
/// Before the signature has matched, the answer may say what is wrong (the query or envelope is
/// malformed, the signature does not match, the timestamp is stale): none of it depends on a
/// secret. After it has matched, every failure — base64, padding, length, receive id,
/// plaintext XML, an implausible echostr — gets the same status and the same body
/// ([`CallbackError::answer`]): telling them apart would let someone who knows only the Token
/// decrypt captured callbacks byte by byte (a padding oracle). [`CallbackError::log_line`]
/// keeps the cause for the operator, never a decrypted byte; [`CallbackError::detail`] (for
/// the offline `decrypt` command only) says everything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The query string is malformed or lacks a parameter.
    #[error("{0}")]
    Query(String),
    /// The body is not an acceptable envelope.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// `msg_signature` does not match.
    #[error("signature mismatch")]
    Signature,
    /// The signed timestamp is outside the window around our clock.
    #[error("timestamp outside the allowed window")]
    Stale {
        /// Our clock minus the timestamp, in seconds (`None`: not a number).
        skew: Option<i64>,
        /// The window, in seconds either side.
        tolerance: u64,
    },
    /// Signed, but it does not decrypt or parse.
    #[error("undecryptable")]
    Undecryptable(Undecryptable),
}

/// Why a signed callback could not be opened. Only the operator sees this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecryptable {
    /// Decryption or the receive-id check failed.
    Crypto(CryptoError),
    /// The plaintext is not WeCom XML.
    Plaintext(String),
    /// A GET's echostr decrypted to something no echostr looks like.
    Echostr,
}

impl CallbackError {
    /// The HTTP status: 401 for a signature or timestamp refusal, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            CallbackError::Signature | CallbackError::Stale { .. } => 401,
            _ => 400,
        }
    }

    /// Whether the request failed authentication (401) rather than being malformed (400).
    pub fn is_authentication(&self) -> bool {
        self.status() == 401
    }

    /// The body to answer with: a short line that holds nothing decrypted, the same for every
    /// failure after the signature.
    pub fn answer(&self) -> String {
        self.to_string()
    }

    /// A short stable label for metrics and logs: `bad_query`, `bad_xml`, `bad_signature`,
    /// `stale_timestamp`, or after the signature `bad_base64`, `bad_ciphertext`, `bad_frame`,
    /// `bad_receive_id`, `bad_plaintext`, `bad_echostr`.
    pub fn label(&self) -> &'static str {
        match self {
            CallbackError::Query(_) => "bad_query",
            CallbackError::Envelope(_) => "bad_xml",
            CallbackError::Signature => "bad_signature",
            CallbackError::Stale { .. } => "stale_timestamp",
            CallbackError::Undecryptable(cause) => match cause {
                Undecryptable::Crypto(CryptoError::DecodeBase64) => "bad_base64",
                Undecryptable::Crypto(CryptoError::DecryptAes(_)) => "bad_ciphertext",
                Undecryptable::Crypto(CryptoError::ReceiveIdMismatch { .. }) => "bad_receive_id",
                Undecryptable::Crypto(_) => "bad_frame",
                Undecryptable::Plaintext(_) => "bad_plaintext",
                Undecryptable::Echostr => "bad_echostr",
            },
        }
    }

    /// What the operator needs to fix it, without a decrypted byte (the receive id found, the
    /// padding value, the plaintext are all left out).
    pub fn log_line(&self) -> String {
        match self {
            CallbackError::Query(m) => m.clone(),
            CallbackError::Envelope(e) => e.to_string(),
            CallbackError::Signature => {
                "signature mismatch: wrong token, or a proxy rewrote the query string".into()
            }
            CallbackError::Stale {
                skew: Some(skew),
                tolerance,
            } => format!(
                "timestamp is {}s {} our clock (clock skew allowed: {tolerance}s): if WeCom sent \
                 it, this server's clock is wrong (check NTP); otherwise it is a replay",
                skew.abs(),
                if *skew >= 0 { "behind" } else { "ahead of" }
            ),
            CallbackError::Stale { skew: None, .. } => "timestamp is not a number".into(),
            CallbackError::Undecryptable(cause) => match cause {
                Undecryptable::Crypto(CryptoError::DecodeBase64) => {
                    "ciphertext is not valid base64 (mangled on the way?)".into()
                }
                Undecryptable::Crypto(CryptoError::ReceiveIdMismatch { expected, .. }) => {
                    format!(
                        "receive id is not {expected:?}: wrong corp_id (or receive_id), or the \
                         EncodingAESKey of another app"
                    )
                }
                Undecryptable::Crypto(_) => {
                    "ciphertext does not decrypt to a WeCom frame: wrong encoding_aes_key \
                     (the token matched)"
                        .into()
                }
                Undecryptable::Plaintext(_) => "decrypted callback is not WeCom XML".into(),
                Undecryptable::Echostr => {
                    "echostr does not decrypt to a short printable string".into()
                }
            },
        }
    }

    /// Everything known, decrypted parts included: for the offline `decrypt` command, whose
    /// user holds the keys.
    pub fn detail(&self) -> String {
        match self {
            CallbackError::Undecryptable(Undecryptable::Crypto(e)) => e.to_string(),
            CallbackError::Undecryptable(Undecryptable::Plaintext(e)) => format!("plaintext: {e}"),
            other => other.log_line(),
        }
    }
}

/// How far a signed `timestamp` may be from our clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampWindow {
    /// Our clock, Unix seconds.
    pub now: i64,
    /// Either side; zero turns the check off.
    pub tolerance: std::time::Duration,
}

impl TimestampWindow {
    /// No check (official test vectors, old captures).
    pub const OFF: TimestampWindow = TimestampWindow {
        now: 0,
        tolerance: std::time::Duration::ZERO,
    };

    /// A window of `tolerance` around the current time.
    pub fn around_now(tolerance: std::time::Duration) -> Self {
        TimestampWindow {
            now: crate::clock::now_secs(),
            tolerance,
        }
    }

    fn check(&self, timestamp: &str) -> Result<(), CallbackError> {
        if self.tolerance.is_zero() {
            return Ok(());
        }
        let tolerance = self.tolerance.as_secs();
        let Ok(at) = timestamp.parse::<i64>() else {
            return Err(CallbackError::Stale {
                skew: None,
                tolerance,
            });
        };
        let skew = self.now.saturating_sub(at);
        if skew.unsigned_abs() > tolerance {
            return Err(CallbackError::Stale {
                skew: Some(skew),
                tolerance,
            });
        }
        Ok(())
    }
}

/// Whether a decrypted echostr looks like one WeCom sends (a short printable token, no markup),
/// so that the GET endpoint cannot be used to decrypt anything else (a captured POST body).
pub fn looks_like_echostr(plain: &str) -> bool {
    (1..=128).contains(&plain.len())
        && plain
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'&' | b'"' | b'\''))
}

impl CallbackQuery {
    /// Parse a raw query string. Values are percent-decoded exactly once and `+` is kept as
    /// `+` (it is a base64 character here, not a space); a space in `echostr` — left by a proxy
    /// or client that form-decoded it — is turned back into `+`.
    ///
    /// # Errors
    /// [`CallbackError::Query`] naming a missing parameter or a bad escape.
    pub fn parse(query: &str) -> Result<Self, CallbackError> {
        QueryParams::parse(query).map(QueryParams::into_owned)
    }

    /// The query string WeCom would send (values percent-encoded).
    pub fn to_query_string(&self) -> String {
        let mut out = format!(
            "msg_signature={}&timestamp={}&nonce={}",
            percent_encode(&self.msg_signature),
            percent_encode(&self.timestamp),
            percent_encode(&self.nonce)
        );
        if let Some(echostr) = &self.echostr {
            out.push_str("&echostr=");
            out.push_str(&percent_encode(echostr));
        }
        out
    }
}

/// A query's signed parameters, borrowed from the query string unless they were escaped: the
/// server reads each callback's query without copying it.
struct QueryParams<'a> {
    msg_signature: Cow<'a, str>,
    timestamp: Cow<'a, str>,
    nonce: Cow<'a, str>,
    echostr: Option<Cow<'a, str>>,
}

impl<'a> QueryParams<'a> {
    /// See [`CallbackQuery::parse`].
    fn parse(query: &'a str) -> Result<Self, CallbackError> {
        let (mut sig, mut ts, mut nonce, mut echostr) = (None, None, None, None);
        for pair in pairs(query) {
            let (name, raw) = cut(pair, b'=');
            // Only WeCom's parameters are read (and named in errors); others are ignored.
            let name = match name {
                "msg_signature" => "msg_signature",
                "timestamp" => "timestamp",
                "nonce" => "nonce",
                "echostr" => "echostr",
                _ => continue,
            };
            let value = percent_decode(raw).ok_or_else(|| {
                CallbackError::Query(format!("query parameter {name} has a bad %-escape"))
            })?;
            match name {
                "msg_signature" => sig = Some(value),
                "timestamp" => ts = Some(value),
                "nonce" => nonce = Some(value),
                "echostr" if value.bytes().any(|b| b == b' ') => {
                    echostr = Some(Cow::Owned(value.replace(' ', "+")));
                }
                "echostr" => echostr = Some(value),
                _ => {}
            }
        }
        let need = |v: Option<Cow<'a, str>>, name: &str| {
            v.filter(|s| !s.is_empty())
                .ok_or_else(|| CallbackError::Query(format!("missing query parameter {name}")))
        };
        Ok(QueryParams {
            msg_signature: need(sig, "msg_signature")?,
            timestamp: need(ts, "timestamp")?,
            nonce: need(nonce, "nonce")?,
            echostr,
        })
    }

    /// Borrow a parsed query's parameters.
    fn of(query: &'a CallbackQuery) -> Self {
        QueryParams {
            msg_signature: Cow::Borrowed(&query.msg_signature),
            timestamp: Cow::Borrowed(&query.timestamp),
            nonce: Cow::Borrowed(&query.nonce),
            echostr: query.echostr.as_deref().map(Cow::Borrowed),
        }
    }

    fn into_owned(self) -> CallbackQuery {
        CallbackQuery {
            msg_signature: self.msg_signature.into_owned(),
            timestamp: self.timestamp.into_owned(),
            nonce: self.nonce.into_owned(),
            echostr: self.echostr.map(Cow::into_owned),
        }
    }
}

/// Verify the signature, then the timestamp window, then decrypt (CBC is unauthenticated, so
/// nothing is decrypted before its signature checks out).
fn open(
    crypt: &MsgCrypt,
    query: &QueryParams<'_>,
    signed: &str,
    window: TimestampWindow,
) -> Result<String, CallbackError> {
    crypt
        .verify(&query.msg_signature, &query.timestamp, &query.nonce, signed)
        .map_err(|_| CallbackError::Signature)?;
    window.check(&query.timestamp)?;
    crypt
        .decrypt(signed)
        .map_err(|e| CallbackError::Undecryptable(Undecryptable::Crypto(e)))
}

/// Verify and decrypt a POSTed callback; returns the plaintext XML.
///
/// # Errors
/// See [`CallbackError`].
pub fn open_post(
    crypt: &MsgCrypt,
    query: &CallbackQuery,
    body: &[u8],
    window: TimestampWindow,
) -> Result<String, CallbackError> {
    open_body(crypt, &QueryParams::of(query), body, window)
}

/// The envelope's `Encrypt`, then [`open`].
fn open_body(
    crypt: &MsgCrypt,
    query: &QueryParams<'_>,
    body: &[u8],
    window: TimestampWindow,
) -> Result<String, CallbackError> {
    open(crypt, query, &Envelope::encrypt_of(body)?, window)
}

/// Verify, decrypt and parse a POSTed callback: the plaintext and its typed event.
///
/// # Errors
/// See [`CallbackError`]; a plaintext that is not WeCom XML is undecryptable like the rest.
pub fn open_event(
    crypt: &MsgCrypt,
    query: &CallbackQuery,
    body: &[u8],
    window: TimestampWindow,
) -> Result<(String, Event), CallbackError> {
    with_event(open_post(crypt, query, body, window)?)
}

/// [`CallbackQuery::parse`] then [`open_event`], the query's values borrowed from `query`.
///
/// # Errors
/// See [`CallbackError`].
pub(crate) fn open_event_of_query_string(
    crypt: &MsgCrypt,
    query: &str,
    body: &[u8],
    window: TimestampWindow,
) -> Result<(String, Event), CallbackError> {
    with_event(open_body(crypt, &QueryParams::parse(query)?, body, window)?)
}

/// The plaintext and its typed event; a plaintext that is not WeCom XML is undecryptable.
fn with_event(plaintext: String) -> Result<(String, Event), CallbackError> {
    match Event::parse(&plaintext) {
        Ok(event) => Ok((plaintext, event)),
        Err(e) => Err(CallbackError::Undecryptable(Undecryptable::Plaintext(
            e.to_string(),
        ))),
    }
}

/// Verify and decrypt a GET URL verification; returns the echostr plaintext to answer with.
///
/// # Errors
/// See [`CallbackError`]; a query without `echostr` is a query error.
pub fn open_get(
    crypt: &MsgCrypt,
    query: &CallbackQuery,
    window: TimestampWindow,
) -> Result<String, CallbackError> {
    let echostr = query
        .echostr
        .as_deref()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| CallbackError::Query("missing query parameter echostr".into()))?;
    open(crypt, &QueryParams::of(query), echostr, window)
}

/// A sealed callback: what WeCom would send for a plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The signed query (with `echostr` for a GET verification).
    pub query: CallbackQuery,
    /// The envelope body for a POST; `None` for a GET verification.
    pub body: Option<String>,
}

/// Seal `plaintext` as WeCom would POST it.
///
/// # Errors
/// See [`MsgCrypt::encrypt_with_random`].
pub fn seal_post(
    crypt: &MsgCrypt,
    plaintext: &[u8],
    timestamp: &str,
    nonce: &str,
    random: [u8; RANDOM_LEN],
) -> Result<Sealed, CryptoError> {
    let encrypt = crypt.encrypt_with_random(plaintext, random)?;
    let query = signed_query(crypt, timestamp, nonce, &encrypt, None);
    let envelope = Envelope {
        to_user_name: Some(crypt.receive_id().to_owned()).filter(|s| !s.is_empty()),
        agent_id: None,
        encrypt,
    };
    Ok(Sealed {
        query,
        body: Some(envelope.to_xml()),
    })
}

/// The query WeCom signs `signed` (the `Encrypt` text or the echostr) with.
fn signed_query(
    crypt: &MsgCrypt,
    timestamp: &str,
    nonce: &str,
    signed: &str,
    echostr: Option<String>,
) -> CallbackQuery {
    CallbackQuery {
        msg_signature: crypt.signature(timestamp, nonce, signed),
        timestamp: timestamp.to_owned(),
        nonce: nonce.to_owned(),
        echostr,
    }
}

/// Seal `plaintext` as the `echostr` of a GET URL verification.
///
/// # Errors
/// See [`MsgCrypt::encrypt_with_random`].
pub fn seal_get(
    crypt: &MsgCrypt,
    plaintext: &[u8],
    timestamp: &str,
    nonce: &str,
    random: [u8; RANDOM_LEN],
) -> Result<Sealed, CryptoError> {
    let echostr = crypt.encrypt_with_random(plaintext, random)?;
    Ok(Sealed {
        query: signed_query(crypt, timestamp, nonce, &echostr, Some(echostr.clone())),
        body: None,
    })
}

/// The non-empty `&`-separated pairs of a query string. A byte loop: for strings this short,
/// `str::split`'s searcher costs more than the scan itself.
fn pairs(query: &str) -> impl Iterator<Item = &str> {
    let mut rest = query;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let (pair, after) = cut(rest, b'&');
            rest = after;
            if !pair.is_empty() {
                return Some(pair);
            }
        }
        None
    })
}

/// `s` before and after the first `byte` (an ASCII byte, so both cuts fall on character
/// boundaries), or all of `s` and nothing when it has none.
fn cut(s: &str, byte: u8) -> (&str, &str) {
    match s.bytes().position(|b| b == byte) {
        Some(at) => (&s[..at], &s[at + 1..]),
        None => (s, ""),
    }
}

fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.bytes().any(|b| b == b'%') {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypt() -> MsgCrypt {
        MsgCrypt::new(
            "QDG6eK",
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            "wx5823bf96d3bd56c7",
        )
        .unwrap()
    }

    const GET_A: &str = "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D";

    #[test]
    fn official_get_verification() {
        let q = CallbackQuery::parse(GET_A).unwrap();
        assert_eq!(
            open_get(&crypt(), &q, TimestampWindow::OFF).unwrap(),
            "1616140317555161061"
        );
    }

    #[test]
    fn plus_kept_and_space_repaired() {
        let raw = GET_A.replace("%2B", "+");
        assert_eq!(
            open_get(
                &crypt(),
                &CallbackQuery::parse(&raw).unwrap(),
                TimestampWindow::OFF
            )
            .unwrap(),
            "1616140317555161061"
        );
        let spaced = GET_A.replace("%2B", "%20");
        assert_eq!(
            open_get(
                &crypt(),
                &CallbackQuery::parse(&spaced).unwrap(),
                TimestampWindow::OFF
            )
            .unwrap(),
            "1616140317555161061"
        );
    }

    #[test]
    fn seal_then_open_round_trips() {
        let c = crypt();
        let sealed = seal_post(
            &c,
            "<xml><A>1</A></xml>".as_bytes(),
            "1700000000",
            "n1",
            [b'r'; 16],
        )
        .unwrap();
        let q = CallbackQuery::parse(&sealed.query.to_query_string()).unwrap();
        let body = sealed.body.unwrap();
        assert_eq!(
            open_post(&c, &q, body.as_bytes(), TimestampWindow::OFF).unwrap(),
            "<xml><A>1</A></xml>"
        );
        let mut tampered = q.clone();
        tampered.nonce = "n2".into();
        let err = open_post(&c, &tampered, body.as_bytes(), TimestampWindow::OFF).unwrap_err();
        assert!(err.is_authentication());
        assert_eq!(err.to_string(), "signature mismatch");
    }

    #[test]
    fn the_window_refuses_stale_and_future_timestamps() {
        let c = crypt();
        let now = 1_700_000_000;
        let window = TimestampWindow {
            now,
            tolerance: std::time::Duration::from_secs(600),
        };
        for (at, ok) in [
            (now, true),
            (now - 599, true),
            (now - 660, false),
            (now + 660, false),
        ] {
            let sealed = seal_post(&c, b"<xml/>", &at.to_string(), "n", [b'r'; 16]).unwrap();
            let body = sealed.body.unwrap();
            let result = open_post(&c, &sealed.query, body.as_bytes(), window);
            assert_eq!(result.is_ok(), ok, "{at}: {result:?}");
            if let Err(e) = result {
                assert_eq!(e.status(), 401);
                assert!(e.log_line().contains("clock skew"), "{}", e.log_line());
            }
        }
    }

    #[test]
    fn echostrs_look_like_echostrs() {
        assert!(looks_like_echostr("1616140317555161061"));
        assert!(!looks_like_echostr("<xml><A>1</A></xml>"));
        assert!(!looks_like_echostr(""));
        assert!(!looks_like_echostr(&"1".repeat(129)));
        assert!(!looks_like_echostr("a b"));
    }

    #[test]
    fn doctor_probe_is_the_documented_event() {
        assert_eq!(
            doctor_probe_xml("ww1", 1700000000),
            "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[wecom_callback_doctor]]></Event><ChangeType><![CDATA[probe]]></ChangeType></xml>"
        );
    }

    #[test]
    fn a_query_is_read_without_copies_unless_escaped() {
        let q = QueryParams::parse("msg_signature=ab&timestamp=1&nonce=n%2B1&echostr=a b").unwrap();
        assert!(matches!(q.msg_signature, Cow::Borrowed("ab")));
        assert!(matches!(q.timestamp, Cow::Borrowed("1")));
        assert!(matches!(q.nonce, Cow::Owned(ref n) if n == "n+1"));
        assert_eq!(q.echostr.as_deref(), Some("a+b"));
    }

    #[test]
    fn empty_pairs_bare_names_and_other_parameters_are_skipped() {
        let q = CallbackQuery::parse("&&foo&msg_signature=ab&=x&nonce&timestamp=1&&nonce=2&a=b=c")
            .unwrap();
        assert_eq!(
            (
                q.msg_signature.as_str(),
                q.timestamp.as_str(),
                q.nonce.as_str()
            ),
            ("ab", "1", "2")
        );
        let q = CallbackQuery::parse("msg_signature=a=b&timestamp=1&nonce=2").unwrap();
        assert_eq!(q.msg_signature, "a=b", "only the first = splits a pair");
    }

    proptest::proptest! {
        #[test]
        fn a_query_string_reads_back_as_written(
            msg_signature in "[^ ]{1,12}",
            timestamp in "[^ ]{1,12}",
            nonce in "[^ ]{1,12}",
            echostr in proptest::option::of("[^ ]{1,12}"),
        ) {
            let query = CallbackQuery { msg_signature, timestamp, nonce, echostr };
            proptest::prop_assert_eq!(CallbackQuery::parse(&query.to_query_string()), Ok(query));
        }
    }

    #[test]
    fn missing_parameters_are_named() {
        assert_eq!(
            CallbackQuery::parse("timestamp=1&nonce=2")
                .unwrap_err()
                .to_string(),
            "missing query parameter msg_signature"
        );
        assert!(CallbackQuery::parse("msg_signature=%zz&timestamp=1&nonce=2").is_err());
    }
}
