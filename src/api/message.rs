//! 消息推送 (docs 92135, 93338, 92137): mass messages to customers and customer groups, and the
//! welcome message for a new customer — `add_msg_template`, `get_groupmsg_list_v2`,
//! `get_groupmsg_task`, `get_groupmsg_send_result`, `send_welcome_msg`,
//! `remind_groupmsg_send`, `cancel_groupmsg_send`.

use serde::{Deserialize, Serialize};

use super::paging::cursor_paged;
use super::types::{Attachment, Text, lenient_i64};

/// `POST add_msg_template`: create a mass message; members confirm sending it in their client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMsgTemplateRequest {
    /// `single` (to customers, default) or `group` (to customer groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_type: Option<String>,
    /// These customers (≤ 10 000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_userid: Option<Vec<String>>,
    /// These customer groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id_list: Option<Vec<String>>,
    /// Customers with these tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_filter: Option<TagFilter>,
    /// The member who sends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Let the sender choose the recipients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_select: Option<bool>,
    /// The text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// ≤ 9 attachments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
}

/// Customers by tag: tags within a group are OR-ed, groups are AND-ed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagFilter {
    /// The groups.
    pub group_list: Vec<TagFilterGroup>,
}

/// A tag group of a [`TagFilter`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagFilterGroup {
    /// Tag ids.
    pub tag_list: Vec<String>,
}

/// The created mass message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddMsgTemplateResponse {
    /// Customers or chats that cannot receive it.
    pub fail_list: Vec<String>,
    /// Its id.
    pub msgid: String,
}

/// `POST get_groupmsg_list_v2`: mass messages created in a window, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetGroupmsgListV2Request {
    /// `single` or `group`.
    pub chat_type: String,
    /// From (unix seconds).
    pub start_time: i64,
    /// To (unix seconds).
    pub end_time: i64,
    /// Only this member's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// 0 corp, 1 personal, 2 all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<i64>,
    /// Page size (≤ 100, default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One page of mass messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetGroupmsgListV2Response {
    /// The messages.
    pub group_msg_list: Vec<GroupMsg>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// A mass message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupMsg {
    /// Its id.
    pub msgid: String,
    /// Who created it.
    pub creator: String,
    /// When (unix seconds; WeCom's sample sends a string).
    #[serde(deserialize_with = "lenient_i64")]
    pub create_time: i64,
    /// 0 corp, 1 personal.
    pub create_type: i64,
    /// The text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// The attachments.
    pub attachments: Vec<Attachment>,
}

/// `POST get_groupmsg_task`: which members sent a mass message, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetGroupmsgTaskRequest {
    /// The message.
    pub msgid: String,
    /// Page size (≤ 1000, default 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One page of send states per member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetGroupmsgTaskResponse {
    /// One entry per member.
    pub task_list: Vec<GroupMsgTask>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// A member's send state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupMsgTask {
    /// The member.
    pub userid: String,
    /// 0 not sent, 2 sent.
    pub status: i64,
    /// When sent (unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_time: Option<i64>,
}

/// `POST get_groupmsg_send_result`: per-recipient results of one member's sending, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetGroupmsgSendResultRequest {
    /// The message.
    pub msgid: String,
    /// The member.
    pub userid: String,
    /// Page size (≤ 1000, default 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One page of per-recipient results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetGroupmsgSendResultResponse {
    /// One entry per recipient.
    pub send_list: Vec<GroupMsgSend>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// A recipient's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupMsgSend {
    /// The customer (`single`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_userid: Option<String>,
    /// The customer group (`group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// The member.
    pub userid: String,
    /// 0 not sent, 1 sent, 2 not a friend, 3 already got another mass message today.
    pub status: i64,
    /// When sent (unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_time: Option<i64>,
}

/// `POST send_welcome_msg`: greet a new customer with the `welcome_code` of their add event.
///
/// Within 20 s of the event, once: 41050 (code expired or used) and 41051 (already chatting)
/// are final.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendWelcomeMsgRequest {
    /// From the `add_external_contact` / `add_half_external_contact` event.
    pub welcome_code: String,
    /// The text (≤ 4000 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// ≤ 9 attachments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
}

/// `POST remind_groupmsg_send`: remind members to send a mass message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemindGroupmsgSendRequest {
    /// The message.
    pub msgid: String,
}

/// `POST cancel_groupmsg_send`: stop a mass message members have not sent yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelGroupmsgSendRequest {
    /// The message.
    pub msgid: String,
}

cursor_paged! {
    requests: GetGroupmsgListV2Request, GetGroupmsgTaskRequest, GetGroupmsgSendResultRequest;
    responses: GetGroupmsgListV2Response, GetGroupmsgTaskResponse, GetGroupmsgSendResultResponse;
}
