-- Themes: which one the shop shows, and the one before it (what a rollback goes back to).
-- One row; `version` is bumped by every change (a switch, an install, a removal) so every
-- process sharing the database follows within a poll, as with `plugin_state`. A NULL
-- `active` means the configured theme (EMPORIUM_THEME). Kept in step with the other
-- dialect's 0026_themes.sql.
CREATE TABLE theme_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    active TEXT,
    previous TEXT,
    version BIGINT NOT NULL,
    updated_at TEXT
);
INSERT INTO theme_state (id, active, previous, version, updated_at) VALUES (1, NULL, NULL, 0, NULL);
