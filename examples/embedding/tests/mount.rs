//! The callback endpoint mounted under `/wecom` in "your own" actix-web and axum services, as
//! another crate depends on the library: a sealed fixture reaches your handler; your own
//! routes, your 404 and your 100 kB upload behave as if the callback were not there; the
//! callback's own body limit and 404 stay inside `/wecom`; `/healthz` and `/metrics` are only
//! where you mounted them.

use std::sync::{Arc, Mutex};

use wecom_callback::callback::seal_post;
use wecom_callback::{Config, Context, Event, Handler, HandlerResult, Service};

const CONFIG: &str = r#"
[store]
backend = "memory"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "wx5823bf96d3bd56c7"
token = "QDG6eK"
encoding_aes_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
"#;

/// Records the event ids it handles.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

#[wecom_callback::async_trait]
impl Handler for Seen {
    fn name(&self) -> &str {
        "seen"
    }
    async fn on_event(&self, _ctx: &Context, event: &Event) -> HandlerResult {
        self.0.lock().unwrap().push(event.kind());
        Ok(())
    }
}

async fn embedded(seen: &Seen) -> wecom_callback::Embedded {
    let config = Config::from_toml(CONFIG, &|_| None).unwrap();
    Service::new(config)
        .handler(seen.clone())
        .build()
        .await
        .unwrap()
}

/// Checks one running service at `base`.
async fn check(base: &str, seen: &Seen) {
    let client = reqwest::Client::new();
    let crypt = wecom_callback::MsgCrypt::new(
        "QDG6eK",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "wx5823bf96d3bd56c7",
    )
    .unwrap();
    let xml =
        wecom_callback::testing::fixture("change_external_contact__add_external_contact").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let sealed = seal_post(&crypt, xml.as_bytes(), &now, "1", [b'a'; 16]).unwrap();
    let r = client
        .post(format!(
            "{base}/wecom/callback/contacts?{}",
            sealed.query.to_query_string()
        ))
        .body(sealed.body.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // A self-built app's reply: an empty body, with no content type to label it.
    assert_eq!(r.headers().get("content-type"), None);
    assert_eq!(r.text().await.unwrap(), "");
    for _ in 0..500 {
        if !seen.0.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        *seen.0.lock().unwrap(),
        ["change_external_contact/add_external_contact"]
    );

    let get = |path: &str| client.get(format!("{base}{path}")).send();
    let r = get("/").await.unwrap();
    assert_eq!(r.text().await.unwrap(), "my service");
    let r = get("/nothing/here").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "my own 404");
    let r = client
        .post(format!("{base}/upload"))
        .body(vec![b'x'; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "100000 bytes");

    let r = get("/wecom/nothing").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "no such callback path");
    let r = client
        .post(format!("{base}/wecom/callback/contacts?a=b"))
        .body(vec![b'x'; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        413,
        "the callback's own limit (64 KiB) applies under /wecom"
    );

    assert_eq!(get("/healthz").await.unwrap().status(), 404);
    assert_eq!(get("/metrics").await.unwrap().status(), 404);
    assert_eq!(get("/internal/healthz").await.unwrap().status(), 200);
    let metrics = get("/internal/metrics")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("wecom_callback_callbacks_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn mounted_in_an_actix_web_app() {
    let seen = Seen::default();
    let embedded = embedded(&seen).await;
    let mounted = embedded.clone();
    let server = actix_web::HttpServer::new(move || embedding_example::actix_app(&mounted))
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let stop = server.handle();
    tokio::spawn(server);
    check(&base, &seen).await;
    stop.stop(true).await;
    assert!(embedded.handle().stop().await);
}

#[tokio::test]
async fn mounted_in_an_axum_app() {
    let seen = Seen::default();
    let embedded = embedded(&seen).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = embedding_example::axum_app(&embedded);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    check(&base, &seen).await;
    server.abort();
    assert!(embedded.handle().stop().await);
}
