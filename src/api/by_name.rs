//! Calling an endpoint by its method name with a JSON request — what the `api` command does.
//!
//! The request side is typed: the JSON is parsed into the endpoint's typed request, so an
//! unknown or mistyped field is an error naming it. Then the typed request is turned back into
//! JSON and compared with what was given: every field given must survive (nested objects
//! included — their types tolerate unknown fields because responses share them) and nothing
//! may be added. So the request WeCom receives has exactly the fields given; unset optional
//! fields are never sent as zero values.
//!
//! The answer side is not: [`call_by_name`] returns WeCom's answer as received, every field,
//! known to the types or not, and [`pages_by_name`] the items of every page of a paged
//! endpoint (see [`PAGINATION`]).

use futures::Stream;
use serde_json::{Map, Value};

use super::catalog::{ENDPOINTS, endpoint_table};
use super::client::Client;
use super::endpoint::Endpoint;
use super::error::ApiError;
use super::paging::{PAGINATION, pagination};
#[cfg(test)]
use super::types;
use super::{
    acquisition, contact, contact_way, group_chat, group_welcome, id_convert, message, moment,
    statistics, strategy, tag, transfer,
};

/// Why a by-name call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ByNameError {
    /// No endpoint has this method name.
    #[error("unknown method `{method}`{hint}; run `api --list` to see every method")]
    UnknownMethod {
        /// The name given.
        method: String,
        /// ` (did you mean `…`?)` when a method name is close, else empty.
        hint: String,
    },
    /// The request is not valid JSON, not an object, or does not fit the method's request type.
    #[error("invalid request for `{method}`: {message}")]
    InvalidRequest {
        /// The method.
        method: String,
        /// What is wrong, on one line (serde's message, naming the field).
        message: String,
    },
    /// `--all` (walking every page) was asked of a method that answers with one page.
    #[error("`{method}` is not paged, so there are no pages to walk; paged methods: {paged}")]
    NotPaged {
        /// The method.
        method: String,
        /// The methods that are paged, comma-separated.
        paged: String,
    },
    /// The call failed; `Display` is `errcode N: errmsg` when WeCom answered with an error.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl ByNameError {
    /// WeCom's `errcode`, when the call got one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api(err) => err.code(),
            _ => None,
        }
    }
}

/// Calls `method` with the request given as JSON (empty or `{}` for no fields) and returns
/// WeCom's answer as received: the whole object, `errcode` and `errmsg` included, with every
/// field whether the types know it or not.
///
/// When WeCom says "none" with an error code (84061 from `list`: the member has no customers)
/// the answer is a success that keeps WeCom's `errcode` and `errmsg` and gains the empty list.
///
/// ```no_run
/// # async fn run(client: wecom_callback::api::Client) -> Result<(), wecom_callback::api::ByNameError> {
/// let answer = wecom_callback::api::call_by_name(&client, "get_contact_way", r#"{"config_id":"42"}"#).await?;
/// println!("{answer}");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`ByNameError::UnknownMethod`], [`ByNameError::InvalidRequest`] (nothing is sent), or
/// [`ByNameError::Api`].
pub async fn call_by_name(client: &Client, method: &str, json: &str) -> Result<Value, ByNameError> {
    let given = parse(method, json)?;
    dispatch(client, method, given).await
}

