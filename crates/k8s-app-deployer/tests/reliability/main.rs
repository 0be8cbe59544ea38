//! The fault-injection suite: the deployer runs as a separate `serve` process over simulated
//! clusters started in this process, a bare git remote in a temporary directory and SQLite,
//! and is killed, starved of its git remote, fed failing clusters and loaded, while the tests
//! check that every accepted request ends exactly once, git and the clusters agree, and no
//! event is lost.
//!
//! Sizes come from environment variables (see each module and `docs/RELIABILITY.md`); the
//! defaults keep the whole suite to a few minutes on two cores. Tests run one at a time.
//! Figures are printed (`FIGURES {...}` lines, visible with `--nocapture`) and appended to
//! `$CARGO_TARGET_TMPDIR/reliability-figures.jsonl`.

mod crash;
mod git_outage;
mod harness;
mod kube_faults;
mod rollback;
mod shutdown;
mod soak;
