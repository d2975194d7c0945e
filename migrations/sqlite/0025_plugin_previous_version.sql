-- The package an upgrade replaced, kept so an administrator can roll back to it (one step:
-- rolling back swaps the two, so a second rollback is the upgrade again).
ALTER TABLE plugin_installed ADD COLUMN previous_version TEXT;
ALTER TABLE plugin_installed ADD COLUMN previous_package_path TEXT;
ALTER TABLE plugin_installed ADD COLUMN previous_sha256 TEXT;
