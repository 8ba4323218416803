//! What an answer means: turns what came back from the public URL (the service, or whatever
//! stands in front of it) into "passed" or a cause and its fix, in the words of someone setting
//! up the WeCom console. Pure — no I/O — so every case is unit-tested.
//!
//! The refusals of the service itself (architecture §3.3) are read like this: 401 is the
//! signature (the Token), 400 after a signed request is "it does not decrypt" (the
//! EncodingAESKey or the CorpID / receive id). Older servers answer a specific reason instead of
//! the uniform `undecryptable`; a 401 naming the receive id is read as the latter too.

use std::time::Duration;

/// What came back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The `Location` of a redirect, if any.
    pub location: Option<String>,
    /// The body (as much of it as was read), lossily decoded.
    pub body: String,
    /// From sending the request to the end of the body.
    pub elapsed: Duration,
}

/// A failed check: what went wrong, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    /// What went wrong.
    pub cause: String,
    /// What to do.
    pub fix: String,
}

impl Failure {
    fn new(cause: impl Into<String>, fix: impl Into<String>) -> Self {
        Failure {
            cause: cause.into(),
            fix: fix.into(),
        }
    }
}

/// How the service refused a signed request. The verification is then retried with an echostr
/// that no proxy can rewrite, which tells a rewritten query apart from a wrong secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// 401: the signature does not match.
    Signature,
    /// 400 after the signature (or 401 naming the receive id): it does not decrypt.
    Undecryptable,
    /// 401 naming the timestamp: the clocks differ.
    Timestamp,
    /// 400 naming a query parameter: the query arrived without what was sent.
    Query,
}

/// The verdict on one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// What WeCom expects.
    Pass,
    /// The service refused the signed request (with what it said, shortened).
    Refused(Refusal, String),
    /// Anything else that is wrong.
    Fail(Failure),
}

/// What the diagnosis needs to know about the configuration, for its fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Setting {
    /// The app's name in the config.
    pub app: String,
    /// The app's configured `path`.
    pub path: String,
    /// The path of the public URL.
    pub url_path: String,
}

/// Which request an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Request {
    /// The GET URL verification.
    Verification,
    /// The POSTed test callback.
    Callback,
}

/// How long WeCom waits for the URL verification (then the console says 回调地址请求不通过).
pub(super) const VERIFICATION_LIMIT: Duration = Duration::from_secs(1);
/// How long WeCom waits for the answer to a callback before it drops it and retries.
pub(super) const CALLBACK_LIMIT: Duration = Duration::from_secs(5);

/// The verdict on the answer to the GET URL verification whose echostr was `echostr` and
/// decrypts to `expected`.
pub(super) fn verification(
    answer: &Answer,
    expected: &str,
    echostr: &str,
    setting: &Setting,
) -> Verdict {
    if let Some(verdict) = not_ok(answer, Request::Verification, setting) {
        return verdict;
    }
    let body = answer.body.as_str();
    let failure = if body == expected {
        match answer.content_type.as_deref() {
            Some(kind) if !kind.trim_start().starts_with("text/plain") => Failure::new(
                format!("answered the echostr as {kind}, not as plain text"),
                "answer the bare decrypted echostr with Content-Type: text/plain",
            ),
            _ => return slow(answer, Request::Verification).map_or(Verdict::Pass, Verdict::Fail),
        }
    } else if body.is_empty() {
        Failure::new(
            format!(
                "answered {} with an empty body instead of the decrypted echostr",
                answer.status
            ),
            "the GET is not handled as URL verification: make sure it reaches wecom-callback \
             (not another application at this address)",
        )
    } else if body == echostr {
        Failure::new(
            "answered the echostr itself, not its decryption",
            "whatever answers here echoes the query; let wecom-callback answer this path",
        )
    } else if body.trim() == expected {
        Failure::new(
            format!(
                "the answer has extra whitespace around the echostr ({})",
                preview(body)
            ),
            "answer exactly the decrypted echostr: WeCom compares it byte for byte (a proxy or \
             middleware added a newline or spaces)",
        )
    } else if body.contains(expected) {
        Failure::new(
            format!(
                "the echostr is wrapped (in quotes, JSON or markup): {}",
                preview(body)
            ),
            "answer the bare decrypted echostr as text/plain, nothing around it",
        )
    } else {
        Failure::new(
            format!(
                "answered {} with something other than the decrypted echostr: {}",
                answer.status,
                preview(body)
            ),
            "make sure the URL reaches wecom-callback, which answers the bare decrypted echostr",
        )
    };
    Verdict::Fail(failure)
}