/// The items of every page of the paged `method`, a page at a time: the first page is asked
/// with the request given as JSON, each further one with the cursor (or offset) the previous
/// answer pointed at, until WeCom says there is no more. Which field of an answer holds the
/// items is [`Pagination::items`](super::paging::Pagination::items).
///
/// ```no_run
/// # async fn run(client: wecom_callback::api::Client) -> Result<(), wecom_callback::api::ByNameError> {
/// use futures::TryStreamExt;
///
/// let pages = wecom_callback::api::pages_by_name(&client, "groupchat_list", r#"{"limit":1000}"#)?;
/// let mut pages = std::pin::pin!(pages);
/// while let Some(items) = pages.try_next().await? {
///     for chat in items {
///         println!("{chat}");
///     }
/// }
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// Before anything is sent: [`ByNameError::UnknownMethod`], [`ByNameError::NotPaged`] or
/// [`ByNameError::InvalidRequest`]. Then each page may fail with [`ByNameError::Api`], which
/// ends the walk.
pub fn pages_by_name<'a>(
    client: &'a Client,
    method: &str,
    json: &str,
) -> Result<impl Stream<Item = Result<Vec<Value>, ByNameError>> + Send + 'a, ByNameError> {
    let first = first_page_request(method, json)?;
    let walk = pagination(method).ok_or_else(|| not_paged(method))?;
    let endpoint = ENDPOINTS
        .iter()
        .find(|endpoint| endpoint.name == method)
        .ok_or_else(|| unknown_method(method))?;
    Ok(futures::stream::try_unfold(
        Some(first),
        move |next| async move {
            let Some(request) = next else {
                return Ok(None);
            };
            let answer = client
                .call_json(endpoint.method, endpoint.path, &request)
                .await?;
            let following = walk.next_request(&request, &answer);
            Ok::<_, ByNameError>(Some((walk.items(&answer), following)))
        },
    ))
}

/// The request for the first page that [`pages_by_name`] would send, without sending anything.
///
/// # Errors
/// [`ByNameError::UnknownMethod`], [`ByNameError::NotPaged`] or
/// [`ByNameError::InvalidRequest`].
pub fn first_page_request(method: &str, json: &str) -> Result<Value, ByNameError> {
    let given = parse(method, json)?;
    if pagination(method).is_none() {
        return Err(not_paged(method));
    }
    validate(method, given)
}

/// The JSON body (or query fields, for GET endpoints) that [`call_by_name`] would send, without
/// sending anything — for validating a request or a dry run.
///
/// # Errors
/// [`ByNameError::UnknownMethod`] or [`ByNameError::InvalidRequest`].
pub fn request_json(method: &str, json: &str) -> Result<Value, ByNameError> {
    let given = parse(method, json)?;
    validate(method, given)
}

/// Checks the method name and parses the JSON into an object.
fn parse(method: &str, json: &str) -> Result<Value, ByNameError> {
    if METHODS.binary_search(&method).is_err() {
        return Err(unknown_method(method));
    }
    let json = json.trim();
    if json.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str(json) {
        Ok(object @ Value::Object(_)) => Ok(object),
        Ok(_) => Err(invalid(
            method,
            "the request must be a JSON object".to_owned(),
        )),
        Err(err) => Err(invalid(method, format!("invalid JSON: {err}"))),
    }
}

/// Parses `given` into `E` and proves that sending `E` sends exactly the fields given.
fn typed<E: Endpoint>(given: Value) -> Result<(E, Value), ByNameError> {
    let request: E =
        serde_json::from_value(given.clone()).map_err(|err| invalid(E::NAME, err.to_string()))?;
    let sent = serde_json::to_value(&request).map_err(|err| invalid(E::NAME, err.to_string()))?;
    same_fields(&given, &sent, "").map_err(|message| invalid(E::NAME, message))?;
    Ok((request, sent))
}

/// Sends `given` as an `E` and returns WeCom's answer as received.
async fn send<E: Endpoint>(client: &Client, given: Value) -> Result<Value, ByNameError> {
    let (request, _) = typed::<E>(given)?;
    let mut answer = client.call_raw(&request).await?;
    if answer.get("errcode").and_then(Value::as_i64).unwrap_or(0) != 0 {
        // The client let a non-zero code through because it means "none" here (84061 from
        // `list`): add the typed answer's fields that are missing, i.e. the empty list.
        complete::<E>(&mut answer)?;
    }
    Ok(answer)
}

/// Adds to `answer` every field of `E`'s typed response that it lacks, with its default.
fn complete<E: Endpoint>(answer: &mut Value) -> Result<(), ByNameError> {
    let decode_error = |err: serde_json::Error| {
        ByNameError::Api(ApiError::Decode {
            path: E::PATH.to_owned(),
            message: err.to_string(),
        })
    };
    let typed: E::Response = serde_json::from_value(answer.clone()).map_err(decode_error)?;
    let typed = serde_json::to_value(typed).map_err(decode_error)?;
    if let (Value::Object(answer), Value::Object(typed)) = (answer, typed) {
        for (key, value) in typed {
            answer.entry(key).or_insert(value);
        }
    }
    Ok(())
}

