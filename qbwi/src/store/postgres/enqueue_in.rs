//! Jobs added in the caller's own transaction ([`EnqueueIn`]): they exist if and only if it
//! commits. Implemented for tokio-postgres' and deadpool-postgres' clients and transactions.

use deadpool_postgres::Object;
use tokio_postgres::error::SqlState;

use super::errors::store_error;
use super::jobs::insert_jobs;
use crate::store::{BoxFuture, EnqueueIn, Enqueued, NewJob, StoreError, sealed::Sealed};

/// The caller's client or transaction, for [`EnqueueIn`].
const CALLER: &str = "PostgreSQL (the caller's connection)";

/// Inserts one job through the caller's client or transaction.
async fn insert_one(
    client: &(impl tokio_postgres::GenericClient + Sync),
    job: NewJob,
) -> Result<Enqueued, StoreError> {
    // No origin: the job exists once the caller commits, which this process does not see.
    let ids = insert_jobs(client, std::slice::from_ref(&job), "")
        .await
        .map_err(|error| {
            if error.code() == Some(&SqlState::UNDEFINED_TABLE) {
                StoreError::Database {
                    store: CALLER.to_owned(),
                    reason: "the qbwi schema is missing: open the store with \
                             `qbwi::Store::postgres(..)` once before enqueueing in your own \
                             transaction"
                        .to_owned(),
                }
            } else {
                store_error(CALLER, &error)
            }
        })?;
    ids.first().copied().ok_or_else(|| StoreError::Database {
        store: CALLER.to_owned(),
        reason: "inserting the job returned no id".to_owned(),
    })
}

impl Sealed for tokio_postgres::Transaction<'_> {}

/// Inserts the job in this transaction: it exists if and only if the transaction commits.
impl EnqueueIn for tokio_postgres::Transaction<'_> {
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<Enqueued, StoreError>> {
        Box::pin(insert_one(self, job))
    }
}

impl Sealed for tokio_postgres::Client {}

/// Inserts the job in its own statement (committed at once outside a transaction).
impl EnqueueIn for tokio_postgres::Client {
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<Enqueued, StoreError>> {
        Box::pin(insert_one(self, job))
    }
}

impl Sealed for deadpool_postgres::Transaction<'_> {}

/// Inserts the job in this transaction: it exists if and only if the transaction commits.
impl EnqueueIn for deadpool_postgres::Transaction<'_> {
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<Enqueued, StoreError>> {
        let transaction: &tokio_postgres::Transaction<'_> = self;
        Box::pin(insert_one(transaction, job))
    }
}

impl Sealed for Object {}

/// Inserts the job in its own statement (committed at once outside a transaction).
impl EnqueueIn for Object {
    fn __insert(&self, job: NewJob) -> BoxFuture<'_, Result<Enqueued, StoreError>> {
        let client: &tokio_postgres::Client = self;
        Box::pin(insert_one(client, job))
    }
}
