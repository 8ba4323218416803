//! Typed customer-contact events, parsed from a callback's decrypted XML.
//!
//! [`Event::parse`] reads the document once (with the crate's XML reader), looks at `Event` and `ChangeType`
//! — both matter, since `create`/`update` exist in the chat and the tag family — and builds the
//! family's struct. Anything else (other events, plain messages, the third-party `InfoType`
//! form, or a known kind missing a required field) becomes [`Event::Unknown`], which keeps the
//! raw XML and every element: nothing a callback carries is dropped.
//!
//! The JSON form (architecture §3.4) is [`Event::to_json`] / `Serialize`.

mod acquisition;
mod chat;
mod contact;
mod fields;
mod header;
mod json;
mod unknown;

pub use crate::xml::Value;
pub use acquisition::{AcquisitionChange, AcquisitionEvent};
pub use chat::{ChatChange, ChatEvent};
pub use contact::{ContactChange, ContactEvent};
pub use fields::Extra;
pub use header::Header;
pub use json::snake_case;
pub use unknown::UnknownEvent;

use crate::xml::{self, XmlError};
use fields::Picker;
use json::JsonOut;

/// `Event` value of customer-contact changes.
pub const CHANGE_EXTERNAL_CONTACT: &str = "change_external_contact";
/// `Event` value of customer group chat changes.
pub const CHANGE_EXTERNAL_CHAT: &str = "change_external_chat";
/// `Event` value of customer tag changes.
pub const CHANGE_EXTERNAL_TAG: &str = "change_external_tag";
/// `Event` value of customer acquisition (获客助手) notices.
pub const CUSTOMER_ACQUISITION: &str = "customer_acquisition";

/// One callback, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `change_external_contact`.
    Contact(Box<ContactEvent>),
    /// `change_external_chat`.
    Chat(Box<ChatEvent>),
    /// `change_external_tag`.
    Tag(Box<TagEvent>),
    /// `customer_acquisition`.
    Acquisition(Box<AcquisitionEvent>),
    /// Anything else, kept whole.
    Unknown(Box<UnknownEvent>),
}

pub use tag::{TagChange, TagEvent};
mod tag;

/// Why a plaintext could not be read at all (not even as an unknown event).
pub type ParseError = XmlError;

impl Event {
    /// Parse a decrypted callback plaintext.
    ///
    /// # Errors
    /// Only when the bytes are not acceptable XML (see [`ParseError`]); a well-formed document of
    /// a kind this version does not know is `Ok(Event::Unknown)`.
    pub fn parse(plaintext: &str) -> Result<Event, ParseError> {
        // A `&str` is UTF-8 already; the fields borrow from it until an event keeps them.
        let fields = xml::parse_str(plaintext)?;
        Ok(match Self::typed(&fields) {
            Some(event) => event,
            None => Event::Unknown(Box::new(UnknownEvent::new(
                plaintext.to_owned(),
                fields.into_owned(),
            ))),
        })
    }

    fn typed(fields: &xml::FieldsRef<'_>) -> Option<Event> {
        // A repeated element has no single typed value: keep such documents whole as unknown.
        if has_repeated_name(&fields.0) {
            return None;
        }
        let mut p = Picker::new(fields);
        // Taking the discriminators marks them used, so they do not reappear among the extras.
        let event = p.discriminator("Event")?;
        let change = p.discriminator("ChangeType")?;
        // The family first: a kind without a type goes back untouched, before any copying.
        let family = match event {
            CHANGE_EXTERNAL_CONTACT => Family::Contact(ContactChange::parse(change)?),
            CHANGE_EXTERNAL_CHAT => Family::Chat(ChatChange::parse(change)?),
            CHANGE_EXTERNAL_TAG => Family::Tag(TagChange::parse(change)?),
            CUSTOMER_ACQUISITION => Family::Acquisition(AcquisitionChange::parse(change)?),
            _ => return None,
        };
        let header = Header::take(&mut p).ok()?;
        let typed = match family {
            Family::Contact(change) => {
                Event::Contact(Box::new(ContactEvent::take(header, change, p).ok()?))
            }
            Family::Chat(change) => Event::Chat(Box::new(ChatEvent::take(header, change, p).ok()?)),
            Family::Tag(change) => Event::Tag(Box::new(TagEvent::take(header, change, p).ok()?)),
            Family::Acquisition(change) => {
                Event::Acquisition(Box::new(AcquisitionEvent::take(header, change, p).ok()?))
            }
        };
        Some(typed)
    }

