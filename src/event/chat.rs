//! `Event = change_external_chat`: a customer group chat was created, changed or dismissed.

use super::fields::{Extra, NotTyped, Picker};
use super::header::Header;
use super::json::JsonOut;

/// The `ChangeType` of a `change_external_chat` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChatChange {
    /// `create`: a new customer group chat.
    Create,
    /// `update`: name, members, owner or notice changed (`UpdateDetail` says which).
    Update,
    /// `dismiss`: the owner dismissed the chat.
    Dismiss,
}

impl ChatChange {
    /// The `ChangeType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatChange::Create => "create",
            ChatChange::Update => "update",
            ChatChange::Dismiss => "dismiss",
        }
    }

    /// Parse a `ChangeType` string.
    pub fn parse(s: &str) -> Option<Self> {
        [ChatChange::Create, ChatChange::Update, ChatChange::Dismiss]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A `change_external_chat` event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChatEvent {
    /// The common header.
    pub header: Header,
    /// What happened.
    pub change: ChatChange,
    /// `ChatId`: the group chat.
    pub chat_id: String,
    /// `UpdateDetail`: `add_member`, `del_member`, `change_owner`, `change_name`, `change_notice`.
    pub update_detail: Option<String>,
    /// `JoinScene`: how members joined (0 invited, 3 QR code, …).
    pub join_scene: Option<i64>,
    /// `QuitScene`: how members left (0 themselves, 1 removed).
    pub quit_scene: Option<i64>,
    /// `MemChangeCnt`: how many members joined or left.
    pub mem_change_cnt: Option<i64>,
    /// `MemChangeList`: who joined or left (`<Item>`s, or the legacy comma-joined form).
    pub mem_change_list: Option<Vec<String>>,
    /// `LastMemVer`: member version before the change (compare with groupchat/get's).
    pub last_mem_ver: Option<String>,
    /// `CurMemVer`: member version after the change.
    pub cur_mem_ver: Option<String>,
    /// Elements this version does not know, in document order.
    pub extra: Extra,
}

impl ChatEvent {
    pub(crate) fn take(
        header: Header,
        change: ChatChange,
        mut p: Picker<'_>,
    ) -> Result<Self, NotTyped> {
        Ok(ChatEvent {
            header,
            change,
            chat_id: p.required("ChatId")?,
            update_detail: p.text("UpdateDetail")?,
            join_scene: p.number("JoinScene")?,
            quit_scene: p.number("QuitScene")?,
            mem_change_cnt: p.number("MemChangeCnt")?,
            mem_change_list: p.list("MemChangeList"),
            last_mem_ver: p.text("LastMemVer")?,
            cur_mem_ver: p.text("CurMemVer")?,
            extra: p.rest(),
        })
    }

    pub(crate) fn write(&self, out: &mut JsonOut) {
        out.text("chat_id", &self.chat_id);
        out.opt_text("update_detail", &self.update_detail);
        out.opt_number("join_scene", self.join_scene);
        out.opt_number("quit_scene", self.quit_scene);
        out.opt_number("mem_change_cnt", self.mem_change_cnt);
        if let Some(list) = &self.mem_change_list {
            out.list("mem_change_list", list);
        }
        out.opt_text("last_mem_ver", &self.last_mem_ver);
        out.opt_text("cur_mem_ver", &self.cur_mem_ver);
        out.extra(&self.extra);
    }
}
