//! Behaviour every backend must have; each backend's tests call [`check`].

use std::sync::Arc;

use super::*;
use crate::clock::now_ms;

/// A new event of `app` with one delivery per handler.
pub(crate) fn event(
    app: &str,
    text: &str,
    lane: Option<&str>,
    handlers: &[&str],
    lease: bool,
) -> NewEvent {
    NewEvent {
        app: Arc::from(app),
        dedup_key: dedup_key(app, text, None),
        kind: "k".into(),
        lane: lane.map(str::to_owned),
        plaintext: text.into(),
        received_at: now_ms(),
        deliveries: handlers
            .iter()
            .map(|h| NewDelivery {
                handler: Arc::from(*h),
                lease,
            })
            .collect(),
        lease_until: now_ms() + 30_000,
    }
}

fn new(appended: Appended) -> (i64, Vec<Delivery>) {
    match appended {
        Appended::New { id, leased } => (id, leased),
        other => panic!("expected a new event, got {other:?}"),
    }
}

/// The event ids of a lease, sorted: across lanes a lease promises no order (it takes
/// deliveries in the order they fell due).
fn ids_sorted(batch: &LeaseBatch) -> Vec<i64> {
    let mut ids = ids(batch);
    ids.sort_unstable();
    ids
}

fn ids(batch: &LeaseBatch) -> Vec<i64> {
    batch
        .deliveries
        .iter()
        .map(|l| l.delivery.event_id)
        .collect()
}

/// Run every check against `inbox`, which must be empty.
pub(crate) async fn check(inbox: &dyn Inbox) {
    intake_and_dedup(inbox).await;
    lanes_keep_arrival_order(inbox).await;
    leases_expire_and_release(inbox).await;
    operators(inbox).await;
    ids_are_never_given_twice(inbox).await;
}

async fn intake_and_dedup(inbox: &dyn Inbox) {
    let (id, leased) = new(inbox
        .append(event("app", "<a/>", Some("c1"), &["h1", "h2"], true))
        .await
        .unwrap());
    assert_eq!(leased.len(), 2);
    assert_eq!(leased[0].handler, "h1");
    assert_eq!(leased[0].event_id, id);
    assert_eq!(leased[0].attempts, 0);
    assert_eq!(
        inbox
            .append(event("app", "<a/>", Some("c1"), &["h1", "h2"], true))
            .await
            .unwrap(),
        Appended::Duplicate(id)
    );
    assert_eq!(inbox.deliveries(id).await.unwrap().len(), 2);
    let (other, leased) = new(inbox
        .append(event("other", "<a/>", None, &["h1"], false))
        .await
        .unwrap());
    assert!(other > id, "ids grow in arrival order");
    assert!(leased.is_empty(), "not asked to lease");
    let (none, _) = new(inbox
        .append(event("app", "<none/>", Some("c9"), &[], true))
        .await
        .unwrap());
    let stored = inbox.get(none).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        Status::Done,
        "an event without deliveries is done"
    );
    assert_eq!(
        (
            &*stored.app,
            &*stored.kind,
            stored.lane.as_deref(),
            &*stored.plaintext
        ),
        ("app", "k", Some("c9"), "<none/>"),
        "an event without deliveries is stored whole"
    );
    assert_eq!(
        inbox
            .append(event("app", "<none/>", Some("c9"), &[], true))
            .await
            .unwrap(),
        Appended::Duplicate(none)
    );
    // Appends at the same moment (one batch, where the store batches), with and without
    // deliveries, and a duplicate within them: each gets its own outcome.
    let appends = ["<m1/>", "<m2/>", "<m3/>", "<m2/>", "<m4/>"].map(|text| {
        let handlers: &[&str] = if text == "<m3/>" { &["h1"] } else { &[] };
        inbox.append(event("mixed", text, None, handlers, false))
    });
    let outcomes = futures::future::join_all(appends).await;
    let mixed: Vec<i64> = outcomes
        .iter()
        .map(|o| match o.as_ref().unwrap() {
            Appended::New { id, .. } | Appended::Duplicate(id) => *id,
        })
        .collect();
    assert_eq!(
        mixed[3], mixed[1],
        "the second <m2/> is the first's duplicate"
    );
    for (text, id) in ["<m1/>", "<m2/>", "<m3/>", "<m4/>"]
        .iter()
        .zip([mixed[0], mixed[1], mixed[2], mixed[4]])
    {
        let stored = inbox.get(id).await.unwrap().unwrap();
        assert_eq!(stored.plaintext, *text);
        let deliveries = inbox.deliveries(id).await.unwrap();
        assert_eq!(deliveries.len(), usize::from(*text == "<m3/>"), "{text}");
    }
    for d in leased_of(inbox, id).await {
        inbox.settle(d, 1, Outcome::Done).await.unwrap();
    }
    assert_eq!(inbox.get(id).await.unwrap().unwrap().status, Status::Done);
    let now = now_ms();
    let batch = inbox
        .lease("other", "h1", 10, now, now + 30_000)
        .await
        .unwrap();
    assert_eq!(ids(&batch), vec![other]);
    assert_eq!(batch.deliveries[0].plaintext, "<a/>");
    inbox
        .settle(batch.deliveries[0].delivery.id, 1, Outcome::Done)
        .await
        .unwrap();
}

