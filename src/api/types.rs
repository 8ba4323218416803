//! Nested objects shared by several endpoints: message contents and [`Attachment`]s, the
//! 结束语 [`Conclusions`], a strategy's [`StrategyRange`], an [`OwnerFilter`], and the
//! [`EmptyResponse`] of endpoints that answer with the envelope only.
//!
//! These types appear in requests *and* responses, so they tolerate unknown fields; the
//! `api` command still rejects unknown or missing nested fields (see
//! [`by_name`](super::by_name)). Fields that are always present when the object is
//! (`text.content`, `link.url`, …) are plain values; the others are `Option`s left out when unset.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The answer of an endpoint that returns only `errcode`/`errmsg`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmptyResponse {}

/// A text message: `{"content": "…"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Text {
    /// The text (≤ 4000 bytes for customer messages).
    pub content: String,
}

/// An image, by uploaded `media_id` (requests) or by `pic_url` (answers, some requests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    /// The uploaded image's media id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// The image URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pic_url: Option<String>,
}

/// A link card.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Link {
    /// The title.
    pub title: String,
    /// The cover image URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picurl: Option<String>,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// The target URL.
    pub url: String,
    /// The cover image's media id (moments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
}

/// A mini-program card.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MiniProgram {
    /// The title.
    pub title: String,
    /// The cover image's media id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pic_media_id: Option<String>,
    /// The mini-program's appid.
    pub appid: String,
    /// The page path.
    pub page: String,
}

/// A video, by uploaded media id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Video {
    /// The video's media id.
    pub media_id: String,
    /// The cover's media id (answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb_media_id: Option<String>,
}

/// A file, by uploaded media id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct File {
    /// The file's media id.
    pub media_id: String,
}

/// One attachment of a customer message, keyed by `msgtype`:
/// `{"msgtype": "image", "image": {"media_id": "…"}}`.
///
/// A `msgtype` this crate does not know yet is kept verbatim in [`Attachment::Other`], so new
/// kinds neither break decoding nor get lost when a response is printed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "msgtype", rename_all = "lowercase")]
pub enum Attachment {
    /// `msgtype: image`.
    Image {
        /// The image.
        image: Image,
    },
    /// `msgtype: link`.
    Link {
        /// The link card.
        link: Link,
    },
    /// `msgtype: miniprogram`.
    Miniprogram {
        /// The mini-program card.
        miniprogram: MiniProgram,
    },
    /// `msgtype: video`.
    Video {
        /// The video.
        video: Video,
    },
    /// `msgtype: file`.
    File {
        /// The file.
        file: File,
    },
    /// Any other `msgtype`, as received.
    #[serde(untagged)]
    Other(Value),
}

impl Attachment {
    /// The `msgtype`.
    pub fn msgtype(&self) -> &str {
        match self {
            Self::Image { .. } => "image",
            Self::Link { .. } => "link",
            Self::Miniprogram { .. } => "miniprogram",
            Self::Video { .. } => "video",
            Self::File { .. } => "file",
            Self::Other(value) => value
                .get("msgtype")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        }
    }
}

impl<'de> Deserialize<'de> for Attachment {
    /// Dispatches on `msgtype`: a known kind must have its object (and a wrong field type is an
    /// error naming it); an unknown kind becomes [`Attachment::Other`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fn part<T: serde::de::DeserializeOwned, E: de::Error>(
            value: &mut Value,
            kind: &str,
        ) -> Result<T, E> {
            let object = value.get_mut(kind).map(Value::take).ok_or_else(|| {
                E::custom(format_args!(
                    "attachment of msgtype `{kind}` has no `{kind}`"
                ))
            })?;
            serde_json::from_value(object).map_err(|err| E::custom(format_args!("{kind}: {err}")))
        }

        let mut value = Value::deserialize(deserializer)?;
        let kind = match value.get("msgtype") {
            Some(Value::String(kind)) => kind.clone(),
            _ => return Err(de::Error::missing_field("msgtype")),
        };
        Ok(match kind.as_str() {
            "image" => Self::Image {
                image: part(&mut value, "image")?,
            },
            "link" => Self::Link {
                link: part(&mut value, "link")?,
            },
            "miniprogram" => Self::Miniprogram {
                miniprogram: part(&mut value, "miniprogram")?,
            },
            "video" => Self::Video {
                video: part(&mut value, "video")?,
            },
            "file" => Self::File {
                file: part(&mut value, "file")?,
            },
            _ => Self::Other(value),
        })
    }
}

/// 结束语: what a temporary-chat contact way sends when the chat ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conclusions {
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// Image (`media_id` in requests, `pic_url` in answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Link card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    /// Mini-program card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
}

/// One entry of a rule group's (规则组) management range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StrategyRange {
    /// 1 member, 2 department.
    pub r#type: i64,
    /// The member (type 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// The department (type 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partyid: Option<i64>,
}

/// Filter by group owner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OwnerFilter {
    /// Owner userids (≤ 100).
    pub userid_list: Vec<String>,
}

/// An old → new external userid pair (id migration endpoints).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalUseridPair {
    /// The id given.
    pub external_userid: String,
    /// The id to use from now on.
    pub new_external_userid: String,
}

/// Reads an `i64` sent as a JSON number or a numeric string (`null` → 0).
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Number(number) => number
            .as_i64()
            .ok_or_else(|| de::Error::custom(format_args!("expected an integer, got {number}"))),
        Value::String(text) => text.trim().parse().map_err(de::Error::custom),
        Value::Null => Ok(0),
        other => Err(de::Error::custom(format_args!(
            "expected an integer, got {other}"
        ))),
    }
}

/// Reads an `f64` sent as a JSON number or a numeric string (`null` → 0).
pub(crate) fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Number(number) => number
            .as_f64()
            .ok_or_else(|| de::Error::custom(format_args!("expected a number, got {number}"))),
        Value::String(text) => text.trim().parse().map_err(de::Error::custom),
        Value::Null => Ok(0.0),
        other => Err(de::Error::custom(format_args!(
            "expected a number, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attachments_round_trip() {
        for value in [
            json!({"msgtype": "image", "image": {"media_id": "M"}}),
            json!({"msgtype": "link", "link": {"title": "T", "url": "https://x"}}),
            json!({"msgtype": "voice", "voice": {"media_id": "V"}}),
        ] {
            let attachment: Attachment = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(serde_json::to_value(&attachment).unwrap(), value);
        }
    }

    #[test]
    fn known_attachment_with_wrong_field_type_is_an_error() {
        let bad = json!({"msgtype": "image", "image": {"media_id": 3}});
        let err = serde_json::from_value::<Attachment>(bad).unwrap_err();
        assert!(err.to_string().contains("image"), "{err}");
        assert!(serde_json::from_value::<Attachment>(json!({"msgtype": "file"})).is_err());
    }
}
