-- Installed plugins, their configuration and secrets. Kept in step with
-- migrations/sqlite/0003_plugins.sql; only the dialect differs.

-- One row per installed plugin. The verified package (plugin.toml + plugin.wasm) lives in the
-- data directory at `package_path` (relative to it); `sha256` is the component's hash, checked
-- again whenever a process loads it.
CREATE TABLE plugin_installed (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    world TEXT NOT NULL,
    package_path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    -- NULL while enabled; 'admin' or 'failures' (switched off automatically) when disabled.
    disabled_reason TEXT CHECK (disabled_reason IN ('admin', 'failures')),
    failure_count BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    -- Hosts the administrator approved for outgoing HTTP, one per line.
    approved_hosts TEXT NOT NULL DEFAULT '',
    installed_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Non-secret configuration values, validated against the manifest's schema before they are
-- written.
CREATE TABLE plugin_config (
    plugin_id TEXT NOT NULL REFERENCES plugin_installed(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (plugin_id, key)
);

-- Secret configuration values (API keys), apart from the rest: only the loader reads this
-- table; listings and config views never select from it.
CREATE TABLE plugin_secret (
    plugin_id TEXT NOT NULL REFERENCES plugin_installed(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (plugin_id, key)
);

-- Bumped in the same transaction as every change above, so every host process sharing the
-- database notices (by polling it) and brings its plugin registry in step.
CREATE TABLE plugin_state (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO plugin_state (id, version) VALUES (1, 0);
