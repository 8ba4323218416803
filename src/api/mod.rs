//! The typed client for WeCom's customer-contact (客户联系) API.
//!
//! # Layout
//!
//! - [`Client`] ([`client`]): one app's connection to WeCom — cached access token, the retry
//!   policy for WeCom's `errcode`s, a count of calls by `errcode` for metrics.
//! - [`token`]: the [`TokenStore`] the token is cached in and the single-flight refresh.
//! - [`ApiError`] ([`error`]) and the [`errcode`]s that change what the client does.
//! - [`catalog`]: the table of every endpoint. Each row generates the [`Endpoint`] impl of a
//!   request type and the [`Client`] method of the same name.
//! - One module per area with its request and response types: [`contact`], [`contact_way`],
//!   [`strategy`], [`tag`], [`transfer`], [`group_chat`], [`moment`], [`message`],
//!   [`group_welcome`], [`statistics`], [`acquisition`], [`id_convert`]; shared nested
//!   objects (attachments, …) in [`types`].
//! - [`paging`]: walking paged endpoints, typed ([`Client::pages`], [`Client::all_pages`]) and
//!   by name ([`PAGINATION`]: each paged method's scheme and items field).
//! - [`by_name`]: calling an endpoint by its method name with JSON and getting WeCom's answer
//!   as received (the `api` command), page by page with [`pages_by_name`].
//!
//! # Names
//!
//! A method's name is the endpoint's path after `/cgi-bin/externalcontact/` with `/` → `_`
//! (`groupchat/list` → [`Client::groupchat_list`]); its request type is that name in
//! CamelCase + `Request` (`GroupchatListRequest`), and its response type likewise, except that
//! endpoints with the same answer share one (`EmptyResponse`, `TransferResultResponse`, …).
//! Fields keep WeCom's own names (`r#type` for `type`).
//!
//! # Requests and responses
//!
//! Optional request fields are `Option`s left out when `None`: "not set" is never sent as `""`
//! or `0`. Requests reject unknown fields; responses ignore them and default missing ones.
//!
//! ```no_run
//! # async fn run() -> Result<(), wecom_callback::api::ApiError> {
//! use wecom_callback::api::{Client, message::SendWelcomeMsgRequest, types::Text};
//!
//! let client = Client::builder().corp_id("ww0123456789abcdef").secret("…").build()?;
//! client
//!     .send_welcome_msg(&SendWelcomeMsgRequest {
//!         welcome_code: "WELCOMECODE".into(),
//!         text: Some(Text { content: "你好，欢迎！".into() }),
//!         ..Default::default()
//!     })
//!     .await?;
//! # Ok(())
//! # }
//! ```

pub mod acquisition;
pub mod by_name;
mod call_counts;
pub mod catalog;
pub mod client;
pub mod contact;
pub mod contact_way;
pub mod endpoint;
pub mod errcode;
pub mod error;
pub mod group_chat;
pub mod group_welcome;
pub mod id_convert;
pub mod message;
pub mod moment;
pub mod paging;
mod retry;
pub mod statistics;
pub mod strategy;
pub mod tag;
pub mod token;
pub mod transfer;
pub mod types;

pub use by_name::{
    ByNameError, METHODS, call_by_name, first_page_request, pages_by_name, request_json,
};
pub use catalog::ENDPOINTS;
pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use endpoint::{Endpoint, EndpointInfo, HttpMethod};
pub use error::{ApiError, TokenStoreError};
pub use paging::{CursorRequest, PAGINATION, Paged, Pagination, Scheme, pagination};
pub use token::{AccessToken, CachedToken, MemoryTokenStore, TokenStore};
