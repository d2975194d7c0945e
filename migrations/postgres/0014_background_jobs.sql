-- Background jobs beyond the order export: catalogue exports and imports (dry run or for
-- real) and large reports share the export_job table, its progress and its download. What a
-- job found that is not a file (an import's per-row errors and counts) is kept in `detail`
-- as JSON.
ALTER TABLE export_job DROP CONSTRAINT export_job_kind_check;
ALTER TABLE export_job ADD CONSTRAINT export_job_kind_check
    CHECK (kind IN ('orders', 'catalogue_export', 'catalogue_import', 'report'));
ALTER TABLE export_job ADD COLUMN detail TEXT NOT NULL DEFAULT '';
