//! The whole conformance suite on a grafi 0.0.36 table (the store creates it with grafi
//! 0.0.36's DDL), its generated events written in grafi 0.0.36's dialect: the same scenarios
//! the 0.0.24 table passes, through the default, INSERT-only and COPY-always paths.

mod common;

use grafi_events::Dialect;
use grafi_store_core::conformance::set_suite_dialect;
use grafi_store_core::Limits;

async fn setup() -> common::TestStore {
    setup_036(|b| b).await
}

async fn setup_036(
    configure: impl FnOnce(
        grafi_store_diesel::DieselStoreBuilder,
    ) -> grafi_store_diesel::DieselStoreBuilder,
) -> common::TestStore {
    set_suite_dialect(Dialect::V0_0_36);
    let store = common::setup_with(|b| configure(b.dialect(Dialect::V0_0_36))).await;
    assert_eq!(store.dialect(), Dialect::V0_0_36);
    store
}

async fn setup_insert_only() -> common::TestStore {
    setup_036(|b| b.copy(None, 0)).await
}

async fn setup_copy_always() -> common::TestStore {
    setup_036(|b| b.copy(Some(1), 2)).await
}

async fn setup_with_limits(limits: Limits) -> common::TestStore {
    setup_036(|b| b.limits(limits)).await
}

async fn setup_concurrent() -> common::TestStore {
    setup_036(|b| b.pool_size(20)).await
}

mod default_config {
    grafi_store_core::conformance_suite!(super::setup);
}

mod insert_only {
    grafi_store_core::conformance_suite!(super::setup_insert_only);
}

mod copy_always {
    grafi_store_core::conformance_suite!(super::setup_copy_always);
}

mod bad_input {
    grafi_store_core::bad_input_suite!(
        backend: "postgres, grafi 0.0.36",
        setup: super::setup,
        setup_with_limits: super::setup_with_limits,
    );
}

mod concurrency {
    grafi_store_core::concurrency_suite!(backend: "postgres, grafi 0.0.36", setup: super::setup_concurrent);
}

mod model {
    grafi_store_core::model_suite!(backend: "postgres, grafi 0.0.36", setup: super::setup);
}

mod streams {
    grafi_store_core::streams_suite!(super::setup);
}

mod lifecycle {
    grafi_store_core::lifecycle_suite!(super::setup);
}

mod lifecycle_copy_always {
    grafi_store_core::lifecycle_suite!(super::setup_copy_always);
}
