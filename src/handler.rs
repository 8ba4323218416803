//! What plug-in authors read: the [`Handler`] trait, the [`Context`] a handler runs with, and
//! the [`HandlerError`] it returns.
//!
//! A handler implements only the events it cares about: every `on_*` method has a default that
//! does nothing (serenity-style), and [`route`] calls the one for an event's kind. Plug-ins that
//! want every event (forwarding, audit logs) implement [`Handler::on_event`], which runs before
//! the kind's own method — implementing it never switches the `on_*` methods off.
//!
//! Return `Err(HandlerError::Transient(..))` to be retried with backoff, alone (other handlers
//! of the event are not re-run), and `Err(HandlerError::Permanent(..))` to make the delivery a
//! dead letter at once. `?` works on the WeCom API client's [`ApiError`] (split by
//! [`ApiError::is_transient`]) and on any error of your own that converts into
//! [`HandlerError`] (implement `From<YourError> for HandlerError`, choosing the kind).
//!
//! Handlers run at least once per event: make them idempotent where a repeat would hurt.

use std::sync::Arc;

use crate::api::{ApiError, Client};
use crate::event::{
    AcquisitionEvent, ChatChange, ChatEvent, ContactChange, ContactEvent, Event, TagChange,
    TagEvent, UnknownEvent,
};

/// Why a handler failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// Worth retrying later (network, rate limit, a service down, a timeout).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (expired welcome_code, bad data): the delivery is a dead letter.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl HandlerError {
    /// A transient failure.
    pub fn transient(message: impl std::fmt::Display) -> Self {
        HandlerError::Transient(message.to_string())
    }

    /// A permanent failure.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        HandlerError::Permanent(message.to_string())
    }

    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, HandlerError::Transient(_))
    }
}

/// A WeCom API failure is transient or permanent as [`ApiError::is_transient`] says, so
/// `client.call(..).await?` works in a handler.
impl From<ApiError> for HandlerError {
    fn from(e: ApiError) -> Self {
        if e.is_transient() {
            HandlerError::transient(e)
        } else {
            HandlerError::permanent(e)
        }
    }
}

/// What a handler returns.
pub type HandlerResult = Result<(), HandlerError>;

/// What a handler knows besides the event. Cheap to clone; lives for one attempt.
#[derive(Clone)]
#[non_exhaustive]
pub struct Context {
    /// The app the event arrived for (its `name` in the config).
    pub app: Arc<str>,
    /// The event's id in the store (stable across retries: a key for idempotency).
    pub event_id: i64,
    /// This delivery's attempt number, from 1.
    pub attempt: u32,
    /// When this service received the event, Unix milliseconds (our own clock).
    pub received_at: i64,
    /// The app's WeCom API client, when the app has a `secret`.
    pub api: Option<Client>,
}

impl Context {
    /// A context for running a handler by hand (tests, examples): event id 0, first attempt,
    /// received now, for `app`, acting through `api` (a client pointed at a fake WeCom in tests).
    pub fn new(app: &str, api: Option<Client>) -> Self {
        Context {
            app: Arc::from(app),
            event_id: 0,
            attempt: 1,
            received_at: crate::clock::now_ms(),
            api,
        }
    }

    /// The same context for event `id`.
    pub fn with_event_id(mut self, id: i64) -> Self {
        self.event_id = id;
        self
    }

    /// The same context for attempt `attempt` (from 1).
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The same context for an event received at `received_at` (Unix ms).
    pub fn with_received_at(mut self, received_at: i64) -> Self {
        self.received_at = received_at;
        self
    }

    /// The API client, or a permanent error saying the app has no `secret`.
    ///
    /// # Errors
    /// [`HandlerError::Permanent`] when the app has no API client.
    pub fn api(&self) -> Result<&Client, HandlerError> {
        self.api
            .as_ref()
            .ok_or_else(|| HandlerError::permanent("the app has no secret for API calls"))
    }
}