async fn leased_of(inbox: &dyn Inbox, event_id: i64) -> Vec<i64> {
    inbox
        .deliveries(event_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.leased_until.is_some())
        .map(|d| d.id)
        .collect()
}

async fn lanes_keep_arrival_order(inbox: &dyn Inbox) {
    let (e1, l1) = new(inbox
        .append(event("lanes", "<1/>", Some("L"), &["h"], true))
        .await
        .unwrap());
    let (e2, l2) = new(inbox
        .append(event("lanes", "<2/>", Some("L"), &["h"], true))
        .await
        .unwrap());
    let (e3, _) = new(inbox
        .append(event("lanes", "<3/>", Some("L"), &["h"], false))
        .await
        .unwrap());
    let (free, lf) = new(inbox
        .append(event("lanes", "<free/>", None, &["h"], true))
        .await
        .unwrap());
    assert_eq!(l1.len(), 1);
    assert!(l2.is_empty(), "an earlier delivery of the lane is pending");
    assert_eq!(lf.len(), 1, "no lane, no wait");
    let now = now_ms();
    let batch = inbox
        .lease("lanes", "h", 10, now, now + 30_000)
        .await
        .unwrap();
    assert!(batch.deliveries.is_empty(), "{:?}", ids(&batch));
    inbox.settle(lf[0].id, 1, Outcome::Done).await.unwrap();

    // The head fails: retried later, and the lane waits behind it.
    let retry_at = now + 60_000;
    let settled = inbox
        .settle(
            l1[0].id,
            1,
            Outcome::Retry {
                at: retry_at,
                error: "busy".into(),
            },
        )
        .await
        .unwrap();
    assert!(settled.recorded);
    let batch = inbox
        .lease("lanes", "h", 10, now, now + 30_000)
        .await
        .unwrap();
    assert!(batch.deliveries.is_empty(), "{:?}", ids(&batch));
    assert_eq!(batch.next_due, Some(retry_at));
    let later = retry_at + 1;
    let batch = inbox
        .lease("lanes", "h", 10, later, later + 30_000)
        .await
        .unwrap();
    assert_eq!(ids(&batch), vec![e1]);
    assert_eq!(batch.deliveries[0].delivery.attempts, 1);

    // Dead does not block: the next of the lane runs, then the one after it. (A handler's
    // error text may hold anything, a NUL character included: it is recorded all the same.)
    let settled = inbox
        .settle(
            batch.deliveries[0].delivery.id,
            2,
            Outcome::Dead {
                error: "gave up: \0 in a response".into(),
            },
        )
        .await
        .unwrap();
    assert!(settled.lane_has_more);
    let recorded = inbox.deliveries(e1).await.unwrap();
    let error = recorded[0].last_error.as_deref().unwrap_or_default();
    assert!(error.starts_with("gave up: "), "{error:?}");
    let batch = inbox
        .lease("lanes", "h", 10, later, later + 30_000)
        .await
        .unwrap();
    assert_eq!(ids(&batch), vec![e2]);
    let settled = inbox
        .settle(batch.deliveries[0].delivery.id, 1, Outcome::Done)
        .await
        .unwrap();
    assert!(settled.lane_has_more);
    let batch = inbox
        .lease("lanes", "h", 10, later, later + 30_000)
        .await
        .unwrap();
    assert_eq!(ids(&batch), vec![e3]);
    let settled = inbox
        .settle(batch.deliveries[0].delivery.id, 1, Outcome::Done)
        .await
        .unwrap();
    assert!(!settled.lane_has_more);
    assert_eq!(inbox.get(e1).await.unwrap().unwrap().status, Status::Failed);
    assert_eq!(inbox.get(free).await.unwrap().unwrap().status, Status::Done);
}

