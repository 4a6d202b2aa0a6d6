//! The one type the host and both builds of `crate::metrics` (with the feature and without) share.

/// What becomes of a durable job whose run ended: its `outcome` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurableEnd {
    Completed,
    Retried,
    Dead,
    Cancelled,
    Released,
}
