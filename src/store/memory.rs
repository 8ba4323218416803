//! An in-memory [`Inbox`] for tests, demos and `replay`. Nothing survives the process.
//!
//! It keeps the same rows as the SQLite backend and answers the same way, with linear scans:
//! it is meant for thousands of events, not millions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::FxHashMap;

use super::{
    Appended, Delivery, DeliveryRecord, DeliveryStatus, EventFilter, HandlerGauges, Inbox,
    LANE_WAIT, LeaseBatch, Leased, NewEvent, Outcome, RetryFilter, Settled, Stats, Status,
    StoreError, StoredEvent,
};

struct EventRow {
    app: String,
    dedup_key: [u8; 32],
    kind: String,
    lane: Option<String>,
    plaintext: String,
    received_at: i64,
}

struct DeliveryRow {
    event_id: i64,
    app: String,
    handler: String,
    lane: Option<String>,
    status: DeliveryStatus,
    attempts: u32,
    next_at: i64,
    lease: Option<(Arc<str>, i64)>,
    last_error: Option<String>,
    created_at: i64,
}

#[derive(Default)]
struct State {
    next_event: i64,
    next_delivery: i64,
    events: BTreeMap<i64, EventRow>,
    /// By (app, dedup key). The keys are hashes already, so a fast hasher will do.
    keys: FxHashMap<(Arc<str>, [u8; 32]), i64>,
    deliveries: BTreeMap<i64, DeliveryRow>,
}

impl State {
    fn lane_busy(&self, app: &str, handler: &str, lane: &str, before_event: i64) -> bool {
        self.deliveries.values().any(|d| {
            d.status == DeliveryStatus::Pending
                && d.app == app
                && d.handler == handler
                && d.lane.as_deref() == Some(lane)
                && d.event_id < before_event
        })
    }

    fn status(&self, event_id: i64) -> Status {
        let mut dead = false;
        for d in self.deliveries.values().filter(|d| d.event_id == event_id) {
            match d.status {
                DeliveryStatus::Pending => return Status::Pending,
                DeliveryStatus::Dead => dead = true,
                DeliveryStatus::Done => {}
            }
        }
        if dead { Status::Failed } else { Status::Done }
    }

    fn stored(&self, id: i64, e: &EventRow, status: Status) -> StoredEvent {
        StoredEvent {
            id,
            app: e.app.clone(),
            kind: e.kind.clone(),
            lane: e.lane.clone(),
            plaintext: e.plaintext.clone(),
            received_at: e.received_at,
            status,
        }
    }

    fn delete_event(&mut self, id: i64) {
        if let Some(e) = self.events.remove(&id) {
            self.keys.remove(&(Arc::from(e.app), e.dedup_key));
        }
        self.deliveries.retain(|_, d| d.event_id != id);
    }
}

/// An [`Inbox`] kept in memory.
pub struct MemoryInbox {
    state: Mutex<State>,
    owner: Arc<str>,
}

impl Default for MemoryInbox {
    fn default() -> Self {
        MemoryInbox {
            state: Mutex::default(),
            owner: super::lease_owner().into(),
        }
    }
}

impl MemoryInbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError("memory inbox lock poisoned".into()))
    }

    fn held_by_me(&self, d: &DeliveryRow) -> bool {
        d.lease.as_ref().is_some_and(|(o, _)| *o == self.owner)
    }
}

#[async_trait::async_trait]
impl Inbox for MemoryInbox {
    async fn append(&self, event: NewEvent) -> Result<Appended, StoreError> {
        let mut s = self.lock()?;
        let key = (event.app.clone(), event.dedup_key);
        if let Some(&id) = s.keys.get(&key) {
            return Ok(Appended::Duplicate(id));
        }
        s.next_event += 1;
        let id = s.next_event;
        s.keys.insert(key, id);
        let mut leased = Vec::new();
        for delivery in &event.deliveries {
            let waits = event
                .lane
                .as_deref()
                .is_some_and(|lane| s.lane_busy(&event.app, &delivery.handler, lane, id));
            let lease = delivery.lease && !waits;
            s.next_delivery += 1;
            let delivery_id = s.next_delivery;
            s.deliveries.insert(
                delivery_id,
                DeliveryRow {
                    event_id: id,
                    app: event.app.to_string(),
                    handler: delivery.handler.to_string(),
                    lane: event.lane.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_at: if waits { LANE_WAIT } else { event.received_at },
                    lease: lease.then(|| (self.owner.clone(), event.lease_until)),
                    last_error: None,
                    created_at: event.received_at,
                },
            );
            if lease {
                leased.push(Delivery {
                    id: delivery_id,
                    event_id: id,
                    handler: delivery.handler.to_string(),
                    attempts: 0,
                    received_at: event.received_at,
                });
            }
        }
        s.events.insert(
            id,
            EventRow {
                app: event.app.to_string(),
                dedup_key: event.dedup_key,
                kind: event.kind,
                lane: event.lane,
                plaintext: event.plaintext,
                received_at: event.received_at,
            },
        );
        Ok(Appended::New { id, leased })
    }

