//! 「联系我」与客户入群方式 (doc 92572): contact ways (QR codes / mini-program buttons that add a
//! customer to a member) and temporary chats — `add_contact_way`, `get_contact_way`,
//! `list_contact_way`, `update_contact_way`, `del_contact_way`, `close_temp_chat`.

use serde::{Deserialize, Serialize};

use super::paging::cursor_paged;
use super::types::Conclusions;

/// `POST add_contact_way`: create a contact way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddContactWayRequest {
    /// 1 single member, 2 several members.
    pub r#type: i64,
    /// 1 mini-program button, 2 QR code.
    pub scene: i64,
    /// Mini-program button style.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<i64>,
    /// Remark (≤ 30 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Add without the customer's verification (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    /// Channel tag echoed back in the add event and `follow_user.state` (≤ 30 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Members using this way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Vec<String>>,
    /// Departments using this way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<Vec<i64>>,
    /// Temporary-chat mode (single member only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_temp: Option<bool>,
    /// Temporary QR code lifetime in seconds (≤ 14 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Temporary chat lifetime in seconds (≤ 14 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_expires_in: Option<i64>,
    /// The only customer (unionid) allowed in the temporary chat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// One customer may add only one member of this way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_exclusive: Option<bool>,
    /// Mark the customers added through this way with where they came from (the way's
    /// 渠道来源 shown in the customer's profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark_source: Option<bool>,
    /// What the temporary chat sends when it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusions: Option<Conclusions>,
}

/// The new contact way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddContactWayResponse {
    /// Its id.
    pub config_id: String,
    /// The QR code URL (scene 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
}

/// `POST get_contact_way`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetContactWayRequest {
    /// The contact way.
    pub config_id: String,
}

/// A contact way's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetContactWayResponse {
    /// The configuration.
    pub contact_way: ContactWay,
}

/// A contact way as WeCom stores it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactWay {
    /// Its id.
    pub config_id: String,
    /// 1 single member, 2 several members.
    pub r#type: i64,
    /// 1 mini-program button, 2 QR code.
    pub scene: i64,
    /// Mini-program button style.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<i64>,
    /// Remark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Add without verification.
    pub skip_verify: bool,
    /// Channel tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// QR code URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    /// Members.
    pub user: Vec<String>,
    /// Departments.
    pub party: Vec<i64>,
    /// Temporary-chat mode.
    pub is_temp: bool,
    /// Temporary QR code lifetime (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Temporary chat lifetime (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_expires_in: Option<i64>,
    /// The temporary chat's customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// One customer per member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_exclusive: Option<bool>,
    /// Whether added customers are marked with where they came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark_source: Option<bool>,
    /// End-of-chat message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusions: Option<Conclusions>,
}

/// `POST list_contact_way`: the ids of contact ways created through the API, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListContactWayRequest {
    /// Created at or after (unix seconds; default 90 days ago).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    /// Created at or before (default now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 1000, default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// One page of contact-way ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListContactWayResponse {
    /// The contact ways.
    pub contact_way: Vec<ContactWayId>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// A contact way's id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactWayId {
    /// The id.
    pub config_id: String,
}

/// `POST update_contact_way`: change a contact way. Only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateContactWayRequest {
    /// The contact way.
    pub config_id: String,
    /// Remark (≤ 30 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Add without verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    /// Mini-program button style.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<i64>,
    /// Channel tag (≤ 30 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Members (replaces the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Vec<String>>,
    /// Departments (replaces the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<Vec<i64>>,
    /// Temporary QR code lifetime (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Temporary chat lifetime (seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_expires_in: Option<i64>,
    /// The temporary chat's customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// One customer per member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_exclusive: Option<bool>,
    /// Mark the customers added through this way with where they came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark_source: Option<bool>,
    /// End-of-chat message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusions: Option<Conclusions>,
}

/// `POST del_contact_way`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelContactWayRequest {
    /// The contact way.
    pub config_id: String,
}

/// `POST close_temp_chat`: end a temporary chat (sends the conclusions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseTempChatRequest {
    /// The member.
    pub userid: String,
    /// The customer.
    pub external_userid: String,
}

cursor_paged! {
    requests: ListContactWayRequest;
    responses: ListContactWayResponse;
}
