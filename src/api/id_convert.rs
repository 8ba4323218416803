//! ID conversions (docs 93274, 95327, 95884, 97063, 94822): unionid → external userid, the
//! 2022 external-userid migration, service-provider ids, and mini-program group ids —
//! `unionid_to_external_userid`, `get_new_external_userid`, `from_service_external_userid`,
//! `groupchat/get_new_external_userid`, `opengid_to_chatid`.

use serde::{Deserialize, Serialize};

use super::types::ExternalUseridPair;

/// `POST unionid_to_external_userid`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnionidToExternalUseridRequest {
    /// The WeChat unionid.
    pub unionid: String,
    /// The WeChat openid of the same user, under the subject that owns the unionid
    /// (required: WeCom refuses the call without it).
    pub openid: String,
    /// 0 corp subject (default), 1 service-provider subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<i64>,
}

/// The customer's id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnionidToExternalUseridResponse {
    /// The external userid (when the customer is already a customer).
    pub external_userid: String,
    /// A pending id to match with later add events (when not yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_id: Option<String>,
}

/// `POST get_new_external_userid`: old external userids → new ones (≤ 1000).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetNewExternalUseridRequest {
    /// The old ids.
    pub external_userid_list: Vec<String>,
}

/// The id pairs (`get_new_external_userid`, `groupchat/get_new_external_userid`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewExternalUseridResponse {
    /// Old → new.
    pub items: Vec<ExternalUseridPair>,
}

/// `POST from_service_external_userid`: a service provider's external userid → this corp's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromServiceExternalUseridRequest {
    /// The provider's app that issued the id.
    pub source_agentid: i64,
    /// The provider's id.
    pub external_userid: String,
}

/// The corp's id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FromServiceExternalUseridResponse {
    /// The external userid.
    pub external_userid: String,
}

/// `POST groupchat/get_new_external_userid`: the same migration for members of one chat
/// (official key `chat_id`; PowerWeChat wrongly sends `chatid`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupchatGetNewExternalUseridRequest {
    /// The chat.
    pub chat_id: String,
    /// The old ids (≤ 1000).
    pub external_userid_list: Vec<String>,
}

/// `POST opengid_to_chatid`: a mini-program's opengid → the customer group chat id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpengidToChatidRequest {
    /// The opengid from the mini-program.
    pub opengid: String,
}

/// The chat id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpengidToChatidResponse {
    /// The customer group chat (a string; PowerWeChat decodes it as a map).
    pub chat_id: String,
}
