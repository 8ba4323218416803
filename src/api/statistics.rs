//! 统计管理 (docs 92132, 92133): members' customer-contact statistics and customer-group
//! statistics — `get_user_behavior_data`, `groupchat/statistic`,
//! `groupchat/statistic_group_by_day`.
//!
//! `groupchat/statistic` pages by offset (`next_offset` < `total`), not by cursor.

use serde::{Deserialize, Serialize};

use super::types::OwnerFilter;

/// `POST get_user_behavior_data`: daily contact statistics of members or departments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetUserBehaviorDataRequest {
    /// Members (≤ 100); this or `partyid` is required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<Vec<String>>,
    /// Departments (≤ 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partyid: Option<Vec<i64>>,
    /// First day (unix seconds).
    pub start_time: i64,
    /// Last day (unix seconds; span ≤ 30 days).
    pub end_time: i64,
}

/// Statistics per day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetUserBehaviorDataResponse {
    /// One entry per day.
    pub behavior_data: Vec<BehaviorData>,
}

/// One day's contact statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BehaviorData {
    /// The day (unix seconds, midnight).
    pub stat_time: i64,
    /// Chats.
    pub chat_cnt: i64,
    /// Messages sent.
    pub message_cnt: i64,
    /// Percentage of chats replied to (absent when there were none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_percentage: Option<f64>,
    /// Average first-reply time in minutes (absent when there were none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_reply_time: Option<i64>,
    /// Customers who deleted or blocked the member.
    pub negative_feedback_cnt: i64,
    /// Friend requests sent.
    pub new_apply_cnt: i64,
    /// New customers.
    pub new_contact_cnt: i64,
}

/// Customer-group statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupChatStatisticData {
    /// New chats.
    pub new_chat_cnt: i64,
    /// All chats.
    pub chat_total: i64,
    /// Chats with messages.
    pub chat_has_msg: i64,
    /// New chat members.
    pub new_member_cnt: i64,
    /// All chat members.
    pub member_total: i64,
    /// Members who sent messages.
    pub member_has_msg: i64,
    /// Messages.
    pub msg_total: i64,
    /// Migrated trainee chats (education corps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrate_trainee_chat_cnt: Option<i64>,
}

/// `POST groupchat/statistic`: customer-group statistics per owner, offset-paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupchatStatisticRequest {
    /// First day (midnight, within the last 180 days up to yesterday).
    pub day_begin_time: i64,
    /// Last day (midnight; default = `day_begin_time`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_end_time: Option<i64>,
    /// Only these owners (≤ 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_filter: Option<OwnerFilter>,
    /// Sort key 1..=7 (new chats, chats, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_by: Option<i64>,
    /// 1 ascending, 0 descending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_asc: Option<i64>,
    /// Offset of the first item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Page size (≤ 1000, default 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// One page of per-owner statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatStatisticResponse {
    /// How many owners match.
    pub total: i64,
    /// The offset of the next page.
    pub next_offset: i64,
    /// One entry per owner.
    pub items: Vec<OwnerStatistic>,
}

/// One owner's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OwnerStatistic {
    /// The owner.
    pub owner: String,
    /// The numbers.
    pub data: GroupChatStatisticData,
}

/// `POST groupchat/statistic_group_by_day`: customer-group statistics per day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupchatStatisticGroupByDayRequest {
    /// First day (midnight).
    pub day_begin_time: i64,
    /// Last day (midnight; default = `day_begin_time`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_end_time: Option<i64>,
    /// Only these owners (≤ 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_filter: Option<OwnerFilter>,
}

/// Statistics per day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatStatisticGroupByDayResponse {
    /// One entry per day.
    pub items: Vec<DayStatistic>,
}

/// One day's statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DayStatistic {
    /// The day (unix seconds, midnight).
    pub stat_time: i64,
    /// The numbers.
    pub data: GroupChatStatisticData,
}
