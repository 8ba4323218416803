//! `api`: call one typed client method by name and print the JSON response.

use std::path::Path;

use super::{CliError, CliResult};
use crate::service::Service;

/// `api --config F --app NAME METHOD [JSON]`, or `api --list`.
pub(crate) fn run(
    config: &Path,
    app: Option<&str>,
    list: bool,
    method: Option<&str>,
    json: Option<&str>,
) -> CliResult {
    if list {
        for name in crate::api::METHODS {
            println!("{name}");
        }
        return Ok(());
    }
    let method = method.ok_or_else(|| CliError::new("name a method (see api --list)"))?;
    let json = match json {
        Some("-") => {
            let bytes = super::read_input(None)?;
            String::from_utf8(bytes).map_err(|_| CliError::new("stdin: not utf-8"))?
        }
        Some(text) => text.to_owned(),
        None => "{}".to_owned(),
    };
    let (config, index) = super::load_app(config, app)?;
    let app = &config.apps[index];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the runtime: {e}")))?;
    // The store's token, so that calls reuse it rather than ask gettoken each time.
    let tokens = runtime
        .block_on(Service::token_store(&config))
        .unwrap_or_else(|e| {
            eprintln!("warning: {e}; the access token is kept for this call only");
            None
        });
    let client = Service::api_client_with(&config, app, tokens)?.ok_or_else(|| {
        CliError::new(format!(
            "apps.{}.secret is not set: the API needs it",
            app.name
        ))
    })?;
    let response = runtime.block_on(crate::api::call_by_name(&client, method, &json))?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}
