//! The history store's behaviour, run against SQLite and PostgreSQL alike.
//!
//! PostgreSQL tests use `DEPLOYER_TEST_POSTGRES_URL`, or `postgres://deployer@127.0.0.1:5432/deployer_test`
//! with the password in `DEPLOYER_TEST_POSTGRES_PASSWORD` (default `deployer`); each test works
//! in a schema of its own. They fail, saying how to start the server, when it is not reachable.

mod access;
mod fixtures;
mod harness;
mod postgres;
mod sqlite;
mod suite;

/// One `#[tokio::test]` per behaviour, each on a fresh database of the given harness.
macro_rules! behaviour_suite {
    ($harness:ty) => {
        $crate::behaviour_suite!(@tests $harness;
            a_full_record_round_trips,
            concurrent_inserts_with_one_idempotency_key_create_one_deployment,
            inserting_an_existing_id_is_a_conflict,
            updates_append_events_read_back_in_seq_order,
            updating_an_unknown_deployment_fails_and_writes_nothing,
            events_of_another_deployment_are_refused,
            listings_filter_and_page_newest_first,
            updates_move_a_deployment_between_statuses_phase_after_phase,
            unfinished_deployments_come_oldest_first,
            last_deployment_finds_the_latest_of_a_target,
            outbox_entries_are_claimed_delivered_failed_killed_and_revived,
            configured_sinks_get_every_written_event,
            the_backlog_counts_pending_entries_and_one_dead_entry_can_be_revived,
            a_targets_later_entries_wait_behind_an_earlier_one_that_is_not_due,
            opening_twice_applies_the_migrations_once,
            a_database_with_a_newer_schema_is_refused,
            deployments_survive_a_restart,
            tokens_are_stored_found_by_hash_and_revoked,
            token_commands_issue_authenticate_and_revoke,
            audit_entries_are_filtered_and_paged_newest_first,
            audit_batches_are_appended_in_order_after_single_entries,
            pins_are_set_once_read_listed_and_removed,
            triggers_are_recorded_paged_and_found_by_dedup_key,
            releases_are_created_and_read_back,
            a_database_from_before_the_access_tables_is_upgraded,
            one_open_store_serves_every_port,
        );
    };
    (@tests $harness:ty; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let h = <$harness as $crate::harness::Harness>::new().await;
                $crate::suite::$name(&h).await;
                $crate::harness::Harness::cleanup(h).await;
            }
        )*
    };
}
pub(crate) use behaviour_suite;
