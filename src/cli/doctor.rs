//! `doctor`: act as WeCom against the deployed public URL, using only the app's config (Token,
//! EncodingAESKey, CorpID / receive id) — never the server's logs — and say for each step
//! whether it passed or what is wrong and how to fix it.
//!
//! The steps, in order: DNS resolution, the TCP connection, TLS (for `https://`), the signed GET
//! URL verification with a fresh echostr (200 with exactly its plaintext, as plain text, within
//! 1 s), then a sealed POST of a harmless probe event. When the service refuses the
//! verification, it is retried with an echostr no proxy can rewrite (letters and digits only):
//! if that one passes, a proxy rewrote the query; if not, the secrets differ.
//!
//! Each step prints `✔ step: detail` or `✘ step: cause — fix` on stdout; the exit code is 0
//! only when WeCom would accept the URL and its callbacks.

mod diagnosis;
mod probe;
mod report;
mod target;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::redirect::Policy;

use self::diagnosis::{Answer, Failure, Setting, Verdict};
use self::probe::Shape;
use self::report::Report;
use self::target::{Host, Target};
use super::{CliError, CliResult};
use crate::crypto::MsgCrypt;

/// How long DNS and the TCP connection may take.
const CONNECT_WAIT: Duration = Duration::from_secs(5);
/// How long an HTTP exchange may take — well past WeCom's limits, so that a slow but right
/// answer is measured and named rather than cut off.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// How much of an answer's body is read.
const MAX_BODY: usize = 16 * 1024;

/// `doctor --config F [--app NAME] --url PUBLIC_URL`.
pub(crate) fn run(config: &Path, app: Option<&str>, url: &str) -> CliResult {
    let (config, index) = super::load_app(config, app, crate::config::Uses::Callbacks)?;
    let app = &config.apps[index];
    let crypt = app
        .msg_crypt()
        .map_err(|e| CliError::new(format!("apps.{}.encoding_aes_key: {e}", app.name)))?;
    let target = Target::parse(url)?;
    let setting = Setting {
        app: app.name.clone(),
        path: app.path.clone(),
        url_path: target.url.path().to_owned(),
    };
    let runtime = super::runtime_on_this_thread()?;
    let mut report = Report::default();
    runtime.block_on(check(&target, &crypt, &setting, &mut report));
    report.finish()
}

const VERIFY_STEP: &str = "URL verification (GET)";
const CALLBACK_STEP: &str = "test callback (POST)";

/// Runs every step against `target`, printing each.
async fn check(target: &Target, crypt: &MsgCrypt, setting: &Setting, report: &mut Report) {
    let Some(addresses) = resolve(target, report).await else {
        report.verification_failed = true;
        return;
    };
    if !connect(target, &addresses, report).await {
        report.verification_failed = true;
        return;
    }
    let http = match reqwest::Client::builder()
        .use_rustls_tls()
        // WeCom calls from the internet: no proxy of this machine's, no redirects, a fresh
        // connection per request.
        .no_proxy()
        .redirect(Policy::none())
        .pool_max_idle_per_host(0)
        .connect_timeout(CONNECT_WAIT)
        .timeout(ANSWER_WAIT)
        .user_agent(concat!("wecom-callback-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            report.fail(
                "HTTP client",
                &Failure {
                    cause: format!("cannot build the HTTP client: {e}"),
                    fix: "report this as a bug".to_owned(),
                },
            );
            return;
        }
    };
    match verify(&http, target, crypt, setting, report).await {
        Reached::Passed => {}
        Reached::Refused => report.verification_failed = true,
        Reached::No => {
            // The POST would go the same way: one failure is enough.
            report.verification_failed = true;
            return;
        }
    }
    post_probe(&http, target, crypt, setting, report).await;
}

/// How the verification went.
enum Reached {
    /// Answered as WeCom expects.
    Passed,
    /// Answered, but not as WeCom expects.
    Refused,
    /// No answer (TLS, timeout, connection reset).
    No,
}

