-- PostgreSQL's 0027 adds trigram indexes for the dashboard's substring searches. SQLite has
-- no such index; its searches scan, which is fast at the sizes the embedded default is for.
-- Kept so both folders number alike.
SELECT 1;
