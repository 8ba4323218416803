//! The API client against a fake WeCom (wiremock answering like WeCom: HTTP 200 + `errcode`):
//! token caching and single flight, the retry policy per `errcode`, secrecy of the secret and
//! token, cursor paging, the egress proxy, and the by-name entry point.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wecom_callback::api::contact::{GetFollowUserListRequest, ListRequest, RemarkRequest};
use wecom_callback::api::contact_way::ListContactWayRequest;
use wecom_callback::api::{
    AccessToken, ApiError, ByNameError, CachedToken, Client, MemoryTokenStore, TokenStore,
    call_by_name, token,
};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CORP_ID: &str = "wwTESTCORP";
const SECRET: &str = "S3CRET-never-shown";
const TOKEN: &str = "TOKEN-never-shown";
const FOLLOW: &str = "/cgi-bin/externalcontact/get_follow_user_list";

/// A client for `server` with 1 ms backoff so busy retries take no real time.
fn client(server: &MockServer) -> Client {
    Client::builder()
        .corp_id(CORP_ID)
        .secret(SECRET)
        .base_url(server.uri())
        .retry_backoff(Duration::from_millis(1))
        .build()
        .expect("client")
}

/// WeCom's answer: HTTP 200 with `errcode`/`errmsg` and `payload`'s fields.
fn answer(code: i64, message: &str, payload: Value) -> ResponseTemplate {
    let mut body = json!({"errcode": code, "errmsg": message});
    if let (Some(body), Value::Object(payload)) = (body.as_object_mut(), payload) {
        body.extend(payload);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn ok(payload: Value) -> ResponseTemplate {
    answer(0, "ok", payload)
}

/// `gettoken` handing out `token`, expected `times` times.
async fn mount_gettoken(server: &MockServer, token: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .and(query_param("corpid", CORP_ID))
        .and(query_param("corpsecret", SECRET))
        .respond_with(ok(json!({"access_token": token, "expires_in": 7200})))
        .up_to_n_times(times)
        .expect(times)
        .mount(server)
        .await;
}

/// `get_follow_user_list` answering `response` to `token`, expected `times` times.
async fn mount_follow(server: &MockServer, token: &str, response: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path(FOLLOW))
        .and(query_param("access_token", token))
        .respond_with(response)
        .expect(times)
        .mount(server)
        .await;
}

async fn follow(client: &Client) -> Result<Vec<String>, ApiError> {
    Ok(client
        .get_follow_user_list(&GetFollowUserListRequest {})
        .await?
        .follow_user)
}

/// Fifty concurrent calls on a cold cache share one `gettoken`.
#[tokio::test]
async fn one_gettoken_for_fifty_concurrent_calls() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(
            ok(json!({"access_token": TOKEN, "expires_in": 7200}))
                .set_delay(Duration::from_millis(50)),
        )
        .expect(1)
        .mount(&server)
        .await;
    mount_follow(&server, TOKEN, ok(json!({"follow_user": ["zhangsan"]})), 50).await;

    let client = client(&server);
    let calls = (0..50).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { follow(&client).await })
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.expect("task").expect("call"), ["zhangsan"]);
    }
}

/// A rejected token (42001 / 40014) is replaced once and the call replayed once.
#[tokio::test]
async fn rejected_token_is_refreshed_once_and_the_call_replayed() {
    for (code, message) in [
        (42001, "access_token expired"),
        (40014, "invalid access_token"),
    ] {
        let server = MockServer::start().await;
        mount_gettoken(&server, "OLD", 1).await;
        mount_gettoken(&server, "NEW", 1).await;
        mount_follow(&server, "OLD", answer(code, message, json!({})), 1).await;
        mount_follow(&server, "NEW", ok(json!({"follow_user": ["lisi"]})), 1).await;

        let client = client(&server);
        assert_eq!(
            follow(&client).await.expect("replayed call"),
            ["lisi"],
            "{code}"
        );
        server.verify().await;
    }
}

/// If the fresh token is rejected too, the error is returned: no refresh loop.
#[tokio::test]
async fn a_second_rejection_is_an_error_not_a_loop() {
    let server = MockServer::start().await;
    mount_gettoken(&server, "OLD", 1).await;
    mount_gettoken(&server, "NEW", 1).await;
    mount_follow(
        &server,
        "OLD",
        answer(42001, "access_token expired", json!({})),
        1,
    )
    .await;
    mount_follow(
        &server,
        "NEW",
        answer(42001, "access_token expired", json!({})),
        1,
    )
    .await;

    let err = follow(&client(&server)).await.expect_err("still rejected");
    assert_eq!(err.code(), Some(42001));
}

