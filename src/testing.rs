//! Test your plug-ins in a few lines: the event fixtures by name (embedded, so they work from
//! any crate), a [`FakeWecom`] API server, and a ready [`Context`] whose client calls it.
//!
//! ```
//! use wecom_callback::testing::{FakeWecom, fixture_event};
//! use wecom_callback::{ContactEvent, Context, Handler, HandlerResult};
//! use wecom_callback::api::message::SendWelcomeMsgRequest;
//!
//! struct Greeter;
//!
//! #[wecom_callback::async_trait]
//! impl Handler for Greeter {
//!     fn name(&self) -> &str {
//!         "greeter"
//!     }
//!     async fn on_add_external_contact(&self, ctx: &Context, e: &ContactEvent) -> HandlerResult {
//!         let request = SendWelcomeMsgRequest {
//!             welcome_code: e.welcome_code.clone().unwrap_or_default(),
//!             ..Default::default()
//!         };
//!         ctx.api()?.send_welcome_msg(&request).await?;
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let wecom = FakeWecom::start().await;
//! let event = fixture_event("change_external_contact__add_external_contact").unwrap();
//! wecom_callback::handler::route(&Greeter, &wecom.context("contacts"), &event).await.unwrap();
//! assert_eq!(wecom.calls_to("send_welcome_msg").len(), 1);
//!
//! // WeCom refusing the code (41051: the customer already chatted) is a permanent failure.
//! wecom.fail("send_welcome_msg", 41051);
//! let err = wecom_callback::handler::route(&Greeter, &wecom.context("contacts"), &event)
//!     .await
//!     .unwrap_err();
//! assert!(!err.is_transient());
//! # }
//! ```
//!
//! For tests on PostgreSQL, [`postgres::TestDatabase`] gives each test a database of its own.

pub mod postgres;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::api::Client;
use crate::event::{Event, ParseError};
use crate::handler::Context;

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// The corp id the fake's client uses.
pub const FAKE_CORP_ID: &str = "wwfake0000000000";
/// The secret the fake's client uses.
pub const FAKE_SECRET: &str = "fake-secret";
/// The access token the fake hands out.
pub const FAKE_ACCESS_TOKEN: &str = "FAKE_ACCESS_TOKEN";

/// The plaintext XML of the fixture `name` (a file stem of `fixtures/events`, e.g.
/// `change_external_contact__add_external_contact`; `.xml` may be given too).
pub fn fixture(name: &str) -> Option<&'static str> {
    let stem = name.trim_end_matches(".xml");
    EVENT_FIXTURES
        .iter()
        .find(|(fixture, _)| *fixture == stem)
        .map(|(_, xml)| *xml)
}

/// Every fixture: (name, plaintext XML), sorted by name.
pub fn fixtures() -> impl Iterator<Item = (&'static str, &'static str)> {
    EVENT_FIXTURES.iter().copied()
}

/// Why [`fixture_event`] found no event.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// No fixture has this name.
    #[error("no fixture named {0:?} (see testing::fixtures())")]
    Unknown(String),
    /// The fixture does not parse (it would be a bug in this crate).
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// The typed event of the fixture `name`.
///
/// # Errors
/// An unknown name.
pub fn fixture_event(name: &str) -> Result<Event, FixtureError> {
    let xml = fixture(name).ok_or_else(|| FixtureError::Unknown(name.to_owned()))?;
    Ok(Event::parse(xml)?)
}

/// One call the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The method name: the path after `/cgi-bin/externalcontact/` with `/` → `_`
    /// (`send_welcome_msg`, `groupchat_list`), or `gettoken`.
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The query string (with `access_token`).
    pub query: String,
    /// The JSON body (`null` for a GET or a body that is not JSON).
    pub body: Value,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    answers: HashMap<String, Value>,
    once: HashMap<String, Vec<Value>>,
}

/// A local HTTP server that answers like WeCom's API: `gettoken` hands out
/// [`FAKE_ACCESS_TOKEN`], every other call answers `{"errcode":0,"errmsg":"ok"}` unless told
/// otherwise, and every call is recorded. Stops when dropped.
pub struct FakeWecom {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeWecom {
    /// Start on a free port of 127.0.0.1, on the current Tokio runtime.
    ///
    /// # Panics
    /// When no port can be bound (the test cannot go on).
    pub async fn start() -> FakeWecom {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap_or_else(|e| panic!("FakeWecom cannot bind a port: {e}"));
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeWecom {
            addr,
            state,
            handle,
        }
    }