    async fn lease(
        &self,
        app: &str,
        handler: &str,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<LeaseBatch, StoreError> {
        let mut s = self.lock()?;
        let mut runnable: Vec<(i64, i64)> = s
            .deliveries
            .iter()
            .filter(|(_, d)| {
                d.status == DeliveryStatus::Pending
                    && d.app == app
                    && d.handler == handler
                    && d.next_at <= now
                    && d.lease.as_ref().is_none_or(|(_, until)| *until < now)
                    && d.lane
                        .as_deref()
                        .is_none_or(|lane| !s.lane_busy(app, handler, lane, d.event_id))
            })
            .map(|(id, d)| (d.next_at, *id))
            .collect();
        runnable.sort_unstable();
        let mut deliveries = Vec::new();
        for (_, id) in runnable.into_iter().take(limit) {
            let Some(d) = s.deliveries.get_mut(&id) else {
                continue;
            };
            d.lease = Some((self.owner.clone(), until));
            let (event_id, attempts) = (d.event_id, d.attempts);
            if let Some(e) = s.events.get(&event_id) {
                deliveries.push(Leased {
                    delivery: Delivery {
                        id,
                        event_id,
                        handler: handler.to_owned(),
                        attempts,
                        received_at: e.received_at,
                    },
                    plaintext: e.plaintext.clone(),
                });
            }
        }
        let next_due = s
            .deliveries
            .values()
            .filter(|d| {
                d.status == DeliveryStatus::Pending
                    && d.app == app
                    && d.handler == handler
                    && d.next_at > now
                    && d.next_at < LANE_WAIT
            })
            .map(|d| d.next_at)
            .min();
        Ok(LeaseBatch {
            deliveries,
            next_due,
        })
    }

    async fn renew(&self, ids: Vec<i64>, until: i64) -> Result<(), StoreError> {
        let mut s = self.lock()?;
        for id in ids {
            if let Some(d) = s.deliveries.get_mut(&id)
                && self.held_by_me(d)
            {
                d.lease = Some((self.owner.clone(), until));
            }
        }
        Ok(())
    }

    async fn release(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        let mut s = self.lock()?;
        for id in ids {
            if let Some(d) = s.deliveries.get_mut(&id)
                && self.held_by_me(d)
            {
                d.lease = None;
            }
        }
        Ok(())
    }

    async fn settle(
        &self,
        id: i64,
        attempts: u32,
        outcome: Outcome,
    ) -> Result<Settled, StoreError> {
        let mut s = self.lock()?;
        let not_recorded = Settled {
            recorded: false,
            lane_has_more: false,
        };
        let Some(d) = s.deliveries.get_mut(&id) else {
            return Ok(not_recorded);
        };
        if !self.held_by_me(d) {
            return Ok(not_recorded);
        }
        d.lease = None;
        d.attempts = attempts;
        match outcome {
            Outcome::Done => {
                d.status = DeliveryStatus::Done;
                d.last_error = None;
            }
            Outcome::Retry { at, error } => {
                d.next_at = at;
                d.last_error = Some(error);
            }
            Outcome::Dead { error } => {
                d.status = DeliveryStatus::Dead;
                d.last_error = Some(error);
            }
        }
        let finished = d.status != DeliveryStatus::Pending;
        let (app, handler, lane, event_id) =
            (d.app.clone(), d.handler.clone(), d.lane.clone(), d.event_id);
        // The lane's next delivery is due now that this one is finished.
        let next = if finished {
            lane.as_deref().and_then(|lane| {
                s.deliveries
                    .iter_mut()
                    .filter(|(_, o)| {
                        o.status == DeliveryStatus::Pending
                            && o.app == app
                            && o.handler == handler
                            && o.lane.as_deref() == Some(lane)
                            && o.event_id > event_id
                    })
                    .min_by_key(|(_, o)| o.event_id)
                    .map(|(_, o)| o)
            })
        } else {
            None
        };
        let lane_has_more = next.is_some();
        if let Some(next) = next
            && next.next_at == LANE_WAIT
        {
            next.next_at = crate::clock::now_ms();
        }
        Ok(Settled {
            recorded: true,
            lane_has_more,
        })
    }

    async fn recover(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        let s = self.lock()?;
        Ok(s.events.get(&id).map(|e| s.stored(id, e, s.status(id))))
    }

    async fn deliveries(&self, event_id: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        let s = self.lock()?;
        Ok(s.deliveries
            .iter()
            .filter(|(_, d)| d.event_id == event_id)
            .map(|(id, d)| {
                let pending = d.status == DeliveryStatus::Pending;
                DeliveryRecord {
                    id: *id,
                    handler: d.handler.clone(),
                    status: d.status,
                    attempts: d.attempts,
                    next_attempt_at: pending.then_some(d.next_at).filter(|at| *at != LANE_WAIT),
                    leased_until: d.lease.as_ref().filter(|_| pending).map(|(_, u)| *u),
                    last_error: d.last_error.clone(),
                }
            })
            .collect())
    }

    async fn list(&self, filter: EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let s = self.lock()?;
        let mut out = Vec::new();
        for (id, e) in s.events.iter().rev() {
            if out.len() >= filter.limit {
                break;
            }
            let status = match &filter.handler {
                None => s.status(*id),
                Some(handler) => {
                    let Some(d) = s
                        .deliveries
                        .values()
                        .find(|d| d.event_id == *id && d.handler == *handler)
                    else {
                        continue;
                    };
                    match d.status {
                        DeliveryStatus::Pending => Status::Pending,
                        DeliveryStatus::Done => Status::Done,
                        DeliveryStatus::Dead => Status::Failed,
                    }
                }
            };
            if filter.status.is_none_or(|want| want == status) {
                out.push(s.stored(*id, e, status));
            }
        }
        Ok(out)
    }

    async fn retry(&self, filter: RetryFilter) -> Result<u64, StoreError> {
        let now = crate::clock::now_ms();
        let mut s = self.lock()?;
        let mut n = 0;
        for d in s.deliveries.values_mut() {
            if d.status == DeliveryStatus::Dead
                && filter.event_id.is_none_or(|id| id == d.event_id)
                && filter.handler.as_ref().is_none_or(|h| *h == d.handler)
            {
                d.status = DeliveryStatus::Pending;
                d.attempts = 0;
                d.next_at = now;
                d.lease = None;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn redeliver(&self, app: &str, handler: &str, since: i64) -> Result<u64, StoreError> {
        let now = crate::clock::now_ms();
        let mut s = self.lock()?;
        let wanted: Vec<(i64, Option<String>)> = s
            .events
            .iter()
            .filter(|(id, e)| {
                e.app == app
                    && e.received_at >= since
                    && !s
                        .deliveries
                        .values()
                        .any(|d| d.event_id == **id && d.handler == handler)
            })
            .map(|(id, e)| (*id, e.lane.clone()))
            .collect();
        for (event_id, lane) in &wanted {
            let waits = lane
                .as_deref()
                .is_some_and(|lane| s.lane_busy(app, handler, lane, *event_id));
            s.next_delivery += 1;
            let id = s.next_delivery;
            s.deliveries.insert(
                id,
                DeliveryRow {
                    event_id: *event_id,
                    app: app.to_owned(),
                    handler: handler.to_owned(),
                    lane: lane.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_at: if waits { LANE_WAIT } else { now },
                    lease: None,
                    last_error: None,
                    created_at: now,
                },
            );
        }
        Ok(wanted.len() as u64)
    }

    async fn purge(&self, before: i64, batch: usize) -> Result<u64, StoreError> {
        let mut s = self.lock()?;
        let old: Vec<i64> = s
            .events
            .iter()
            .filter(|(id, e)| e.received_at < before && s.status(**id) == Status::Done)
            .map(|(id, _)| *id)
            .take(batch)
            .collect();
        for id in &old {
            s.delete_event(*id);
        }
        Ok(old.len() as u64)
    }

    async fn purge_failed(&self, before: i64) -> Result<u64, StoreError> {
        let mut s = self.lock()?;
        let old: Vec<i64> = s
            .events
            .iter()
            .filter(|(id, e)| e.received_at < before && s.status(**id) == Status::Failed)
            .map(|(id, _)| *id)
            .collect();
        for id in &old {
            s.delete_event(*id);
        }
        Ok(old.len() as u64)
    }

    async fn stats(&self, now: i64) -> Result<Stats, StoreError> {
        let s = self.lock()?;
        let mut handlers: BTreeMap<(String, String), HandlerGauges> = BTreeMap::new();
        let mut pending_events = std::collections::BTreeSet::new();
        for d in s.deliveries.values() {
            if d.status == DeliveryStatus::Done {
                continue;
            }
            let g = handlers
                .entry((d.app.clone(), d.handler.clone()))
                .or_insert_with(|| HandlerGauges {
                    app: d.app.clone(),
                    handler: d.handler.clone(),
                    ..Default::default()
                });
            if d.status == DeliveryStatus::Dead {
                g.dead += 1;
            } else {
                g.pending += 1;
                pending_events.insert(d.event_id);
                let age = (now.saturating_sub(d.created_at) / 1000).max(0) as u64;
                g.oldest_pending_seconds = g.oldest_pending_seconds.max(age);
            }
        }
        Ok(Stats {
            handlers: handlers.into_values().collect(),
            events_pending: pending_events.len() as u64,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn meets_the_inbox_contract() {
        super::super::contract::check(&super::MemoryInbox::new()).await;
    }
}