/// 45033 (concurrency limit) backs off and retries; the retry succeeds.
#[tokio::test]
async fn concurrency_limit_backs_off_then_succeeds() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    Mock::given(method("GET"))
        .and(path(FOLLOW))
        .respond_with(answer(45033, "api concurrent out of limit", json!({})))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    mount_follow(&server, TOKEN, ok(json!({"follow_user": ["wangwu"]})), 1).await;

    let started = std::time::Instant::now();
    assert_eq!(follow(&client(&server)).await.expect("retried"), ["wangwu"]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "backoff is configurable"
    );
}

/// 45009 (frequency limit) is reported at once, naming the limit: one call, no retry.
#[tokio::test]
async fn frequency_limit_is_reported_at_once() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    mount_follow(
        &server,
        TOKEN,
        answer(45009, "api freq out of limit", json!({})),
        1,
    )
    .await;

    let err = follow(&client(&server)).await.expect_err("limited");
    assert!(matches!(err, ApiError::FrequencyLimit { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.starts_with("errcode 45009: api freq out of limit (frequency limit of ")
            && shown.contains(FOLLOW)
            && shown.contains("not retried"),
        "{shown}"
    );
    assert_eq!(err.code(), Some(45009));
    assert!(
        err.is_transient(),
        "a caller backing off for minutes may retry"
    );
    server.verify().await;
}

/// 60020 names the egress IP problem and its fix (企业可信IP).
#[tokio::test]
async fn untrusted_ip_says_to_add_the_egress_ip() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    mount_follow(
        &server,
        TOKEN,
        answer(
            60020,
            "not allow to access from your ip, from ip: 203.0.113.7",
            json!({}),
        ),
        1,
    )
    .await;
    let shown = follow(&client(&server))
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        shown.starts_with("errcode 60020: not allow to access from your ip, from ip: 203.0.113.7")
            && shown.contains("egress IP")
            && shown.contains("企业可信IP"),
        "{shown}"
    );
}

