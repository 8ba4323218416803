//! Logging: the `tracing` subscriber the binary installs, and [`Escaped`] for values that come
//! from outside (a request's query, a handler's error text) so they cannot forge log lines.

use std::fmt;
use std::io::IsTerminal;

use crate::config::{LogConfig, LogFormat};

/// Install the `tracing` subscriber from `[log]` (`RUST_LOG` wins). Logs go to stderr, without
/// colour codes when stderr is not a terminal.
pub fn init(config: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// A string shown with control characters (newlines, escape codes) escaped as `\n`, `\u{1b}`,
/// and cut at 200 characters: one log line stays one line.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 200;
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX {
                return f.write_str("…");
            }
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn control_characters_cannot_break_the_line() {
        let shown = Escaped("a\nINFO forged\u{1b}[31m").to_string();
        assert_eq!(shown, "a\\nINFO forged\\u{1b}[31m");
        assert_eq!(Escaped(&"x".repeat(300)).to_string().chars().count(), 201);
    }
}
