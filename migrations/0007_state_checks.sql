-- The last state columns without a CHECK: each allows exactly the values of its state in
-- `brokkr_schema::states` (api/tests/resources.rs compares them). A new agent starts INACTIVE
-- until an admin activates it; the column's default now says so too.
ALTER TABLE agents
    ALTER COLUMN status SET DEFAULT 'INACTIVE',
    ADD CONSTRAINT agents_status_check CHECK (status IN ('ACTIVE', 'INACTIVE'));
ALTER TABLE agent_events
    ADD CONSTRAINT agent_events_status_check CHECK (status IN ('SUCCESS', 'FAILURE'));
ALTER TABLE template_rollouts
    ADD CONSTRAINT template_rollouts_actor_type_check
        CHECK (actor_type IN ('admin', 'agent', 'generator', 'system'));
