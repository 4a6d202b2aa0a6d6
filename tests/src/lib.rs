//! Integration tests for qbwi live in `tests/`; trybuild cases in `ui/`. This library is empty.
