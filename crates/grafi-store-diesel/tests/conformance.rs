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

/// Streams and subscriptions (positions from `grafi_tx`, wake-ups from `LISTEN`/`NOTIFY`).
mod streams {
    use super::common;
    grafi_store_core::streams_suite!(common::setup);
}

/// The same with `NOTIFY` off: subscriptions see new events by polling alone.
mod streams_polling_only {
    use super::common;

    async fn setup() -> common::TestStore {
        common::setup_with(|b| {
            b.notify(false)
                .poll_interval(std::time::Duration::from_millis(50))
        })
        .await
    }

    grafi_store_core::streams_suite!(setup);
}

mod lifecycle {
    use super::common;
    grafi_store_core::lifecycle_suite!(common::setup);
}

mod lifecycle_insert_only {
    use super::common;
    grafi_store_core::lifecycle_suite!(common::setup_insert_only);
}

mod lifecycle_copy_always {
    use super::common;
    grafi_store_core::lifecycle_suite!(common::setup_copy_always);
}
