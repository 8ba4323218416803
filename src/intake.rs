//! Intake: the one path from a decrypted, parsed event to the store and the dispatcher.
//!
//! Dedup key → slots reserved for the app's handlers → the event and one delivery per handler
//! in one transaction → the deliveries leased to this instance start at once. The server calls
//! it for every authentic callback and `replay` for every file, so both behave the same.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{millis, now_ms};
use crate::dispatch::Dispatcher;
use crate::event::Event;
use crate::store::{Appended, Inbox, NewEvent, StoreError, dedup_key};

use crate::callback::DOCTOR_PROBE_EVENT;

/// What happened to an accepted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored under this id, its deliveries committed (and the leased ones started).
    Stored(i64),
    /// A retry of an event already stored under this id: nothing was written.
    Duplicate(i64),
    /// `doctor`'s probe: answered, not stored.
    Probe,
}

/// Stores events and starts their deliveries.
#[derive(Clone)]
pub struct Intake {
    inbox: Arc<dyn Inbox>,
    dispatcher: Dispatcher,
    lease: Duration,
}

impl Intake {
    /// Intake into `inbox`, starting deliveries on `dispatcher`, leasing them for `lease`.
    pub fn new(inbox: Arc<dyn Inbox>, dispatcher: Dispatcher, lease: Duration) -> Self {
        Intake {
            inbox,
            dispatcher,
            lease,
        }
    }

    /// Store `event` (decrypted as `plaintext`, of `kind`: [`Event::kind`], which the caller
    /// has at hand for its logs and metrics) for `app` durably, then start the deliveries this
    /// instance leased. Returns once the store has committed.
    ///
    /// # Errors
    /// The store could not commit: nothing of the event was written.
    pub async fn accept(
        &self,
        app: &Arc<str>,
        plaintext: String,
        event: Event,
        kind: &str,
    ) -> Result<Accepted, StoreError> {
        if event.event_name() == Some(DOCTOR_PROBE_EVENT) {
            return Ok(Accepted::Probe);
        }
        let reservation = self.dispatcher.reserve(app, &event);
        let received_at = now_ms();
        let new = NewEvent {
            app: app.clone(),
            dedup_key: dedup_key(app, &plaintext, event.create_time()),
            kind: kind.to_owned(),
            lane: event.order_key(),
            plaintext,
            received_at,
            deliveries: reservation.deliveries(),
            lease_until: received_at + millis(self.lease),
        };
        match self.inbox.append(new).await? {
            Appended::New { id, leased } => {
                if !reservation.is_empty() {
                    self.dispatcher.start_leased(reservation, leased, event);
                }
                Ok(Accepted::Stored(id))
            }
            Appended::Duplicate(id) => Ok(Accepted::Duplicate(id)),
        }
    }

    /// Every configured (app, handler).
    pub fn handlers(&self) -> Vec<(String, String)> {
        self.dispatcher.handlers()
    }

    /// The store events go to.
    pub fn inbox(&self) -> &Arc<dyn Inbox> {
        &self.inbox
    }
}
