//! The shared conformance suite, unchanged, against PostgreSQL: one scratch database per check.

mod common;

grafi_store_core::conformance_suite!(common::setup);
