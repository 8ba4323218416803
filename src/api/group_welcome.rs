//! 入群欢迎语素材 (doc 92366): welcome-message templates for customer groups —
//! `group_welcome_template/add`, `…/edit`, `…/get`, `…/del`.

use serde::{Deserialize, Serialize};

use super::types::{File, Image, Link, MiniProgram, Text, Video};

/// `POST group_welcome_template/add`: text plus at most one of image/link/miniprogram/file/video.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupWelcomeTemplateAddRequest {
    /// The text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// An image (`media_id` or `pic_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// A link card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    /// A mini-program card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
    /// A file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    /// A video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<Video>,
    /// The app that owns the template (only it can edit it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
    /// 1 (default) to notify members that a template was added, 0 not to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<i64>,
}

/// The new template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupWelcomeTemplateAddResponse {
    /// Its id.
    pub template_id: String,
}

/// `POST group_welcome_template/edit`. Only the parts given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupWelcomeTemplateEditRequest {
    /// The template.
    pub template_id: String,
    /// The text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// An image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// A link card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    /// A mini-program card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
    /// A file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    /// A video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<Video>,
    /// The owning app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}

/// `POST group_welcome_template/get`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupWelcomeTemplateGetRequest {
    /// The template.
    pub template_id: String,
}

/// A template's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupWelcomeTemplateGetResponse {
    /// The text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// The image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// The link card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    /// The mini-program card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
    /// The file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    /// The video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<Video>,
}

/// `POST group_welcome_template/del`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupWelcomeTemplateDelRequest {
    /// The template.
    pub template_id: String,
    /// The owning app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<i64>,
}
