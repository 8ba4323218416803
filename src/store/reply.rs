//! Answering callers on their own thread, one wake per thread and batch.
//!
//! A store thread (the SQLite writer, the PostgreSQL batcher) answers every caller of a batch
//! at once. Each answer sent straight to a caller on an actix-web worker — a single-threaded
//! Tokio runtime — wakes that worker from another thread, and such a runtime pays a system call
//! (an eventfd write) for every wake from outside: one per callback. Instead a batch's answers
//! are grouped by the single-threaded runtime their callers wait on ([`Caller`]) and handed to
//! each in one task ([`Outbox`]), which delivers them on that thread. A caller on a
//! multi-threaded runtime (tests, the CLI, an embedding service) is answered directly.
//!
//! When a worker's runtime has stopped, its callers have gone with it: their answers are
//! dropped.

use std::thread::ThreadId;

use tokio::runtime::{Handle, RuntimeFlavor};

/// The single-threaded runtime a caller waits on, if any.
#[derive(Clone)]
pub(crate) struct Caller(Option<(ThreadId, Handle)>);

impl Caller {
    /// The calling thread's runtime (to be called where the caller awaits its answer).
    pub(crate) fn here() -> Caller {
        Caller(
            Handle::try_current()
                .ok()
                .filter(|runtime| runtime.runtime_flavor() == RuntimeFlavor::CurrentThread)
                .map(|runtime| (std::thread::current().id(), runtime)),
        )
    }
}

/// One answer: delivering it completes the caller's future.
type Answer = Box<dyn FnOnce() + Send>;

/// The answers of one batch, by the runtime they go to.
#[derive(Default)]
pub(crate) struct Outbox {
    workers: Vec<(ThreadId, Handle, Vec<Answer>)>,
}

impl Outbox {
    /// Deliver `answer` to `caller`: now when it waits on no single-threaded runtime, else with
    /// that runtime's other answers at [`Outbox::send`].
    pub(crate) fn answer(&mut self, caller: &Caller, answer: impl FnOnce() + Send + 'static) {
        let Some((thread, worker)) = &caller.0 else {
            answer();
            return;
        };
        match self.workers.iter_mut().find(|(t, _, _)| t == thread) {
            Some((_, _, answers)) => answers.push(Box::new(answer)),
            None => self
                .workers
                .push((*thread, worker.clone(), vec![Box::new(answer)])),
        }
    }

    /// Hand each runtime its answers, in one task each (a lone answer directly: one wake
    /// either way).
    pub(crate) fn send(self) {
        for (_, runtime, mut answers) in self.workers {
            if answers.len() == 1
                && let Some(answer) = answers.pop()
            {
                answer();
                continue;
            }
            runtime.spawn(async move {
                for answer in answers {
                    answer();
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn answers_reach_callers_on_workers_and_elsewhere() {
        let (done, results) = mpsc::channel();
        let mut outbox = Outbox::default();
        // A caller on no single-threaded runtime is answered at once.
        let plain = done.clone();
        outbox.answer(&Caller::here(), move || plain.send("direct").unwrap());
        assert_eq!(results.try_recv(), Ok("direct"));
        // Callers on a single-threaded runtime are answered there, together, when sent.
        let (callers, caller) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                callers.send(Caller::here()).unwrap();
                let _ = stopped.await;
            });
        });
        let caller = caller.recv().unwrap();
        let worker_thread = caller.0.as_ref().map(|(t, _)| *t);
        assert_eq!(worker_thread, Some(worker.thread().id()));
        for name in ["first", "second"] {
            let done = done.clone();
            outbox.answer(&caller, move || {
                assert_eq!(Some(std::thread::current().id()), worker_thread);
                done.send(name).unwrap();
            });
        }
        assert!(results.try_recv().is_err(), "nothing before send");
        assert_eq!(outbox.workers.len(), 1);
        outbox.send();
        let got: Vec<_> = (0..2)
            .map(|_| {
                results
                    .recv_timeout(std::time::Duration::from_secs(5))
                    .unwrap()
            })
            .collect();
        assert_eq!(got, ["first", "second"]);
        stop.send(()).unwrap();
        worker.join().unwrap();
    }
}
