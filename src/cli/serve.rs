//! `serve` and `replay`: run the service, or run plaintext events through its handlers.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{CliError, CliResult};
use crate::config::{Config, LogFormat};
use crate::dispatch::{Context, Handler};
use crate::event::Event;
use crate::service::Service;

/// Set up `tracing` from `[log]` (`RUST_LOG` wins). Logs go to stderr.
pub(crate) fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the runtime: {e}")))
}

/// `serve [--config FILE]`.
pub(crate) fn serve(config: &Path, handlers: Vec<Arc<dyn Handler>>) -> CliResult {
    let config = Config::load(config)?;
    init_logging(&config);
    runtime()?.block_on(async move {
        let mut service = Service::new(config);
        for handler in handlers {
            service = service.handler_arc(handler);
        }
        let running = service.start().await?;
        running.run_until_signal().await;
        Ok(())
    })
}

/// `replay --config F [--app NAME] FILE…`: each event through every handler of the app, once.
pub(crate) fn replay(
    config: &Path,
    app: Option<&str>,
    files: &[PathBuf],
    handlers: Vec<Arc<dyn Handler>>,
) -> CliResult {
    let (config, index) = super::offline::load_app(config, app)?;
    init_logging(&config);
    let app_name = config.apps[index].name.clone();
    runtime()?.block_on(async move {
        let mut service = Service::new(config);
        for handler in handlers {
            service = service.handler_arc(handler);
        }
        let all = service.handlers()?;
        let app_handlers = all.get(&app_name).cloned().unwrap_or_default();
        let mut failures = 0usize;
        for (i, file) in files.iter().enumerate() {
            let origin = file.display().to_string();
            let bytes = super::offline::read_input(Some(file))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| CliError::new(format!("{origin}: not utf-8")))?;
            let event = Event::parse(&text).map_err(|e| CliError::new(format!("{origin}: {e}")))?;
            let ctx = Context::new(&app_name, i as i64 + 1, app_handlers.api.clone());
            if app_handlers.handlers.is_empty() {
                println!("{origin}: {} (no handlers configured)", event.kind());
            }
            for handler in &app_handlers.handlers {
                match handler.handle(&ctx, &event).await {
                    Ok(()) => println!("{origin}: {} → {}: ok", event.kind(), handler.name()),
                    Err(e) => {
                        failures += 1;
                        println!("{origin}: {} → {}: {e}", event.kind(), handler.name());
                    }
                }
            }
        }
        if failures > 0 {
            return Err(CliError::new(format!("{failures} handler run(s) failed")));
        }
        Ok(())
    })
}
