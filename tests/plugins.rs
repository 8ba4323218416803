//! The built-in plug-ins end to end through the server, against a fake WeCom API (`FakeWecom`):
//! `welcome` sends exactly one send_welcome_msg per new customer with its welcome_code and the
//! configured (or per-state) text, never with an expired code; `tag_by_state` marks tags.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use wecom_callback::Service;
use wecom_callback::store::{EventFilter, Inbox, MemoryInbox, Status};
use wecom_callback::testing::FakeWecom;

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

fn plugin_config(api: &FakeWecom) -> wecom_callback::Config {
    config(
        &format!("[api]\nbase_url = \"{}\"", api.url()),
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
    let api = FakeWecom::start().await;
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

    wait_until!(
        api.calls_to("send_welcome_msg").len() >= 2 && !api.calls_to("mark_tag").is_empty()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sent = api.calls_to("send_welcome_msg");
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
        api.calls_to("mark_tag"),
        vec![
            json!({"userid": "zhangsan", "external_userid": "wmSpring", "add_tag": ["etAAAA", "etBBBB"]})
        ]
    );
    let stats = inbox.stats(0).await.unwrap();
    assert!(stats.handlers.iter().all(|h| h.dead == 0), "{stats:?}");
    running.stop().await;
}

/// WeCom refusing a code (41051: the customer already chatted) makes the delivery dead at
/// once. A `CreateTime` far in the past — a server clock ahead of WeCom's, or a replayed
/// capture — does not: the code's age is judged by when we received the event.
#[tokio::test]
async fn refused_welcome_codes_become_dead_letters_and_old_create_times_are_sent() {
    let api = FakeWecom::start().await;
    api.fail("send_welcome_msg", 41051);
    let inbox = Arc::new(MemoryInbox::new());
    let running = Service::new(plugin_config(&api))
        .with_inbox(inbox.clone())
        .start()
        .await
        .unwrap();
    let base = format!("http://{}", running.addr());
    let client = reqwest::Client::new();

    let skewed = new_customer("wmOld", "CODE-OLD", "teststate", now() - 60);
    assert_eq!(post(&client, &base, &seal(&skewed, "e")).await.0, 200);
    let chatting = new_customer("wmChatting", "CODE-CHAT", "teststate", now());
    assert_eq!(post(&client, &base, &seal(&chatting, "c")).await.0, 200);

    let failed_events = || async {
        inbox
            .list(EventFilter {
                status: Some(Status::Failed),
                handler: None,
                limit: 10,
            })
            .await
            .unwrap()
    };
    wait_until!(failed_events().await.len() == 2);
    let failed = failed_events().await;
    assert_eq!(failed.len(), 2);
    for event in &failed {
        let deliveries = inbox.deliveries(event.id).await.unwrap();
        let welcome = deliveries.iter().find(|r| r.handler == "welcome").unwrap();
        assert_eq!(welcome.attempts, 1, "permanent failures are not retried");
        let reason = welcome.last_error.clone().unwrap_or_default();
        assert!(reason.contains("errcode 41051"), "{reason}");
    }
    let mut codes: Vec<String> = api
        .calls_to("send_welcome_msg")
        .iter()
        .map(|r| r["welcome_code"].as_str().unwrap_or_default().to_owned())
        .collect();
    codes.sort();
    assert_eq!(codes, ["CODE-CHAT", "CODE-OLD"]);
    running.stop().await;
}

/// A delivery that starts more than 20 s after we received the event (it waited behind a
/// failing earlier event of the customer, or the service was down) is dead at once, without a
/// call: the code has expired.
#[tokio::test]
async fn welcome_codes_received_over_20_seconds_ago_are_not_sent() {
    use wecom_callback::plugins::{Welcome, WelcomeSettings};
    use wecom_callback::{Handler, HandlerError};
    let api = FakeWecom::start().await;
    let welcome = Welcome::new(
        WelcomeSettings {
            text: Some("hi".into()),
            ..Default::default()
        },
        "apps[0].welcome",
    )
    .unwrap();
    let event =
        wecom_callback::Event::parse(&new_customer("wmLate", "CODE-LATE", "s", now())).unwrap();
    let wecom_callback::Event::Contact(contact) = &event else {
        panic!("a contact event")
    };
    let late = api
        .context("contacts")
        .with_received_at(wecom_callback_now_ms() - 21_000);
    let err = welcome
        .on_add_external_contact(&late, contact)
        .await
        .unwrap_err();
    assert!(matches!(err, HandlerError::Permanent(_)), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(api.calls_to("send_welcome_msg").is_empty());
}

fn wecom_callback_now_ms() -> i64 {
    now() * 1000
}
