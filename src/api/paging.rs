//! Walking paged endpoints.
//!
//! Typed: a request that takes a `cursor` ([`CursorRequest`]), a response that gives the next
//! one ([`Paged`]), and [`Client::pages`] / [`Client::all_pages`] that follow the cursor until
//! WeCom says there is no more. The impls for each endpoint are one line each
//! (`cursor_paged!`), next to its types. Offset-paged `groupchat/statistic` is not covered.
//!
//! By name, on JSON as WeCom sends it (`api --all`): [`PAGINATION`] says, per method, how its
//! pages follow each other ([`Scheme`], from the catalogue's paging table) and which field of
//! an answer holds the page's items; [`Pagination::next_request`] turns an answer into the
//! request for the next page.

use futures::{Stream, TryStreamExt};
use serde_json::Value;

use super::client::Client;
use super::endpoint::Endpoint;
use super::error::ApiError;

/// A request with a `cursor` field.
pub trait CursorRequest {
    /// The cursor this request asks for (`None` for the first page).
    fn cursor(&self) -> Option<&str>;
    /// Asks for the page at `cursor` instead.
    fn set_cursor(&mut self, cursor: String);

    /// This request for the page at `cursor`.
    fn with_cursor(mut self, cursor: String) -> Self
    where
        Self: Sized,
    {
        self.set_cursor(cursor);
        self
    }
}

/// A response that may point at a next page.
pub trait Paged {
    /// The cursor of the next page, or `None` on the last page.
    fn next_cursor(&self) -> Option<&str>;
}

/// Implements [`CursorRequest`] for requests with `cursor: Option<String>` and [`Paged`] for
/// responses with `next_cursor: String` (empty on the last page).
macro_rules! cursor_paged {
    (requests: $($request:ty),* ; responses: $($response:ty),* $(;)?) => {
        $(
            impl $crate::api::paging::CursorRequest for $request {
                fn cursor(&self) -> Option<&str> {
                    self.cursor.as_deref()
                }
                fn set_cursor(&mut self, cursor: String) {
                    self.cursor = Some(cursor);
                }
            }
        )*
        $(
            impl $crate::api::paging::Paged for $response {
                fn next_cursor(&self) -> Option<&str> {
                    Some(self.next_cursor.as_str()).filter(|cursor| !cursor.is_empty())
                }
            }
        )*
    };
}
pub(crate) use cursor_paged;

/// How the pages of an endpoint follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `cursor` in the request (absent for the first page), `next_cursor` in the answer; an
    /// empty or absent `next_cursor` ends.
    Cursor,
    /// As [`Scheme::Cursor`], and the answer's `is_last: true` also ends
    /// (`get_unassigned_list`).
    CursorUntilLast,
    /// `offset` in the request, `next_offset` and `total` in the answer; ends when
    /// `next_offset` is absent, does not advance, or reaches `total` (`groupchat/statistic`).
    Offset,
}

/// How to walk one paged endpoint by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    /// The method name.
    pub method: &'static str,
    /// How its pages follow each other.
    pub scheme: Scheme,
    /// The field of an answer that holds the page's items.
    pub items: &'static str,
}

/// Every paged endpoint, sorted by method name. `get` pages through a customer's
/// `follow_user` (only customers with more than 500 members following them have a second page).
pub const PAGINATION: &[Pagination] = &[
    page("batch_get_by_user", Scheme::Cursor, "external_contact_list"),
    page(
        "customer_acquisition_list_link",
        Scheme::Cursor,
        "link_id_list",
    ),
    page("customer_strategy_get_range", Scheme::Cursor, "range"),
    page("customer_strategy_list", Scheme::Cursor, "strategy"),
    page("get", Scheme::Cursor, "follow_user"),
    page("get_groupmsg_list_v2", Scheme::Cursor, "group_msg_list"),
    page("get_groupmsg_send_result", Scheme::Cursor, "send_list"),
    page("get_groupmsg_task", Scheme::Cursor, "task_list"),
    page("get_moment_customer_list", Scheme::Cursor, "customer_list"),
    page("get_moment_list", Scheme::Cursor, "moment_list"),
    page("get_moment_send_result", Scheme::Cursor, "customer_list"),
    page("get_moment_task", Scheme::Cursor, "task_list"),
    page("get_unassigned_list", Scheme::CursorUntilLast, "info"),
    page("groupchat_list", Scheme::Cursor, "group_chat_list"),
    page("groupchat_statistic", Scheme::Offset, "items"),
    page("list_contact_way", Scheme::Cursor, "contact_way"),
    page("moment_strategy_get_range", Scheme::Cursor, "range"),
    page("moment_strategy_list", Scheme::Cursor, "strategy"),
    page("resigned_transfer_result", Scheme::Cursor, "customer"),
    page("transfer_result", Scheme::Cursor, "customer"),
];

const fn page(method: &'static str, scheme: Scheme, items: &'static str) -> Pagination {
    Pagination {
        method,
        scheme,
        items,
    }
}

/// How `method` pages, or `None` when it has a single answer.
pub fn pagination(method: &str) -> Option<&'static Pagination> {
    PAGINATION
        .binary_search_by(|row| row.method.cmp(method))
        .ok()
        .map(|index| &PAGINATION[index])
}