/// 84061 from `list` (the member has no customers) is an empty list, typed and by name; the
/// same code from another endpoint stays an error.
#[tokio::test]
async fn member_without_customers_is_an_empty_list() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/externalcontact/list"))
        .and(query_param("userid", "newbie"))
        .respond_with(answer(84061, "not external contact", json!({})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/externalcontact/get"))
        .respond_with(answer(84061, "not external contact", json!({})))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(&server);
    let list = client
        .list(&ListRequest {
            userid: "newbie".into(),
        })
        .await
        .expect("empty list");
    assert!(list.external_userid.is_empty());
    let printed = call_by_name(&client, "list", r#"{"userid":"newbie"}"#)
        .await
        .expect("empty list by name");
    assert_eq!(
        printed,
        json!({"errcode": 84061, "errmsg": "not external contact", "external_userid": []})
    );
    let err = call_by_name(&client, "get", r#"{"external_userid":"wm1"}"#)
        .await
        .expect_err("84061 elsewhere is an error");
    assert_eq!(err.code(), Some(84061));
}

/// With `.proxy(url)` every call, `gettoken` included, goes through the proxy (here a fake
/// that answers for WeCom, so the API host itself need not resolve).
#[tokio::test]
async fn calls_go_through_the_configured_proxy() {
    let proxy = MockServer::start().await;
    mount_gettoken(&proxy, TOKEN, 1).await;
    mount_follow(&proxy, TOKEN, ok(json!({"follow_user": ["via-proxy"]})), 1).await;
    let client = Client::builder()
        .corp_id(CORP_ID)
        .secret(SECRET)
        .base_url("http://qyapi.wecom.invalid")
        .proxy(proxy.uri())
        .build()
        .expect("client");
    assert_eq!(
        follow(&client).await.expect("through the proxy"),
        ["via-proxy"]
    );
    let seen = proxy.received_requests().await.unwrap_or_default();
    assert!(
        seen.iter()
            .all(|r| r.url.host_str() == Some("qyapi.wecom.invalid")),
        "{:?}",
        seen.iter().map(|r| r.url.to_string()).collect::<Vec<_>>()
    );
}

/// -1 three times (two retries allowed) gives up with a clear error.
#[tokio::test]
async fn system_busy_gives_up_after_the_retries() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    mount_follow(&server, TOKEN, answer(-1, "system busy", json!({})), 3).await;

    let client = Client::builder()
        .corp_id(CORP_ID)
        .secret(SECRET)
        .base_url(server.uri())
        .retry_backoff(Duration::from_millis(1))
        .max_retries(2)
        .build()
        .expect("client");
    let err = follow(&client).await.expect_err("gives up");
    assert!(
        matches!(
            err,
            ApiError::Busy {
                code: -1,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "errcode -1: system busy (gave up after 3 attempts)"
    );
    assert!(err.is_transient());
}

/// By default a busy call is retried 3 times (4 attempts), as the official guidance allows.
#[tokio::test]
async fn default_retry_budget_is_three_retries() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    mount_follow(
        &server,
        TOKEN,
        answer(45033, "api concurrent out of limit", json!({})),
        4,
    )
    .await;
    let err = follow(&client(&server)).await.expect_err("gives up");
    assert!(matches!(err, ApiError::Busy { attempts: 4, .. }), "{err:?}");
}

/// 40001 from `gettoken` is a configuration error: one `gettoken`, no API call, no loop.
#[tokio::test]
async fn invalid_secret_is_a_config_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(answer(40001, "invalid credential", json!({})))
        .expect(1)
        .mount(&server)
        .await;
    mount_follow(&server, TOKEN, ok(json!({})), 0).await;

    let err = follow(&client(&server)).await.expect_err("bad secret");
    assert!(matches!(err, ApiError::InvalidSecret { .. }), "{err:?}");
    assert!(err.is_permanent());
    let shown = err.to_string();
    assert!(
        shown.starts_with("errcode 40001: ") && shown.contains("secret"),
        "{shown}"
    );
    assert!(!shown.contains(SECRET));
}

/// Callers queued behind a rejected secret share the rejection: still one `gettoken`.
#[tokio::test]
async fn concurrent_calls_share_a_rejected_secret() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(
            answer(40001, "invalid credential", json!({})).set_delay(Duration::from_millis(50)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let calls = (0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { follow(&client).await })
    });
    for result in futures::future::join_all(calls).await {
        let err = result.expect("task").expect_err("bad secret");
        assert!(matches!(err, ApiError::InvalidSecret { .. }), "{err:?}");
    }
}

/// 40001 from an API call is the same configuration error; the token is not refreshed.
#[tokio::test]
async fn invalid_secret_from_a_call_does_not_refresh() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    mount_follow(
        &server,
        TOKEN,
        answer(40001, "invalid credential", json!({})),
        1,
    )
    .await;
    let err = follow(&client(&server)).await.expect_err("bad secret");
    assert!(matches!(err, ApiError::InvalidSecret { .. }), "{err:?}");
}

/// Other codes become `ApiError::Api` displaying `errcode N: errmsg`.
#[tokio::test]
async fn other_codes_are_api_errors() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    mount_follow(
        &server,
        TOKEN,
        answer(41051, "externaluser has started chatting", json!({})),
        1,
    )
    .await;
    let err = follow(&client(&server)).await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "errcode 41051: externaluser has started chatting"
    );
    assert!(err.is_permanent());
}

/// The token is reused while fresh and refreshed ahead of expiry (the 5-minute margin).
#[tokio::test]
async fn token_is_cached_and_refreshed_before_expiry() {
    let server = MockServer::start().await;
    let store = Arc::new(MemoryTokenStore::new());
    let key = token::cache_key(CORP_ID, SECRET);
    store
        .set(
            &key,
            CachedToken::new(AccessToken::new("ALMOST-EXPIRED"), Duration::from_secs(60)),
        )
        .await
        .expect("store");
    mount_gettoken(&server, TOKEN, 1).await;
    mount_follow(&server, TOKEN, ok(json!({"follow_user": []})), 3).await;

    let client = Client::builder()
        .corp_id(CORP_ID)
        .secret(SECRET)
        .base_url(server.uri())
        .token_store(store.clone())
        .build()
        .expect("client");
    for _ in 0..3 {
        follow(&client).await.expect("call");
    }
    let cached = store.get(&key).await.expect("store").expect("cached");
    assert_eq!(cached.token.as_str(), TOKEN);
}

