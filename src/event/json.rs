//! The event JSON form (architecture §3.4): one flat object, keys are the XML element names in
//! snake_case, numbers are numbers, `mem_change_list` is an array, absent fields are omitted.

use crate::xml::Value;
use serde_json::{Map, Value as Json};

/// Builds one flat JSON object in insertion order.
#[derive(Default)]
pub(crate) struct JsonOut(pub(crate) Map<String, Json>);

impl JsonOut {
    pub(crate) fn text(&mut self, key: &str, value: &str) {
        self.0
            .insert(key.to_owned(), Json::String(value.to_owned()));
    }

    pub(crate) fn opt_text(&mut self, key: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.text(key, v);
        }
    }

    pub(crate) fn number(&mut self, key: &str, value: i64) {
        self.0.insert(key.to_owned(), Json::from(value));
    }

    pub(crate) fn opt_number(&mut self, key: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.number(key, v);
        }
    }

    pub(crate) fn list(&mut self, key: &str, items: &[String]) {
        let items = items.iter().map(|s| Json::String(s.clone())).collect();
        self.0.insert(key.to_owned(), Json::Array(items));
    }

    /// An element kept as found: text as a string, a container as an array of strings. A
    /// repeated element turns its key into an array of every occurrence, so nothing is lost.
    pub(crate) fn raw(&mut self, xml_name: &str, value: &Value) {
        let key = snake_case(xml_name);
        let new = match value {
            Value::Text(t) => Json::String(t.clone()),
            Value::List(items) => Json::Array(items.iter().cloned().map(Json::String).collect()),
        };
        self.insert_or_append(key, new);
    }

    /// Insert `value`, or when `key` is taken, make it an array holding both.
    pub(crate) fn insert_or_append(&mut self, key: String, value: Json) {
        match self.0.get_mut(&key) {
            None => {
                self.0.insert(key, value);
            }
            Some(Json::Array(items)) if !value.is_array() => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Json::Array(vec![first, value]);
            }
        }
    }

    /// Leftover elements, after the typed ones.
    pub(crate) fn extra(&mut self, extra: &[(String, Value)]) {
        for (name, value) in extra {
            self.raw(name, value);
        }
    }
}

/// `ToUserName` → `to_user_name`, `UserID` → `user_id`, `ExternalUserID` → `external_user_id`,
/// `ChatId` → `chat_id`, `MsgId` → `msg_id`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_is_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_matches_the_contract() {
        for (xml, json) in [
            ("ToUserName", "to_user_name"),
            ("CreateTime", "create_time"),
            ("UserID", "user_id"),
            ("ExternalUserID", "external_user_id"),
            ("ChatId", "chat_id"),
            ("StrategyId", "strategy_id"),
            ("MemChangeList", "mem_change_list"),
            ("AgentID", "agent_id"),
            ("MsgId", "msg_id"),
            ("AuthCorpId", "auth_corp_id"),
            ("InfoType", "info_type"),
            ("Id", "id"),
        ] {
            assert_eq!(snake_case(xml), json);
        }
    }
}