    /// The base URL, for `[api] base_url` or [`crate::api::ClientBuilder::base_url`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client of this fake ([`FAKE_CORP_ID`], [`FAKE_SECRET`]).
    ///
    /// # Panics
    /// Never in practice: the builder only fails without a corp id or secret.
    pub fn client(&self) -> Client {
        Client::builder()
            .corp_id(FAKE_CORP_ID)
            .secret(FAKE_SECRET)
            .base_url(self.url())
            .build()
            .unwrap_or_else(|e| panic!("FakeWecom client: {e}"))
    }

    /// A context for running a handler of `app` by hand, its API client calling this fake.
    pub fn context(&self, app: &str) -> Context {
        Context::new(app, Some(self.client()))
    }

    /// Answer every later call of `method` with `answer` (WeCom's JSON).
    pub fn answer(&self, method: &str, answer: Value) {
        self.lock().answers.insert(method.to_owned(), answer);
    }

    /// Answer every later call of `method` with `errcode` (and a made-up `errmsg`).
    pub fn fail(&self, method: &str, errcode: i64) {
        self.answer(method, injected(errcode));
    }

    /// Answer only the next call of `method` with `errcode`.
    pub fn fail_once(&self, method: &str, errcode: i64) {
        self.lock()
            .once
            .entry(method.to_owned())
            .or_default()
            .push(injected(errcode));
    }

    /// Every call so far, `gettoken` included, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The JSON bodies of the calls of `method` so far.
    pub fn calls_to(&self, method: &str) -> Vec<Value> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .map(|c| c.body.clone())
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeWecom {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { handle.stop(false).await });
        }
    }
}

fn injected(errcode: i64) -> Value {
    json!({"errcode": errcode, "errmsg": format!("injected errcode {errcode}")})
}

/// The method name of a WeCom API path.
fn method_of(path: &str) -> String {
    match path.strip_prefix("/cgi-bin/externalcontact/") {
        Some(rest) => rest.replace('/', "_"),
        None => path.rsplit('/').next().unwrap_or_default().to_owned(),
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let method = method_of(req.path());
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.calls.push(Call {
        method: method.clone(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let once = state.once.get_mut(&method).and_then(|queue| {
        if queue.is_empty() {
            None
        } else {
            Some(queue.remove(0))
        }
    });
    let answer = once
        .or_else(|| state.answers.get(&method).cloned())
        .unwrap_or_else(|| {
            if method == "gettoken" {
                json!({"errcode": 0, "errmsg": "ok", "access_token": FAKE_ACCESS_TOKEN, "expires_in": 7200})
            } else {
                json!({"errcode": 0, "errmsg": "ok"})
            }
        });
    HttpResponse::Ok().json(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_is_embedded_and_parses() {
        assert!(fixtures().count() >= 20);
        for (name, _) in fixtures() {
            fixture_event(name).unwrap();
        }
        assert!(fixture("change_external_contact__add_external_contact.xml").is_some());
        assert!(matches!(
            fixture_event("nope"),
            Err(FixtureError::Unknown(_))
        ));
    }

    #[tokio::test]
    async fn the_fake_answers_records_and_fails_on_demand() {
        let wecom = FakeWecom::start().await;
        let client = wecom.client();
        let list = crate::api::contact::ListRequest {
            userid: "zhangsan".into(),
        };
        client.list(&list).await.unwrap();
        wecom.fail_once("list", 60020);
        let err = client.list(&list).await.unwrap_err();
        assert!(err.to_string().contains("60020"), "{err}");
        client.list(&list).await.unwrap();
        let methods: Vec<String> = wecom.calls().into_iter().map(|c| c.method).collect();
        assert_eq!(methods, ["gettoken", "list", "list", "list"]);
        assert!(wecom.calls()[1].query.contains(FAKE_ACCESS_TOKEN));
    }
}
