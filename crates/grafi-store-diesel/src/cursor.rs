//! Page cursors ↔ row ids.
//!
//! A cursor is opaque to callers but must order like the `id` it stands for across the whole
//! `bigint` range: the table is shared, and a row another client inserted with id 0 or a
//! negative id must still be visited. Flipping the sign bit maps `i64` onto `u64` keeping the
//! order (`i64::MIN` → 0, -1 → 2^63 - 1, 0 → 2^63).

const SIGN: u64 = 1 << 63;

/// The cursor that resumes after the row with this id.
pub(crate) fn of_id(id: i64) -> u64 {
    (id as u64) ^ SIGN
}

/// The id a cursor resumes after.
pub(crate) fn id_after(cursor: u64) -> i64 {
    (cursor ^ SIGN) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_order_like_ids_over_the_whole_range() {
        let ids = [
            i64::MIN,
            i64::MIN + 1,
            -2,
            -1,
            0,
            1,
            2,
            i64::MAX - 1,
            i64::MAX,
        ];
        for pair in ids.windows(2) {
            assert!(of_id(pair[0]) < of_id(pair[1]), "{pair:?}");
        }
        for id in ids {
            assert_eq!(id_after(of_id(id)), id);
        }
    }
}
