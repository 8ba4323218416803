//! The PostgreSQL inbox against a real server: the contract, and what only several instances
//! on one database show.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::api::token::{AccessToken, CachedToken, TokenStore};
use crate::config::{Secret, StoreConfig};
use crate::store::contract;
use crate::testing::postgres::TestDatabase as TestDb;

fn store_config(db: &TestDb) -> StoreConfig {
    StoreConfig {
        url: Some(Secret::new(db.url())),
        ..StoreConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meets_the_inbox_contract() {
    let db = TestDb::create().await;
    let inbox = PostgresInbox::connect(&store_config(&db)).await.unwrap();
    contract::check(&inbox).await;
}

/// Instances starting together migrate once; a second start finds the schema up to date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_start_together() {
    let db = TestDb::create().await;
    let config = store_config(&db);
    let (a, b, c) = tokio::join!(
        PostgresInbox::connect(&config),
        PostgresInbox::connect(&config),
        PostgresInbox::connect(&config)
    );
    let (a, _b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    a.ping().await.unwrap();
    PostgresInbox::connect(&config).await.unwrap();
}

/// A pooled connection to `db`, as a start migrates on.
async fn migration_conn(db: &TestDb) -> deadpool_postgres::Object {
    let config = store_config(db);
    let pool = pool(pg_config(&db.url(), &config).unwrap(), &config, 1).unwrap();
    pool.get().await.unwrap()
}

/// A session of `db`'s holding the migration lock in an open transaction, as a migrating
/// instance does.
async fn hold_migration_lock(db: &TestDb) -> tokio_postgres::Client {
    let holder = db.client().await;
    holder.batch_execute("BEGIN").await.unwrap();
    holder
        .execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&LOCK_CLASS, &schema::MIGRATION_LOCK],
        )
        .await
        .unwrap();
    holder
}

/// A start waiting for the migration lock gives up, naming the holder, once the connection
/// that holds it has sat idle in its transaction for longer than the lock wait: that one is not
/// migrating. The wait is bounded although a migration's own work is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_lock_held_by_an_idle_session_is_given_up_on() {
    let db = TestDb::create().await;
    let mut conn = migration_conn(&db).await;
    let holder = hold_migration_lock(&db).await;
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        schema::migrate_waiting(&mut conn, Duration::from_millis(200)),
    )
    .await
    .expect("the wait for an idle holder is bounded");
    let error = waited.unwrap_err();
    assert!(error.0.contains("has done nothing"), "{error}");
    assert!(error.0.contains("backend"), "{error}");
    holder.batch_execute("COMMIT").await.unwrap();
    schema::migrate_waiting(&mut conn, Duration::from_millis(200))
        .await
        .unwrap();
}

/// The migration lock's holder is looked for in this database only: another deployment's
/// instance, holding its own database's lock on the same server, is not taken for ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_holder_is_looked_for_in_this_database_only() {
    let (ours, theirs) = (TestDb::create().await, TestDb::create().await);
    let holder = hold_migration_lock(&theirs).await;
    let mut conn = migration_conn(&ours).await;
    let tx = conn.transaction().await.unwrap();
    assert!(schema::migration_lock_holder(&tx).await.unwrap().is_none());
    drop(tx);
    // Theirs does not stop ours from migrating either.
    schema::migrate_waiting(&mut conn, Duration::from_millis(200))
        .await
        .unwrap();
    holder.batch_execute("COMMIT").await.unwrap();
}

