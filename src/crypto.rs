//! WeCom message crypto (WXBizMsgCrypt): `msg_signature`, AES-256-CBC with 32-byte PKCS#7, and
//! the `random ‖ msg_len ‖ msg ‖ receive_id` frame.
//!
//! Pure functions over bytes and strings: no I/O, no clock, no global random source (encryption
//! takes the 16-byte random prefix from the caller). Every failure is a [`CryptoError`] carrying
//! the official library's error number; no input makes this module panic.
//!
//! The pitfalls this module exists to get right (see `protocol.md` §1 and §9):
//! - EncodingAESKey is 43 base64 characters whose last one carries two spare bits that are
//!   usually non-zero, so the key is decoded with a lenient engine;
//! - padding is PKCS#7 over **32-byte** blocks (pad 1..=32), stripped by hand after an unpadded
//!   AES-CBC pass, never by `trim` (a pad byte of 32 is an ASCII space);
//! - the signature is compared in constant time, and the receive id (CorpID / SuiteID) is
//!   checked, not skipped.

use aes::cipher::{
    BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit, block_padding::NoPadding,
};
use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// PKCS#7 block size WeCom pads to: 32 bytes, not AES's 16.
pub const PAD_BLOCK: usize = 32;

/// Length of the random prefix of every encrypted frame.
pub const RANDOM_LEN: usize = 16;

/// Lenient base64: accepts non-zero trailing bits (both official EncodingAESKeys need it) and
/// optional padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a crypto operation failed. Each variant maps to the number the official WXBizMsgCrypt
/// libraries use (see [`CryptoError::code`]); messages are one short lowercase line and never
/// contain key material.
///
/// The official numbers with no variant here name failures that cannot happen in this
/// implementation: -40003 (computing sha1), -40009 (base64 encoding) and -40011 (building the
/// reply XML) are infallible operations in Rust.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// -40001: `msg_signature` does not match sha1(sort(token, timestamp, nonce, encrypt)).
    #[error("signature mismatch")]
    SignatureMismatch,
    /// -40002: the XML (or query) around the ciphertext could not be parsed.
    #[error("malformed xml: {0}")]
    ParseXml(String),
    /// -40004: the EncodingAESKey is not 43 base64 characters decoding to 32 bytes.
    #[error("invalid EncodingAESKey: {0}")]
    IllegalAesKey(&'static str),
    /// -40005: the receive id at the end of the plaintext is not the expected one.
    #[error("receive id {actual} does not match {expected}")]
    ReceiveIdMismatch {
        /// The id this endpoint expects (CorpID, SuiteID, or empty).
        expected: String,
        /// The id found in the decrypted frame.
        actual: String,
    },
    /// -40006: encryption failed (the message is too large to frame).
    #[error("encryption failed: {0}")]
    EncryptAes(&'static str),
    /// -40007: the ciphertext is not a whole number of AES blocks, or the padding is invalid.
    #[error("{0}")]
    DecryptAes(String),
    /// -40008: the decrypted frame is malformed (too short, length past the end, not UTF-8).
    #[error("{0}")]
    IllegalBuffer(String),
    /// -40010: the ciphertext is not valid base64.
    #[error("ciphertext is not valid base64")]
    DecodeBase64,
}

impl CryptoError {
    /// The official library's error number for this failure (-40001 … -40011).
    pub fn code(&self) -> i32 {
        match self {
            CryptoError::SignatureMismatch => -40001,
            CryptoError::ParseXml(_) => -40002,
            CryptoError::IllegalAesKey(_) => -40004,
            CryptoError::ReceiveIdMismatch { .. } => -40005,
            CryptoError::EncryptAes(_) => -40006,
            CryptoError::DecryptAes(_) => -40007,
            CryptoError::IllegalBuffer(_) => -40008,
            CryptoError::DecodeBase64 => -40010,
        }
    }

    /// Whether this failure means "not from WeCom" (authentication) rather than "malformed".
    /// The server answers the former with 401 and the latter with 400.
    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            CryptoError::SignatureMismatch | CryptoError::ReceiveIdMismatch { .. }
        )
    }
}

