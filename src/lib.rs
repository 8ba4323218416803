//! # wecom-callback
//!
//! Receive WeCom (企业微信) customer-contact callbacks and act on them.
//!
//! WeCom calls this service on every customer-contact change. It verifies `msg_signature`,
//! decrypts the callback, parses it into a typed [`Event`], stores it with one delivery per
//! handler before answering, and runs each delivery through its handler plug-in, which acts
//! through a typed API client.
//!
//! # Layout
//!
//! - [`handler`]: what plug-in authors read — the [`Handler`] trait, [`Context`],
//!   [`HandlerError`].
//! - [`event`]: the typed [`Event`] for every customer-contact change and its JSON form.
//! - [`api`]: the typed client for WeCom's external-contact API ([`api::Client`]).
//! - [`crypto`]: `msg_signature`, AES-256-CBC with 32-byte PKCS#7, the receive-id check. Pure.
//! - [`envelope`]: the outer `<xml><ToUserName/><AgentID/><Encrypt/></xml>` of a callback.
//! - [`callback`]: one request end to end without I/O: query, envelope, verify, decrypt, seal.
//! - [`config`]: the TOML configuration, typed at load, `${VAR}` expansion and validation.
//! - [`store`]: the store that is also the queue: events and their deliveries (SQLite by
//!   default).
//! - `intake`: the one path from a decrypted event to the store and the dispatcher.
//! - [`dispatch`]: the engine — per-handler slots, lanes, timeouts, panics caught, retries.
//! - [`plugins`]: built-in handlers (`welcome`, `tag_by_state`, `forward`).
//! - [`service`]: assembles everything, serves HTTP, and stops gracefully.
//! - [`testing`]: fixtures by name, a fake WeCom API and a ready [`Context`] for your tests.
//! - [`cli`]: the `wecom-callback` command line.

#![warn(missing_docs)]

pub mod api;
pub mod backoff;
pub mod callback;
pub mod cli;
mod clock;
pub mod config;
pub mod crypto;
pub mod dispatch;
pub mod envelope;
pub mod event;
pub mod handler;
mod intake;
mod log;
mod metrics;
pub mod plugins;
mod secret;
pub mod service;
pub mod store;
pub mod testing;
mod web;
mod xml;

pub use api::{ApiError, Client};
pub use async_trait::async_trait;
pub use config::{Config, ConfigError};
pub use crypto::{CryptoError, MsgCrypt};
pub use envelope::Envelope;
pub use event::{
    AcquisitionEvent, ChatEvent, ContactChange, ContactEvent, Event, ParseError, TagEvent,
    UnknownEvent,
};
pub use handler::{Context, Handler, HandlerError, HandlerResult};
pub use service::{Embedded, Handle};
pub use service::{Running, Service, ServiceError};
pub use store::{Inbox, MemoryInbox, SqliteInbox, StoreError};

/// The SQLite bindings this crate links (bundled SQLite): depend on this re-export, or pin the
/// same `rusqlite` version, so that your own SQLite code links with ours.
pub use rusqlite;

/// The README's Rust examples, compiled (and the test example run) by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
