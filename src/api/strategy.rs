//! 规则组 (docs 94883, 94890): the rule groups that say which members may do what with
//! customers (`customer_strategy/*`) and with customer moments (`moment_strategy/*`).
//!
//! Both families share their shapes except for the privilege flags. WeCom asks that create and
//! edit calls be made one at a time.

use serde::{Deserialize, Serialize};

use super::paging::cursor_paged;
use super::types::StrategyRange;

/// What members of a customer rule group may do. Unset flags are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerPrivilege {
    /// 查看客户列表.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_customer_list: Option<bool>,
    /// 查看客户统计数据.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_customer_data: Option<bool>,
    /// 查看客户群列表.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_room_list: Option<bool>,
    /// 可使用联系我.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_me: Option<bool>,
    /// 可加入群聊.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_room: Option<bool>,
    /// 允许分享客户给其他成员.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_customer: Option<bool>,
    /// 允许分配离职成员客户.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oper_resign_customer: Option<bool>,
    /// 允许分配离职成员客户群.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oper_resign_group: Option<bool>,
    /// 给客户群发消息.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_customer_msg: Option<bool>,
    /// 配置欢迎语.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_welcome_msg: Option<bool>,
    /// 查看成员联系客户统计.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_behavior_data: Option<bool>,
    /// 查看群聊数据统计.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_room_data: Option<bool>,
    /// 发送到客户群.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_group_msg: Option<bool>,
    /// 群聊去重.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_deduplication: Option<bool>,
    /// 配置快捷回复.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rapid_reply: Option<bool>,
    /// 转接在职成员的客户.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onjob_customer_transfer: Option<bool>,
    /// 编辑防骚扰规则.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_anti_spam_rule: Option<bool>,
    /// 导出客户列表.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_customer_list: Option<bool>,
    /// 导出成员客户统计.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_customer_data: Option<bool>,
    /// 导出客户群列表.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_customer_group_list: Option<bool>,
    /// 配置企业客户标签.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_customer_tag: Option<bool>,
}

/// What members of a moment rule group may do. Unset flags are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentPrivilege {
    /// 允许成员发表客户朋友圈.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_moment: Option<bool>,
    /// 允许查看成员的全部客户朋友圈发表记录.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_moment_list: Option<bool>,
    /// 允许设置成员的朋友圈封面和签名.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_moment_cover_and_sign: Option<bool>,
}

/// A rule group as `*_strategy/get` returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Strategy<P> {
    /// Its id.
    pub strategy_id: i64,
    /// The parent group (0 for the default group).
    pub parent_id: i64,
    /// Its name.
    pub strategy_name: String,
    /// When it was created (unix seconds).
    pub create_time: i64,
    /// Its administrators.
    pub admin_list: Vec<String>,
    /// Its privileges.
    pub privilege: P,
}

/// A rule group's id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StrategyId {
    /// The id.
    pub strategy_id: i64,
}

/// One page of rule-group ids (`*_strategy/list`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StrategyListResponse {
    /// The groups.
    pub strategy: Vec<StrategyId>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// One page of a rule group's range (`*_strategy/get_range`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StrategyRangeResponse {
    /// Members and departments managed.
    pub range: Vec<StrategyRange>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// The new rule group (`*_strategy/create`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StrategyCreateResponse {
    /// Its id.
    pub strategy_id: i64,
}

/// `POST customer_strategy/list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerStrategyListRequest {
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `POST customer_strategy/get`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerStrategyGetRequest {
    /// The group.
    pub strategy_id: i64,
}

/// A customer rule group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerStrategyGetResponse {
    /// The group.
    pub strategy: Strategy<CustomerPrivilege>,
}

/// `POST customer_strategy/get_range`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerStrategyGetRangeRequest {
    /// The group.
    pub strategy_id: i64,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `POST *_strategy/create`: a new rule group with privileges of type `P`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyCreateRequest<P> {
    /// The parent group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
    /// The name.
    pub strategy_name: String,
    /// Administrators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_list: Option<Vec<String>>,
    /// Privileges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privilege: Option<P>,
    /// Members and departments managed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<Vec<StrategyRange>>,
}

/// `POST *_strategy/edit`: change a rule group. Only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyEditRequest<P> {
    /// The group.
    pub strategy_id: i64,
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy_name: Option<String>,
    /// New administrators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_list: Option<Vec<String>>,
    /// New privileges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privilege: Option<P>,
    /// Range entries to add.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_add: Option<Vec<StrategyRange>>,
    /// Range entries to remove.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_del: Option<Vec<StrategyRange>>,
}

/// `POST customer_strategy/create` (call serially: WeCom refuses concurrent strategy edits).
pub type CustomerStrategyCreateRequest = StrategyCreateRequest<CustomerPrivilege>;

/// `POST customer_strategy/edit`.
pub type CustomerStrategyEditRequest = StrategyEditRequest<CustomerPrivilege>;

/// `POST customer_strategy/del`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerStrategyDelRequest {
    /// The group.
    pub strategy_id: i64,
}

/// `POST moment_strategy/list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MomentStrategyListRequest {
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `POST moment_strategy/get` (PowerWeChat wrongly calls `moment_strategy/list`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MomentStrategyGetRequest {
    /// The group.
    pub strategy_id: i64,
}

/// A moment rule group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentStrategyGetResponse {
    /// The group.
    pub strategy: Strategy<MomentPrivilege>,
}

/// `POST moment_strategy/get_range`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MomentStrategyGetRangeRequest {
    /// The group.
    pub strategy_id: i64,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `POST moment_strategy/create` (call serially).
pub type MomentStrategyCreateRequest = StrategyCreateRequest<MomentPrivilege>;

/// `POST moment_strategy/edit`.
pub type MomentStrategyEditRequest = StrategyEditRequest<MomentPrivilege>;

/// `POST moment_strategy/del`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MomentStrategyDelRequest {
    /// The group.
    pub strategy_id: i64,
}

cursor_paged! {
    requests: CustomerStrategyListRequest, CustomerStrategyGetRangeRequest,
        MomentStrategyListRequest, MomentStrategyGetRangeRequest;
    responses: StrategyListResponse, StrategyRangeResponse;
}
