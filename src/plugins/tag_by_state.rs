//! `tag_by_state`: mark each new customer with the tags configured for the channel (`State`)
//! it came through, e.g. `spring_sale = ["etAAAA"]`.

use std::collections::BTreeMap;

use crate::api::tag::MarkTagRequest;
use crate::event::{ContactChange, ContactEvent, Event};
use crate::handler::{Context, Handler, HandlerResult};

/// The `tag_by_state` plug-in of one app.
pub struct TagByState {
    tags: BTreeMap<String, Vec<String>>,
}

impl TagByState {
    /// Build from `[apps.tag_by_state]`: state → tag ids.
    pub fn new(tags: BTreeMap<String, Vec<String>>) -> Self {
        TagByState { tags }
    }

    fn tags_for(&self, e: &ContactEvent) -> Option<&Vec<String>> {
        e.state
            .as_deref()
            .and_then(|s| self.tags.get(s))
            .filter(|tags| !tags.is_empty())
    }
}

#[async_trait::async_trait]
impl Handler for TagByState {
    fn name(&self) -> &str {
        "tag_by_state"
    }

    fn wants(&self, event: &Event) -> bool {
        matches!(event, Event::Contact(e)
            if e.change == ContactChange::AddExternalContact && self.tags_for(e).is_some())
    }

    async fn on_add_external_contact(&self, ctx: &Context, e: &ContactEvent) -> HandlerResult {
        let Some(tags) = self.tags_for(e) else {
            return Ok(());
        };
        let request = MarkTagRequest {
            userid: e.user_id.clone(),
            external_userid: e.external_user_id.clone(),
            add_tag: Some(tags.clone()),
            remove_tag: None,
        };
        ctx.api()?.mark_tag(&request).await?;
        Ok(())
    }
}
