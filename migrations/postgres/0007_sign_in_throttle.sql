-- Sign-in attempts per account (customer::throttle). Kept in step with
-- migrations/sqlite/0007_sign_in_throttle.sql; only the dialect differs.
CREATE TABLE sign_in_throttle (
    -- SHA-256 (hex) of the normalised email: known accounts and unknown emails alike, and
    -- never the email itself.
    key TEXT PRIMARY KEY,
    -- Attempts counted in the current window (counted before the password is checked).
    attempts BIGINT NOT NULL,
    -- Unix seconds: when the window's failures are forgotten (if no lock followed them).
    window_ends BIGINT NOT NULL,
    -- Unix seconds: locked until then; 0 = not locked.
    locked_until BIGINT NOT NULL DEFAULT 0
);