    /// The common header, for typed events.
    pub fn header(&self) -> Option<&Header> {
        match self {
            Event::Contact(e) => Some(&e.header),
            Event::Chat(e) => Some(&e.header),
            Event::Tag(e) => Some(&e.header),
            Event::Acquisition(e) => Some(&e.header),
            Event::Unknown(_) => None,
        }
    }

    /// The `Event` (or, for the third-party form, `InfoType`) value, if any.
    pub fn event_name(&self) -> Option<&str> {
        match self {
            Event::Contact(_) => Some(CHANGE_EXTERNAL_CONTACT),
            Event::Chat(_) => Some(CHANGE_EXTERNAL_CHAT),
            Event::Tag(_) => Some(CHANGE_EXTERNAL_TAG),
            Event::Acquisition(_) => Some(CUSTOMER_ACQUISITION),
            Event::Unknown(u) => u.text("Event").or_else(|| u.text("InfoType")),
        }
    }

    /// The `ChangeType` value, if any.
    pub fn change_type(&self) -> Option<&str> {
        match self {
            Event::Contact(e) => Some(e.change.as_str()),
            Event::Chat(e) => Some(e.change.as_str()),
            Event::Tag(e) => Some(e.change.as_str()),
            Event::Acquisition(e) => Some(e.change.as_str()),
            Event::Unknown(u) => u.text("ChangeType"),
        }
    }

    /// `event/change_type` (or `msg_type` for plain messages): a short label for logs, metrics
    /// and filters, e.g. `change_external_contact/add_external_contact`.
    pub fn kind(&self) -> String {
        match (self.event_name(), self.change_type()) {
            (Some(e), Some(c)) => [e, "/", c].concat(),
            (Some(e), None) => e.to_owned(),
            _ => match self {
                Event::Unknown(u) => u.text("MsgType").unwrap_or("unknown").to_owned(),
                _ => "unknown".to_owned(),
            },
        }
    }

    /// `CreateTime` (or the third-party `TimeStamp`), Unix seconds.
    pub fn create_time(&self) -> Option<i64> {
        match self {
            Event::Unknown(u) => u.create_time(),
            other => other.header().map(|h| h.create_time),
        }
    }

    /// The customer this event is about, if any.
    pub fn external_user_id(&self) -> Option<&str> {
        match self {
            Event::Contact(e) => Some(&e.external_user_id),
            Event::Acquisition(e) => e.external_user_id.as_deref(),
            Event::Unknown(u) => u.text("ExternalUserID"),
            Event::Chat(_) | Event::Tag(_) => None,
        }
    }

    /// The group chat this event is about, if any.
    pub fn chat_id(&self) -> Option<&str> {
        match self {
            Event::Chat(e) => Some(&e.chat_id),
            Event::Unknown(u) => u.text("ChatId"),
            _ => None,
        }
    }

    /// The key events must be handled in order under: the customer or the chat. Events without
    /// one may run in parallel with anything.
    pub fn order_key(&self) -> Option<String> {
        if let Some(id) = self.external_user_id().filter(|s| !s.is_empty()) {
            return Some(["external_user_id:", id].concat());
        }
        self.chat_id()
            .filter(|s| !s.is_empty())
            .map(|id| ["chat_id:", id].concat())
    }

    /// The JSON form (architecture §3.4).
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = JsonOut::default();
        match self {
            Event::Unknown(u) => u.write(&mut out),
            typed => {
                if let Some(h) = typed.header() {
                    h.write(&mut out);
                }
                if let Some(e) = typed.event_name() {
                    out.text("event", e);
                }
                if let Some(c) = typed.change_type() {
                    out.text("change_type", c);
                }
                match typed {
                    Event::Contact(e) => e.write(&mut out),
                    Event::Chat(e) => e.write(&mut out),
                    Event::Tag(e) => e.write(&mut out),
                    Event::Acquisition(e) => e.write(&mut out),
                    Event::Unknown(_) => {}
                }
            }
        }
        serde_json::Value::Object(out.0)
    }
}

