//! The store's tests: the role contract every backend passes (`suite.rs`,
//! instantiated once per backend below) and each backend's own (`sqlite.rs`,
//! `postgres.rs`). The PostgreSQL ones need a server: `scripts/test`
//! starts one and names it in `SOMMELIER_TEST_POSTGRES_URL`; without it
//! they say so and pass.

mod pgvector;
mod postgres;
mod sqlite;
mod suite;

use sommelier_store::Store;
use std::sync::Arc;

/// A backend under test.
pub trait Backend {
    /// The store over `dir`; opening the same folder again reopens the same
    /// data.
    fn open(&self, dir: &std::path::Path) -> Arc<dyn Store>;
}

/// The suite as `#[test]`s against one backend (an expression giving
/// `Some(backend)`, or `None` when it is not available here).
macro_rules! suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            suite!(@tests $backend, [
                upserts_are_idempotent_and_deletes_leave_tombstones,
                events_are_deduplicated_by_id_and_scanned_in_order,
                a_batch_of_events_appends_in_order_and_flags_duplicates,
                a_failed_transaction_writes_nothing,
                data_survives_reopening,
                vectors_are_stored_per_model_with_their_hash,
                chat_turns_append_in_order_and_memory_round_trips,
                forgetting_a_user_removes_every_row_of_theirs,
                kept_counters_agree_with_the_rows,
                the_catalog_log_names_every_changed_item_since_a_position,
                exposures_are_kept_by_request_id_and_read_by_user,
                exposures_scan_by_time_and_experiments_are_kept,
            ]);
        }
    };
    (@tests $backend:expr, [$($test:ident),* $(,)?]) => {
        $(
            #[test]
            fn $test() {
                if let Some(b) = $backend {
                    crate::suite::$test(&b);
                }
            }
        )*
    };
}

suite!(sqlite_backend, Some(crate::sqlite::Sqlite));
suite!(postgres_backend, crate::postgres::Postgres::from_env());
