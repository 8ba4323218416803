//! `tag_by_state`: mark each new customer with the tags configured for the channel (`State`)
//! it came through, e.g. `spring_sale = ["etAAAA"]`.

use std::collections::BTreeMap;

use crate::api::tag::MarkTagRequest;
use crate::dispatch::{Context, Handler, HandlerError, HandlerResult};
use crate::event::ContactEvent;

/// The `tag_by_state` plug-in of one app.
pub struct TagByState {
    tags: BTreeMap<String, Vec<String>>,
}

impl TagByState {
    /// Build from `[apps.tag_by_state]`.
    pub fn new(tags: &BTreeMap<String, Vec<String>>) -> Self {
        TagByState { tags: tags.clone() }
    }
}

#[async_trait::async_trait]
impl Handler for TagByState {
    fn name(&self) -> &str {
        "tag_by_state"
    }

    async fn on_add_external_contact(&self, ctx: &Context, e: &ContactEvent) -> HandlerResult {
        let Some(tags) = e.state.as_deref().and_then(|s| self.tags.get(s)) else {
            return Ok(());
        };
        if tags.is_empty() {
            return Ok(());
        }
        let api = ctx
            .api
            .as_ref()
            .ok_or_else(|| HandlerError::permanent("the app has no secret for API calls"))?;
        let request = MarkTagRequest {
            userid: e.user_id.clone(),
            external_userid: e.external_user_id.clone(),
            add_tag: Some(tags.clone()),
            remove_tag: None,
        };
        match api.mark_tag(&request).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_transient() => Err(HandlerError::transient(err)),
            Err(err) => Err(HandlerError::permanent(err)),
        }
    }
}
