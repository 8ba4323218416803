//! 客户管理 (doc 92113 ff.): the members who serve customers, their customers, customer details
//! and remarks — `get_follow_user_list`, `list`, `get`, `batch/get_by_user`, `remark`.

use serde::{Deserialize, Serialize};

use super::paging::cursor_paged;

/// `GET get_follow_user_list`: no parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetFollowUserListRequest {}

/// The members with customer-contact enabled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetFollowUserListResponse {
    /// Their userids.
    pub follow_user: Vec<String>,
}

/// `GET list?userid=`: the customers of one member (no paging; 84061 if none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    /// The member.
    pub userid: String,
}

/// The member's customers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListResponse {
    /// Their external userids.
    pub external_userid: Vec<String>,
}

/// `GET get?external_userid=&cursor=`: one customer and the members who added them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetRequest {
    /// The customer.
    pub external_userid: String,
    /// Pages through `follow_user` when there are more than 500.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A customer and the members following them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetResponse {
    /// The customer.
    pub external_contact: ExternalContact,
    /// The members who added the customer.
    pub follow_user: Vec<FollowUser>,
    /// The next page of `follow_user`; empty on the last page.
    pub next_cursor: String,
}

/// A customer's profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalContact {
    /// The external userid.
    pub external_userid: String,
    /// Name (WeChat nickname, or WeCom name).
    pub name: String,
    /// Position (WeCom users).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    /// Avatar URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Short corp name (WeCom users).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corp_name: Option<String>,
    /// Full corp name (WeCom users).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corp_full_name: Option<String>,
    /// 1 WeChat user, 2 WeCom user.
    pub r#type: i64,
    /// 0 unknown, 1 male, 2 female.
    pub gender: i64,
    /// The WeChat unionid (when the corp has a bound open-platform account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// The WeCom user's public profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_profile: Option<ExternalProfile>,
}

/// A WeCom user's public profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalProfile {
    /// The corp name shown externally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_corp_name: Option<String>,
    /// The linked WeChat channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_channels: Option<WechatChannels>,
    /// Custom profile attributes.
    pub external_attr: Vec<ExternalAttr>,
}

/// A custom profile attribute: one of `text`, `web`, `miniprogram` by `type` (0, 1, 2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalAttr {
    /// 0 text, 1 web page, 2 mini-program.
    pub r#type: i64,
    /// The attribute's name.
    pub name: String,
    /// Type 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<AttrText>,
    /// Type 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<AttrWeb>,
    /// Type 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<AttrMiniprogram>,
}

/// A text attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttrText {
    /// The text.
    pub value: String,
}

/// A web-page attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttrWeb {
    /// The URL.
    pub url: String,
    /// The title.
    pub title: String,
}

/// A mini-program attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttrMiniprogram {
    /// The appid.
    pub appid: String,
    /// The page path.
    pub pagepath: String,
    /// The title.
    pub title: String,
}

/// A WeChat channel (视频号).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WechatChannels {
    /// The channel's nickname.
    pub nickname: String,
    /// How the customer was added through it (`follow_user`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<i64>,
    /// Whether the channel is shown (`external_profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
}

/// A member who added the customer, with their remark, tags and how they met.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FollowUser {
    /// The member.
    pub userid: String,
    /// The member's remark for the customer.
    pub remark: String,
    /// The member's description of the customer.
    pub description: String,
    /// When the member added the customer (unix seconds).
    pub createtime: i64,
    /// The customer's tags (`get`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<FollowUserTag>,
    /// The customer's corp-tag ids (`batch/get_by_user`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tag_id: Vec<String>,
    /// The remarked corp name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark_corp_name: Option<String>,
    /// The remarked phone numbers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remark_mobiles: Vec<String>,
    /// Who added: the member, or the admin/member who shared the customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oper_userid: Option<String>,
    /// How the customer was added (0 unknown, 1 QR code, …, 202 admin-assigned).
    pub add_way: i64,
    /// The contact way's `state` the customer came through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The WeChat channel the customer came through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wechat_channels: Option<WechatChannels>,
}

/// A tag on a customer as `get` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FollowUserTag {
    /// The tag group's name.
    pub group_name: String,
    /// The tag's name.
    pub tag_name: String,
    /// The tag id (corp tags only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<String>,
    /// 1 corp tag, 2 personal tag, 3 rule-group tag.
    pub r#type: i64,
}

/// `POST batch/get_by_user`: the customers of several members, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchGetByUserRequest {
    /// The members (≤ 100).
    pub userid_list: Vec<String>,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 100, default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// One page of customers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchGetByUserResponse {
    /// A customer per member who follows them.
    pub external_contact_list: Vec<ContactWithFollowInfo>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
    /// Members that could not be served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_info: Option<FailInfo>,
}

/// A customer and one member's relation to them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactWithFollowInfo {
    /// The customer.
    pub external_contact: ExternalContact,
    /// The member's relation.
    pub follow_info: FollowUser,
}

/// Members `batch/get_by_user` skipped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailInfo {
    /// Members without a customer-contact licence.
    pub unlicensed_userid_list: Vec<String>,
}

/// `POST remark`: set a member's remark of a customer. Only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemarkRequest {
    /// The member.
    pub userid: String,
    /// The customer.
    pub external_userid: String,
    /// Remark (≤ 20 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Description (≤ 150 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Corp name (≤ 20 chars; WeChat customers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark_company: Option<String>,
    /// Phone numbers, as WeCom documents them: a list replaces the remarked numbers; `[""]`
    /// (one empty string) clears them all; `None` (absent) leaves them unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark_mobiles: Option<Vec<String>>,
    /// Business-card image media id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark_pic_mediaid: Option<String>,
}

cursor_paged! {
    requests: GetRequest, BatchGetByUserRequest;
    responses: GetResponse, BatchGetByUserResponse;
}