/// Unknown response fields are ignored; missing ones default.
#[tokio::test]
async fn unknown_response_fields_are_ignored() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    mount_follow(
        &server,
        TOKEN,
        ok(json!({"follow_user": ["a"], "brand_new_field": {"x": [1, 2]}, "another": 3})),
        1,
    )
    .await;
    assert_eq!(follow(&client(&server)).await.expect("decoded"), ["a"]);
}

/// Optional request fields left `None` are not sent at all (`body_json` matches exactly).
#[tokio::test]
async fn unset_optional_fields_are_not_sent() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/remark"))
        .and(query_param("access_token", TOKEN))
        .and(body_json(
            json!({"userid": "u", "external_userid": "e", "description": "VIP"}),
        ))
        .respond_with(ok(json!({})))
        .expect(1)
        .mount(&server)
        .await;

    let request = RemarkRequest {
        userid: "u".into(),
        external_userid: "e".into(),
        description: Some("VIP".into()),
        ..Default::default()
    };
    client(&server).remark(&request).await.expect("sent");
}

/// Neither `Debug` nor `Display` of the client or of errors shows the secret or the token,
/// including transport errors (whose URL carries `corpsecret` / `access_token`).
#[tokio::test]
async fn secret_and_token_never_shown() {
    let server = MockServer::start().await;
    let client = client(&server);
    let shown = format!("{client:?}");
    assert!(!shown.contains(SECRET), "{shown}");

    // A refused connection while fetching the token (the URL has corpsecret).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let offline = Client::builder()
        .corp_id(CORP_ID)
        .secret(SECRET)
        .base_url(format!("http://127.0.0.1:{port}"))
        .build()
        .expect("client");
    let err = follow(&offline).await.expect_err("offline");
    assert!(matches!(err, ApiError::Transport(_)), "{err:?}");
    for shown in [
        format!("{err}"),
        format!("{err:?}"),
        format!("{:?}", std::error::Error::source(&err)),
    ] {
        assert!(
            !shown.contains(SECRET) && !shown.contains("corpsecret"),
            "{shown}"
        );
    }

    // A timeout on a call (the URL has access_token).
    mount_gettoken(&server, TOKEN, 1).await;
    mount_follow(
        &server,
        TOKEN,
        ok(json!({})).set_delay(Duration::from_secs(2)),
        1,
    )
    .await;
    let slow = Client::builder()
        .corp_id(CORP_ID)
        .secret(SECRET)
        .base_url(server.uri())
        .timeout(Duration::from_millis(100))
        .build()
        .expect("client");
    let err = follow(&slow).await.expect_err("timeout");
    assert!(matches!(err, ApiError::Transport(_)), "{err:?}");
    for shown in [format!("{err}"), format!("{err:?}")] {
        assert!(
            !shown.contains(TOKEN) && !shown.contains("access_token"),
            "{shown}"
        );
    }
    let token = slow.access_token().await.expect("cached token");
    assert!(!format!("{token:?}").contains(TOKEN));
}

/// HTTP errors and undecodable answers are their own errors.
#[tokio::test]
async fn http_and_decode_errors_are_typed() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    Mock::given(method("GET"))
        .and(path(FOLLOW))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(FOLLOW))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>gateway</html>"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_follow(&server, TOKEN, ok(json!({"follow_user": "not-a-list"})), 1).await;

    let client = client(&server);
    let err = follow(&client).await.expect_err("502");
    assert!(matches!(err, ApiError::Http { status: 502, .. }), "{err:?}");
    assert!(err.is_transient());
    let err = follow(&client).await.expect_err("html");
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
    let err = follow(&client).await.expect_err("wrong type");
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
}

/// A `gettoken` answer without a usable token (none, empty, or holding a control character)
/// is a decode error, not a token.
#[tokio::test]
async fn a_gettoken_answer_without_a_usable_token_is_a_decode_error() {
    for token in [json!(null), json!(""), json!("TOK\u{0}EN")] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/cgi-bin/gettoken"))
            .respond_with(ok(json!({"access_token": token, "expires_in": 7200})))
            .mount(&server)
            .await;
        let err = follow(&client(&server)).await.expect_err("no token");
        assert!(
            matches!(&err, ApiError::Decode { message, .. } if message.contains("access_token")),
            "{err:?}"
        );
    }
}

