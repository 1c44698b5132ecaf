//! A metered store keeps positions, streams and subscriptions: the streams conformance group
//! on `Metered` around the memory store.
#![cfg(feature = "metrics")]

use std::sync::Arc;

use grafi_store::{MemoryEventStore, Metered};

async fn setup() -> Box<Metered> {
    Box::new(Metered::new(Arc::new(MemoryEventStore::new()), "memory"))
}

grafi_store_core::streams_suite!(setup);

mod lifecycle {
    grafi_store_core::lifecycle_suite!(super::setup);
}