/// Step 1: the host's addresses. `None` (after printing why) when it does not resolve.
async fn resolve(target: &Target, report: &mut Report) -> Option<Vec<SocketAddr>> {
    const STEP: &str = "DNS resolution";
    let name = match &target.host {
        Host::Ip(ip) => {
            report.pass(
                STEP,
                &format!(
                    "{ip} is an address, nothing to resolve{}",
                    private_note(*ip)
                ),
            );
            return Some(vec![SocketAddr::new(*ip, target.port)]);
        }
        Host::Name(name) => name,
    };
    let failure = |cause: String| Failure {
        cause,
        fix: format!(
            "give {name} an A (or AAAA) record pointing at the server's public IP, or correct \
             the URL"
        ),
    };
    match tokio::time::timeout(
        CONNECT_WAIT,
        tokio::net::lookup_host((name.as_str(), target.port)),
    )
    .await
    {
        Ok(Ok(found)) => {
            let addresses: Vec<SocketAddr> = found.collect();
            let Some(first) = addresses.first() else {
                report.fail(STEP, &failure(format!("{name} has no address")));
                return None;
            };
            let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
            report.pass(
                STEP,
                &format!("{name} → {}{}", shown.join(", "), private_note(first.ip())),
            );
            Some(addresses)
        }
        Ok(Err(e)) => {
            report.fail(STEP, &failure(format!("{name} does not resolve ({e})")));
            None
        }
        Err(_) => {
            report.fail(
                STEP,
                &failure(format!(
                    "no DNS answer for {name} within {} s",
                    CONNECT_WAIT.as_secs()
                )),
            );
            None
        }
    }
}

/// ` (a private address: …)` for addresses WeCom cannot reach from the internet.
fn private_note(ip: IpAddr) -> &'static str {
    let private = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    };
    if private {
        " (a private address: WeCom reaches only public ones, so this checks the service, not \
         what WeCom sees)"
    } else {
        ""
    }
}

/// Step 2: a TCP connection to one of the addresses.
async fn connect(target: &Target, addresses: &[SocketAddr], report: &mut Report) -> bool {
    const STEP: &str = "TCP connection";
    let mut first_failure = None;
    for address in addresses {
        let started = Instant::now();
        match tokio::time::timeout(CONNECT_WAIT, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_stream)) => {
                report.pass(
                    STEP,
                    &format!("{address} in {} ms", started.elapsed().as_millis()),
                );
                return true;
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                first_failure.get_or_insert(Failure {
                    cause: format!(
                        "connection refused at {address}: nothing listens on port {}",
                        target.port
                    ),
                    fix: "start the service (or the proxy in front of it) on that port".to_owned(),
                });
            }
            Ok(Err(e)) => {
                first_failure.get_or_insert(Failure {
                    cause: format!("cannot connect to {address}: {e}"),
                    fix: "check the server's network and firewall".to_owned(),
                });
            }
            Err(_) => {
                first_failure.get_or_insert(Failure {
                    cause: format!(
                        "no answer to the connection at {address} within {} s: a firewall drops it",
                        CONNECT_WAIT.as_secs()
                    ),
                    fix: format!(
                        "open port {} to the internet in the server's firewall and the cloud \
                         security group (安全组)",
                        target.port
                    ),
                });
            }
        }
    }
    if let Some(failure) = first_failure {
        report.fail(STEP, &failure);
    }
    false
}