impl Pagination {
    /// The items of one answer (none when the field is absent or not a list).
    pub fn items(&self, answer: &Value) -> Vec<Value> {
        match answer.get(self.items) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        }
    }

    /// The request for the page after `answer`, which answered `request`; `None` when
    /// `answer` was the last page — or when WeCom points back at the page it just gave, so a
    /// misbehaving endpoint cannot loop forever.
    pub fn next_request(&self, request: &Value, answer: &Value) -> Option<Value> {
        let (field, next) = match self.scheme {
            Scheme::CursorUntilLast if answer.get("is_last") == Some(&Value::Bool(true)) => {
                return None;
            }
            Scheme::Cursor | Scheme::CursorUntilLast => {
                let cursor = answer
                    .get("next_cursor")
                    .and_then(Value::as_str)
                    .filter(|cursor| !cursor.is_empty())?;
                if request.get("cursor").and_then(Value::as_str) == Some(cursor) {
                    return None;
                }
                ("cursor", Value::from(cursor))
            }
            Scheme::Offset => {
                let offset = request.get("offset").and_then(Value::as_i64).unwrap_or(0);
                let next = answer.get("next_offset").and_then(Value::as_i64)?;
                let total = answer.get("total").and_then(Value::as_i64);
                if next <= offset || total.is_some_and(|total| next >= total) {
                    return None;
                }
                ("offset", Value::from(next))
            }
        };
        let mut following = request.clone();
        if let Value::Object(fields) = &mut following {
            fields.insert(field.to_owned(), next);
        }
        Some(following)
    }
}

impl Client {
    /// Every page of a cursor-paged endpoint, starting at `first`, as a stream.
    ///
    /// Stops after the page without a next cursor, at the first error, or if WeCom hands back
    /// the cursor it was just given (so a misbehaving endpoint cannot loop forever).
    ///
    /// ```no_run
    /// # async fn run(client: wecom_callback::api::Client) -> Result<(), wecom_callback::api::ApiError> {
    /// use futures::TryStreamExt;
    /// use wecom_callback::api::contact_way::ListContactWayRequest;
    ///
    /// let mut pages = std::pin::pin!(client.pages(ListContactWayRequest::default()));
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} contact ways", page.contact_way.len());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn pages<E>(
        &self,
        first: E,
    ) -> impl Stream<Item = Result<E::Response, ApiError>> + Send + '_
    where
        E: Endpoint + CursorRequest + 'static,
        E::Response: Paged,
    {
        futures::stream::try_unfold(Some(first), move |next| async move {
            let Some(mut request) = next else {
                return Ok(None);
            };
            let page = self.call(&request).await?;
            let following = match page.next_cursor() {
                Some(cursor) if request.cursor() != Some(cursor) => {
                    request.set_cursor(cursor.to_owned());
                    Some(request)
                }
                _ => None,
            };
            Ok(Some((page, following)))
        })
    }

    /// Every page of a cursor-paged endpoint, starting at `first`, collected.
    ///
    /// # Errors
    /// The first error of any page.
    pub async fn all_pages<E>(&self, first: E) -> Result<Vec<E::Response>, ApiError>
    where
        E: Endpoint + CursorRequest + 'static,
        E::Response: Paged,
    {
        self.pages(first).try_collect().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_is_sorted_and_names_real_methods() {
        assert!(
            PAGINATION
                .windows(2)
                .all(|pair| pair[0].method < pair[1].method)
        );
        for row in PAGINATION {
            assert!(
                super::super::METHODS.contains(&row.method),
                "{}",
                row.method
            );
        }
        assert_eq!(
            pagination("groupchat_list").map(|p| p.items),
            Some("group_chat_list")
        );
        assert_eq!(pagination("remark"), None);
    }

    #[test]
    fn cursor_pages_follow_next_cursor() {
        let walk = pagination("list_contact_way").unwrap();
        let first = json!({"limit": 2});
        let next = walk
            .next_request(&first, &json!({"contact_way": [], "next_cursor": "P2"}))
            .unwrap();
        assert_eq!(next, json!({"limit": 2, "cursor": "P2"}));
        assert_eq!(walk.next_request(&next, &json!({"next_cursor": ""})), None);
        assert_eq!(walk.next_request(&next, &json!({})), None);
        assert_eq!(
            walk.next_request(&next, &json!({"next_cursor": "P2"})),
            None
        );
    }

    #[test]
    fn unassigned_list_ends_at_is_last() {
        let walk = pagination("get_unassigned_list").unwrap();
        let answer = json!({"info": [], "is_last": true, "next_cursor": "more"});
        assert_eq!(walk.next_request(&json!({}), &answer), None);
        let answer = json!({"info": [], "is_last": false, "next_cursor": "more"});
        assert_eq!(
            walk.next_request(&json!({}), &answer),
            Some(json!({"cursor": "more"}))
        );
    }

    #[test]
    fn offset_pages_stop_at_total() {
        let walk = pagination("groupchat_statistic").unwrap();
        let first = json!({"day_begin_time": 1, "limit": 2});
        let second = walk
            .next_request(
                &first,
                &json!({"total": 5, "next_offset": 2, "items": [1, 2]}),
            )
            .unwrap();
        assert_eq!(second["offset"], 2);
        let third = walk
            .next_request(&second, &json!({"total": 5, "next_offset": 4}))
            .unwrap();
        assert_eq!(third["offset"], 4);
        assert_eq!(
            walk.next_request(&third, &json!({"total": 5, "next_offset": 5})),
            None
        );
        assert_eq!(
            walk.next_request(&third, &json!({"total": 5, "next_offset": 4})),
            None
        );
        assert_eq!(walk.items(&json!({"items": [1, 2]})), [json!(1), json!(2)]);
        assert!(walk.items(&json!({"items": "?"})).is_empty());
    }
}
