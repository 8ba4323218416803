//! `Event = change_external_contact`: a customer was added, edited, deleted, lost, or failed to
//! transfer (WeCom docs 92130 / 96361).

use super::fields::{Extra, NotTyped, Picker};
use super::header::Header;
use super::json::JsonOut;

/// The `ChangeType` of a `change_external_contact` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContactChange {
    /// `add_external_contact`: a member added a customer (may carry `WelcomeCode`).
    AddExternalContact,
    /// `edit_external_contact`: a member edited a customer's remark or corp tags.
    EditExternalContact,
    /// `add_half_external_contact`: a customer added a member who skips verification; the member
    /// has not confirmed yet (may carry `WelcomeCode`).
    AddHalfExternalContact,
    /// `del_external_contact`: a member deleted a customer (`Source` says why).
    DelExternalContact,
    /// `del_follow_user`: a customer deleted the member.
    DelFollowUser,
    /// `transfer_fail`: a transferred customer was not taken over (`FailReason`).
    TransferFail,
    /// `msg_audit_approved`: a customer agreed to chat archiving (may carry `WelcomeCode`).
    MsgAuditApproved,
}

impl ContactChange {
    /// Every change type, in documentation order.
    pub const ALL: [ContactChange; 7] = [
        ContactChange::AddExternalContact,
        ContactChange::EditExternalContact,
        ContactChange::AddHalfExternalContact,
        ContactChange::DelExternalContact,
        ContactChange::DelFollowUser,
        ContactChange::TransferFail,
        ContactChange::MsgAuditApproved,
    ];

    /// The `ChangeType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactChange::AddExternalContact => "add_external_contact",
            ContactChange::EditExternalContact => "edit_external_contact",
            ContactChange::AddHalfExternalContact => "add_half_external_contact",
            ContactChange::DelExternalContact => "del_external_contact",
            ContactChange::DelFollowUser => "del_follow_user",
            ContactChange::TransferFail => "transfer_fail",
            ContactChange::MsgAuditApproved => "msg_audit_approved",
        }
    }

    /// Parse a `ChangeType` string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A `change_external_contact` event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContactEvent {
    /// The common header.
    pub header: Header,
    /// What happened.
    pub change: ContactChange,
    /// `UserID`: the member (for `transfer_fail`, the member who failed to take over).
    pub user_id: String,
    /// `ExternalUserID`: the customer.
    pub external_user_id: String,
    /// `State`: the channel (contact way `state` or acquisition link `customer_channel`).
    pub state: Option<String>,
    /// `WelcomeCode`: send a welcome message with it within 20 s of `create_time`, once.
    pub welcome_code: Option<String>,
    /// `Source` of a deletion, e.g. `DELETE_BY_TRANSFER`.
    pub source: Option<String>,
    /// `FailReason` of a failed transfer: `customer_refused`, `customer_limit_exceed`.
    pub fail_reason: Option<String>,
    /// Elements this version does not know, in document order.
    pub extra: Extra,
}

impl ContactEvent {
    pub(crate) fn take(
        header: Header,
        change: ContactChange,
        mut p: Picker<'_>,
    ) -> Result<Self, NotTyped> {
        Ok(ContactEvent {
            header,
            change,
            user_id: p.required("UserID")?,
            external_user_id: p.required("ExternalUserID")?,
            state: p.text("State")?,
            welcome_code: p.text("WelcomeCode")?.filter(|c| !c.is_empty()),
            source: p.text("Source")?,
            fail_reason: p.text("FailReason")?,
            extra: p.rest(),
        })
    }

    pub(crate) fn write(&self, out: &mut JsonOut) {
        out.text("user_id", &self.user_id);
        out.text("external_user_id", &self.external_user_id);
        out.opt_text("state", &self.state);
        out.opt_text("welcome_code", &self.welcome_code);
        out.opt_text("source", &self.source);
        out.opt_text("fail_reason", &self.fail_reason);
        out.extra(&self.extra);
    }
}