/// Another instance's migration that works for longer than the lock wait (an index build on a
/// large store) is waited for, not failed on: the start migrates — or finds the work done —
/// once that one commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_waits_for_a_migration_longer_than_the_lock_wait() {
    let db = TestDb::create().await;
    let mut conn = migration_conn(&db).await;
    let holder = hold_migration_lock(&db).await;
    // The holder works (one statement of ten times the lock wait), then commits.
    let working = tokio::spawn(async move {
        holder
            .batch_execute("SELECT pg_sleep(2); COMMIT")
            .await
            .unwrap();
    });
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        schema::migrate_waiting(&mut conn, Duration::from_millis(200)),
    )
    .await
    .expect("the migration ends");
    waited.unwrap();
    assert!(
        working.is_finished(),
        "the start went on only after the holder committed"
    );
    let version: i32 = conn
        .query_one("SELECT max(version) FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(usize::try_from(version).unwrap(), schema::MIGRATIONS.len());
}

/// A database of the first schema version, holding an event, is migrated at start: a retry
/// of that event is still recognised, a new event is stored, and the old unique key is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_version_database_is_migrated_with_its_events() {
    let db = TestDb::create().await;
    let old = db.client().await;
    old.batch_execute(schema::MIGRATIONS[0]).await.unwrap();
    old.batch_execute(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);
         INSERT INTO schema_version VALUES (1);",
    )
    .await
    .unwrap();
    let stored = contract::event("app", "<old/>", None, &[], false);
    let id: i64 = old
        .query_one(
            "INSERT INTO events (app, dedup_key, kind, plaintext, received_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &&*stored.app,
                &&stored.dedup_key[..],
                &stored.kind,
                &stored.plaintext,
                &stored.received_at,
            ],
        )
        .await
        .unwrap()
        .get(0);

    let inbox = PostgresInbox::connect(&store_config(&db)).await.unwrap();
    let retry = contract::event("app", "<old/>", None, &[], false);
    assert_eq!(inbox.append(retry).await.unwrap(), Appended::Duplicate(id));
    let fresh = contract::event("app", "<new/>", None, &[], false);
    assert!(matches!(
        inbox.append(fresh).await.unwrap(),
        Appended::New { .. }
    ));
    let constraints: Vec<String> = old
        .query(
            "SELECT conname::text FROM pg_constraint WHERE conrelid = 'events'::regclass",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        constraints.contains(&"events_dedup".to_owned()),
        "{constraints:?}"
    );
    assert!(
        !constraints.contains(&"events_app_dedup_key_key".to_owned()),
        "{constraints:?}"
    );
}

/// One batch, stored in one statement: a retry of an event stored before (no new delivery), a
/// new event twice (one event), a second event of the same lane (its delivery waits for the
/// lane's head) and a delivery not wanted leased (left for any instance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_stores_a_mixed_batch() {
    let db = TestDb::create().await;
    let inbox = PostgresInbox::connect(&store_config(&db)).await.unwrap();
    let Appended::New { id: before, .. } = inbox
        .append(contract::event("app", "<before/>", Some("L"), &["h"], true))
        .await
        .unwrap()
    else {
        panic!("the first event is new");
    };
    let events = [
        contract::event("app", "<before/>", Some("L"), &["h"], true),
        contract::event("app", "<a/>", Some("M"), &["h"], true),
        contract::event("app", "<a/>", Some("M"), &["h"], true),
        contract::event("app", "<b/>", Some("M"), &["h"], true),
        contract::event("app", "<c/>", None, &["h"], false),
    ];
    let batch: Vec<&NewEvent> = events.iter().collect();
    let conn = inbox.db.conn().await.unwrap();
    let outcomes: Vec<Appended> = intake::commit(TxConn::new(conn), &inbox.owner, &batch)
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(outcomes[0], Appended::Duplicate(before));
    let Appended::New { id: a, leased } = &outcomes[1] else {
        panic!("{outcomes:?}");
    };
    assert_eq!(leased.iter().map(|d| d.event_id).collect::<Vec<_>>(), [*a]);
    assert_eq!(outcomes[2], Appended::Duplicate(*a));
    for later in &outcomes[3..] {
        assert!(
            matches!(later, Appended::New { id, leased } if id > a && leased.is_empty()),
            "{outcomes:?}"
        );
    }
    for id in [before, *a] {
        assert_eq!(inbox.deliveries(id).await.unwrap().len(), 1);
    }
}

