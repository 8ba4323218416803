//! 获客助手 (doc 97297 ff.): customer-acquisition links — `customer_acquisition/list_link`,
//! `…/get`, `…/create_link`, `…/update_link`, `…/delete_link`.

use serde::{Deserialize, Serialize};

use super::paging::cursor_paged;

/// Who a link assigns new customers to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkRange {
    /// Members (≤ 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_list: Option<Vec<String>>,
    /// Departments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_list: Option<Vec<i64>>,
}

/// Which members get priority.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PriorityOption {
    /// 1 the member the customer already knows, 2 these members.
    pub priority_type: i64,
    /// The members (type 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_userid_list: Option<Vec<String>>,
}

/// An acquisition link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AcquisitionLink {
    /// Its id.
    pub link_id: String,
    /// Its name.
    pub link_name: String,
    /// The URL customers open.
    pub url: String,
    /// When it was created (unix seconds).
    pub create_time: i64,
    /// Add without verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    /// Mark customers as added through this app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark_source: Option<bool>,
}

/// `POST customer_acquisition/list_link`: link ids, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerAcquisitionListLinkRequest {
    /// Page size (≤ 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One page of link ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerAcquisitionListLinkResponse {
    /// The ids.
    pub link_id_list: Vec<String>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// `POST customer_acquisition/get`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerAcquisitionGetRequest {
    /// The link.
    pub link_id: String,
}

/// A link with its range and priority.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerAcquisitionGetResponse {
    /// The link.
    pub link: AcquisitionLink,
    /// Who it assigns to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<LinkRange>,
    /// Who gets priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_option: Option<PriorityOption>,
}

/// `POST customer_acquisition/create_link`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerAcquisitionCreateLinkRequest {
    /// The name.
    pub link_name: String,
    /// Who it assigns to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<LinkRange>,
    /// Add without verification (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    /// Who gets priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_option: Option<PriorityOption>,
    /// Mark customers as added through this app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark_source: Option<bool>,
}

/// The new link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerAcquisitionCreateLinkResponse {
    /// The link.
    pub link: AcquisitionLink,
}

/// `POST customer_acquisition/update_link`. Only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerAcquisitionUpdateLinkRequest {
    /// The link.
    pub link_id: String,
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_name: Option<String>,
    /// New range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<LinkRange>,
    /// Add without verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    /// New priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_option: Option<PriorityOption>,
    /// Mark customers as added through this app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark_source: Option<bool>,
}

/// `POST customer_acquisition/delete_link`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerAcquisitionDeleteLinkRequest {
    /// The link.
    pub link_id: String,
}

cursor_paged! {
    requests: CustomerAcquisitionListLinkRequest;
    responses: CustomerAcquisitionListLinkResponse;
}
