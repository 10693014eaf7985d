-- A finished work order keeps the settings it ran with, so reading it back through
-- GET /work-orders/{id} shows them (entries logged before this migration show 0).
ALTER TABLE work_order_log
    ADD COLUMN max_retries           INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN backoff_seconds       INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN claim_timeout_seconds INTEGER NOT NULL DEFAULT 0;
