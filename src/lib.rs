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
//! - [`store`]: the durable inbox (SQLite by default) every event is stored in before its 200.
//! - [`dispatch`]: the [`Handler`] trait and the dispatcher (per-customer order, retries, dead letters).
//! - [`plugins`]: built-in handlers (`welcome`, `tag_by_state`, `forward`).
//! - [`server`]: the actix-web routes; [`service`] assembles everything and stops it gracefully.
//! - [`metrics`]: Prometheus metrics.
//! - [`api`]: the typed client for WeCom's external-contact API (token cache, retries).
//! - [`cli`]: the `wecom-callback` command line.

#![warn(missing_docs)]

pub mod api;
pub mod callback;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod dispatch;
pub mod envelope;
pub mod event;
pub mod metrics;
pub mod plugins;
pub mod server;
pub mod service;
pub mod store;

pub use async_trait::async_trait;
pub use config::Config;
pub use crypto::{CryptoError, MsgCrypt};
pub use dispatch::{Context, Handler, HandlerError, HandlerResult};
pub use envelope::Envelope;
pub use event::{
    AcquisitionEvent, ChatEvent, ContactChange, ContactEvent, Event, TagEvent, UnknownEvent,
};
pub use service::{Running, Service};
pub use store::{Inbox, MemoryInbox, SqliteInbox};
pub mod xml;
