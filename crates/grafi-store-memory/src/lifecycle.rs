//! Erasure, purges and the audit trail of the in-memory store.
//!
//! The store's hash key is random per store: nothing outside the process can test a ledger
//! entry or an audit hash against a guessed id.

use chrono::{DateTime, Utc};
use grafi_store_core::lifecycle::{
    hex, keyed_hash, report_of, select_erased, AuditAction, HashDomain,
};
use grafi_store_core::{AuditRecord, Erasure, ErasureReport, PurgeReport, RunMode};
use parking_lot::{Mutex, RwLock};

use crate::index::Index;

pub(crate) struct Lifecycle {
    key: [u8; 32],
    trail: Mutex<Vec<AuditRecord>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self {
            key,
            trail: Mutex::default(),
        }
    }
}

impl Lifecycle {
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// Selects under the write lock (for a dry run, the read lock), so that what is counted
    /// is exactly what is removed.
    pub(crate) fn erase(
        &self,
        index: &RwLock<Index>,
        erasure: &Erasure,
        mode: RunMode,
    ) -> ErasureReport {
        if mode == RunMode::DryRun {
            let index = index.read();
            let events = index.events();
            let selected = select_erased(erasure, events.iter().map(|e| &**e));
            return report_of(selected.iter().map(|&i| &*events[i]));
        }
        let mut index = index.write();
        let events = index.events();
        let selected = select_erased(erasure, events.iter().map(|e| &**e));
        let report = report_of(selected.iter().map(|&i| &*events[i]));
        index.remove(&selected, Some(&self.key));
        let subject = keyed_hash(
            &self.key,
            HashDomain::Subject(erasure.action()),
            erasure.subject(),
        );
        self.audit(erasure.action(), Some(hex(&subject)), None, report.events);
        report
    }

    pub(crate) fn purge(
        &self,
        index: &RwLock<Index>,
        before: DateTime<Utc>,
        mode: RunMode,
    ) -> PurgeReport {
        let older = |index: &Index| -> Vec<usize> {
            (0..index.events().len())
                .filter(|&i| index.events()[i].utc() < before)
                .collect()
        };
        if mode == RunMode::DryRun {
            return PurgeReport::new(older(&index.read()).len() as u64, before);
        }
        let mut index = index.write();
        let removed = older(&index);
        index.remove(&removed, None);
        let events = removed.len() as u64;
        self.audit(AuditAction::Purge, None, Some(before), events);
        PurgeReport::new(events, before)
    }

    pub(crate) fn trail(&self) -> Vec<AuditRecord> {
        self.trail.lock().clone()
    }

    fn audit(
        &self,
        action: AuditAction,
        subject_hash: Option<String>,
        before: Option<DateTime<Utc>>,
        events: u64,
    ) {
        let mut trail = self.trail.lock();
        let id = trail.len() as u64 + 1;
        let at = trail
            .last()
            .map_or_else(Utc::now, |last| last.at.max(Utc::now()));
        trail.push(AuditRecord::new(
            id,
            at,
            action,
            subject_hash,
            before,
            events,
            process_user(),
            process_name(),
        ));
    }
}

/// Who runs the process: what stands for the database role of the in-memory store.
fn process_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The program's file name: what stands for the `application_name`.
fn process_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}