/// The verdict on the answer to the POSTed test callback.
pub(super) fn callback(answer: &Answer, setting: &Setting) -> Verdict {
    if let Some(verdict) = not_ok(answer, Request::Callback, setting) {
        return verdict;
    }
    slow(answer, Request::Callback).map_or(Verdict::Pass, Verdict::Fail)
}

/// The failure when `answer` came back correct but later than WeCom waits.
fn slow(answer: &Answer, request: Request) -> Option<Failure> {
    let limit = match request {
        Request::Verification => VERIFICATION_LIMIT,
        Request::Callback => CALLBACK_LIMIT,
    };
    (answer.elapsed > limit).then(|| {
        Failure::new(
            format!(
                "the answer was right but took {:.2} s; WeCom waits at most {} s (回调地址请求不通过)",
                answer.elapsed.as_secs_f64(),
                limit.as_secs()
            ),
            "wecom-callback answers in milliseconds, so the time goes elsewhere: a slow proxy, a \
             cold start, DNS lookups at the proxy, or a server far from WeCom; answer from a \
             warm server close to mainland China",
        )
    })
}

/// The verdict for every answer that is not a plain `200` (and for a `200` HTML page), or
/// `None` when the answer's content decides.
fn not_ok(answer: &Answer, request: Request, setting: &Setting) -> Option<Verdict> {
    let status = answer.status;
    let html = is_html(answer);
    let fail = |cause: String, fix: String| Some(Verdict::Fail(Failure::new(cause, fix)));
    match status {
        300..=399 => fail(
            format!(
                "redirected ({status}) to {}",
                answer.location.as_deref().unwrap_or("another URL")
            ),
            "WeCom does not follow redirects: enter the final URL in the console (often the \
             https:// one), or stop the proxy from redirecting this path"
                .to_owned(),
        ),
        404 => fail(
            format!("nothing answers at this path (404){}", html_note(html)),
            format!(
                "make the URL's path reach apps.{}.path ({}); this URL's path is {}: fix the \
                 URL in the console, or the proxy's location for it",
                setting.app, setting.path, setting.url_path
            ),
        ),
        405 => fail(
            format!(
                "the {} method is refused at this path (405){}",
                method(request),
                html_note(html)
            ),
            "whatever answers here is not wecom-callback, or a proxy allows only some methods: \
             forward GET and POST to the service"
                .to_owned(),
        ),
        413 => fail(
            "the callback's body was refused as too large (413)".to_owned(),
            "raise the proxy's body limit (nginx client_max_body_size) to the service's \
             server.max_body_bytes (64 KiB by default)"
                .to_owned(),
        ),
        502 | 504 => fail(
            format!(
                "the proxy could not get an answer from the service ({status}{})",
                if status == 502 {
                    " Bad Gateway"
                } else {
                    " Gateway Timeout"
                }
            ),
            "start wecom-callback and check the proxy's upstream address (proxy_pass) matches \
             server.listen"
                .to_owned(),
        ),
        503 => fail(
            "the server is unavailable (503): wecom-callback answers 503 when its store cannot \
             take the event (it never acknowledges what it cannot keep); a proxy answers 503 \
             when it has no healthy upstream"
                .to_owned(),
            "check GET /healthz on the service and its log for store errors (disk full, \
             read-only path, database down), then the proxy's upstream"
                .to_owned(),
        ),
        500..=599 => fail(
            format!("the server failed ({status}){}", html_note(html)),
            "read the service's log (and the proxy's error log) at the time of this check"
                .to_owned(),
        ),
        _ if html => fail(
            format!(
                "answered an HTML page ({status}, {}): a proxy's error page or a login page, \
                 not wecom-callback",
                preview(&answer.body)
            ),
            "make the proxy pass this path straight to wecom-callback, with no login, WAF or \
             error page in between"
                .to_owned(),
        ),
        401 | 400 => Some(Verdict::Refused(
            refusal(status, &answer.body),
            preview(&answer.body),
        )),
        403 => fail(
            "refused (403 Forbidden) before reaching wecom-callback".to_owned(),
            "something in front refuses WeCom (an IP allow-list, a WAF, basic auth): let \
             WeCom's requests to this path through"
                .to_owned(),
        ),
        200 => None,
        _ => fail(
            format!(
                "answered {status} instead of 200: {}",
                preview(&answer.body)
            ),
            "WeCom accepts only 200: make sure the URL reaches wecom-callback".to_owned(),
        ),
    }
}