/// A plug-in that acts on events. Implement the methods you need; the rest do nothing.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// A stable name: deliveries are recorded under it, so renaming one leaves the old name's
    /// unfinished deliveries pending (reported at start).
    fn name(&self) -> &str;

    /// Whether this handler gets a delivery for `event` at all. The default takes every event;
    /// answer `false` for events you never act on, so they cost no store write and never wait
    /// in your lanes.
    fn wants(&self, event: &Event) -> bool {
        let _ = event;
        true
    }

    /// Every event, before the method for its kind. Default: nothing.
    async fn on_event(&self, _ctx: &Context, _event: &Event) -> HandlerResult {
        Ok(())
    }

    /// `change_external_contact/add_external_contact`: a member added a customer.
    async fn on_add_external_contact(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/edit_external_contact`.
    async fn on_edit_external_contact(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/add_half_external_contact`.
    async fn on_add_half_external_contact(
        &self,
        _ctx: &Context,
        _e: &ContactEvent,
    ) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/del_external_contact`.
    async fn on_del_external_contact(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/del_follow_user`.
    async fn on_del_follow_user(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/transfer_fail`.
    async fn on_transfer_fail(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/msg_audit_approved`.
    async fn on_msg_audit_approved(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_chat/create`.
    async fn on_chat_create(&self, _ctx: &Context, _e: &ChatEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_chat/update`.
    async fn on_chat_update(&self, _ctx: &Context, _e: &ChatEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_chat/dismiss`.
    async fn on_chat_dismiss(&self, _ctx: &Context, _e: &ChatEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_tag/create`.
    async fn on_tag_create(&self, _ctx: &Context, _e: &TagEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_tag/update`.
    async fn on_tag_update(&self, _ctx: &Context, _e: &TagEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_tag/delete`.
    async fn on_tag_delete(&self, _ctx: &Context, _e: &TagEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_tag/shuffle`.
    async fn on_tag_shuffle(&self, _ctx: &Context, _e: &TagEvent) -> HandlerResult {
        Ok(())
    }
    /// `customer_acquisition/*`.
    async fn on_customer_acquisition(
        &self,
        _ctx: &Context,
        _e: &AcquisitionEvent,
    ) -> HandlerResult {
        Ok(())
    }
    /// Any kind this version has no type for.
    async fn on_unknown(&self, _ctx: &Context, _e: &UnknownEvent) -> HandlerResult {
        Ok(())
    }
}

/// Run `handler` on `event`: [`Handler::on_event`], then the `on_*` method for its kind.
///
/// # Errors
/// The first failure.
pub async fn route(handler: &dyn Handler, ctx: &Context, event: &Event) -> HandlerResult {
    handler.on_event(ctx, event).await?;
    match event {
        Event::Contact(e) => match e.change {
            ContactChange::AddExternalContact => handler.on_add_external_contact(ctx, e).await,
            ContactChange::EditExternalContact => handler.on_edit_external_contact(ctx, e).await,
            ContactChange::AddHalfExternalContact => {
                handler.on_add_half_external_contact(ctx, e).await
            }
            ContactChange::DelExternalContact => handler.on_del_external_contact(ctx, e).await,
            ContactChange::DelFollowUser => handler.on_del_follow_user(ctx, e).await,
            ContactChange::TransferFail => handler.on_transfer_fail(ctx, e).await,
            ContactChange::MsgAuditApproved => handler.on_msg_audit_approved(ctx, e).await,
        },
        Event::Chat(e) => match e.change {
            ChatChange::Create => handler.on_chat_create(ctx, e).await,
            ChatChange::Update => handler.on_chat_update(ctx, e).await,
            ChatChange::Dismiss => handler.on_chat_dismiss(ctx, e).await,
        },
        Event::Tag(e) => match e.change {
            TagChange::Create => handler.on_tag_create(ctx, e).await,
            TagChange::Update => handler.on_tag_update(ctx, e).await,
            TagChange::Delete => handler.on_tag_delete(ctx, e).await,
            TagChange::Shuffle => handler.on_tag_shuffle(ctx, e).await,
        },
        Event::Acquisition(e) => handler.on_customer_acquisition(ctx, e).await,
        Event::Unknown(e) => handler.on_unknown(ctx, e).await,
    }
}
