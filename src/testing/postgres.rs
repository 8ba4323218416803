//! A throwaway PostgreSQL database per test (or benchmark run) on the server of `DATABASE_URL`
//! (by default `postgres://postgres@127.0.0.1:5432/postgres`): created with a random name and
//! dropped when its guard goes, even when the test fails. Leftovers of runs that were killed
//! (named `wecom_test_<unix seconds>_…`) are dropped once they are an hour old.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use wecom_callback::testing::postgres::TestDatabase;
//!
//! let db = TestDatabase::create().await;
//! let config = format!("[store]\nbackend = \"postgres\"\nurl = \"{}\"", db.url());
//! # let _ = config;
//! # }
//! ```

use tokio_postgres::NoTls;

/// The server's URL (`DATABASE_URL`, or the local default), naming the database that new ones
/// are created from.
#[must_use]
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The server's `host:port` (for a proxy put in front of it).
#[must_use]
pub fn server_address() -> String {
    let config: Option<tokio_postgres::Config> = server_url().parse().ok();
    let host = match config.as_ref().and_then(|c| c.get_hosts().first()) {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config
        .and_then(|c| c.get_ports().first().copied())
        .unwrap_or(5432);
    format!("{host}:{port}")
}

/// `url` with its database name `db`, and with its host and port `127.0.0.1:port` when a
/// port is given.
fn url_to(url: &str, port: Option<u16>, db: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority = base[scheme_end..].split('/').next().unwrap_or("");
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host.to_owned()),
        None => (String::new(), authority.to_owned()),
    };
    let host = port.map_or(host, |port| format!("127.0.0.1:{port}"));
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{}{userinfo}{host}/{db}{query}", &base[..scheme_end])
}

fn unix_seconds() -> u64 {
    u64::try_from(crate::clock::now_secs()).unwrap_or(0)
}

async fn admin() -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(&server_url(), NoTls)
        .await
        .map_err(|e| format!("cannot reach the PostgreSQL server of DATABASE_URL: {e}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// A database that exists for as long as this guard.
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    /// Create a fresh, empty database.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses to create a database: a test that needs
    /// one cannot go on.
    pub async fn create() -> TestDatabase {
        match Self::try_create().await {
            Ok(db) => db,
            Err(e) => panic!("{e} (a PostgreSQL server for the tests: set DATABASE_URL)"),
        }
    }

    /// Create a fresh, empty database, or say why not.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses to create a database.
    pub async fn try_create() -> Result<TestDatabase, String> {
        let client = admin().await?;
        let old = client
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'wecom\\_test\\_%'",
                &[],
            )
            .await
            .map_err(|e| format!("cannot list the test databases: {e}"))?;
        let hour_ago = unix_seconds().saturating_sub(3600);
        for row in old {
            let name: String = row.get(0);
            let born = name
                .split('_')
                .nth(2)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            if born < hour_ago {
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            }
        }
        let name = format!(
            "wecom_test_{}_{:016x}",
            unix_seconds(),
            rand::random::<u64>()
        );
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| format!("cannot create a test database: {e}"))?;
        Ok(TestDatabase { name })
    }

    /// Its connection URL.
    #[must_use]
    pub fn url(&self) -> String {
        url_to(&server_url(), None, &self.name)
    }

    /// A plain connection to it (another session, beside the store's own), driven on a task.
    ///
    /// # Panics
    /// When it cannot connect: a test that needs one cannot go on.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url(), NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"));
        tokio::spawn(connection);
        client
    }

    /// Its connection URL through a proxy listening on `127.0.0.1:port`.
    #[must_use]
    pub fn url_via(&self, port: u16) -> String {
        url_to(&server_url(), Some(port), &self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside or outside a runtime, and while panicking: use a thread of its
        // own with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(client) = admin().await {
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = dropped.join();
    }
}

#[cfg(test)]
mod tests {
    use super::url_to;

    #[test]
    fn replaces_the_database_name_and_the_address() {
        assert_eq!(
            url_to("postgres://u:p@h:5/postgres?sslmode=disable", None, "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(url_to("postgres://h", None, "x"), "postgres://h/x");
        assert_eq!(
            url_to("postgres://u@h:5/postgres", Some(7), "x"),
            "postgres://u@127.0.0.1:7/x"
        );
    }
}
