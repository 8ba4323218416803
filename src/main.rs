//! The `wecom-callback` binary: parse the command line and hand over to [`wecom_callback::cli`].

fn main() -> std::process::ExitCode {
    wecom_callback::cli::main()
}