/// A decoded 32-byte AES key, with its expanded round keys (computed once, not at every
/// decryption). Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct AesKey {
    bytes: [u8; 32],
    schedule: aes::Aes256,
}

impl PartialEq for AesKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for AesKey {}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

impl AesKey {
    /// Decode a 43-character EncodingAESKey (`base64(key)` without its `=`).
    ///
    /// # Errors
    /// [`CryptoError::IllegalAesKey`] when it is not 43 characters of `[A-Za-z0-9+/]` decoding to
    /// exactly 32 bytes. The message never repeats the key.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::IllegalAesKey(
                "it must be exactly 43 characters",
            ));
        }
        let bytes = LENIENT
            .decode(encoding_aes_key)
            .map_err(|_| CryptoError::IllegalAesKey("it is not valid base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::IllegalAesKey("it does not decode to 32 bytes"))?;
        Ok(AesKey::from_bytes(key))
    }

    /// Wrap raw key bytes (tests and tools that generate keys).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        AesKey {
            bytes,
            schedule: aes::Aes256::new(&bytes.into()),
        }
    }

    /// The key as WeCom's console shows it: 43 base64 characters.
    pub fn to_encoding_aes_key(&self) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.bytes)
    }

    /// WeCom's IV: the key's first 16 bytes.
    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.bytes[..16]);
        iv
    }

    fn decryptor(&self) -> Aes256CbcDec {
        Aes256CbcDec::inner_iv_init(self.schedule.clone(), &self.iv().into())
    }

    fn encryptor(&self) -> Aes256CbcEnc {
        Aes256CbcEnc::inner_iv_init(self.schedule.clone(), &self.iv().into())
    }
}

/// One decrypted frame: what WeCom put around the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The 16 random bytes in front (ignored by receivers; kept to reproduce ciphertexts).
    pub random: [u8; RANDOM_LEN],
    /// The message bytes (callback XML, or the echostr plaintext).
    pub msg: Vec<u8>,
    /// The trailing receive id (CorpID, SuiteID, or empty).
    pub receive_id: String,
}

/// `msg_signature` = lowercase hex sha1 of the four values sorted bytewise and concatenated.
pub fn signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    hex::encode(signature_digest(token, timestamp, nonce, encrypt))
}

fn signature_digest(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> [u8; 20] {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// Check `msg_signature` in constant time.
///
/// # Errors
/// [`CryptoError::SignatureMismatch`] when it is not the expected 40 hex digits.
pub fn verify_signature(
    token: &str,
    msg_signature: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
) -> Result<(), CryptoError> {
    let expected = signature_digest(token, timestamp, nonce, encrypt);
    let mut given = [0u8; 20];
    // A malformed signature is a mismatch, not a different error: it tells an attacker nothing.
    let ok = hex::decode_to_slice(msg_signature.trim(), &mut given).is_ok();
    if ok & bool::from(given.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(CryptoError::SignatureMismatch)
    }
}

/// Decrypt a base64 ciphertext into its frame, without judging the receive id.
///
/// # Errors
/// -40010 for bad base64, -40007 for a ciphertext that is not whole blocks or bad padding,
/// -40008 for a frame too short or whose length field runs past the end.
pub fn open(key: &AesKey, encrypt: &str) -> Result<Frame, CryptoError> {
    let buf = decrypt_unpadded(key, encrypt)?;
    let view = FrameView::of(&buf)?;
    Ok(Frame {
        random: view.random,
        msg: buf[view.msg].to_vec(),
        receive_id: view.receive_id.to_owned(),
    })
}

/// Decode and decrypt `encrypt`, and strip its padding: the frame's bytes.
fn decrypt_unpadded(key: &AesKey, encrypt: &str) -> Result<Vec<u8>, CryptoError> {
    // Real echostr values that crossed a form decoder carry spaces where '+' was: repair them.
    let cleaned;
    let text = if encrypt.contains(' ') {
        cleaned = encrypt.replace(' ', "+");
        cleaned.as_str()
    } else {
        encrypt
    };
    let mut buf = decode_base64(text.trim_end_matches(['\r', '\n']))?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(CryptoError::DecryptAes(format!(
            "ciphertext length {} is not a positive multiple of 16",
            buf.len()
        )));
    }
    let plain_len = key
        .decryptor()
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| CryptoError::DecryptAes("aes-cbc decryption failed".into()))?
        .len();
    buf.truncate(plain_len);
    let unpadded = unpad(&buf)?.len();
    buf.truncate(unpadded);
    Ok(buf)
}

