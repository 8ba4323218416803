//! The [`Endpoint`] trait: what a request type knows about the WeCom endpoint it is for.
//!
//! Every request type implements it (generated from the table in
//! [`catalog`](super::catalog)), which is what lets [`Client::call`](super::Client::call),
//! the cursor helpers and the by-name dispatch be written once.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// Parameters in the query string.
    Get,
    /// Parameters as a JSON body.
    Post,
}

impl HttpMethod {
    /// `"GET"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// A request type bound to one WeCom endpoint.
pub trait Endpoint: Serialize + DeserializeOwned + Send + Sync {
    /// The typed answer (the payload next to `errcode`/`errmsg`).
    type Response: Serialize + DeserializeOwned + Send;
    /// The method name: the path after `/cgi-bin/externalcontact/` with `/` → `_`.
    const NAME: &'static str;
    /// How the request is sent.
    const METHOD: HttpMethod;
    /// The full path, e.g. `/cgi-bin/externalcontact/add_contact_way`.
    const PATH: &'static str;
}

/// A row of the endpoint table, for listings (`api --list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointInfo {
    /// The method name ([`Endpoint::NAME`]).
    pub name: &'static str,
    /// The HTTP method.
    pub method: HttpMethod,
    /// The full path.
    pub path: &'static str,
}