/// Which refusal a `400`/`401` from the service is.
fn refusal(status: u16, body: &str) -> Refusal {
    let said = body.to_ascii_lowercase();
    if said.contains("receive id") {
        Refusal::Undecryptable
    } else if said.contains("timestamp") && status == 401 {
        Refusal::Timestamp
    } else if status == 401 {
        Refusal::Signature
    } else if said.contains("query parameter") || said.contains("escape") {
        Refusal::Query
    } else {
        Refusal::Undecryptable
    }
}

/// The failure for a refusal that the retry with a plain echostr did not explain away.
pub(super) fn refused(refusal: Refusal, said: &str, setting: &Setting) -> Failure {
    let app = &setting.app;
    match refusal {
        Refusal::Signature => Failure::new(
            format!(
                "wrong Token: the server refuses the signature made with this config's Token \
                 (401 {said})"
            ),
            format!(
                "the running service has a different Token: give it apps.{app}.token exactly as \
                 the console shows it (客户联系 → API → 接收事件服务器), check ${{WECOM_TOKEN}} in \
                 its environment, and restart it"
            ),
        ),
        Refusal::Undecryptable => Failure::new(
            format!(
                "the Token matched, but the EncodingAESKey or the CorpID (receive_id) differs: \
                 the server cannot decrypt what this config encrypts ({said})"
            ),
            format!(
                "give the running service apps.{app}.encoding_aes_key and apps.{app}.corp_id \
                 (or receive_id) exactly as the console shows them (the key of the same \
                 接收事件服务器 as the Token, the CorpID from 我的企业 → 企业信息), and restart it"
            ),
        ),
        Refusal::Timestamp => Failure::new(
            format!("the server refuses the current time as too far off ({said})"),
            "the server's clock is wrong: enable NTP time sync (timedatectl set-ntp true)"
                .to_owned(),
        ),
        Refusal::Query => Failure::new(
            format!("the query string arrived without what was sent ({said})"),
            "make the proxy forward the query string untouched (nginx: proxy_pass without a \
             URI part, no rewrite of $args)"
                .to_owned(),
        ),
    }
}

/// The failure when the verification with `+`, `/` and `=` in its echostr was refused but the
/// one with letters and digits only passed.
pub(super) fn rewritten_query(said: &str) -> Failure {
    Failure::new(
        format!(
            "a proxy rewrote the query string on the way: an echostr with +, / and = was \
             refused ({said}), the same check with letters and digits only passed; WeCom's \
             echostr has them, so WeCom would fail (回调地址请求不通过)"
        ),
        "forward the query string untouched: nginx proxy_pass without a URI part \
         (proxy_pass http://127.0.0.1:8080;) keeps $request_uri as sent; no rewrite or \
         re-encoding of %2B, %2F, %3D",
    )
}

