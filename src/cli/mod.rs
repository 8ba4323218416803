//! The `wecom-callback` command line (architecture §3.1). Each command lives in its own module;
//! this one declares them with clap, holds the helpers they share (config and app loading, input,
//! the runtime), and turns every failure into one line on stderr and a non-zero exit code.

/// Print a line to stdout, as `println!` does, except that a closed stdout (`… | head -1`) ends
/// the command quietly with status 141, as a Unix tool killed by SIGPIPE, instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::cli::stdout_failed(&e)
        }
    }};
}

mod api;
mod doctor;
mod events;
mod offline;
mod serve;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{Config, Uses};
use crate::plugins::PluginFactory;

/// A command failure: one line for the user, and the exit code.
#[derive(Debug)]
pub struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    /// A failure with exit code 1.
    pub fn new(message: impl std::fmt::Display) -> Self {
        CliError {
            message: message.to_string(),
            code: 1,
        }
    }

    /// The line shown to the user (after `error: `).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::new(e)
    }
}

/// Result of a command.
pub type CliResult = Result<(), CliError>;

/// Receive WeCom (企业微信) customer-contact callbacks and act on them.
#[derive(Debug, Parser)]
#[command(name = "wecom-callback", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run plaintext events through the app's handlers as if received (test your plug-ins).
    ///
    /// By default the events go through intake into an in-memory store and the handlers run
    /// here, once each (no retries), and every delivery's outcome is printed. With --store they
    /// are stored in the configured store instead (duplicates recognised) and left to a
    /// running `serve` to handle.
    Replay {
        #[command(flatten)]
        app: AppArgs,
        /// Store the events in the configured store for `serve` instead of running them here.
        #[arg(long)]
        store: bool,
        /// Plaintext XML files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Inspect the store and re-run deliveries.
    Events {
        #[command(flatten)]
        config: ConfigArg,
        #[command(subcommand)]
        command: events::EventsCommand,
    },
    /// Parse plaintext callback XML (files or stdin) into one JSON line per event.
    Parse {
        /// XML files; stdin when none.
        files: Vec<PathBuf>,
    },
    /// Verify and decrypt an encrypted callback body (or a GET echostr) into its JSON line.
    Decrypt {
        #[command(flatten)]
        app: AppArgs,
        /// The callback's query string: 'msg_signature=…&timestamp=…&nonce=…[&echostr=…]'.
        #[arg(long)]
        query: String,
        /// The POST body file; stdin when absent (not read for a GET echostr).
        file: Option<PathBuf>,
    },
    /// Seal plaintext XML into a signed, encrypted callback exactly as WeCom would send it.
    Seal {
        #[command(flatten)]
        app: AppArgs,
        /// The timestamp to sign with (default: now).
        #[arg(long)]
        timestamp: Option<String>,
        /// The nonce to sign with (default: random).
        #[arg(long)]
        nonce: Option<String>,
        /// Make a GET URL verification (the plaintext becomes the echostr: a short printable
        /// token; a trailing line ending is dropped) instead of a POST.
        #[arg(long)]
        verify: bool,
        /// Send it to this URL (e.g. http://127.0.0.1:8080/callback/contacts) and print the answer.
        #[arg(long)]
        send: Option<String>,
        /// The plaintext file (callback XML; with --verify, the echostr); stdin when absent.
        /// Plaintext the server would refuse is sealed anyway, with a warning.
        file: Option<PathBuf>,
    },
    /// Call one WeCom external-contact API method and print its JSON response as received.
    Api {
        #[command(flatten)]
        app: AppArgs,
        /// List every method and exit.
        #[arg(long)]
        list: bool,
        /// Walk every page of a paged method and print one JSON line per item.
        #[arg(long, conflicts_with = "list")]
        all: bool,
        /// The method: the path after /cgi-bin/externalcontact/ with / → _ (e.g. groupchat_list).
        #[arg(required_unless_present = "list")]
        method: Option<String>,
        /// The request as JSON, with WeCom's field names ("-" reads stdin; default {}).
        json: Option<String>,
    },
    /// Act as WeCom against the public URL (DNS, connection, TLS, the signed GET URL
    /// verification, a sealed test POST) and explain each failure with its fix.
    Doctor {
        #[command(flatten)]
        app: AppArgs,
        /// The public callback URL, as entered in the console, e.g.
        /// `https://example.com/callback/contacts`.
        #[arg(long)]
        url: String,
    },
    /// Validate a config file and say what is wrong.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `--config`: the config file.
#[derive(Debug, clap::Args)]
struct ConfigArg {
    /// The config file.
    #[arg(
        long,
        global = true,
        env = "WECOM_CALLBACK_CONFIG",
        default_value = "wecom-callback.toml"
    )]
    config: PathBuf,
}

