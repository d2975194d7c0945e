-- Background jobs beyond the order export: catalogue exports and imports (dry run or for
-- real) and large reports share the export_job table, its progress and its download. What a
-- job found that is not a file (an import's per-row errors and counts) is kept in `detail`
-- as JSON. SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE export_job_new (
    id INTEGER PRIMARY KEY,
    staff_id BIGINT REFERENCES staff_user(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('orders', 'catalogue_export', 'catalogue_import', 'report')),
    query TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    total_rows BIGINT NOT NULL DEFAULT 0,
    done_rows BIGINT NOT NULL DEFAULT 0,
    file_name TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    -- Moved on after every batch: a running export that stops moving has died with its process.
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
INSERT INTO export_job_new (id, staff_id, kind, query, state, total_rows, done_rows, file_name,
    error, created_at, updated_at, finished_at)
SELECT id, staff_id, kind, query, state, total_rows, done_rows, file_name, error, created_at,
    updated_at, finished_at FROM export_job;
DROP TABLE export_job;
ALTER TABLE export_job_new RENAME TO export_job;
