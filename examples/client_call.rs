//! Calls one WeCom customer-contact endpoint with the typed client: the members who can serve
//! customers (`get_follow_user_list`).
//!
//! ```sh
//! WECOM_CORP_ID=ww0123456789abcdef WECOM_SECRET=… cargo run --example client_call
//! ```
//!
//! `WECOM_SECRET` is the 客户联系 secret, or that of a self-built app allowed to call
//! customer-contact APIs. `WECOM_BASE_URL` points the client at another host (e.g. a fake).

use wecom_callback::api::{Client, contact::GetFollowUserListRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Credentials come from the environment; the client never prints the secret.
    let corp_id = std::env::var("WECOM_CORP_ID").map_err(|_| "set WECOM_CORP_ID")?;
    let secret = std::env::var("WECOM_SECRET").map_err(|_| "set WECOM_SECRET")?;
    let mut builder = Client::builder().corp_id(corp_id).secret(secret);
    if let Ok(base_url) = std::env::var("WECOM_BASE_URL") {
        builder = builder.base_url(base_url);
    }
    let client = builder.build()?;

    // The first call fetches and caches the access token; a non-zero errcode is an error.
    let answer = client
        .get_follow_user_list(&GetFollowUserListRequest {})
        .await?;
    for userid in answer.follow_user {
        println!("{userid}");
    }
    Ok(())
}
