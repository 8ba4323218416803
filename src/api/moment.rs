//! 客户朋友圈 (docs 93333, 95094, 95095): customer moments — publish tasks and read what was
//! published — `get_moment_list`, `get_moment_task`, `get_moment_customer_list`,
//! `get_moment_send_result`, `get_moment_comments`, `add_moment_task`,
//! `get_moment_task_result`, `cancel_moment_task`.

use serde::{Deserialize, Serialize};

use super::paging::cursor_paged;
use super::types::{Attachment, Text, lenient_f64, lenient_i64};

/// `POST get_moment_list`: moments published in a time window (≤ 30 days), paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetMomentListRequest {
    /// From (unix seconds).
    pub start_time: i64,
    /// To (unix seconds).
    pub end_time: i64,
    /// Only this member's moments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// 0 corp moments, 1 personal, 2 all (WeCom's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<i64>,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// One page of moments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentListResponse {
    /// The moments (deleted ones are not returned).
    pub moment_list: Vec<Moment>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// A published moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Moment {
    /// Its id.
    pub moment_id: String,
    /// Who created it.
    pub creator: String,
    /// When (unix seconds; WeCom sends a number or a numeric string).
    #[serde(deserialize_with = "lenient_i64")]
    pub create_time: i64,
    /// 0 corp, 1 personal.
    pub create_type: i64,
    /// 0 partly visible, 1 public.
    pub visible_type: i64,
    /// Its text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// Its images.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image: Vec<MomentMedia>,
    /// Its video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<MomentVideo>,
    /// Its link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<MomentLink>,
    /// Its location.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// A moment's image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentMedia {
    /// The media id (fetch with the media API).
    pub media_id: String,
}

/// A moment's video.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentVideo {
    /// The video's media id.
    pub media_id: String,
    /// The cover's media id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb_media_id: Option<String>,
}

/// A moment's link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentLink {
    /// The title.
    pub title: String,
    /// The URL.
    pub url: String,
}

/// A moment's location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Location {
    /// Latitude (WeCom sends a number or a numeric string).
    #[serde(deserialize_with = "lenient_f64")]
    pub latitude: f64,
    /// Longitude (likewise).
    #[serde(deserialize_with = "lenient_f64")]
    pub longitude: f64,
    /// The place's name.
    pub name: String,
}

/// `POST get_moment_task`: which members published a corp moment, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetMomentTaskRequest {
    /// The moment.
    pub moment_id: String,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// One page of publish states.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentTaskResponse {
    /// One entry per member.
    pub task_list: Vec<MomentTask>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// A member's publish state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentTask {
    /// The member.
    pub userid: String,
    /// 0 not yet, 1 published.
    pub publish_status: i64,
}

/// `POST get_moment_customer_list`: the customers a member's moment was meant for, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetMomentCustomerListRequest {
    /// The moment.
    pub moment_id: String,
    /// The member.
    pub userid: String,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// One page of customers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentCustomerListResponse {
    /// The customers.
    pub customer_list: Vec<MomentCustomer>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// A customer a moment reached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentCustomer {
    /// The member (`get_moment_customer_list`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// The customer.
    pub external_userid: String,
}

/// `POST get_moment_send_result`: the customers who can see a member's moment, paged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetMomentSendResultRequest {
    /// The moment.
    pub moment_id: String,
    /// The member.
    pub userid: String,
    /// The page to fetch; omit for the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size (≤ 5000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// One page of customers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentSendResultResponse {
    /// The customers.
    pub customer_list: Vec<MomentCustomer>,
    /// The next page; empty on the last page.
    pub next_cursor: String,
}

/// `POST get_moment_comments`: comments and likes on a member's moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetMomentCommentsRequest {
    /// The moment.
    pub moment_id: String,
    /// The member.
    pub userid: String,
}

/// Comments and likes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentCommentsResponse {
    /// Comments.
    pub comment_list: Vec<MomentInteraction>,
    /// Likes.
    pub like_list: Vec<MomentInteraction>,
}

/// A comment or like, by a customer or a member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentInteraction {
    /// The customer, if a customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_userid: Option<String>,
    /// The member, if a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// When (unix seconds).
    pub create_time: i64,
}

/// `POST add_moment_task`: ask members to publish a corp moment (asynchronous; see
/// `get_moment_task_result`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMomentTaskRequest {
    /// The text (≤ 2000 chars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    /// ≤ 9 images, or 1 video, or 1 link (`link.media_id` is the cover).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// Who publishes and who sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible_range: Option<VisibleRange>,
}

/// Who publishes a moment and which customers see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VisibleRange {
    /// The members who publish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_list: Option<SenderList>,
    /// The customers who see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_contact_list: Option<ExternalContactList>,
}

/// Members and departments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SenderList {
    /// Members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_list: Option<Vec<String>>,
    /// Departments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_list: Option<Vec<i64>>,
}

/// Customers by tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalContactList {
    /// Corp-tag ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_list: Option<Vec<String>>,
}

/// The publish job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddMomentTaskResponse {
    /// The job id (a string; PowerWeChat has it as an int).
    pub jobid: String,
}

/// `GET get_moment_task_result?jobid=`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetMomentTaskResultRequest {
    /// The job.
    pub jobid: String,
}

/// A publish job's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GetMomentTaskResultResponse {
    /// 1 started, 2 running, 3 done.
    pub status: i64,
    /// `add_moment_task`.
    pub r#type: String,
    /// The outcome (status 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<MomentTaskResult>,
}

/// A publish job's outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MomentTaskResult {
    /// 0 on success.
    pub errcode: i64,
    /// Why not.
    pub errmsg: String,
    /// The new moment.
    pub moment_id: String,
    /// Senders that were not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_sender_list: Option<SenderList>,
    /// Customer tags that were not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_external_contact_list: Option<ExternalContactList>,
}

/// `POST cancel_moment_task`: stop a corp moment (members who have not published no longer can).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelMomentTaskRequest {
    /// The moment.
    pub moment_id: String,
}

cursor_paged! {
    requests: GetMomentListRequest, GetMomentTaskRequest, GetMomentCustomerListRequest,
        GetMomentSendResultRequest;
    responses: GetMomentListResponse, GetMomentTaskResponse, GetMomentCustomerListResponse,
        GetMomentSendResultResponse;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn moment_create_time_is_a_number_or_a_string() {
        let page: GetMomentListResponse = serde_json::from_value(json!({
            "moment_list": [
                {"moment_id": "m1", "create_time": 1605000000},
                {"moment_id": "m2", "create_time": "1605000001"}
            ],
            "next_cursor": ""
        }))
        .expect("both forms");
        let times: Vec<i64> = page.moment_list.iter().map(|m| m.create_time).collect();
        assert_eq!(times, [1605000000, 1605000001]);
        let bad = serde_json::from_value::<Moment>(json!({"create_time": "yesterday"}));
        assert!(bad.is_err());
    }
}
