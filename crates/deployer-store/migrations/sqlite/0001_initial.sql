-- The deployment history, its event log and the outbox of events to deliver to sinks.
--
-- Times are UTC text in one fixed format (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), so that comparing
-- the text compares the times. The `record` and `payload` columns keep the full JSON for
-- forward compatibility; the other columns exist to be filtered and sorted on.

CREATE TABLE deployments (
    id              TEXT PRIMARY KEY NOT NULL,   -- a ULID: sorts by acceptance time
    release_id      TEXT,
    region          TEXT NOT NULL,
    cluster         TEXT NOT NULL,
    file            TEXT NOT NULL,
    status          TEXT NOT NULL,
    phase           TEXT NOT NULL,
    method          TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,                 -- NULLs are distinct: many rows may have none
    requested_by    TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT,
    commit_sha      TEXT,
    record          TEXT NOT NULL CHECK (json_valid(record))
) STRICT;

-- Listing newest first, by target, status or release.
CREATE INDEX deployments_target_idx ON deployments (region, cluster, file, id);
CREATE INDEX deployments_cluster_idx ON deployments (cluster, id);
CREATE INDEX deployments_file_idx ON deployments (file, id);
CREATE INDEX deployments_status_idx ON deployments (status, id);
CREATE INDEX deployments_release_idx ON deployments (release_id, id) WHERE release_id IS NOT NULL;
-- The last deployment of a target with a given status.
CREATE INDEX deployments_target_status_idx ON deployments (region, cluster, file, status, id);
-- What a restart resumes: unfinished deployments, oldest first.
CREATE INDEX deployments_unfinished_idx ON deployments (created_at, id)
    WHERE status IN ('queued', 'running');

CREATE TABLE deployment_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- global order; never reused
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    kind          TEXT NOT NULL,
    at            TEXT NOT NULL,
    payload       TEXT NOT NULL CHECK (json_valid(payload))
) STRICT;

CREATE INDEX deployment_events_deployment_idx ON deployment_events (deployment_id, seq);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq       INTEGER NOT NULL REFERENCES deployment_events (seq),
    sink            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    UNIQUE (event_seq, sink)
) STRICT;

-- Claiming due entries of a sink in event order.
CREATE INDEX outbox_due_idx ON outbox (sink, next_attempt_at, event_seq) WHERE state = 'pending';
-- Listing dead entries of a sink.
CREATE INDEX outbox_dead_idx ON outbox (sink, event_seq) WHERE state = 'dead';
