//! # wecom-callback
//!
//! Receive WeCom (企业微信) customer-contact callbacks and act on them.
//!
//! WeCom calls this service on every customer-contact change. It verifies `msg_signature`,
//! decrypts the callback, parses it into a typed [`Event`], stores it durably before answering,
//! and routes it to handler plug-ins that act through a typed API client.
//!
//! # Layout
//!
//! - [`crypto`]: `msg_signature`, AES-256-CBC with 32-byte PKCS#7, the receive-id check. Pure.
//! - [`envelope`]: the outer `<xml><ToUserName/><AgentID/><Encrypt/></xml>` of a callback.
//! - [`event`]: the typed [`Event`] for every customer-contact change and its JSON form.
//! - [`callback`]: one request end to end without I/O: query, envelope, verify, decrypt, seal.
//! - [`xml`]: the strict reader for WeCom's flat XML (no DOCTYPE, no entities).
//! - [`config`]: the TOML configuration, `${VAR}` expansion and validation.
//! - [`api`]: the typed client for WeCom's external-contact API (token cache, retries).
//! - [`cli`]: the `wecom-callback` command line.

pub mod api;
pub mod callback;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod envelope;
pub mod event;


pub use config::Config;
pub use crypto::{CryptoError, MsgCrypt};
pub use envelope::Envelope;
pub use event::Event;
pub mod xml;
