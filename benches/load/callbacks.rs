//! Distinct, validly sealed add_external_contact callbacks: in memory for the steady senders,
//! and streamed to a file (one `query<TAB>body` line each) for `wrk`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use wecom_callback::MsgCrypt;
use wecom_callback::callback::seal_post;

pub const TOKEN: &str = "QDG6eK";
pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
pub const CORP_ID: &str = "wx5823bf96d3bd56c7";

/// One sealed callback and its welcome code.
#[derive(Clone)]
pub struct Sealed {
    pub query: String,
    pub body: String,
    pub welcome_code: String,
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The rate at which the events of a `wrk` file were created: their CreateTime advances one
/// second every this many callbacks, as under a real stream at about the rate `serve` reaches
/// here. (Every event of a file created in the same second would be a burst WeCom does not
/// send: 150,000 events within one second. It made every new event of the SQLite store look
/// its key up at a random place of the dedup index, and every sweep rewrite the whole index.)
const CREATED_PER_SECOND: usize = 30_000;

/// Callback number `i` of series `series` (distinct plaintexts across series), sealed now.
pub fn seal(crypt: &MsgCrypt, series: usize, i: usize) -> Sealed {
    seal_created(crypt, series, i, now())
}

/// Callback number `i` of series `series`, created at `create_time` (Unix seconds; also the
/// signature's timestamp).
fn seal_created(crypt: &MsgCrypt, series: usize, i: usize, create_time: i64) -> Sealed {
    let code = format!("WELCOME{series:02}{i:08}");
    let xml = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmLoad{series:02}{i:08}]]></ExternalUserID><State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[{code}]]></WelcomeCode></xml>"
    );
    let mut random = [b'0'; 16];
    random[..10].copy_from_slice(format!("{series:02}{i:08}").as_bytes());
    let sealed = seal_post(
        crypt,
        xml.as_bytes(),
        &create_time.to_string(),
        &i.to_string(),
        random,
    )
    .expect("seal");
    Sealed {
        query: sealed.query.to_query_string(),
        body: sealed.body.unwrap_or_default(),
        welcome_code: code,
    }
}

/// The crypt of the benchmark's app.
pub fn crypt() -> MsgCrypt {
    MsgCrypt::new(TOKEN, AES_KEY, CORP_ID).expect("crypt")
}

/// `count` callbacks of `series`, in memory.
pub fn prepare(series: usize, count: usize) -> Vec<Sealed> {
    let crypt = crypt();
    (0..count).map(|i| seal(&crypt, series, i)).collect()
}

/// `count` callbacks of `series`, created over the last `count / CREATED_PER_SECOND` seconds
/// (as a stream at full load), one at a time.
pub fn created_over_time(series: usize, count: usize) -> impl Iterator<Item = Sealed> {
    created_from(series, count, now() - span(count))
}

/// `count` callbacks of `series`, the first created at `first` (Unix seconds), one second
/// later every [`CREATED_PER_SECOND`].
fn created_from(series: usize, count: usize, first: i64) -> impl Iterator<Item = Sealed> {
    let crypt = crypt();
    (0..count)
        .map(move |i| seal_created(&crypt, series, i, first + (i / CREATED_PER_SECOND) as i64))
}

/// The seconds `count` callbacks of a stream at full load were created over.
fn span(count: usize) -> i64 {
    count.div_ceil(CREATED_PER_SECOND) as i64
}

/// `rounds` files for `wrk` in `dir` (`requests-0.txt`, …), of `count` callbacks each, series
/// `first_series`, `first_series + 1`, …: consecutive parts of one stream, each file's events
/// created after the one before's, the last ending now. A target's store keeps every round's
/// events, and in a real stream a later callback is not created before an earlier one: files
/// whose creation times overlapped made the later rounds' new events look like late ones to
/// the SQLite store (a lookup and a sweep write at a random place of its dedup index each).
pub fn write_files(dir: &Path, first_series: usize, rounds: usize, count: usize) -> Vec<PathBuf> {
    let start = now() - span(count) * rounds as i64;
    (0..rounds)
        .map(|round| {
            let path = dir.join(format!("requests-{round}.txt"));
            let first = start + span(count) * round as i64;
            write_file(&path, created_from(first_series + round, count, first));
            path
        })
        .collect()
}

/// `callbacks` written to `path` for `wrk`, one `query<TAB>body` line each.
pub fn write_file(path: &Path, callbacks: impl Iterator<Item = Sealed>) {
    let mut out = BufWriter::new(std::fs::File::create(path).expect("requests file"));
    for s in callbacks {
        writeln!(out, "{}\t{}", s.query, s.body).expect("write requests");
    }
    out.flush().expect("flush requests");
}
