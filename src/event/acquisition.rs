//! `Event = customer_acquisition` (获客助手): quota, link and first-message notices.

use super::fields::{Extra, NotTyped, Picker};
use super::header::Header;
use super::json::JsonOut;

/// The `ChangeType` of a `customer_acquisition` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AcquisitionChange {
    /// `balance_low`: fewer than 20 uses left.
    BalanceLow,
    /// `balance_exhausted`: no uses left.
    BalanceExhausted,
    /// `balance_increased`: uses went from 0 to more.
    BalanceIncreased,
    /// `link_unavailable`: a link stopped working (`LinkId`).
    LinkUnavailable,
    /// `delete_link`: a link was deleted in the console (`LinkId`).
    DeleteLink,
    /// `quota_expire_soon`: some quota expires soon (`ExpireTime`, `ExpireQuotaNum`).
    QuotaExpireSoon,
    /// `open_profile`: a WeChat user opened a link (`LinkId`, `State`).
    OpenProfile,
    /// `friend_request`: a friend request through a link (`LinkId`, `State`).
    FriendRequest,
    /// `customer_start_chat`: a member got a customer's first message.
    CustomerStartChat,
    /// `message_from_customer`: a member got further messages (`ChatKey` to query).
    MessageFromCustomer,
}

impl AcquisitionChange {
    const ALL: [AcquisitionChange; 10] = [
        AcquisitionChange::BalanceLow,
        AcquisitionChange::BalanceExhausted,
        AcquisitionChange::BalanceIncreased,
        AcquisitionChange::LinkUnavailable,
        AcquisitionChange::DeleteLink,
        AcquisitionChange::QuotaExpireSoon,
        AcquisitionChange::OpenProfile,
        AcquisitionChange::FriendRequest,
        AcquisitionChange::CustomerStartChat,
        AcquisitionChange::MessageFromCustomer,
    ];

    /// The `ChangeType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            AcquisitionChange::BalanceLow => "balance_low",
            AcquisitionChange::BalanceExhausted => "balance_exhausted",
            AcquisitionChange::BalanceIncreased => "balance_increased",
            AcquisitionChange::LinkUnavailable => "link_unavailable",
            AcquisitionChange::DeleteLink => "delete_link",
            AcquisitionChange::QuotaExpireSoon => "quota_expire_soon",
            AcquisitionChange::OpenProfile => "open_profile",
            AcquisitionChange::FriendRequest => "friend_request",
            AcquisitionChange::CustomerStartChat => "customer_start_chat",
            AcquisitionChange::MessageFromCustomer => "message_from_customer",
        }
    }

    /// Parse a `ChangeType` string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A `customer_acquisition` event. Which fields are set depends on the change type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AcquisitionEvent {
    /// The common header.
    pub header: Header,
    /// What happened.
    pub change: AcquisitionChange,
    /// `LinkId`: the acquisition link.
    pub link_id: Option<String>,
    /// `State`: the link's `customer_channel`.
    pub state: Option<String>,
    /// `UserID`: the member.
    pub user_id: Option<String>,
    /// `ExternalUserID`: the customer.
    pub external_user_id: Option<String>,
    /// `ChatKey`: query handle for `message_from_customer` (valid ~30 minutes).
    pub chat_key: Option<String>,
    /// Elements this version does not know (`ExpireTime`, `ExpireQuotaNum`, `ChatSeq`, …).
    pub extra: Extra,
}

impl AcquisitionEvent {
    pub(crate) fn take(
        header: Header,
        change: AcquisitionChange,
        mut p: Picker<'_>,
    ) -> Result<Self, NotTyped> {
        Ok(AcquisitionEvent {
            header,
            change,
            link_id: p.text("LinkId")?,
            state: p.text("State")?,
            user_id: p.text("UserID")?,
            external_user_id: p.text("ExternalUserID")?,
            chat_key: p.text("ChatKey")?,
            extra: p.rest(),
        })
    }

    pub(crate) fn write(&self, out: &mut JsonOut) {
        out.opt_text("link_id", &self.link_id);
        out.opt_text("state", &self.state);
        out.opt_text("user_id", &self.user_id);
        out.opt_text("external_user_id", &self.external_user_id);
        out.opt_text("chat_key", &self.chat_key);
        out.extra(&self.extra);
    }
}