/// Decode a ciphertext. What WeCom sends is canonical padded base64, which the SIMD decoder
/// takes (a third of the time of the scalar one for a callback's ~1.3 KB); anything else goes to
/// the lenient decoder, whose language is a superset of the canonical one and which decodes the
/// canonical form to the same bytes, so the outcome is the lenient decoder's either way.
fn decode_base64(text: &str) -> Result<Vec<u8>, CryptoError> {
    base64_simd::STANDARD
        .decode_to_vec(text)
        .or_else(|_| LENIENT.decode(text))
        .map_err(|_| CryptoError::DecodeBase64)
}

/// Strip PKCS#7 padding over 32-byte blocks, checking every pad byte.
fn unpad(buf: &[u8]) -> Result<&[u8], CryptoError> {
    let Some(&last) = buf.last() else {
        return Err(CryptoError::DecryptAes("empty plaintext".into()));
    };
    let pad = usize::from(last);
    if !(1..=PAD_BLOCK).contains(&pad) {
        return Err(CryptoError::DecryptAes(format!(
            "padding byte {pad} is not in 1..={PAD_BLOCK}"
        )));
    }
    if pad > buf.len() {
        return Err(CryptoError::DecryptAes(format!(
            "padding {pad} is longer than the plaintext"
        )));
    }
    let (body, padding) = buf.split_at(buf.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptoError::DecryptAes(format!(
            "padding bytes are not all {pad}"
        )));
    }
    Ok(body)
}

/// A decrypted frame's parts, borrowed from its bytes.
struct FrameView<'a> {
    random: [u8; RANDOM_LEN],
    /// Where the message is.
    msg: std::ops::Range<usize>,
    receive_id: &'a str,
}

impl<'a> FrameView<'a> {
    /// Split an unpadded frame: random prefix, length, message, receive id.
    fn of(buf: &'a [u8]) -> Result<Self, CryptoError> {
        const HEAD: usize = RANDOM_LEN + 4;
        if buf.len() < HEAD {
            return Err(CryptoError::IllegalBuffer(format!(
                "decrypted frame of {} bytes is shorter than {HEAD}",
                buf.len()
            )));
        }
        let mut random = [0u8; RANDOM_LEN];
        random.copy_from_slice(&buf[..RANDOM_LEN]);
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&buf[RANDOM_LEN..HEAD]);
        let msg_len = u32::from_be_bytes(len_bytes) as usize;
        let rest = buf.len() - HEAD;
        if msg_len > rest {
            return Err(CryptoError::IllegalBuffer(format!(
                "length field {msg_len} runs past the end of a {rest}-byte message"
            )));
        }
        let receive_id = std::str::from_utf8(&buf[HEAD + msg_len..])
            .map_err(|_| CryptoError::IllegalBuffer("receive id is not utf-8".into()))?;
        Ok(FrameView {
            random,
            msg: HEAD..HEAD + msg_len,
            receive_id,
        })
    }
}