async fn leases_expire_and_release(inbox: &dyn Inbox) {
    let (id, leased) = new(inbox
        .append(event("leases", "<l/>", Some("L"), &["h"], true))
        .await
        .unwrap());
    let now = now_ms();
    // Held: nobody else takes it.
    let batch = inbox
        .lease("leases", "h", 10, now, now + 30_000)
        .await
        .unwrap();
    assert!(batch.deliveries.is_empty());
    // Expired: anyone takes it over.
    let after = now + 31_000;
    let batch = inbox
        .lease("leases", "h", 10, after, after + 30_000)
        .await
        .unwrap();
    assert_eq!(ids(&batch), vec![id]);
    // Renewed: held again.
    inbox
        .renew(vec![leased[0].id], after + 60_000)
        .await
        .unwrap();
    let batch = inbox
        .lease("leases", "h", 10, after + 31_000, after + 60_000)
        .await
        .unwrap();
    assert!(batch.deliveries.is_empty());
    // Released: runnable at once.
    inbox.release(vec![leased[0].id]).await.unwrap();
    let batch = inbox
        .lease("leases", "h", 10, now, now + 30_000)
        .await
        .unwrap();
    assert_eq!(ids(&batch), vec![id]);
    inbox.release(vec![leased[0].id]).await.unwrap();
    // Settling without the lease records nothing.
    let settled = inbox.settle(leased[0].id, 1, Outcome::Done).await.unwrap();
    assert!(!settled.recorded);
    assert_eq!(
        inbox.get(id).await.unwrap().unwrap().status,
        Status::Pending
    );
    let batch = inbox
        .lease("leases", "h", 1, now, now + 30_000)
        .await
        .unwrap();
    inbox
        .settle(batch.deliveries[0].delivery.id, 1, Outcome::Done)
        .await
        .unwrap();
}