/// Checks that `sent` has exactly the keys of `given` (ignoring `null`s given), recursively.
fn same_fields(given: &Value, sent: &Value, at: &str) -> Result<(), String> {
    let field = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match (given, sent) {
        (Value::Object(given), Value::Object(sent)) => {
            for (key, value) in given {
                match sent.get(key) {
                    Some(sent_value) => same_fields(value, sent_value, &field(key))?,
                    None if value.is_null() => {}
                    None => return Err(format!("unknown field `{}`", field(key))),
                }
            }
            match sent
                .keys()
                .find(|key| given.get(*key).is_none_or(Value::is_null))
            {
                Some(key) => Err(format!("missing field `{}`", field(key))),
                None => Ok(()),
            }
        }
        (Value::Array(given), Value::Array(sent)) => given
            .iter()
            .zip(sent)
            .enumerate()
            .try_for_each(|(index, (given, sent))| {
                same_fields(given, sent, &format!("{at}[{index}]"))
            }),
        _ => Ok(()),
    }
}

fn invalid(method: &str, message: String) -> ByNameError {
    ByNameError::InvalidRequest {
        method: method.to_owned(),
        message,
    }
}

fn not_paged(method: &str) -> ByNameError {
    let paged: Vec<&str> = PAGINATION.iter().map(|row| row.method).collect();
    ByNameError::NotPaged {
        method: method.to_owned(),
        paged: paged.join(", "),
    }
}

fn unknown_method(method: &str) -> ByNameError {
    let closest = METHODS
        .iter()
        .map(|name| (edit_distance(method, name), *name))
        .min()
        .filter(|(distance, _)| *distance <= 3);
    let hint = closest
        .map(|(_, name)| format!(" (did you mean `{name}`?)"))
        .unwrap_or_default();
    ByNameError::UnknownMethod {
        method: method.to_owned(),
        hint,
    }
}

/// Levenshtein distance, for the "did you mean" hint.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Sorts names at compile time, so [`METHODS`] can be a sorted `const`.
const fn sorted<const N: usize>(mut names: [&'static str; N]) -> [&'static str; N] {
    let mut i = 1;
    while i < N {
        let mut j = i;
        while j > 0 && less(names[j], names[j - 1]) {
            let swap = names[j];
            names[j] = names[j - 1];
            names[j - 1] = swap;
            j -= 1;
        }
        i += 1;
    }
    names
}

/// Byte-wise `a < b`, usable in `const`.
const fn less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

/// Generates [`METHODS`] and the name → request-type dispatch.
macro_rules! define_dispatch {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident : $verb:ident $path:literal, $request:ty => $response:ty;
    )*) => {
        /// Every method name, sorted: the path after `/cgi-bin/externalcontact/` with `/` → `_`.
        pub const METHODS: &[&str] = &sorted([$(stringify!($name)),*]);

        async fn dispatch(client: &Client, method: &str, given: Value) -> Result<Value, ByNameError> {
            $(
                if method == stringify!($name) {
                    return send::<$request>(client, given).await;
                }
            )*
            Err(unknown_method(method))
        }

        fn validate(method: &str, given: Value) -> Result<Value, ByNameError> {
            $(
                if method == stringify!($name) {
                    return typed::<$request>(given).map(|(_, sent)| sent);
                }
            )*
            Err(unknown_method(method))
        }

        /// The typed response of `method` with every field at its default, as JSON.
        #[cfg(test)]
        fn default_response(method: &str) -> Option<Value> {
            $(
                if method == stringify!($name) {
                    return serde_json::to_value(<$response>::default()).ok();
                }
            )*
            None
        }
    };
}