/// What a failed connection or exchange means. Returns whether it is a TLS problem (so the
/// caller names the TLS step) and the failure.
pub(super) fn transport(
    timed_out: bool,
    chain: &str,
    host: &str,
    waited: Duration,
) -> (bool, Failure) {
    let lower = chain.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        return (
            true,
            Failure::new(
                format!("TLS certificate problem: {}", shorten(chain, 160)),
                format!(
                    "install a certificate for {host} from a public CA (not self-signed), \
                     unexpired, with its full chain (fullchain.pem in nginx's ssl_certificate)"
                ),
            ),
        );
    }
    if lower.contains("invalidcontenttype")
        || lower.contains("corrupt message")
        || lower.contains("wrong version")
    {
        return (
            true,
            Failure::new(
                "the https:// port answers plain HTTP, not TLS",
                "terminate TLS on this port (nginx: listen 443 ssl) or use an http:// URL",
            ),
        );
    }
    if lower.contains("handshake") || lower.contains("alert") || lower.contains("tls") {
        return (
            true,
            Failure::new(
                format!("the TLS handshake failed: {}", shorten(chain, 160)),
                "enable TLS 1.2 or 1.3 with common ciphers, and a certificate for this host",
            ),
        );
    }
    if timed_out {
        return (
            false,
            Failure::new(
                format!("no answer within {} s", waited.as_secs()),
                "the request got in but nothing answered: check the proxy's upstream and the \
                 service's log",
            ),
        );
    }
    (
        false,
        Failure::new(
            format!("the request failed: {}", shorten(chain, 160)),
            "check that the service (or its proxy) is running and reachable",
        ),
    )
}

/// `GET` or `POST`.
fn method(request: Request) -> &'static str {
    match request {
        Request::Verification => "GET",
        Request::Callback => "POST",
    }
}

/// Whether the answer is an HTML page: by its type, or by a body that starts with `<`.
fn is_html(answer: &Answer) -> bool {
    answer
        .content_type
        .as_deref()
        .is_some_and(|kind| kind.to_ascii_lowercase().contains("html"))
        || answer.body.trim_start().starts_with('<')
}

fn html_note(html: bool) -> &'static str {
    if html {
        ", with an HTML page: a proxy or another site answered"
    } else {
        ""
    }
}

/// The body on one short line, quoted, for a message.
pub(super) fn preview(body: &str) -> String {
    let line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("{:?}", shorten(line.trim_end(), 80))
}