/// The cursor helper walks every page, sending each `next_cursor` back.
#[tokio::test]
async fn cursor_helper_walks_three_pages() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    let list = "/cgi-bin/externalcontact/list_contact_way";
    for (cursor, ids, next) in [
        (None, ["c1", "c2"], "P2"),
        (Some("P2"), ["c3", "c4"], "P3"),
        (Some("P3"), ["c5", "c6"], ""),
    ] {
        let mut body = json!({"limit": 2});
        if let Some(cursor) = cursor {
            body["cursor"] = json!(cursor);
        }
        let ways: Vec<Value> = ids.iter().map(|id| json!({"config_id": id})).collect();
        Mock::given(method("POST"))
            .and(path(list))
            .and(body_json(body))
            .respond_with(ok(json!({"contact_way": ways, "next_cursor": next})))
            .expect(1)
            .mount(&server)
            .await;
    }

    let pages = client(&server)
        .all_pages(ListContactWayRequest {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .expect("pages");
    let ids: Vec<_> = pages
        .iter()
        .flat_map(|page| &page.contact_way)
        .map(|way| way.config_id.as_str())
        .collect();
    assert_eq!(pages.len(), 3);
    assert_eq!(ids, ["c1", "c2", "c3", "c4", "c5", "c6"]);
}

/// A cursor handed back unchanged ends the walk instead of looping.
#[tokio::test]
async fn cursor_helper_stops_on_a_repeated_cursor() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/list_contact_way"))
        .respond_with(ok(json!({"contact_way": [], "next_cursor": "SAME"})))
        .expect(2)
        .mount(&server)
        .await;
    let pages = client(&server)
        .all_pages(ListContactWayRequest::default())
        .await
        .expect("pages");
    assert_eq!(pages.len(), 2);
}

/// Answers are counted by path and errcode, `gettoken` included.
#[tokio::test]
async fn calls_are_counted_by_errcode() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    Mock::given(method("GET"))
        .and(path(FOLLOW))
        .respond_with(answer(-1, "system busy", json!({})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_follow(&server, TOKEN, ok(json!({})), 2).await;

    let client = client(&server);
    follow(&client).await.expect("call");
    follow(&client).await.expect("call");
    assert_eq!(
        client.call_counts(),
        [
            (
                "/cgi-bin/externalcontact/get_follow_user_list".to_owned(),
                -1,
                1
            ),
            (
                "/cgi-bin/externalcontact/get_follow_user_list".to_owned(),
                0,
                2
            ),
            ("/cgi-bin/gettoken".to_owned(), 0, 1),
        ]
    );
}

/// By name: WeCom's answer as received, fields the types do not know included; WeCom errors
/// keep `errcode N: errmsg`; bad input sends nothing.
#[tokio::test]
async fn call_by_name_end_to_end() {
    let server = MockServer::start().await;
    mount_gettoken(&server, TOKEN, 1).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/send_welcome_msg"))
        .and(body_json(
            json!({"welcome_code": "W", "text": {"content": "hi"}}),
        ))
        .respond_with(answer(41050, "invalid welcome_code", json!({})))
        .expect(1)
        .mount(&server)
        .await;
    mount_follow(
        &server,
        TOKEN,
        ok(json!({"follow_user": ["a", "b"], "brand_new": {"x": 1.5}})),
        1,
    )
    .await;

    let client = client(&server);
    let answer = call_by_name(&client, "get_follow_user_list", "")
        .await
        .expect("call");
    assert_eq!(
        answer,
        json!({"errcode": 0, "errmsg": "ok", "follow_user": ["a", "b"], "brand_new": {"x": 1.5}})
    );

    let err = call_by_name(
        &client,
        "send_welcome_msg",
        r#"{"welcome_code":"W","text":{"content":"hi"}}"#,
    )
    .await
    .expect_err("41050");
    assert_eq!(err.code(), Some(41050));
    assert_eq!(err.to_string(), "errcode 41050: invalid welcome_code");

    let err = call_by_name(
        &client,
        "send_welcome_msg",
        r#"{"welcome_code":"W","txt":{}}"#,
    )
    .await
    .expect_err("unknown field");
    assert!(matches!(err, ByNameError::InvalidRequest { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown field `txt`"), "{err}");

    let err = call_by_name(&client, "no_such_method", "{}")
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("`no_such_method`") && err.to_string().contains("api --list"));
}