endpoint_table!(define_dispatch);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn methods_are_sorted_and_unique() {
        assert!(
            METHODS.windows(2).all(|pair| pair[0] < pair[1]),
            "{METHODS:?}"
        );
        assert_eq!(METHODS.len(), super::super::ENDPOINTS.len());
    }

    #[test]
    fn unset_fields_are_not_sent() {
        let sent = request_json(
            "remark",
            r#"{"userid":"u","external_userid":"e","remark":"r"}"#,
        );
        assert_eq!(
            sent.unwrap(),
            json!({"userid": "u", "external_userid": "e", "remark": "r"})
        );
    }

    #[test]
    fn unknown_top_level_field_is_named() {
        let err = request_json(
            "remark",
            r#"{"userid":"u","external_userid":"e","remarks":"r"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown field `remarks`") && !err.contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn unknown_nested_field_is_named() {
        let json = r#"{"type":1,"scene":2,"conclusions":{"text":{"contnet":"bye"}}}"#;
        let err = request_json("add_contact_way", json)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `conclusions.text.contnet`"),
            "{err}"
        );
    }

    #[test]
    fn missing_nested_field_is_named() {
        let json =
            r#"{"welcome_code":"W","attachments":[{"msgtype":"link","link":{"title":"t"}}]}"#;
        let err = request_json("send_welcome_msg", json)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing field `attachments[0].link.url`"),
            "{err}"
        );
    }

    #[test]
    fn mistyped_and_missing_required_fields_are_errors() {
        let err = request_json("groupchat_get", r#"{"chat_id":5}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type"), "{err}");
        let err = request_json("groupchat_get", "{}").unwrap_err().to_string();
        assert!(err.contains("missing field `chat_id`"), "{err}");
        let err = request_json("groupchat_get", "[1]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("JSON object"), "{err}");
    }

    #[test]
    fn null_means_unset() {
        let sent = request_json("get_contact_way", r#"{"config_id":"c","nope":null}"#);
        assert!(sent.is_err(), "unknown fields are rejected even when null");
        let sent = request_json("list_contact_way", r#"{"cursor":null}"#).unwrap();
        assert_eq!(sent, json!({}));
    }

    #[test]
    fn every_paged_method_names_fields_its_response_has() {
        for row in PAGINATION {
            let shape = default_response(row.method).expect(row.method);
            assert!(shape[row.items].is_array(), "{}: {}", row.method, row.items);
            let next = match row.scheme {
                super::super::paging::Scheme::Offset => "next_offset",
                _ => "next_cursor",
            };
            assert!(shape.get(next).is_some(), "{}: {next}", row.method);
        }
    }

    #[test]
    fn remark_mobiles_clear_and_unchanged_are_distinct() {
        let clear = request_json(
            "remark",
            r#"{"userid":"u","external_userid":"e","remark_mobiles":[""]}"#,
        )
        .unwrap();
        assert_eq!(clear["remark_mobiles"], json!([""]));
        let unchanged = request_json("remark", r#"{"userid":"u","external_userid":"e"}"#).unwrap();
        assert!(unchanged.get("remark_mobiles").is_none());
    }

    #[test]
    fn mark_source_is_sent_for_contact_ways() {
        let add = request_json(
            "add_contact_way",
            r#"{"type":1,"scene":2,"mark_source":true}"#,
        )
        .unwrap();
        assert_eq!(add, json!({"type": 1, "scene": 2, "mark_source": true}));
        let update = request_json(
            "update_contact_way",
            r#"{"config_id":"c","mark_source":false}"#,
        )
        .unwrap();
        assert_eq!(update, json!({"config_id": "c", "mark_source": false}));
    }

    #[test]
    fn unionid_conversion_requires_openid() {
        let err = request_json("unionid_to_external_userid", r#"{"unionid":"u"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `openid`"), "{err}");
        let sent = request_json(
            "unionid_to_external_userid",
            r#"{"unionid":"u","openid":"o"}"#,
        )
        .unwrap();
        assert_eq!(sent, json!({"unionid": "u", "openid": "o"}));
    }

    #[test]
    fn unknown_method_suggests_a_close_one() {
        let err = request_json("add_contact_wy", "{}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("did you mean `add_contact_way`?") && err.contains("api --list"),
            "{err}"
        );
        assert_eq!(request_json("", "{}").unwrap_err().code(), None);
    }
}