/// Append `n` events at once, each in a lane of its own with one delivery for handler `h`.
async fn append_in_lanes(inbox: &Arc<PostgresInbox>, n: usize) {
    let appends = (0..n).map(|i| {
        let inbox = inbox.clone();
        let lane = format!("L{i}");
        let event = contract::event("app", &format!("<e{i}/>"), Some(&lane), &["h"], false);
        tokio::spawn(async move { inbox.append(event).await })
    });
    for append in futures::future::join_all(appends).await {
        append.unwrap().unwrap();
    }
}

/// The plan of `statement` with `params`, as `EXPLAIN` prints it.
async fn explain(
    conn: &deadpool_postgres::Object,
    statement: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> String {
    let rows = conn
        .query(&format!("EXPLAIN {statement}"), params)
        .await
        .unwrap();
    let lines: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    lines.join("\n")
}

/// The plan of a lease of up to 10 deliveries of handler `h` of app `app`.
async fn explain_lease(conn: &deadpool_postgres::Object) -> String {
    let now = crate::clock::now_ms();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
        [&"app", &"h", &now, &10_i64, &"me", &(now + 30_000)];
    explain(conn, leases::LEASE, &params).await
}

/// With a backlog of due deliveries, a lease walks the due index in its order and stops at
/// its limit: no sort of the whole backlog at every lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_walks_the_due_index_without_sorting_the_backlog() {
    let db = TestDb::create().await;
    let inbox = Arc::new(PostgresInbox::connect(&store_config(&db)).await.unwrap());
    append_in_lanes(&inbox, 500).await;
    let conn = inbox.db.conn().await.unwrap();
    conn.batch_execute("ANALYZE deliveries").await.unwrap();
    let plan = explain_lease(&conn).await;
    assert!(
        plan.contains("using deliveries_due on deliveries d "),
        "{plan}"
    );
    assert!(!plan.contains("Sort Key: d."), "{plan}");
}

/// A new database filled by a burst is analyzed by the instance itself, before autovacuum
/// (off here) would: until then the planner knows nothing of the tables, and its plans for a
/// lane's next delivery walked every pending delivery, and its lookups of earlier events'
/// dedup keys scanned every event. Then the lane and dedup indexes are the plans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_into_a_new_database_is_analyzed_without_autovacuum() {
    let db = TestDb::create().await;
    let inbox = Arc::new(PostgresInbox::connect(&store_config(&db)).await.unwrap());
    // What the dispatcher does first: it starts the instance's background work.
    let _signal = inbox.work_signal();
    let conn = inbox.db.conn().await.unwrap();
    conn.batch_execute(
        "ALTER TABLE deliveries SET (autovacuum_enabled = false);
         ALTER TABLE events SET (autovacuum_enabled = false)",
    )
    .await
    .unwrap();
    append_in_lanes(&inbox, 1_500).await;
    let analyzed = "SELECT bool_and(reltuples >= 0) FROM pg_class
                    WHERE relname IN ('deliveries', 'events')";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !conn
        .query_one(analyzed, &[])
        .await
        .unwrap()
        .get::<_, bool>(0)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the tables were never analyzed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let plan = explain(
        &conn,
        settles::NEXT_IN_LANE,
        &[&vec![7_i64], &1_i64, &2_i64],
    )
    .await;
    assert!(
        plan.contains("using deliveries_lane on deliveries p"),
        "{plan}"
    );
    let keys = vec![vec![0_u8; 32]];
    let plan = explain(&conn, insert::EXISTING, &[&vec!["app"], &keys]).await;
    assert!(plan.contains("using events_dedup on events e"), "{plan}");
}

