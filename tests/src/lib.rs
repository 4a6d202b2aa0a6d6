//! Support for qbwi's integration tests (in `tests/`; trybuild cases in `ui/`).

pub mod postgres;
