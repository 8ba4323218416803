//! `api`: call one WeCom external-contact method by name and print WeCom's answer as received.
//!
//! Standard output is the answer object, every field — pretty-printed for a terminal, one
//! compact line otherwise (for `jq` and scripts). With `--all` it is one compact JSON line per
//! item across every page, with a progress line on stderr when stderr is a terminal.

use std::io::IsTerminal;
use std::path::Path;

use futures::TryStreamExt;
use serde_json::Value;

use super::{CliError, CliResult};
use crate::service::Service;

/// What `api` was asked to do.
pub(crate) struct ApiArgs<'a> {
    /// The config file.
    pub config: &'a Path,
    /// `--app`.
    pub app: Option<&'a str>,
    /// `--list`: print the method names.
    pub list: bool,
    /// `--all`: walk every page.
    pub all: bool,
    /// The method name.
    pub method: Option<&'a str>,
    /// The request as JSON (`-` reads stdin).
    pub json: Option<&'a str>,
}

/// `api --config F --app NAME [--all] METHOD [JSON]`, or `api --list`.
pub(crate) fn run(args: ApiArgs<'_>) -> CliResult {
    if args.list {
        for name in crate::api::METHODS {
            out!("{name}");
        }
        return Ok(());
    }
    let method = args
        .method
        .ok_or_else(|| CliError::new("name a method (see api --list)"))?;
    let json = match args.json {
        Some("-") => {
            let bytes = super::read_input(None)?;
            String::from_utf8(bytes).map_err(|_| CliError::new("stdin: not utf-8"))?
        }
        Some(text) => text.to_owned(),
        None => "{}".to_owned(),
    };
    if args.all {
        // Refuse a method without pages (or a bad request) before loading the config.
        crate::api::first_page_request(method, &json)?;
    } else {
        crate::api::request_json(method, &json)?;
    }
    let (config, index) = super::load_app(args.config, args.app, crate::config::Uses::Everything)?;
    let app = &config.apps[index];
    let runtime = super::runtime_on_this_thread()?;
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
    runtime.block_on(async {
        if args.all {
            print_every_item(&client, method, &json).await
        } else {
            let answer = crate::api::call_by_name(&client, method, &json).await?;
            print_answer(&answer)
        }
    })
}

/// Prints one answer: pretty for a terminal, one compact line otherwise.
fn print_answer(answer: &Value) -> CliResult {
    let text = if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(answer)?
    } else {
        serde_json::to_string(answer)?
    };
    out!("{text}");
    Ok(())
}

/// Walks every page of `method` and prints each item as one compact JSON line.
async fn print_every_item(client: &crate::api::Client, method: &str, json: &str) -> CliResult {
    let progress = std::io::stderr().is_terminal();
    let pages = crate::api::pages_by_name(client, method, json)?;
    let mut pages = std::pin::pin!(pages);
    let (mut page_count, mut item_count) = (0usize, 0usize);
    while let Some(items) = pages.try_next().await? {
        page_count += 1;
        item_count += items.len();
        for item in &items {
            out!("{}", serde_json::to_string(item)?);
        }
        if progress {
            eprint!("\r{method}: page {page_count}, {item_count} items");
        }
    }
    if progress {
        eprintln!();
    }
    Ok(())
}