/// The lane key the database computes (a settle locks the lane it finds) is the one intake
/// computes, so both lock the same lane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_computes_the_same_lane_keys() {
    let db = TestDb::create().await;
    let inbox = PostgresInbox::connect(&store_config(&db)).await.unwrap();
    let conn = inbox.db.conn().await.unwrap();
    let sql = concat!("SELECT ", intake::lane_key_sql!("$1::text", "$2::text"));
    for (app, lane) in [
        ("contacts", "external_userid:wmXYZ"),
        ("", ""),
        ("客户联系", "chat_id:wr群 1"),
        ("a\u{1}b", "x'y\\z"),
    ] {
        let key: i64 = conn.query_one(sql, &[&app, &lane]).await.unwrap().get(0);
        assert_eq!(key, intake::lane_key(app, lane), "{app:?} {lane:?}");
    }
}

/// The same callback appended by two instances at the same moment is one event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_at_two_instances_are_one_event() {
    let db = TestDb::create().await;
    let config = store_config(&db);
    let a = Arc::new(PostgresInbox::connect(&config).await.unwrap());
    let b = Arc::new(PostgresInbox::connect(&config).await.unwrap());
    for round in 0..20 {
        let text = format!("<r{round}/>");
        let lane = (round % 2 == 0).then_some("L");
        let mut tasks = Vec::new();
        for inbox in [&a, &b, &a, &b] {
            let (inbox, event) = (
                inbox.clone(),
                contract::event("app", &text, lane, &["h"], true),
            );
            tasks.push(tokio::spawn(async move { inbox.append(event).await }));
        }
        let mut new = Vec::new();
        let mut ids = Vec::new();
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Appended::New { id, .. } => {
                    new.push(id);
                    ids.push(id);
                }
                Appended::Duplicate(id) => ids.push(id),
            }
        }
        assert_eq!(new.len(), 1, "round {round}: {ids:?}");
        assert!(ids.iter().all(|id| *id == new[0]), "round {round}: {ids:?}");
        assert_eq!(a.deliveries(new[0]).await.unwrap().len(), 1);
    }
}

/// One append the database refuses (a NUL byte in text) fails alone; the rest of its batch
/// is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_append_fails_alone() {
    let db = TestDb::create().await;
    let inbox = Arc::new(PostgresInbox::connect(&store_config(&db)).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..30 {
        let text = if i == 7 {
            "<bad>\0</bad>".to_owned()
        } else {
            format!("<ok{i}/>")
        };
        let (inbox, event) = (
            inbox.clone(),
            contract::event("app", &text, Some("L"), &["h"], false),
        );
        tasks.push(tokio::spawn(async move { (i, inbox.append(event).await) }));
    }
    for task in tasks {
        let (i, result) = task.await.unwrap();
        assert_eq!(result.is_err(), i == 7, "append {i}: {result:?}");
    }
    let stored = inbox
        .list(EventFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 29);
}

