//! The header every self-built / 代开发 customer-contact event starts with.

use super::fields::{NotTyped, Picker};
use super::json::JsonOut;

/// `ToUserName`, `FromUserName`, `CreateTime`, `MsgType` (and `AgentID` when present).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// `ToUserName`: the CorpID the event belongs to.
    pub to_user_name: String,
    /// `FromUserName`: always `sys` for these events.
    pub from_user_name: String,
    /// `CreateTime`: Unix seconds when WeCom created the event (a welcome_code's clock starts here).
    pub create_time: i64,
    /// `MsgType`: `event`.
    pub msg_type: String,
    /// `AgentID`, when the plaintext carries one.
    pub agent_id: Option<String>,
}

impl Header {
    pub(crate) fn take(p: &mut Picker<'_>) -> Result<Self, NotTyped> {
        Ok(Header {
            to_user_name: p.required("ToUserName")?,
            from_user_name: p.required("FromUserName")?,
            create_time: p.number("CreateTime")?.ok_or(NotTyped)?,
            msg_type: p.required("MsgType")?,
            agent_id: p.text("AgentID")?,
        })
    }

    pub(crate) fn write(&self, out: &mut JsonOut) {
        out.text("to_user_name", &self.to_user_name);
        out.text("from_user_name", &self.from_user_name);
        out.number("create_time", self.create_time);
        out.text("msg_type", &self.msg_type);
        out.opt_text("agent_id", &self.agent_id);
    }
}
