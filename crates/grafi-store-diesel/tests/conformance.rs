//! The shared conformance suite, unchanged, against PostgreSQL: one scratch database per check,
//! once per write path.

mod common;

/// The defaults: batches of 64 events or more are tried as one `COPY`, smaller ones `INSERT`.
mod default_config {
    use super::common;
    grafi_store_core::conformance_suite!(common::setup);
}

/// Every batch through `INSERT … ON CONFLICT` only.
mod insert_only {
    use super::common;
    grafi_store_core::conformance_suite!(common::setup_insert_only);
}

/// Every batch tried as a `COPY` first, down to single events.
mod copy_always {
    use super::common;
    grafi_store_core::conformance_suite!(common::setup_copy_always);
}