/// Step 3 (and TLS): the GET URL verification, retried with a plain echostr when refused.
async fn verify(
    http: &reqwest::Client,
    target: &Target,
    crypt: &MsgCrypt,
    setting: &Setting,
    report: &mut Report,
) -> Reached {
    let mut rng = rand::thread_rng();
    let sealed = match probe::verification(crypt, unix_now(), Shape::Escaped, &mut rng) {
        Ok(sealed) => sealed,
        Err(e) => {
            report.fail(VERIFY_STEP, &internal(&e));
            return Reached::No;
        }
    };
    let answer = match exchange(http.get(target.with_query(&sealed.query))).await {
        Ok(answer) => answer,
        Err(e) => {
            transport_failure(target, VERIFY_STEP, e, report);
            return Reached::No;
        }
    };
    if target.https {
        report.pass(
            "TLS",
            &format!("the certificate is valid for {}", target.host_text()),
        );
    }
    let verdict = diagnosis::verification(&answer, &sealed.plaintext, &sealed.echostr, setting);
    let (refusal, said) = match verdict {
        Verdict::Pass => {
            report.pass(
                VERIFY_STEP,
                &format!("answered the echostr in {} ms", answer.elapsed.as_millis()),
            );
            return Reached::Passed;
        }
        Verdict::Fail(failure) => {
            report.fail(VERIFY_STEP, &failure);
            return Reached::Refused;
        }
        Verdict::Refused(refusal, said) => (refusal, said),
    };
    // Refused: was it the secrets, or did the query arrive rewritten? Ask again with an echostr
    // that has nothing to rewrite.
    let plain = probe::verification(crypt, unix_now(), Shape::Plain, &mut rng);
    let retry_passed = match plain {
        Ok(plain) => match exchange(http.get(target.with_query(&plain.query))).await {
            Ok(retry) => retry.status == 200 && retry.body == plain.plaintext,
            Err(_) => false,
        },
        Err(_) => false,
    };
    let failure = if retry_passed {
        diagnosis::rewritten_query(&said)
    } else {
        diagnosis::refused(refusal, &said, setting)
    };
    report.fail(VERIFY_STEP, &failure);
    Reached::Refused
}

/// Step 4: the sealed POST of the probe event.
async fn post_probe(
    http: &reqwest::Client,
    target: &Target,
    crypt: &MsgCrypt,
    setting: &Setting,
    report: &mut Report,
) {
    let sealed = match probe::probe(crypt, unix_now(), &mut rand::thread_rng()) {
        Ok(sealed) => sealed,
        Err(e) => {
            report.fail(CALLBACK_STEP, &internal(&e.to_string()));
            return;
        }
    };
    let request = http
        .post(target.with_query(&sealed.query))
        .header(CONTENT_TYPE, "text/xml")
        .body(sealed.body);
    let answer = match exchange(request).await {
        Ok(answer) => answer,
        Err(e) => {
            transport_failure(target, CALLBACK_STEP, e, report);
            return;
        }
    };
    match diagnosis::callback(&answer, setting) {
        Verdict::Pass => report.pass(
            CALLBACK_STEP,
            &format!(
                "the probe event was accepted ({}) in {} ms",
                answer.status,
                answer.elapsed.as_millis()
            ),
        ),
        Verdict::Fail(failure) => report.fail(CALLBACK_STEP, &failure),
        Verdict::Refused(refusal, said) => {
            report.fail(CALLBACK_STEP, &diagnosis::refused(refusal, &said, setting));
        }
    }
}

/// Reports a request that got no answer: under `TLS` when the handshake is to blame.
fn transport_failure(target: &Target, step: &str, error: reqwest::Error, report: &mut Report) {
    // The URL is left out: its query is noise here.
    let error = error.without_url();
    let (tls, failure) = diagnosis::transport(
        error.is_timeout(),
        &with_causes(&error),
        &target.host_text(),
        ANSWER_WAIT,
    );
    report.fail(if tls && target.https { "TLS" } else { step }, &failure);
}

/// Sends `request` and reads the answer (up to [`MAX_BODY`] bytes of body), timing it.
async fn exchange(request: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let started = Instant::now();
    let mut response = request.send().await?;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value: &reqwest::header::HeaderValue| value.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(CONTENT_TYPE);
    let location = header(LOCATION);
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(Answer {
        status,
        content_type,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
        elapsed: started.elapsed(),
    })
}

/// `error` and its causes on one line.
fn with_causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// A failure of doctor itself.
fn internal(what: &str) -> Failure {
    Failure {
        cause: format!("cannot build the request: {what}"),
        fix: "check apps.*.encoding_aes_key and receive_id in the config".to_owned(),
    }
}

/// The current Unix time in seconds, as WeCom signs with.
fn unix_now() -> u64 {
    u64::try_from(crate::clock::now_secs()).unwrap_or_default()
}
