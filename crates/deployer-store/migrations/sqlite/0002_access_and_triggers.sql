-- API tokens, the audit log, pins, received triggers and CI releases.
--
-- Times are UTC text in the same fixed format as in 0001, so comparing the text compares the
-- times. JSON columns hold lists (scopes, rule names, deployment ids) that are only ever read
-- whole.

-- API tokens. Only the SHA-256 of a token is kept; `id` is its public prefix.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY NOT NULL,      -- 8 base62 characters: the token's public id
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,           -- SHA-256 of the whole token, lowercase hex
    scopes       TEXT NOT NULL CHECK (json_valid(scopes)),
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
) STRICT;

-- Who did what, allowed or not. Append-only.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the log's order
    at          TEXT NOT NULL,
    identity    TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
    status_code INTEGER CHECK (status_code BETWEEN 100 AND 599),
    detail      TEXT,
    client_ip   TEXT
) STRICT;

CREATE INDEX audit_log_identity_idx ON audit_log (identity, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_outcome_idx ON audit_log (outcome, seq);
CREATE INDEX audit_log_at_idx ON audit_log (at, seq);

-- Targets that automatic triggers must leave alone.
CREATE TABLE pins (
    region        TEXT NOT NULL,
    cluster       TEXT NOT NULL,
    file          TEXT NOT NULL,
    pinned_by     TEXT NOT NULL,
    reason        TEXT,
    deployment_id TEXT,
    pinned_at     TEXT NOT NULL,
    PRIMARY KEY (region, cluster, file)
) STRICT;

-- Every trigger received (webhook, CI release, API call) and what came of it.
CREATE TABLE triggers (
    id             TEXT PRIMARY KEY NOT NULL,    -- a ULID: sorts by arrival time
    at             TEXT NOT NULL,
    source         TEXT NOT NULL,
    payload_digest TEXT NOT NULL,
    identity       TEXT NOT NULL,
    matched_rules  TEXT NOT NULL CHECK (json_valid(matched_rules)),
    deployment_ids TEXT NOT NULL CHECK (json_valid(deployment_ids)),
    outcome        TEXT NOT NULL,
    reason         TEXT,
    dedup_key      TEXT
) STRICT;

CREATE INDEX triggers_dedup_idx ON triggers (dedup_key, at) WHERE dedup_key IS NOT NULL;

-- CI releases, each fanned out into deployments.
CREATE TABLE releases (
    id             TEXT PRIMARY KEY NOT NULL,    -- a ULID
    at             TEXT NOT NULL,
    tag            TEXT NOT NULL,
    image          TEXT NOT NULL,
    branch         TEXT,
    environment    TEXT,
    commit_sha     TEXT,
    build_url      TEXT,
    deployment_ids TEXT NOT NULL CHECK (json_valid(deployment_ids))
) STRICT;
