-- The deployment history, its event log and the outbox of events to deliver to sinks.
--
-- The `record` and `payload` columns keep the full JSON for forward compatibility; the other
-- columns exist to be filtered and sorted on. They are `json`, not `jsonb`: nothing queries
-- inside them, and `json` keeps the text as written, including `\u0000` escapes that `jsonb`
-- refuses (a kubelet message can contain anything). Ids use the "C" collation so that ULIDs sort
-- byte-wise, which is acceptance-time order.

CREATE TABLE deployments (
    id              TEXT COLLATE "C" PRIMARY KEY,
    release_id      TEXT,
    region          TEXT NOT NULL,
    cluster         TEXT NOT NULL,
    file            TEXT NOT NULL,
    status          TEXT NOT NULL,
    phase           TEXT NOT NULL,
    method          TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,                 -- NULLs are distinct: many rows may have none
    requested_by    TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    commit_sha      TEXT,
    record          JSON NOT NULL
);

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
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- global order
    deployment_id TEXT COLLATE "C" NOT NULL REFERENCES deployments (id),
    kind          TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    payload       JSON NOT NULL
);

CREATE INDEX deployment_events_deployment_idx ON deployment_events (deployment_id, seq);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_seq       BIGINT NOT NULL REFERENCES deployment_events (seq),
    sink            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    UNIQUE (event_seq, sink)
);

-- Claiming due entries of a sink in event order.
CREATE INDEX outbox_due_idx ON outbox (sink, next_attempt_at, event_seq) WHERE state = 'pending';
-- Listing dead entries of a sink.
CREATE INDEX outbox_dead_idx ON outbox (sink, event_seq) WHERE state = 'dead';
