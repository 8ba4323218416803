//! An in-memory [`Inbox`] for tests and demos. Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::{
    Appended, Depth, HandlerRun, Inbox, NewEvent, RunState, Status, StoreError, StoredEvent,
};

#[derive(Default)]
struct State {
    next_id: i64,
    events: BTreeMap<i64, StoredEvent>,
    keys: HashMap<(String, [u8; 32]), i64>,
    runs: HashMap<i64, Vec<HandlerRun>>,
}

/// An [`Inbox`] kept in memory.
#[derive(Default)]
pub struct MemoryInbox {
    state: Mutex<State>,
}

impl MemoryInbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError("memory inbox lock poisoned".into()))
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
        s.next_id += 1;
        let id = s.next_id;
        s.keys.insert(key, id);
        s.events.insert(
            id,
            StoredEvent {
                id,
                app: event.app,
                kind: event.kind,
                order_key: event.order_key,
                plaintext: event.plaintext,
                received_at: event.received_at,
                status: if event.finished {
                    Status::Done
                } else {
                    Status::Pending
                },
            },
        );
        Ok(Appended::New(id))
    }

    async fn pending(&self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let s = self.lock()?;
        Ok(s.events
            .values()
            .filter(|e| e.status == Status::Pending)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.lock()?.events.get(&id).cloned())
    }

    async fn list(
        &self,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let s = self.lock()?;
        Ok(s.events
            .values()
            .rev()
            .filter(|e| status.is_none_or(|st| e.status == st))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn runs(&self, id: i64) -> Result<Vec<HandlerRun>, StoreError> {
        Ok(self.lock()?.runs.get(&id).cloned().unwrap_or_default())
    }

    async fn record(&self, id: i64, run: HandlerRun) -> Result<(), StoreError> {
        let mut s = self.lock()?;
        let runs = s.runs.entry(id).or_default();
        match runs.iter_mut().find(|r| r.handler == run.handler) {
            Some(existing) => *existing = run,
            None => runs.push(run),
        }
        Ok(())
    }

    async fn finish(&self, id: i64, status: Status) -> Result<(), StoreError> {
        if let Some(e) = self.lock()?.events.get_mut(&id) {
            e.status = status;
        }
        Ok(())
    }

    async fn retry(&self, id: i64) -> Result<bool, StoreError> {
        let mut s = self.lock()?;
        match s.events.get_mut(&id) {
            Some(e) if e.status == Status::Failed => e.status = Status::Pending,
            _ => return Ok(false),
        }
        for run in s.runs.entry(id).or_default() {
            if run.state == RunState::Dead {
                run.state = RunState::Retry;
                run.attempts = 0;
            }
        }
        Ok(true)
    }

    async fn purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut s = self.lock()?;
        let old: Vec<(i64, String)> = s
            .events
            .values()
            .filter(|e| e.status != Status::Pending && e.received_at < before_ms)
            .map(|e| (e.id, e.app.clone()))
            .collect();
        for (id, _) in &old {
            s.events.remove(id);
            s.runs.remove(id);
        }
        s.keys.retain(|_, id| !old.iter().any(|(o, _)| o == id));
        Ok(old.len() as u64)
    }

    async fn depth(&self) -> Result<Depth, StoreError> {
        let s = self.lock()?;
        let mut depth = Depth::default();
        for e in s.events.values() {
            match e.status {
                Status::Pending => depth.pending += 1,
                Status::Failed => depth.failed += 1,
                Status::Done => {}
            }
        }
        Ok(depth)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn meets_the_inbox_contract() {
        super::super::contract::check(&super::MemoryInbox::new()).await;
    }
}
