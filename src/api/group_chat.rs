//! 客户群 (doc 92120, 92122): list customer group chats and read one — `groupchat/list`,
//! `groupchat/get`.

use serde::{Deserialize, Serialize};

use super::paging::cursor_paged;
use super::types::OwnerFilter;

/// `POST groupchat/list`: customer group chats, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupchatListRequest {
    /// 0 all, 1 owner left (to transfer), 2 transferring, 3 transferred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_filter: Option<i64>,
    /// Only chats of these owners (needed when the app sees > 1000 members: 81017).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_filter: Option<OwnerFilter>,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (1..=1000, required).
    pub limit: i64,
}

/// One page of chats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatListResponse {
    /// The chats.
    pub group_chat_list: Vec<GroupChatStatus>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// A chat and its transfer status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatStatus {
    /// The chat.
    pub chat_id: String,
    /// 0 normal, 1 owner left, 2 transferring, 3 transferred.
    pub status: i64,
}

/// `POST groupchat/get`: a chat's details and members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupchatGetRequest {
    /// The chat.
    pub chat_id: String,
    /// 1 to include members' names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_name: Option<i64>,
}

/// A chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatGetResponse {
    /// The chat.
    pub group_chat: GroupChat,
}

/// A customer group chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChat {
    /// Its id.
    pub chat_id: String,
    /// Its name.
    pub name: String,
    /// The owner (a member).
    pub owner: String,
    /// When it was created (unix seconds).
    pub create_time: i64,
    /// The announcement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Its members.
    pub member_list: Vec<GroupChatMember>,
    /// Its admins.
    pub admin_list: Vec<GroupChatAdmin>,
    /// Changes whenever the member list does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_version: Option<String>,
}

/// A chat member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatMember {
    /// A member's userid or a customer's external userid.
    pub userid: String,
    /// 1 member, 2 customer.
    pub r#type: i64,
    /// When they joined (unix seconds).
    pub join_time: i64,
    /// 1 invited directly, 2 by link, 3 by QR code.
    pub join_scene: i64,
    /// Who invited them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitor: Option<Invitor>,
    /// Their nickname in the chat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_nickname: Option<String>,
    /// Their name (with `need_name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A WeChat customer's unionid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// The join way's `state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Who invited a chat member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Invitor {
    /// The inviting member.
    pub userid: String,
}

/// A chat admin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatAdmin {
    /// The admin.
    pub userid: String,
}

cursor_paged! {
    requests: GroupchatListRequest;
    responses: GroupchatListResponse;
}
