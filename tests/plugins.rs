//! The built-in plug-ins end to end through the server, against a fake WeCom API (wiremock):
//! `welcome` sends exactly one send_welcome_msg per new customer with its welcome_code and the
//! configured (or per-state) text, never with an expired code; `tag_by_state` marks tags.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use wecom_callback::Service;
use wecom_callback::store::{Inbox, MemoryInbox, Status};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn new_customer(external: &str, code: &str, state: &str, create_time: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID><State><![CDATA[{state}]]></State><WelcomeCode><![CDATA[{code}]]></WelcomeCode></xml>"
    )
}

async fn fake_api() -> MockServer {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 0, "errmsg": "ok", "access_token": "TKN", "expires_in": 7200}),
        ))
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/mark_tag"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"errcode": 0, "errmsg": "ok"})),
        )
        .mount(&api)
        .await;
    api
}

async fn requests_to(api: &MockServer, endpoint: &str) -> Vec<Value> {
    api.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r: &&Request| r.url.path() == format!("/cgi-bin/externalcontact/{endpoint}"))
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

fn plugin_config(api: &MockServer) -> wecom_callback::Config {
    config(
        &format!("[api]\nbase_url = \"{}\"", api.uri()),
        r#"secret = "app-secret"
[apps.welcome]
text = "你好，欢迎！"
[apps.welcome.states.spring_sale]
text = "春季活动欢迎你"
attachments = [{ msgtype = "link", link = { title = "活动", url = "https://example.com/spring" } }]
[apps.tag_by_state]
spring_sale = ["etAAAA", "etBBBB"]
"#,
    )
}

#[tokio::test]
async fn welcome_sends_once_with_the_configured_text_and_tags_by_state() {
    let api = fake_api().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/send_welcome_msg"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"errcode": 0, "errmsg": "ok"})),
        )
        .mount(&api)
        .await;
    let inbox = Arc::new(MemoryInbox::new());
    let running = Service::new(plugin_config(&api))
        .with_inbox(inbox.clone())
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();

    let plain = new_customer("wmPlain", "CODE-PLAIN", "teststate", now());
    for retry in 0..3 {
        assert_eq!(
            post(&client, &base, &seal(&plain, &format!("p{retry}")))
                .await
                .0,
            200
        );
    }
    let spring = new_customer("wmSpring", "CODE-SPRING", "spring_sale", now());
    assert_eq!(post(&client, &base, &seal(&spring, "s")).await.0, 200);

    for _ in 0..500 {
        if requests_to(&api, "send_welcome_msg").await.len() >= 2
            && !requests_to(&api, "mark_tag").await.is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sent = requests_to(&api, "send_welcome_msg").await;
    sent.sort_by_key(|v| v["welcome_code"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        sent,
        vec![
            json!({"welcome_code": "CODE-PLAIN", "text": {"content": "你好，欢迎！"}}),
            json!({"welcome_code": "CODE-SPRING", "text": {"content": "春季活动欢迎你"},
                   "attachments": [{"msgtype": "link", "link": {"title": "活动", "url": "https://example.com/spring"}}]}),
        ]
    );
    assert_eq!(
        requests_to(&api, "mark_tag").await,
        vec![
            json!({"userid": "zhangsan", "external_userid": "wmSpring", "add_tag": ["etAAAA", "etBBBB"]})
        ]
    );
    assert_eq!(inbox.depth().await.unwrap().failed, 0);
    running.stop().await;
}

#[tokio::test]
async fn expired_or_refused_welcome_codes_become_dead_letters() {
    let api = fake_api().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/send_welcome_msg"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 41051, "errmsg": "externaluser has started chatting"}),
        ))
        .mount(&api)
        .await;
    let inbox = Arc::new(MemoryInbox::new());
    let running = Service::new(plugin_config(&api))
        .with_inbox(inbox.clone())
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();

    let expired = new_customer("wmOld", "CODE-OLD", "teststate", now() - 60);
    assert_eq!(post(&client, &base, &seal(&expired, "e")).await.0, 200);
    let chatting = new_customer("wmChatting", "CODE-CHAT", "teststate", now());
    assert_eq!(post(&client, &base, &seal(&chatting, "c")).await.0, 200);

    for _ in 0..500 {
        if inbox.depth().await.unwrap().failed == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failed = inbox.list(Some(Status::Failed), 10).await.unwrap();
    assert_eq!(failed.len(), 2);
    let mut reasons = Vec::new();
    for event in &failed {
        let runs = inbox.runs(event.id).await.unwrap();
        let welcome = runs.iter().find(|r| r.handler == "welcome").unwrap();
        assert_eq!(welcome.attempts, 1, "permanent failures are not retried");
        reasons.push(welcome.last_error.clone().unwrap_or_default());
    }
    reasons.sort();
    assert!(reasons[0].contains("errcode 41051"), "{reasons:?}");
    assert!(reasons[1].contains("welcome_code expired"), "{reasons:?}");
    let sent = requests_to(&api, "send_welcome_msg").await;
    assert_eq!(sent.len(), 1, "the expired code is never sent");
    assert_eq!(sent[0]["welcome_code"], "CODE-CHAT");
    running.stop().await;
}
