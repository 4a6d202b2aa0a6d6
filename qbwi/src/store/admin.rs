//! The operator's API on a [`Store`]: see the jobs (listings paged by id, one job's detail, counts
//! by state and task, runs finished per minute, the hosts), act on them (retry, delete, cancel;
//! one job or every job a filter matches), and pause or resume a task for every host. The
//! dashboard and the `qbwi` command line are built on these calls alone.
//!
//! Actions over a filter run in batches of [`BATCH`], each its own short transaction: acting on a
//! million dead jobs never holds a lock for long, and what one batch did stays done if a later
//! one fails.

use super::{
    Action, DeadJob, JobCounts, JobDetail, JobId, JobQuery, JobSummary, MinuteCounts, Node,
    Selection, Store, StoreError, TaskCounts, now_millis,
};

/// How many jobs one transaction of an action over a filter changes at most.
pub(crate) const BATCH: usize = 1_000;

/// How far back the per-minute counts go: an hour.
pub(crate) const MINUTES_KEPT: i64 = 60 * 60 * 1000;

impl Store {
    /// Dead jobs (out of attempts, or with a payload that could not be decoded), oldest first, at
    /// most `limit`.
    pub async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, StoreError> {
        self.backend().dead_jobs(limit).await
    }

    /// Gives a dead job a fresh set of attempts, due now. `Ok(false)` if no dead job has this id.
    pub async fn retry_dead(&self, id: JobId) -> Result<bool, StoreError> {
        let selection = Selection {
            id: Some(id),
            state: Some(super::JobState::Dead),
            task: None,
        };
        Ok(self.act(Action::Retry, selection, 1).await? == 1)
    }

    /// Deletes a dead job. `Ok(false)` if no dead job has this id.
    pub async fn delete_dead(&self, id: JobId) -> Result<bool, StoreError> {
        let selection = Selection {
            id: Some(id),
            state: Some(super::JobState::Dead),
            task: None,
        };
        Ok(self.act(Action::Delete, selection, 1).await? == 1)
    }

    /// How many jobs the store holds, by state.
    pub async fn counts(&self) -> Result<JobCounts, StoreError> {
        self.backend().counts().await
    }

