//! The waiting room for limited tasks: used only when the host has a `max_concurrency` or the
//! task a `concurrency`; unlimited tasks go straight to a lane (`dispatch.rs`) and never touch it.
//!
//! Tasks start in the order they were queued, except that a task whose own `concurrency` is
//! exhausted lets later tasks of other kinds pass it (no head-of-line blocking).

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;

use crate::cell::RunRef;

#[derive(Default)]
pub(crate) struct Sched {
    /// Slots of `max_concurrency` in use.
    running: usize,
    /// Waiting for a `max_concurrency` slot (non-empty only while all are in use).
    pending: VecDeque<RunRef>,
    /// Per task name with a `concurrency` limit.
    gates: HashMap<&'static str, Gate>,
    closed: bool,
}

struct Gate {
    limit: usize,
    running: usize,
    /// Waiting for this task's own `concurrency` (a `max_concurrency` slot was free).
    waiting: VecDeque<RunRef>,
}

impl Gate {
    fn has_room(&self) -> bool {
        self.running < self.limit
    }
}

fn has_room(max: Option<NonZeroUsize>, running: usize) -> bool {
    max.is_none_or(|max| running < max.get())
}

impl Sched {
    /// Takes a new task: `Ok(Some(task))` if it may start now (its slots taken), `Ok(None)` if it
    /// waits here, `Err(task)` after shutdown began (the caller ends it as not started).
    pub(crate) fn admit(
        &mut self,
        run: RunRef,
        max: Option<NonZeroUsize>,
    ) -> Result<Option<RunRef>, RunRef> {
        if self.closed {
            return Err(run);
        }
        if !has_room(max, self.running) {
            self.pending.push_back(run);
            return Ok(None);
        }
        Ok(self.enter_gate(run).map(|run| self.take_slot(run)))
    }

    /// Takes a slot of the task's own `concurrency`, if it has one: `None` if the gate is full
    /// (the task then waits in the gate's line).
    fn enter_gate(&mut self, mut run: RunRef) -> Option<RunRef> {
        if let Some(limit) = run.concurrency() {
            let gate = self.gate(run.name(), limit);
            if !gate.has_room() {
                gate.waiting.push_back(run);
                return None;
            }
            gate.running += 1;
        }
        Some(run)
    }

    /// Takes a `max_concurrency` slot; the task gives it back when it ends.
    fn take_slot(&mut self, run: RunRef) -> RunRef {
        self.running += 1;
        run
    }

    fn gate(&mut self, name: &'static str, limit: NonZeroUsize) -> &mut Gate {
        self.gates.entry(name).or_insert_with(|| Gate {
            limit: limit.get(),
            running: 0,
            waiting: VecDeque::new(),
        })
    }

    /// A task holding slots ended: frees them and returns the tasks that may start now.
    pub(crate) fn release(&mut self, name: &'static str, max: Option<NonZeroUsize>) -> Vec<RunRef> {
        self.running -= 1;
        if let Some(gate) = self.gates.get_mut(name) {
            gate.running -= 1;
        }
        let mut ready = Vec::new();
        while !self.closed && has_room(max, self.running) {
            // The oldest task that may start: the head of `pending` or of a gate with room.
            let from_pending = self.pending.front().map(|run| run.header().id);
            let from_gate = self
                .gates
                .iter()
                .filter(|(_, gate)| gate.has_room())
                .filter_map(|(name, gate)| gate.waiting.front().map(|run| (run.header().id, *name)))
                .min();
            let run = match (from_pending, from_gate) {
                (None, None) => break,
                (Some(pending), Some((gated, _))) if pending < gated => self.take_pending(),
                (Some(_), None) => self.take_pending(),
                (_, Some((_, name))) => {
                    let gate = self.gates.get_mut(name).expect("gate listed above");
                    gate.running += 1;
                    gate.waiting.pop_front()
                }
            };
            if let Some(run) = run {
                ready.push(self.take_slot(run));
            }
        }
        ready
    }

    /// Pops the head of `pending`; `None` if its own gate is full (it moves to the gate's line).
    fn take_pending(&mut self) -> Option<RunRef> {
        let run = self.pending.pop_front()?;
        self.enter_gate(run)
    }

    /// Shutdown began: takes every waiting task out (to be dropped, outside the lock).
    pub(crate) fn close(&mut self) -> Vec<RunRef> {
        self.closed = true;
        let mut waiting: Vec<RunRef> = self.pending.drain(..).collect();
        for gate in self.gates.values_mut() {
            waiting.extend(gate.waiting.drain(..));
        }
        waiting
    }
}
