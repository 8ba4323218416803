//! The commands that need no server: `parse`, `decrypt`, `seal`, `check-config`.

use std::path::Path;

use super::{CliError, CliResult, load_app, read_input};
use crate::callback::{self, CallbackQuery};
use crate::config::{AppConfig, Config};
use crate::event::Event;

fn print_event(text: &str, origin: &str) -> CliResult {
    let event = Event::parse(text).map_err(|e| CliError::new(format!("{origin}: {e}")))?;
    let line = serde_json::to_string(&event)?;
    out!("{line}");
    Ok(())
}

fn utf8(bytes: Vec<u8>, origin: &str) -> Result<String, CliError> {
    String::from_utf8(bytes).map_err(|_| CliError::new(format!("{origin}: not utf-8")))
}

/// `parse [FILE…]`.
pub(crate) fn parse(files: &[std::path::PathBuf]) -> CliResult {
    if files.is_empty() {
        let text = utf8(read_input(None)?, "stdin")?;
        return print_event(&text, "stdin");
    }
    for file in files {
        let origin = file.display().to_string();
        let text = utf8(read_input(Some(file))?, &origin)?;
        print_event(&text, &origin)?;
    }
    Ok(())
}

/// `decrypt --config F --app NAME --query Q [FILE]`.
pub(crate) fn decrypt(
    config: &Path,
    app: Option<&str>,
    query: &str,
    file: Option<&Path>,
) -> CliResult {
    let (config, index) = load_app(config, app, crate::config::Uses::Callbacks)?;
    let crypt = config.apps[index].msg_crypt()?;
    // An old capture is decrypted whatever its timestamp; every cause is shown in full.
    let window = callback::TimestampWindow::OFF;
    let detail = |e: callback::CallbackError| CliError::new(e.detail());
    let query = CallbackQuery::parse(query.trim_start_matches('?')).map_err(detail)?;
    if query.echostr.is_some() {
        let plain = callback::open_get(&crypt, &query, window).map_err(detail)?;
        out!("{plain}");
        return Ok(());
    }
    let body = read_input(file)?;
    let plain = callback::open_post(&crypt, &query, &body, window).map_err(detail)?;
    print_event(&plain, "decrypted plaintext")
}

/// Arguments of `seal`.
pub(crate) struct SealArgs<'a> {
    pub config: &'a Path,
    pub app: Option<&'a str>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub verify: bool,
    pub send: Option<&'a str>,
    pub file: Option<&'a Path>,
}

/// `seal --config F --app NAME [--timestamp T] [--nonce N] [--verify] [--send URL] [FILE]`.
pub(crate) fn seal(args: SealArgs<'_>) -> CliResult {
    let (config, index) = load_app(args.config, args.app, crate::config::Uses::Callbacks)?;
    let app: &AppConfig = &config.apps[index];
    let crypt = app.msg_crypt()?;
    let input = read_input(args.file)?;
    let had_input = !input.is_empty();
    let plaintext = if args.verify {
        echostr(input)
    } else {
        callback_plaintext(input)
    };
    if plaintext.is_empty() {
        let source = args
            .file
            .map_or_else(|| "stdin".to_owned(), |f| f.display().to_string());
        let holds = if had_input {
            "holds only a line ending"
        } else {
            "is empty"
        };
        return Err(CliError::new(format!(
            "nothing to seal: {source} {holds} (the plaintext to encrypt; with --verify, the echostr)"
        )));
    }
    let mut rng = rand::thread_rng();
    let timestamp = args
        .timestamp
        .unwrap_or_else(|| crate::clock::now_secs().to_string());
    let nonce = args.nonce.unwrap_or_else(|| {
        (rand::Rng::gen_range(&mut rng, 100_000_000u64..10_000_000_000)).to_string()
    });
    let random = crate::crypto::random_prefix(&mut rng);
    let sealed = if args.verify {
        callback::seal_get(&crypt, &plaintext, &timestamp, &nonce, random)?
    } else {
        callback::seal_post(&crypt, &plaintext, &timestamp, &nonce, random)?
    };
    let query = sealed.query.to_query_string();
    match args.send {
        None => {
            out!("{query}");
            if let Some(body) = &sealed.body {
                out!("{body}");
            }
            Ok(())
        }
        Some(url) => send(url, &query, sealed.body),
    }
}

/// The echostr to seal for `seal --verify`: the input without the line ending a shell's `echo`
/// or an editor adds. One the server would not take back (it answers only a short printable
/// token — WeCom sends a random number) is still sealed, to test that refusal, with a warning
/// that says so before the 400 does.
fn echostr(mut input: Vec<u8>) -> Vec<u8> {
    if input.ends_with(b"\n") {
        input.pop();
        if input.ends_with(b"\r") {
            input.pop();
        }
    }
    let token = std::str::from_utf8(&input).unwrap_or("");
    if !input.is_empty() && !callback::looks_like_echostr(token) {
        eprintln!(
            "warning: not an echostr the server answers: it takes back only 1 to 128 printable \
             ASCII characters without spaces, quotes or markup (WeCom sends a random number)"
        );
    }
    input
}

/// The callback XML to seal for a POST. One the server would not take (not UTF-8, or not an
/// event it can parse — a golden `.json` picked for its `.xml`, say) is still sealed, to test
/// that refusal, with a warning naming why before the server's uniform 400 `undecryptable`.
fn callback_plaintext(input: Vec<u8>) -> Vec<u8> {
    if input.is_empty() {
        return input;
    }
    let refused = match std::str::from_utf8(&input) {
        Ok(text) => crate::event::Event::parse(text)
            .err()
            .map(|e| e.to_string()),
        Err(_) => Some("it is not UTF-8".to_owned()),
    };
    if let Some(why) = refused {
        eprintln!(
            "warning: not a callback the server takes ({why}); sealed anyway, it will answer 400"
        );
    }
    input
}

fn send(url: &str, query: &str, body: Option<String>) -> CliResult {
    let separator = if url.contains('?') { '&' } else { '?' };
    let target = format!("{url}{separator}{query}");
    let runtime = super::runtime_on_this_thread()?;
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        let request = match body {
            Some(body) => client
                .post(&target)
                .header("content-type", "text/xml")
                .body(body),
            None => client.get(&target),
        };
        let response = request
            .send()
            .await
            .map_err(|e| CliError::new(format!("cannot reach {url}: {}", e.without_url())))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        out!("{} {}", status.as_u16(), text.trim_end());
        if status.is_success() {
            Ok(())
        } else {
            Err(CliError::new(format!("server answered {status}")))
        }
    })
}

/// `check-config --config F`: the config and every plug-in section (your plug-ins' tables are
/// parsed, not built), and each app's plug-ins in the order they run.
pub(crate) fn check_config(
    path: &Path,
    plugins: Vec<std::sync::Arc<dyn crate::plugins::PluginFactory>>,
) -> CliResult {
    let config = Config::load(path)?;
    let apps = crate::service::Service::new(config.clone())
        .plugins(plugins)
        .check()?;
    out!(
        "{}: ok ({} app{}; store: {})",
        path.display(),
        config.apps.len(),
        if config.apps.len() == 1 { "" } else { "s" },
        config.store.backend.as_str()
    );
    for (app, (name, plugins)) in config.apps.iter().zip(apps) {
        out!(
            "  {name} at {}: {}",
            app.path,
            if plugins.is_empty() {
                "no plug-ins".to_owned()
            } else {
                plugins.join(", ")
            }
        );
    }
    Ok(())
}
