//! A throwaway database for each test on the test server (`DATABASE_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres`): created with a random name, dropped when the
//! guard goes, even when the test fails. Leftovers of runs that were killed (named
//! `wecom_test_<unix seconds>_…`) are dropped once they are an hour old.

use tokio_postgres::NoTls;

/// The server the tests use, and the database to connect to for creating others.
fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `name`.
fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_at = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_at..].find('/') {
        Some(slash) => &base[..authority_at + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

fn unix_seconds() -> u64 {
    u64::try_from(crate::clock::now_secs()).unwrap_or(0)
}

async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), NoTls)
        .await
        .expect("a PostgreSQL server for the tests (set DATABASE_URL)");
    tokio::spawn(connection);
    client
}

/// A database that exists for as long as this guard.
pub(crate) struct TestDb {
    /// Its connection URL.
    pub(crate) url: String,
    name: String,
}

impl TestDb {
    /// Create a fresh, empty database.
    pub(crate) async fn create() -> TestDb {
        let client = admin().await;
        let old = client
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'wecom\\_test\\_%'",
                &[],
            )
            .await
            .expect("list test databases");
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
            .expect("create a test database");
        TestDb {
            url: with_dbname(&server_url(), &name),
            name,
        }
    }
}

impl Drop for TestDb {
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
                let client = admin().await;
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        });
        let _ = dropped.join();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::with_dbname("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(super::with_dbname("postgres://h", "x"), "postgres://h/x");
    }
}