/// `text` cut to at most `max` characters, with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting() -> Setting {
        Setting {
            app: "contacts".into(),
            path: "/callback/contacts".into(),
            url_path: "/callback/contact".into(),
        }
    }

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        Answer {
            status,
            content_type: Some(content_type.to_owned()).filter(|c| !c.is_empty()),
            location: None,
            body: body.to_owned(),
            elapsed: Duration::from_millis(5),
        }
    }

    fn cause(verdict: Verdict) -> String {
        match verdict {
            Verdict::Fail(failure) => failure.cause,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn the_bare_echostr_as_plain_text_passes() {
        let ok = answer(200, "text/plain", "123456");
        assert_eq!(
            verification(&ok, "123456", "ENC", &setting()),
            Verdict::Pass
        );
        let untyped = answer(200, "", "123456");
        assert_eq!(
            verification(&untyped, "123456", "ENC", &setting()),
            Verdict::Pass
        );
    }

    #[test]
    fn wrong_answers_to_the_verification_are_named() {
        let check = |a: Answer| cause(verification(&a, "123456", "ENC+/=", &setting()));
        assert!(check(answer(200, "text/plain", "123456\n")).contains("whitespace"));
        assert!(check(answer(200, "text/plain", "\"123456\"")).contains("wrapped"));
        assert!(
            check(answer(200, "application/json", r#"{"echostr":"123456"}"#)).contains("wrapped")
        );
        assert!(check(answer(200, "application/json", "123456")).contains("not as plain text"));
        assert!(check(answer(200, "text/plain", "ENC+/=")).contains("echostr itself"));
        assert!(check(answer(200, "text/plain", "")).contains("empty body"));
        assert!(check(answer(200, "text/plain", "success")).contains("something other"));
        assert!(check(answer(200, "text/html", "<html>login</html>")).contains("HTML page"));
        assert!(check(answer(200, "", " <!DOCTYPE html><p>")).contains("HTML page"));
    }

    #[test]
    fn statuses_are_named_with_their_fix() {
        let s = setting();
        let fail = |a: Answer| match callback(&a, &s) {
            Verdict::Fail(failure) => failure,
            other => panic!("{other:?}"),
        };
        let missing = fail(answer(404, "text/plain", "no such callback path"));
        assert!(missing.cause.contains("404") && missing.fix.contains("/callback/contacts"));
        assert!(fail(answer(405, "", "")).cause.contains("POST"));
        assert!(
            fail(answer(413, "", ""))
                .fix
                .contains("client_max_body_size")
        );
        assert!(
            fail(answer(502, "text/html", "<html>"))
                .cause
                .contains("Bad Gateway")
        );
        assert!(
            fail(answer(503, "text/plain", "store unavailable, retry later"))
                .cause
                .contains("store")
        );
        assert!(fail(answer(500, "", "")).cause.contains("500"));
        assert!(fail(answer(403, "", "")).cause.contains("403"));
        assert!(
            fail(answer(401, "text/html", "<html>sign in</html>"))
                .cause
                .contains("HTML")
        );
        let mut moved = answer(301, "", "");
        moved.location = Some("https://example.com/callback/contacts".into());
        assert!(
            fail(moved)
                .cause
                .contains("https://example.com/callback/contacts")
        );
    }

    #[test]
    fn refusals_of_the_service_are_told_apart() {
        let s = setting();
        let refused_as =
            |status, body: &str| match callback(&answer(status, "text/plain", body), &s) {
                Verdict::Refused(refusal, _) => refusal,
                other => panic!("{other:?}"),
            };
        assert_eq!(refused_as(401, "signature mismatch"), Refusal::Signature);
        assert_eq!(
            refused_as(401, "receive id ww1 does not match ww2"),
            Refusal::Undecryptable
        );
        assert_eq!(refused_as(400, "undecryptable"), Refusal::Undecryptable);
        assert_eq!(
            refused_as(400, "padding byte 0 is not in 1..=32"),
            Refusal::Undecryptable
        );
        assert_eq!(
            refused_as(401, "timestamp outside tolerance"),
            Refusal::Timestamp
        );
        assert_eq!(
            refused_as(400, "missing query parameter echostr"),
            Refusal::Query
        );
        assert!(
            refused(Refusal::Signature, "\"x\"", &s)
                .cause
                .starts_with("wrong Token")
        );
        assert!(
            refused(Refusal::Undecryptable, "\"x\"", &s)
                .cause
                .contains("EncodingAESKey or the CorpID")
        );
    }

    #[test]
    fn slow_but_right_answers_fail() {
        let mut late = answer(200, "text/plain", "123456");
        late.elapsed = Duration::from_millis(1500);
        let failure = cause(verification(&late, "123456", "E", &setting()));
        assert!(
            failure.contains("took 1.50 s") && failure.contains("at most 1 s"),
            "{failure}"
        );
        assert_eq!(
            callback(&late, &setting()),
            Verdict::Pass,
            "a callback may take up to 5 s"
        );
    }

    #[test]
    fn transport_failures_name_tls_problems() {
        let wait = Duration::from_secs(10);
        let (tls, failure) = transport(
            false,
            "error sending request: invalid peer certificate: UnknownIssuer",
            "example.com",
            wait,
        );
        assert!(tls && failure.cause.starts_with("TLS certificate problem"));
        assert!(failure.fix.contains("example.com"));
        let (tls, failure) = transport(
            false,
            "received corrupt message of type InvalidContentType",
            "h",
            wait,
        );
        assert!(tls && failure.cause.contains("plain HTTP"));
        let (tls, failure) = transport(true, "operation timed out", "h", wait);
        assert!(!tls && failure.cause.contains("no answer within 10 s"));
    }

    #[test]
    fn previews_are_short_single_lines() {
        let long = format!("line one\nline two {}", "x".repeat(100));
        let shown = preview(&long);
        assert!(
            !shown.contains('\n') && shown.chars().count() < 90,
            "{shown}"
        );
    }
}