/// Another instance's announcement raises the work signal; an instance's own does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_wake_the_other_instances() {
    let db = TestDb::create().await;
    let config = store_config(&db);
    let a = PostgresInbox::connect(&config).await.unwrap();
    let b = PostgresInbox::connect(&config).await.unwrap();
    let signal = a.work_signal().unwrap();
    // The first raise says "listening (again): look at the store".
    tokio::time::timeout(Duration::from_secs(10), signal.notified())
        .await
        .unwrap();
    a.append(contract::event("app", "<own/>", None, &["h"], false))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), signal.notified())
            .await
            .is_err(),
        "an instance's own announcement does not wake it"
    );
    b.append(contract::event("app", "<other/>", None, &["h"], false))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), signal.notified())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_shared_and_replaced_only_when_stale() {
    let db = TestDb::create().await;
    let config = store_config(&db);
    let a = PostgresInbox::connect(&config).await.unwrap().tokens();
    let b = PostgresInbox::connect(&config).await.unwrap().tokens();
    assert!(a.get("k").await.unwrap().is_none());
    a.set(
        "k",
        CachedToken::new(AccessToken::new("T1"), Duration::from_secs(7200)),
    )
    .await
    .unwrap();
    let seen = b.get("k").await.unwrap().unwrap();
    assert_eq!(seen.token.as_str(), "T1");
    assert!(seen.is_fresh(Duration::from_secs(7000)));
    assert!(!b.clear_if("k", &AccessToken::new("T0")).await.unwrap());
    assert!(a.get("k").await.unwrap().is_some());
    assert!(b.clear_if("k", &AccessToken::new("T1")).await.unwrap());
    assert!(a.get("k").await.unwrap().is_none());

    // The refresh lock: b waits while a holds it.
    let held = a.lock("k").await.unwrap();
    let b = Arc::new(b);
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move { b.lock("k").await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the lock is held elsewhere");
    let other_key = b.lock("other").await.unwrap();
    drop(other_key);
    drop(held);
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// An append waits for its lane's lock (held here as another instance's batch would hold it)
/// and goes through once it is released: ids of one lane grow in commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_wait_for_their_lane() {
    let db = TestDb::create().await;
    let inbox = Arc::new(PostgresInbox::connect(&store_config(&db)).await.unwrap());
    let other = db.client().await;
    other.batch_execute("BEGIN").await.unwrap();
    other
        .execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&intake::lane_key("app", "L")],
        )
        .await
        .unwrap();
    let waiting = {
        let inbox = inbox.clone();
        tokio::spawn(async move {
            inbox
                .append(contract::event("app", "<late/>", Some("L"), &["h"], true))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the lane is locked elsewhere");
    other.batch_execute("COMMIT").await.unwrap();
    let appended = waiting.await.unwrap().unwrap();
    assert!(matches!(appended, Appended::New { .. }), "{appended:?}");
}

/// An unreachable database is an error, quickly, that names the server but not the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_errors_without_the_password() {
    let config = StoreConfig {
        url: Some(Secret::new(
            "postgres://wecom:TOPSECRETPW@127.0.0.1:1/wecom".to_owned(),
        )),
        ..StoreConfig::default()
    };
    let started = std::time::Instant::now();
    let error = PostgresInbox::connect(&config).await.err().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let shown = error.to_string();
    assert!(shown.contains("127.0.0.1:1/wecom"), "{shown}");
    assert!(!shown.contains("TOPSECRETPW"), "{shown}");

    let bad = StoreConfig {
        url: Some(Secret::new("postgres://wecom:TOPSECRETPW@[::1".to_owned())),
        ..StoreConfig::default()
    };
    let shown = PostgresInbox::connect(&bad)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(!shown.contains("TOPSECRETPW"), "{shown}");
}

/// Appends arriving together (one batch): of a lane's events only the first is leased, and a
/// dedup key twice in the batch is one event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_leases_only_the_head_of_a_lane() {
    let db = TestDb::create().await;
    let inbox = Arc::new(PostgresInbox::connect(&store_config(&db)).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..12 {
        let text = if i % 4 == 3 {
            "<same/>".to_owned()
        } else {
            format!("<e{i}/>")
        };
        let (inbox, event) = (
            inbox.clone(),
            contract::event("app", &text, Some("L"), &["h"], true),
        );
        tasks.push(tokio::spawn(async move { inbox.append(event).await }));
    }
    let mut new = Vec::new();
    let mut leased = Vec::new();
    let mut duplicates = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Appended::New { id, leased: l } => {
                new.push(id);
                leased.extend(l.into_iter().map(|d| d.event_id));
            }
            Appended::Duplicate(_) => duplicates += 1,
        }
    }
    assert_eq!((new.len(), duplicates), (10, 2));
    assert_eq!(
        leased,
        vec![*new.iter().min().unwrap()],
        "only the lane's head"
    );
}