/// `--config` and `--app`, for commands that act as one app.
#[derive(Debug, clap::Args)]
struct AppArgs {
    #[command(flatten)]
    file: ConfigArg,
    /// The app (its `name` in the config); may be left out when there is only one.
    #[arg(long)]
    app: Option<String>,
}

/// Run the command line and return the process exit code.
pub fn main() -> ExitCode {
    main_with(Vec::new())
}

/// Run the command line with your own plug-ins compiled in. Each runs for the apps whose
/// config has its `[apps.plugins.<name>]` table; only `serve` and `replay` build them, after
/// the config is loaded, and `check-config` checks their tables.
///
/// ```no_run
/// # struct Greeter;
/// # impl wecom_callback::plugins::Plugin for Greeter {
/// #     type Settings = wecom_callback::config::PluginTable;
/// #     fn name(&self) -> &str { "greeter" }
/// #     fn build(&self, _: wecom_callback::config::PluginTable, _: &wecom_callback::config::AppConfig)
/// #         -> Result<std::sync::Arc<dyn wecom_callback::Handler>, String> { unimplemented!() }
/// # }
/// fn main() -> std::process::ExitCode {
///     wecom_callback::cli::main_with(vec![std::sync::Arc::new(Greeter)])
/// }
/// ```
pub fn main_with(plugins: Vec<Arc<dyn PluginFactory>>) -> ExitCode {
    let cli = Cli::parse();
    match run(cli, plugins) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// Stdout could not be written: a closed pipe ends the command quietly (status 141, as SIGPIPE
/// would), anything else with one line on stderr.
pub(crate) fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    eprintln!("error: cannot write to stdout: {e}");
    std::process::exit(1);
}

/// Run one parsed command.
///
/// # Errors
/// The command's failure, as one line.
pub fn run(cli: Cli, plugins: Vec<Arc<dyn PluginFactory>>) -> CliResult {
    match cli.command {
        Command::Serve { config } => serve::serve(&config.config, plugins),
        Command::Replay { app, store, files } => {
            serve::replay(&app.file.config, app.app.as_deref(), store, &files, plugins)
        }
        Command::Events { config, command } => events::run(&config.config, command),
        Command::Parse { files } => offline::parse(&files),
        Command::Decrypt { app, query, file } => offline::decrypt(
            &app.file.config,
            app.app.as_deref(),
            &query,
            file.as_deref(),
        ),
        Command::Seal {
            app,
            timestamp,
            nonce,
            verify,
            send,
            file,
        } => offline::seal(offline::SealArgs {
            config: &app.file.config,
            app: app.app.as_deref(),
            timestamp,
            nonce,
            verify,
            send: send.as_deref(),
            file: file.as_deref(),
        }),
        Command::Api {
            app,
            list,
            all,
            method,
            json,
        } => api::run(api::ApiArgs {
            config: &app.file.config,
            app: app.app.as_deref(),
            list,
            all,
            method: method.as_deref(),
            json: json.as_deref(),
        }),
        Command::Doctor { app, url } => doctor::run(&app.file.config, app.app.as_deref(), &url),
        Command::CheckConfig { config } => offline::check_config(&config.config, plugins),
    }
}

/// A Tokio runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(runtime_error)
}

/// A Tokio runtime on the calling thread alone, for a command that waits on one thing at a
/// time (a request, a store read).
pub(crate) fn runtime_on_this_thread() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(runtime_error)
}

fn runtime_error(e: std::io::Error) -> CliError {
    CliError::new(format!("cannot start the runtime: {e}"))
}

/// Read a file, or stdin when `path` is `None`.
pub(crate) fn read_input(path: Option<&Path>) -> Result<Vec<u8>, CliError> {
    match path {
        Some(p) => {
            std::fs::read(p).map_err(|e| CliError::new(format!("cannot read {}: {e}", p.display())))
        }
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| CliError::new(format!("cannot read stdin: {e}")))?;
            Ok(buf)
        }
    }
}

/// Load a config (the part the command `uses`) and pick the app (`--app`, or the only one).
pub(crate) fn load_app(
    config: &Path,
    app: Option<&str>,
    uses: Uses,
) -> Result<(Config, usize), CliError> {
    let config = Config::load_for(config, uses)?;
    let index = match app {
        Some(name) => {
            config.app(name)?;
            config.apps.iter().position(|a| a.name == name).unwrap_or(0)
        }
        None if config.apps.len() == 1 => 0,
        None => {
            let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
            return Err(CliError::new(format!(
                "--app is required: the config has several apps ({})",
                names.join(", ")
            )));
        }
    };
    Ok((config, index))
}