/// Frame, pad and encrypt `msg` with the given random prefix; returns base64.
///
/// # Errors
/// [`CryptoError::EncryptAes`] when `msg` is longer than the 4-byte length field can say.
pub fn seal(
    key: &AesKey,
    msg: &[u8],
    receive_id: &str,
    random: [u8; RANDOM_LEN],
) -> Result<String, CryptoError> {
    let msg_len = u32::try_from(msg.len())
        .map_err(|_| CryptoError::EncryptAes("message longer than 4 GiB"))?;
    let body_len = RANDOM_LEN + 4 + msg.len() + receive_id.len();
    let pad = PAD_BLOCK - body_len % PAD_BLOCK;
    let mut buf = Vec::with_capacity(body_len + pad);
    buf.extend_from_slice(&random);
    buf.extend_from_slice(&msg_len.to_be_bytes());
    buf.extend_from_slice(msg);
    buf.extend_from_slice(receive_id.as_bytes());
    // pad is 1..=32, so it always fits in a byte.
    buf.resize(body_len + pad, pad as u8);
    let total = buf.len();
    key.encryptor()
        .encrypt_padded_mut::<NoPadding>(&mut buf, total)
        .map_err(|_| CryptoError::EncryptAes("aes-cbc encryption failed"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(&buf))
}

/// One app's crypto settings: Token, AES key and the receive id its callbacks must carry.
#[derive(Clone)]
pub struct MsgCrypt {
    token: String,
    key: AesKey,
    receive_id: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt")
            .field("token", &"<redacted>")
            .field("key", &self.key)
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

impl MsgCrypt {
    /// Build from the console values. `receive_id` is the CorpID for self-built apps, the SuiteID
    /// for third-party 指令回调, and empty for personal-subject apps and AI bots.
    ///
    /// # Errors
    /// [`CryptoError::IllegalAesKey`] for a malformed EncodingAESKey.
    pub fn new(
        token: impl Into<String>,
        encoding_aes_key: &str,
        receive_id: impl Into<String>,
    ) -> Result<Self, CryptoError> {
        Ok(MsgCrypt {
            token: token.into(),
            key: AesKey::from_encoding_aes_key(encoding_aes_key)?,
            receive_id: receive_id.into(),
        })
    }

    /// The receive id decrypted frames must carry.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The AES key.
    pub fn key(&self) -> &AesKey {
        &self.key
    }

    /// `msg_signature` for these values under this app's token.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&self.token, timestamp, nonce, encrypt)
    }

    /// Check `msg_signature` in constant time.
    ///
    /// # Errors
    /// [`CryptoError::SignatureMismatch`].
    pub fn verify(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        verify_signature(&self.token, msg_signature, timestamp, nonce, encrypt)
    }

    /// Decrypt and check the receive id; returns the whole frame.
    ///
    /// # Errors
    /// See [`open`]; plus [`CryptoError::ReceiveIdMismatch`].
    pub fn decrypt_frame(&self, encrypt: &str) -> Result<Frame, CryptoError> {
        let frame = open(&self.key, encrypt)?;
        self.check_receive_id(&frame.receive_id)?;
        Ok(frame)
    }

    /// Decrypt, check the receive id, and return the message as UTF-8 text.
    ///
    /// # Errors
    /// See [`MsgCrypt::decrypt_frame`]; a message that is not UTF-8 is -40008.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        // The message is cut out of the decrypted buffer in place: no copy of it is made.
        let mut buf = decrypt_unpadded(&self.key, encrypt)?;
        let view = FrameView::of(&buf)?;
        self.check_receive_id(view.receive_id)?;
        let msg = view.msg;
        buf.truncate(msg.end);
        buf.drain(..msg.start);
        String::from_utf8(buf)
            .map_err(|_| CryptoError::IllegalBuffer("message is not utf-8".into()))
    }

    /// The receive id is not secret, so an ordinary comparison is fine here.
    fn check_receive_id(&self, actual: &str) -> Result<(), CryptoError> {
        if actual == self.receive_id {
            return Ok(());
        }
        Err(CryptoError::ReceiveIdMismatch {
            expected: self.receive_id.clone(),
            actual: actual.to_owned(),
        })
    }

    /// Verify the signature first (CBC is unauthenticated), then decrypt.
    ///
    /// # Errors
    /// See [`MsgCrypt::verify`] and [`MsgCrypt::decrypt`].
    pub fn verify_and_decrypt(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, CryptoError> {
        self.verify(msg_signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt)
    }

    /// Encrypt `msg` with the given random prefix and this app's receive id.
    ///
    /// # Errors
    /// See [`seal`].
    pub fn encrypt_with_random(
        &self,
        msg: &[u8],
        random: [u8; RANDOM_LEN],
    ) -> Result<String, CryptoError> {
        seal(&self.key, msg, &self.receive_id, random)
    }

    /// Encrypt `msg` with 16 random alphanumerics drawn from `rng` (as the official libraries do).
    ///
    /// # Errors
    /// See [`seal`].
    pub fn encrypt(&self, msg: &[u8], rng: &mut impl rand::RngCore) -> Result<String, CryptoError> {
        self.encrypt_with_random(msg, random_prefix(rng))
    }
}

/// 16 random characters from `[A-Za-z0-9]`.
pub fn random_prefix(rng: &mut impl rand::RngCore) -> [u8; RANDOM_LEN] {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = [0u8; RANDOM_LEN];
    for byte in &mut out {
        *byte = ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN_A: &str = "QDG6eK";
    const KEY_A: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    const CORP_A: &str = "wx5823bf96d3bd56c7";

    fn crypt_a() -> MsgCrypt {
        MsgCrypt::new(TOKEN_A, KEY_A, CORP_A).unwrap()
    }

    #[test]
    fn official_keys_decode_despite_trailing_bits() {
        let a = AesKey::from_encoding_aes_key(KEY_A).unwrap();
        assert_eq!(
            hex::encode(a.bytes),
            "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760"
        );
        let b =
            AesKey::from_encoding_aes_key("6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt").unwrap();
        assert_eq!(
            hex::encode(b.bytes),
            "eaa91d32babaf274ca76ece72583b5037ed6da8120a64314be4b6d453a2a854b"
        );
    }

    #[test]
    fn bad_keys_are_rejected_without_echoing_them() {
        for bad in ["", "short", &"!".repeat(43), &"A".repeat(44)] {
            let err = AesKey::from_encoding_aes_key(bad).unwrap_err();
            assert_eq!(err.code(), -40004);
            assert!(bad.is_empty() || !err.to_string().contains(bad));
        }
    }

    #[test]
    fn full_block_of_padding_round_trips() {
        let c = crypt_a();
        let sealed = c
            .encrypt_with_random(&[b'x'; 26], *b"0123456789abcdef")
            .unwrap();
        assert_eq!(
            sealed,
            "sKqRbbiSUnDhFHOvPjtUMSs1k8K1CdhVATTBQNj5RGfr2SSogQPwiaREvDG6j+anDDTQGRPc5XVafaRf07vjdJWo03DV9aa/cArn/HDtV476heTTKpJSMh7JMO1cnA3V"
        );
        assert_eq!(c.decrypt(&sealed).unwrap(), "x".repeat(26));
    }

    #[test]
    fn padding_and_length_errors_are_named() {
        let key = AesKey::from_encoding_aes_key(KEY_A).unwrap();
        let raw_encrypt = |plain: &[u8]| {
            let mut buf = plain.to_vec();
            let n = buf.len();
            key.encryptor()
                .encrypt_padded_mut::<NoPadding>(&mut buf, n)
                .unwrap();
            base64::engine::general_purpose::STANDARD.encode(buf)
        };
        let zero_pad = raw_encrypt(&[0u8; 32]);
        assert_eq!(
            open(&key, &zero_pad).unwrap_err().to_string(),
            "padding byte 0 is not in 1..=32"
        );
        let big_pad = raw_encrypt(&[33u8; 64]);
        assert_eq!(
            open(&key, &big_pad).unwrap_err().to_string(),
            "padding byte 33 is not in 1..=32"
        );
        let mut long_len = vec![0u8; 16];
        long_len.extend_from_slice(&1000u32.to_be_bytes());
        long_len.extend_from_slice(&[b'a'; 10]);
        long_len.resize(64, 30);
        let err = open(&key, &raw_encrypt(&long_len)).unwrap_err();
        assert_eq!(err.code(), -40008);
        assert!(err.to_string().contains("length field 1000"));
    }

    #[test]
    fn receive_id_is_checked() {
        let c = crypt_a();
        let sealed = c.encrypt_with_random(b"hi", [b'r'; 16]).unwrap();
        let other = MsgCrypt::new(TOKEN_A, KEY_A, "ww1436e0e65a779aee").unwrap();
        assert_eq!(
            other.decrypt(&sealed).unwrap_err().to_string(),
            "receive id wx5823bf96d3bd56c7 does not match ww1436e0e65a779aee"
        );
    }

    #[test]
    fn malformed_signature_is_a_mismatch() {
        let c = crypt_a();
        for sig in ["", "zz", "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd"] {
            assert_eq!(
                c.verify(sig, "1", "2", "3"),
                Err(CryptoError::SignatureMismatch)
            );
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let shown = format!("{:?}", crypt_a());
        assert!(!shown.contains(TOKEN_A));
        assert!(!shown.contains("8d6998"));
    }

    /// Both decoders agree wherever the SIMD one answers: it takes canonical padded base64,
    /// and every other form (spare bits set, padding left off, stray characters) is the
    /// lenient decoder's to accept or refuse.
    mod base64_decoders {
        use super::super::{LENIENT, decode_base64};
        use base64::Engine;
        use proptest::prelude::*;

        /// A canonical encoding, then maybe its last data character changed (setting spare
        /// bits or breaking it), its padding dropped, or a character of anything put in.
        fn text() -> impl Strategy<Value = String> {
            (
                proptest::collection::vec(any::<u8>(), 0..48),
                0..4u8,
                any::<char>(),
                any::<prop::sample::Index>(),
            )
                .prop_map(|(bytes, change, c, at)| {
                    let mut text = base64::engine::general_purpose::STANDARD.encode(bytes);
                    match change {
                        1 => {
                            let data = text.trim_end_matches('=').len();
                            if data > 0 {
                                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                                let swap = alphabet[at.index(alphabet.len())] as char;
                                text.replace_range(data - 1..data, &swap.to_string());
                            }
                        }
                        2 => text = text.trim_end_matches('=').to_owned(),
                        3 => {
                            let mut at = at.index(text.len() + 1);
                            while !text.is_char_boundary(at) {
                                at -= 1;
                            }
                            text.insert(at, c);
                        }
                        _ => {}
                    }
                    text
                })
        }

        proptest! {
            #[test]
            fn the_fast_path_changes_no_outcome(text in text()) {
                let lenient = LENIENT.decode(&text).ok();
                prop_assert_eq!(decode_base64(&text).ok(), lenient.clone());
                if let Ok(fast) = base64_simd::STANDARD.decode_to_vec(&text) {
                    prop_assert_eq!(Some(fast), lenient);
                }
            }
        }

        #[test]
        fn spare_bits_and_missing_padding_still_decode() {
            // The official EncodingAESKey with its padding back: spare bits set.
            let key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C=";
            assert!(base64_simd::STANDARD.decode_to_vec(key).is_err());
            assert_eq!(decode_base64(key).unwrap().len(), 32);
            assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
            assert_eq!(decode_base64("YWI").unwrap(), b"ab");
            assert!(decode_base64("YW!j").is_err());
        }
    }
}