/// Attempts settled at the same moment (one batch): each recorded only while held, and each
/// lane whose delivery finished has its next delivery made due; a retried one's lane waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_settled_together_are_each_recorded_and_release_their_lanes() {
    let db = TestDb::create().await;
    let inbox = Arc::new(PostgresInbox::connect(&store_config(&db)).await.unwrap());
    for round in 0..2 {
        for lane in 0..6 {
            let text = format!("<e{round}-{lane}/>");
            let lane = format!("L{lane}");
            let event = contract::event("app", &text, Some(&lane), &["h"], false);
            inbox.append(event).await.unwrap();
        }
    }
    let now = crate::clock::now_ms();
    let heads = inbox
        .lease("app", "h", 100, now, now + 30_000)
        .await
        .unwrap();
    let mut heads: Vec<crate::store::Delivery> =
        heads.deliveries.into_iter().map(|l| l.delivery).collect();
    heads.sort_by_key(|d| d.event_id);
    assert_eq!(heads.len(), 6, "one head per lane");
    let not_held = heads.iter().map(|d| d.id).max().unwrap() + 1;
    let outcomes = heads.iter().enumerate().map(|(lane, _)| match lane {
        4 => Outcome::Retry {
            at: now + 60_000,
            error: "later".into(),
        },
        5 => Outcome::Dead {
            error: "gone\0".into(),
        },
        _ => Outcome::Done,
    });
    let settles = heads
        .iter()
        .map(|d| d.id)
        .zip(outcomes)
        .chain([(not_held, Outcome::Done)])
        .map(|(id, outcome)| {
            let inbox = inbox.clone();
            tokio::spawn(async move { inbox.settle(id, 1, outcome).await })
        });
    let settled: Vec<Settled> = futures::future::join_all(settles)
        .await
        .into_iter()
        .map(|s| s.unwrap().unwrap())
        .collect();
    let recorded: Vec<bool> = settled.iter().map(|s| s.recorded).collect();
    assert_eq!(recorded, [true, true, true, true, true, true, false]);
    let more: Vec<bool> = settled.iter().map(|s| s.lane_has_more).collect();
    assert_eq!(more, [true, true, true, true, false, true, false]);
    let now = crate::clock::now_ms();
    let next = inbox
        .lease("app", "h", 100, now, now + 30_000)
        .await
        .unwrap();
    let mut next: Vec<i64> = next
        .deliveries
        .iter()
        .map(|l| l.delivery.event_id)
        .collect();
    next.sort_unstable();
    let behind: Vec<i64> = [0, 1, 2, 3, 5]
        .map(|lane| heads[lane].event_id + 6)
        .to_vec();
    assert_eq!(next, behind, "the next of every lane but the retried one");
}

/// Statistics taken when no delivery was pending (an analyze between bursts) make both partial
/// indexes look empty to the planner. Finding a lane's first delivery must still use the lane
/// index — the due index, which leaves out the deliveries waiting for their lane, cannot serve
/// it — and never walk every pending delivery of the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_made_with_nothing_pending_still_use_the_lane_index() {
    assert_eq!(
        leases::lane_wait_sql!().parse::<i64>(),
        Ok(crate::store::LANE_WAIT)
    );
    let db = TestDb::create().await;
    let inbox = Arc::new(PostgresInbox::connect(&store_config(&db)).await.unwrap());
    append_in_lanes(&inbox, 300).await;
    let conn = inbox.db.conn().await.unwrap();
    conn.batch_execute("UPDATE deliveries SET status = 'done'")
        .await
        .unwrap();
    conn.batch_execute("ANALYZE deliveries").await.unwrap();
    let lease = explain_lease(&conn).await;
    let next = explain(
        &conn,
        settles::NEXT_IN_LANE,
        &[&vec![7_i64], &1_i64, &2_i64],
    )
    .await;
    for plan in [&lease, &next] {
        assert!(
            plan.contains("using deliveries_lane on deliveries p"),
            "{plan}"
        );
    }
    assert!(
        lease.contains("using deliveries_due on deliveries d "),
        "{lease}"
    );
}
