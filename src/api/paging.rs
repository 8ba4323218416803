//! Walking cursor-paged endpoints: a request that takes a `cursor` ([`CursorRequest`]), a
//! response that gives the next one ([`Paged`]), and [`Client::pages`] / [`Client::all_pages`]
//! that follow the cursor until WeCom says there is no more.
//!
//! The impls for each endpoint are one line each (`cursor_paged!`), next to its types.
//! Offset-paged `groupchat/statistic` is not covered.

use futures::{Stream, TryStreamExt};

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
