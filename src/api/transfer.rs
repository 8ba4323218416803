//! 在职继承 / 离职继承 (docs 92125, 94081, 92127): hand customers and group chats from one member
//! to another — `transfer_customer`, `transfer_result`, `get_unassigned_list`,
//! `resigned/transfer_customer`, `resigned/transfer_result`, `groupchat/transfer`,
//! `groupchat/onjob_transfer`.
//!
//! Transfers succeed or fail per customer / per chat inside a successful answer; check the
//! per-item `errcode`s.

use serde::{Deserialize, Serialize};

use super::paging::{Paged, cursor_paged};

/// `POST transfer_customer`: hand a serving member's customers to another member (在职继承).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferCustomerRequest {
    /// The member giving the customers up.
    pub handover_userid: String,
    /// The member taking them.
    pub takeover_userid: String,
    /// The customers (≤ 100).
    pub external_userid: Vec<String>,
    /// The message the customers see (≤ 200 chars); WeCom has a default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_success_msg: Option<String>,
}

/// The outcome per customer (`transfer_customer`, `resigned/transfer_customer`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferCustomerResponse {
    /// One entry per customer.
    pub customer: Vec<CustomerTransfer>,
}

/// One customer's transfer outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerTransfer {
    /// The customer.
    pub external_userid: String,
    /// 0 accepted; otherwise why not (e.g. 40128 transferred too often).
    pub errcode: i64,
}

/// `POST transfer_result`: how an on-the-job transfer is going.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferResultRequest {
    /// The member giving the customers up.
    pub handover_userid: String,
    /// The member taking them.
    pub takeover_userid: String,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One page of transfer states (`transfer_result`, `resigned/transfer_result`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferResultResponse {
    /// One entry per customer.
    pub customer: Vec<CustomerTransferState>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// One customer's transfer state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerTransferState {
    /// The customer.
    pub external_userid: String,
    /// 1 done, 2 waiting, 3 refused by the customer, 4 takeover member at the limit, 5 no record.
    pub status: i64,
    /// When the takeover happened or will (unix seconds).
    pub takeover_time: i64,
}

/// `POST get_unassigned_list`: customers of members who left, not yet handed over.
///
/// Use `cursor` mode (leave `page_id` unset); the answer's `is_last` ends the walk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetUnassignedListRequest {
    /// Old page-number mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_id: Option<i64>,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 1000, default 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
}

/// One page of unassigned customers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetUnassignedListResponse {
    /// The customers.
    pub info: Vec<UnassignedCustomer>,
    /// Whether this is the last page.
    pub is_last: bool,
    /// The next page (cursor mode).
    pub next_cursor: String,
}

/// A customer of a member who left.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnassignedCustomer {
    /// The member who left.
    pub handover_userid: String,
    /// The customer.
    pub external_userid: String,
    /// When the member left (unix seconds).
    pub dimission_time: i64,
}

/// `POST resigned/transfer_customer`: hand a departed member's customers to another (离职继承).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResignedTransferCustomerRequest {
    /// The member who left.
    pub handover_userid: String,
    /// The member taking the customers.
    pub takeover_userid: String,
    /// The customers (≤ 100).
    pub external_userid: Vec<String>,
}

/// `POST resigned/transfer_result`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResignedTransferResultRequest {
    /// The member who left.
    pub handover_userid: String,
    /// The member taking the customers.
    pub takeover_userid: String,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `POST groupchat/transfer`: give a departed member's group chats a new owner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupchatTransferRequest {
    /// The chats (1..=100).
    pub chat_id_list: Vec<String>,
    /// The new owner.
    pub new_owner: String,
}

/// `POST groupchat/onjob_transfer`: the same for a serving member's chats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupchatOnjobTransferRequest {
    /// The chats (1..=100).
    pub chat_id_list: Vec<String>,
    /// The new owner.
    pub new_owner: String,
}

/// The chats that could not be transferred (`groupchat/transfer`, `groupchat/onjob_transfer`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupchatTransferResponse {
    /// One entry per failed chat.
    pub failed_chat_list: Vec<FailedChat>,
}

/// A chat that was not transferred.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailedChat {
    /// The chat.
    pub chat_id: String,
    /// Why.
    pub errcode: i64,
    /// Why, in words.
    pub errmsg: String,
}

cursor_paged! {
    requests: TransferResultRequest, ResignedTransferResultRequest, GetUnassignedListRequest;
    responses: TransferResultResponse;
}

impl Paged for GetUnassignedListResponse {
    fn next_cursor(&self) -> Option<&str> {
        Some(self.next_cursor.as_str()).filter(|cursor| !self.is_last && !cursor.is_empty())
    }
}
