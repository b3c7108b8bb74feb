-- Bulk CSV user imports (UMAaaS POST /users/bulk/csv). The uploaded file is
-- kept with its job, so a job survives restarts and is processed by any
-- vaspd process: the one holding the lease (lease_token, lease_until)
-- processes rows one transaction each, and each of those transactions
-- creates the row's user, records its error, and advances next_row and the
-- counters together. A crash at any point leaves the job at a row boundary.
CREATE TABLE user_imports (
    id           TEXT PRIMARY KEY,
    status       TEXT NOT NULL,              -- PENDING, PROCESSING, COMPLETED, FAILED
    csv          BYTEA NOT NULL,             -- the uploaded file, as received
    domain       TEXT NOT NULL,              -- our UMA domain when it was uploaded
    total        BIGINT NOT NULL,
    next_row     BIGINT NOT NULL,            -- data rows already processed
    successful   BIGINT NOT NULL,
    failed       BIGINT NOT NULL,
    failure      TEXT,                       -- why a FAILED job stopped
    lease_token  TEXT,
    lease_until  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX user_imports_due ON user_imports (status, lease_until);

CREATE TABLE user_import_errors (
    import_id      TEXT NOT NULL REFERENCES user_imports (id) ON DELETE CASCADE,
    row_number     BIGINT NOT NULL,
    correlation_id TEXT NOT NULL,
    status         INTEGER NOT NULL,
    code           TEXT NOT NULL,
    message        TEXT NOT NULL,
    PRIMARY KEY (import_id, row_number)
);