async fn operators(inbox: &dyn Inbox) {
    let (failed, leased) = new(inbox
        .append(event("ops", "<f/>", Some("L"), &["a", "b"], true))
        .await
        .unwrap());
    inbox
        .settle(
            leased[0].id,
            3,
            Outcome::Dead {
                error: "boom".into(),
            },
        )
        .await
        .unwrap();
    inbox.settle(leased[1].id, 1, Outcome::Done).await.unwrap();
    let (pending, _) = new(inbox
        .append(event("ops", "<p/>", None, &["a"], false))
        .await
        .unwrap());

    let shown = inbox.deliveries(failed).await.unwrap();
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0].handler, "a");
    assert_eq!(shown[0].status, DeliveryStatus::Dead);
    assert_eq!(shown[0].attempts, 3);
    assert_eq!(shown[0].last_error.as_deref(), Some("boom"));
    assert_eq!(shown[1].status, DeliveryStatus::Done);
    let pending_shown = inbox.deliveries(pending).await.unwrap();
    assert!(pending_shown[0].next_attempt_at.is_some());

    let list = |status, handler: Option<&str>| EventFilter {
        status,
        handler: handler.map(str::to_owned),
        limit: 100,
    };
    let failed_ids: Vec<i64> = inbox
        .list(list(Some(Status::Failed), None))
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        failed_ids.first(),
        Some(&failed),
        "newest first: {failed_ids:?}"
    );
    assert!(!failed_ids.contains(&pending));
    let all = inbox.list(list(None, None)).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(
        inbox
            .list(list(Some(Status::Pending), Some("a")))
            .await
            .unwrap()[0]
            .id,
        pending
    );
    assert!(
        inbox
            .list(list(Some(Status::Failed), Some("b")))
            .await
            .unwrap()
            .is_empty()
    );

    let stats = inbox.stats(now_ms()).await.unwrap();
    let a = stats
        .handlers
        .iter()
        .find(|h| h.app == "ops" && h.handler == "a")
        .unwrap();
    assert_eq!((a.pending, a.dead), (1, 1));
    assert!(stats.events_pending >= 1);

    // Dead letters survive the purge of finished events; by hand they go.
    let future = now_ms() + 1000;
    while inbox.purge(future, 2).await.unwrap() > 0 {}
    assert!(inbox.get(failed).await.unwrap().is_some());
    assert!(inbox.get(pending).await.unwrap().is_some());
    assert!(
        inbox
            .list(list(Some(Status::Done), None))
            .await
            .unwrap()
            .is_empty(),
        "finished events are purged"
    );
    // A purged event's dedup key is gone with it.
    assert!(matches!(
        inbox
            .append(event("app", "<a/>", Some("c1"), &[], true))
            .await
            .unwrap(),
        Appended::New { .. }
    ));

    // Retry makes the dead delivery pending again, with fresh attempts.
    let retried = inbox
        .retry(RetryFilter {
            event_id: Some(failed),
            handler: None,
        })
        .await
        .unwrap();
    assert_eq!(retried, 1);
    assert_eq!(
        inbox.get(failed).await.unwrap().unwrap().status,
        Status::Pending
    );
    let now = now_ms();
    let batch = inbox
        .lease("ops", "a", 10, now, now + 30_000)
        .await
        .unwrap();
    assert_eq!(ids_sorted(&batch), vec![failed, pending]);
    let leased_for = |event_id: i64| {
        batch
            .deliveries
            .iter()
            .find(|l| l.delivery.event_id == event_id)
            .map(|l| l.delivery.clone())
            .unwrap()
    };
    assert_eq!(leased_for(failed).attempts, 0);
    inbox
        .settle(
            leased_for(failed).id,
            1,
            Outcome::Dead {
                error: "again".into(),
            },
        )
        .await
        .unwrap();
    inbox
        .settle(leased_for(pending).id, 1, Outcome::Done)
        .await
        .unwrap();

    // Redeliver: a handler added later gets deliveries for past events that lack one.
    let made = inbox.redeliver("ops", "c", 0).await.unwrap();
    assert_eq!(made, 2);
    assert_eq!(inbox.redeliver("ops", "c", 0).await.unwrap(), 0);
    let now = now_ms();
    let batch = inbox
        .lease("ops", "c", 10, now, now + 30_000)
        .await
        .unwrap();
    assert_eq!(ids_sorted(&batch), vec![failed, pending]);
    for l in &batch.deliveries {
        inbox.settle(l.delivery.id, 1, Outcome::Done).await.unwrap();
    }

    // A redelivered older event runs before the newer one already waiting in its lane.
    let (older, _) = new(inbox
        .append(event("late", "<o/>", Some("Q"), &[], false))
        .await
        .unwrap());
    let (newer, _) = new(inbox
        .append(event("late", "<n/>", Some("Q"), &["h"], false))
        .await
        .unwrap());
    assert_eq!(inbox.redeliver("late", "h", 0).await.unwrap(), 1);
    let now = now_ms();
    let batch = inbox
        .lease("late", "h", 10, now, now + 30_000)
        .await
        .unwrap();
    assert_eq!(ids(&batch), vec![older]);
    let settled = inbox
        .settle(batch.deliveries[0].delivery.id, 1, Outcome::Done)
        .await
        .unwrap();
    assert!(settled.lane_has_more);
    let now = now_ms();
    let batch = inbox
        .lease("late", "h", 10, now, now + 30_000)
        .await
        .unwrap();
    assert_eq!(ids(&batch), vec![newer]);
    inbox
        .settle(batch.deliveries[0].delivery.id, 1, Outcome::Done)
        .await
        .unwrap();

    assert_eq!(inbox.purge_failed(now_ms() + 1000).await.unwrap(), 2);
    assert!(inbox.get(failed).await.unwrap().is_none());
    inbox.ping().await.unwrap();
}

/// A purge may remove the newest event and delivery; their ids still never come back (a
/// forward's `webhook-id` is the event id).
async fn ids_are_never_given_twice(inbox: &dyn Inbox) {
    let future = now_ms() + 1000;
    let mut newest = with_one_delivery(inbox, "<first/>").await;
    let finishes = [
        ("<after-purge/>", Outcome::Done),
        (
            "<after-purge-failed/>",
            Outcome::Dead {
                error: "gone".into(),
            },
        ),
    ];
    for (text, outcome) in finishes {
        let dead = matches!(outcome, Outcome::Dead { .. });
        inbox.settle(newest.1, 1, outcome).await.unwrap();
        if dead {
            inbox.purge_failed(future).await.unwrap();
        } else {
            while inbox.purge(future, 100).await.unwrap() > 0 {}
        }
        assert!(inbox.get(newest.0).await.unwrap().is_none(), "purged");
        let next = with_one_delivery(inbox, text).await;
        assert!(
            next.0 > newest.0,
            "event id {} after purged {}",
            next.0,
            newest.0
        );
        assert!(
            next.1 > newest.1,
            "delivery id {} after purged {}",
            next.1,
            newest.1
        );
        newest = next;
    }
}

/// Store a new event of app `ids` with one delivery, leased: its id and the delivery's.
async fn with_one_delivery(inbox: &dyn Inbox, text: &str) -> (i64, i64) {
    let (id, leased) = new(inbox
        .append(event("ids", text, None, &["z"], true))
        .await
        .unwrap());
    (id, leased[0].id)
}