/// A typed family and its change, known before the header is taken.
enum Family {
    Contact(ContactChange),
    Chat(ChatChange),
    Tag(TagChange),
    Acquisition(AcquisitionChange),
}

/// Whether two elements share a name. Callback documents have a dozen elements: comparing each
/// with those before it costs less than sorting a copy of the names, which long documents do.
fn has_repeated_name<T>(fields: &[(&str, T)]) -> bool {
    const PAIRWISE_UP_TO: usize = 32;
    if fields.len() <= PAIRWISE_UP_TO {
        return fields
            .iter()
            .enumerate()
            .any(|(i, (name, _))| fields[..i].iter().any(|(other, _)| other == name));
    }
    let mut names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.windows(2).any(|w| w[0] == w[1])
}

impl serde::Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD: &str = "<xml><ToUserName><![CDATA[ww0123456789abcdef]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mAAAA]]></ExternalUserID><State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>";

    #[test]
    fn contract_example_json() {
        let event = Event::parse(ADD).unwrap();
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"to_user_name":"ww0123456789abcdef","from_user_name":"sys","create_time":1403610513,"msg_type":"event","event":"change_external_contact","change_type":"add_external_contact","user_id":"zhangsan","external_user_id":"woAJ2GCAAAXtWyujaWJHDDGi0mAAAA","state":"teststate","welcome_code":"WELCOMECODE"}"#
        );
        assert_eq!(
            event.order_key().as_deref(),
            Some("external_user_id:woAJ2GCAAAXtWyujaWJHDDGi0mAAAA")
        );
    }

    #[test]
    fn create_means_different_things_per_family() {
        let chat = ADD
            .replace("change_external_contact", "change_external_chat")
            .replace("add_external_contact", "create")
            .replace("<UserID>", "<ChatId>")
            .replace("</UserID>", "</ChatId>");
        assert!(matches!(Event::parse(&chat).unwrap(), Event::Chat(_)));
        let tag = chat.replace("change_external_chat", "change_external_tag");
        assert!(matches!(Event::parse(&tag).unwrap(), Event::Tag(_)));
    }

    #[test]
    fn repeated_elements_are_kept_not_overwritten() {
        let twice = ADD.replace("<State>", "<UserID><![CDATA[second]]></UserID><State>");
        let event = Event::parse(&twice).unwrap();
        assert!(
            matches!(event, Event::Unknown(_)),
            "no single typed user_id"
        );
        assert_eq!(
            event.to_json()["user_id"],
            serde_json::json!(["zhangsan", "second"])
        );
        let foo = Event::parse(
            "<xml><CreateTime>1</CreateTime><Foo>1</Foo><Foo>2</Foo><Foo>3</Foo></xml>",
        )
        .unwrap();
        assert_eq!(foo.to_json()["foo"], serde_json::json!(["1", "2", "3"]));
    }

    #[test]
    fn placeholder_strategy_id_keeps_the_event_typed() {
        let shuffle = "<xml><ToUserName><![CDATA[CORPID]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_tag]]></Event><Id><![CDATA[TAG_ID]]></Id><StrategyId><![CDATA[STRATEGY_ID]]></StrategyId><ChangeType><![CDATA[shuffle]]></ChangeType></xml>";
        let event = Event::parse(shuffle).unwrap();
        let Event::Tag(tag) = &event else {
            panic!("expected a tag event, got {event:?}")
        };
        assert_eq!((tag.change, tag.strategy_id), (TagChange::Shuffle, None));
        assert_eq!(event.to_json()["strategy_id"], "STRATEGY_ID");
    }

    #[test]
    fn unknown_change_type_is_kept_whole() {
        let odd = ADD.replace("add_external_contact", "brand_new_change");
        let Event::Unknown(u) = Event::parse(&odd).unwrap() else {
            panic!("expected unknown")
        };
        assert_eq!(u.raw_xml, odd);
        assert_eq!(u.text("WelcomeCode"), Some("WELCOMECODE"));
    }
}
