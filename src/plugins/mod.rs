//! Built-in handler plug-ins, configured per app (`[apps.welcome]`, `[apps.tag_by_state]`,
//! `[[apps.forward]]`). [`for_app`] builds the ones an app's config asks for.

mod forward;
mod tag_by_state;
mod welcome;

pub use forward::{Forward, signature as forward_signature};
pub use tag_by_state::TagByState;
pub use welcome::{WELCOME_CODE_LIFETIME, Welcome};

use std::sync::Arc;

use crate::config::AppConfig;
use crate::dispatch::Handler;

/// The built-in handlers an app's configuration enables: welcome first (its code expires in
/// 20 s), then tag_by_state, then each forward.
///
/// # Errors
/// A `welcome` attachment that is not in send_welcome_msg's shape.
pub fn for_app(app: &AppConfig) -> Result<Vec<Arc<dyn Handler>>, String> {
    let mut handlers: Vec<Arc<dyn Handler>> = Vec::new();
    if let Some(welcome) = &app.welcome {
        handlers.push(Arc::new(Welcome::new(welcome)?));
    }
    if let Some(tags) = &app.tag_by_state {
        handlers.push(Arc::new(TagByState::new(tags)));
    }
    for (i, forward) in app.forward.iter().enumerate() {
        handlers.push(Arc::new(Forward::new(i, forward)));
    }
    Ok(handlers)
}
