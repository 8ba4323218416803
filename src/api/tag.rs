//! 客户标签 (docs 92117, 94882, 92118): corp tags, rule-group tags, and tagging a customer —
//! `get_corp_tag_list`, `add_corp_tag`, `edit_corp_tag`, `del_corp_tag`,
//! `get_strategy_tag_list`, `add_strategy_tag`, `edit_strategy_tag`, `del_strategy_tag`,
//! `mark_tag`.

use serde::{Deserialize, Serialize};

/// A tag group with its tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagGroup {
    /// The group id.
    pub group_id: String,
    /// The group name.
    pub group_name: String,
    /// When it was created (unix seconds).
    pub create_time: i64,
    /// Sort order (larger first).
    pub order: i64,
    /// Whether it was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// The rule group it belongs to (rule-group tags).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy_id: Option<i64>,
    /// Its tags.
    pub tag: Vec<Tag>,
}

/// A tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tag {
    /// The tag id.
    pub id: String,
    /// The name.
    pub name: String,
    /// When it was created (unix seconds).
    pub create_time: i64,
    /// Sort order (larger first).
    pub order: i64,
    /// Whether it was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
}

/// A tag to create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewTag {
    /// The name.
    pub name: String,
    /// Sort order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
}

/// Tag groups (`get_*_tag_list`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagGroupListResponse {
    /// The groups.
    pub tag_group: Vec<TagGroup>,
}

/// The group the new tags are in (`add_*_tag`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagGroupResponse {
    /// The group, with the new tags.
    pub tag_group: TagGroup,
}

/// `POST get_corp_tag_list`: both lists empty → every tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetCorpTagListRequest {
    /// These tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<Vec<String>>,
    /// These groups (wins over `tag_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Vec<String>>,
}

/// `POST add_corp_tag`: add tags to an existing group (`group_id`) or a new one (`group_name`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddCorpTagRequest {
    /// An existing group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// A new group's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// The new group's order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// The tags.
    pub tag: Vec<NewTag>,
    /// The app creating them (self-built apps that want to own the tags).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}

/// `POST edit_corp_tag`: rename or reorder a tag or a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditCorpTagRequest {
    /// A tag id or group id.
    pub id: String,
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// The owning app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}

/// `POST del_corp_tag`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelCorpTagRequest {
    /// Tags to delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<Vec<String>>,
    /// Groups to delete (with their tags).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Vec<String>>,
    /// The owning app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}

/// `POST get_strategy_tag_list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetStrategyTagListRequest {
    /// The rule group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy_id: Option<i64>,
    /// These tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<Vec<String>>,
    /// These groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Vec<String>>,
}

/// `POST add_strategy_tag`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddStrategyTagRequest {
    /// The rule group.
    pub strategy_id: i64,
    /// An existing tag group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// A new tag group's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// The new group's order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// The tags.
    pub tag: Vec<NewTag>,
}

/// `POST edit_strategy_tag`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditStrategyTagRequest {
    /// A tag id or group id.
    pub id: String,
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
}

/// `POST del_strategy_tag` (PowerWeChat wrongly calls `edit_strategy_tag`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelStrategyTagRequest {
    /// Tags to delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<Vec<String>>,
    /// Groups to delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Vec<String>>,
}

/// `POST mark_tag`: add or remove corp tags on a customer, as one member sees them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkTagRequest {
    /// The member.
    pub userid: String,
    /// The customer.
    pub external_userid: String,
    /// Tag ids to add.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_tag: Option<Vec<String>>,
    /// Tag ids to remove.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_tag: Option<Vec<String>>,
}
