//! Built-in handler plug-ins, configured per app (`[apps.welcome]`, `[apps.tag_by_state]`,
//! `[[apps.forward]]`). [`for_app`] builds the ones an app's config asks for.

mod forward;

pub use forward::{Forward, signature as forward_signature};

use std::sync::Arc;

use crate::config::AppConfig;
use crate::dispatch::Handler;

/// The built-in handlers an app's configuration enables, in a fixed order.
pub fn for_app(app: &AppConfig, api: Option<crate::api::Client>) -> Vec<Arc<dyn Handler>> {
    let _ = &api;
    let mut handlers: Vec<Arc<dyn Handler>> = Vec::new();
    for (i, forward) in app.forward.iter().enumerate() {
        handlers.push(Arc::new(Forward::new(i, forward)));
    }
    handlers
}