    /// The jobs `query` asks for, newest first: a page of at most its limit. The next page is
    /// `query.before(last.id)`.
    ///
    /// ```no_run
    /// # async fn page(store: qbwi::Store) -> Result<(), qbwi::StoreError> {
    /// use qbwi::{JobQuery, JobState};
    ///
    /// let query = JobQuery::new().state(JobState::Dead).limit(20);
    /// let page = store.jobs(&query).await?;
    /// if let Some(last) = page.last() {
    ///     let next = store.jobs(&query.clone().before(last.id)).await?;
    /// #   drop(next);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn jobs(&self, query: &JobQuery) -> Result<Vec<JobSummary>, StoreError> {
        self.backend().jobs(query.clone()).await
    }

    /// One job, with its arguments and times; `Ok(None)` if there is no job with this id (it
    /// completed and was not kept, or it was deleted).
    pub async fn job(&self, id: JobId) -> Result<Option<JobDetail>, StoreError> {
        self.backend().job(id).await
    }

    /// Runs a dead, cancelled or retrying job again, now: a dead or cancelled one with a fresh
    /// set of attempts, a retrying one without waiting out its backoff. `Ok(false)` if the job is
    /// in none of these states (or does not exist).
    pub async fn retry(&self, id: JobId) -> Result<bool, StoreError> {
        Ok(self.act(Action::Retry, Selection::one(id), 1).await? == 1)
    }

    /// Deletes a job that is not running. `Ok(false)` if it is running (cancel it first) or does
    /// not exist.
    pub async fn delete(&self, id: JobId) -> Result<bool, StoreError> {
        Ok(self.act(Action::Delete, Selection::one(id), 1).await? == 1)
    }

    /// Cancels a job: a scheduled, ready or retrying one becomes cancelled at once; a running one
    /// is asked to stop, and its host cancels the run's token at its next heartbeat (within a
    /// third of its lease), after which the job ends cancelled, not retried. `Ok(false)` if the job
    /// has finished, is dead, or does not exist.
    pub async fn cancel(&self, id: JobId) -> Result<bool, StoreError> {
        Ok(self.act(Action::Cancel, Selection::one(id), 1).await? == 1)
    }

    /// [`retry`](Store::retry) every job that `query`'s state and task match (its page is not
    /// looked at); how many.
    pub async fn retry_all(&self, query: &JobQuery) -> Result<u64, StoreError> {
        self.act_on_all(Action::Retry, query).await
    }

    /// [`delete`](Store::delete) every job that `query`'s state and task match; how many.
    pub async fn delete_all(&self, query: &JobQuery) -> Result<u64, StoreError> {
        self.act_on_all(Action::Delete, query).await
    }

    /// [`cancel`](Store::cancel) every job that `query`'s state and task match; how many.
    pub async fn cancel_all(&self, query: &JobQuery) -> Result<u64, StoreError> {
        self.act_on_all(Action::Cancel, query).await
    }

    /// Stops every host from starting jobs of the task named `task` (its registered name), until
    /// [`resume`](Store::resume). Running jobs run on; new ones are still accepted and wait.
    /// Hosts see it at their next claim. `Ok(false)` if it was paused already.
    pub async fn pause(&self, task: &str) -> Result<bool, StoreError> {
        self.backend().pause(task.to_owned(), true).await
    }

    /// Lets every host start jobs of `task` again, at once. `Ok(false)` if it was not paused.
    pub async fn resume(&self, task: &str) -> Result<bool, StoreError> {
        let resumed = self.backend().pause(task.to_owned(), false).await?;
        if resumed {
            self.announce_added();
        }
        Ok(resumed)
    }

    /// The names of the paused tasks, in order.
    pub async fn paused_tasks(&self) -> Result<Vec<String>, StoreError> {
        self.backend().paused().await
    }

    /// The hosts running durable jobs from this store: each registers when it starts and reports
    /// every third of its lease; one that has not reported for a whole lease is left out.
    pub async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        self.backend().nodes().await
    }

    /// Jobs of each task by state, tasks in order. Only the states that are not finished are
    /// counted (`completed` and `cancelled` are 0): the history kept for the retention would make
    /// this a walk of every job. [`finished_per_minute`](Store::finished_per_minute) tells how
    /// many finish.
    pub async fn counts_by_task(&self) -> Result<Vec<TaskCounts>, StoreError> {
        self.backend().counts_by_task().await
    }

    /// Runs that ended in each minute of the last hour, summed over the tasks: sixty entries,
    /// oldest first (minutes without any are zero). Read from a count the store keeps as runs
    /// end, not from the jobs, so it is cheap whatever the history holds.
    pub async fn finished_per_minute(&self) -> Result<Vec<MinuteCounts>, StoreError> {
        const MINUTE: i64 = 60_000;
        let this_minute = now_millis().div_euclid(MINUTE) * MINUTE;
        let first = this_minute - 59 * MINUTE;
        let kept = self.backend().finished_per_minute(first).await?;
        Ok((0..60)
            .map(|n| {
                let minute = first + n * MINUTE;
                kept.iter()
                    .find(|counts| super::millis(counts.minute) == minute)
                    .copied()
                    .unwrap_or(MinuteCounts {
                        minute: super::from_millis(minute),
                        completed: 0,
                        failed: 0,
                    })
            })
            .collect())
    }

    /// Does `action` to the jobs of `selection`, and wakes this process's workers if it may have
    /// made some ready.
    async fn act(
        &self,
        action: Action,
        selection: Selection,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let changed = self.backend().act(action, selection, limit).await?;
        if changed > 0 && action == Action::Retry {
            self.announce_added();
        }
        Ok(changed)
    }

    /// Does `action` to every job `query`'s filter matches, a batch at a time.
    async fn act_on_all(&self, action: Action, query: &JobQuery) -> Result<u64, StoreError> {
        let selection = Selection {
            id: None,
            state: query.get_state(),
            task: query.get_task().map(str::to_owned),
        };
        let mut changed = 0;
        loop {
            let batch = self.act(action, selection.clone(), BATCH).await?;
            changed += batch;
            if batch < BATCH as u64 {
                return Ok(changed);
            }
            tokio::task::yield_now().await;
        }
    }
}

impl Selection {
    /// The job `id`, whatever its state.
    fn one(id: JobId) -> Selection {
        Selection {
            id: Some(id),
            state: None,
            task: None,
        }
    }
}
