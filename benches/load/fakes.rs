//! The far side of handlers: a fake WeCom API recording when each `send_welcome_msg` arrived,
//! and a forward target that accepts connections and never answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::{App, HttpResponse, HttpServer, web};

use super::targets::free_port;

/// Start the fake WeCom API on its own thread; returns its base URL.
pub fn wecom(arrivals: Arc<Mutex<HashMap<String, Instant>>>) -> String {
    let port = free_port();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                let arrivals = arrivals.clone();
                App::new()
                    .route(
                        "/cgi-bin/gettoken",
                        web::get().to(|| async {
                            HttpResponse::Ok().json(serde_json::json!({"errcode":0,"errmsg":"ok","access_token":"TOKEN","expires_in":7200}))
                        }),
                    )
                    .route(
                        "/cgi-bin/externalcontact/send_welcome_msg",
                        web::post().to(move |body: web::Json<serde_json::Value>| {
                            let arrivals = arrivals.clone();
                            async move {
                                let now = Instant::now();
                                if let (Some(code), Ok(mut a)) =
                                    (body.get("welcome_code").and_then(|c| c.as_str()), arrivals.lock())
                                {
                                    a.insert(code.to_owned(), now);
                                }
                                HttpResponse::Ok().json(serde_json::json!({"errcode":0,"errmsg":"ok"}))
                            }
                        }),
                    )
            })
            .workers(1)
            .bind(("127.0.0.1", port))
            .expect("bind fake api")
            .run()
            .await
            .expect("fake api");
        });
    });
    format!("http://127.0.0.1:{port}")
}

/// A TCP server that accepts and never answers; returns its address.
pub fn black_hole() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind black hole");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming().flatten() {
            held.push(socket);
        }
    });
    addr.to_string()
}
