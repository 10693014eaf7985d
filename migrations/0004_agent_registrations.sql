-- Tenancy: an agent serves only the generators it registered with (its consent).
--
-- Agents and generators are soft-deleted, so their registrations stay with them (a deleted
-- generator's stacks still send their deletion markers to the agents that served them); the
-- cascades only matter if a row is ever removed for good.
CREATE TABLE agent_registrations (
    agent_id     UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    generator_id UUID NOT NULL REFERENCES generators (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, generator_id)
);
-- "Which agents serve this generator?" (`GET /generators/{id}/registered-agents`).
CREATE INDEX agent_registrations_generator_idx ON agent_registrations (generator_id, agent_id);

-- Stacks an agent stopped serving because it deregistered from their generator: the agent
-- removes their objects (as for a deletion marker). Cleared when it registers again.
CREATE TABLE agent_withdrawn_stacks (
    agent_id     UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    stack_id     UUID NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
    generator_id UUID NOT NULL REFERENCES generators (id) ON DELETE CASCADE,
    withdrawn_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, stack_id)
);
CREATE INDEX agent_withdrawn_stacks_generator_idx ON agent_withdrawn_stacks (generator_id);

-- The system generator `__system__` is the built-in owner of the stacks the admin creates
-- (the nil id, created by 0001): fleet-wide stacks, which reach every agent because every agent
-- is registered with it. A user generator that already took the name gives it up first.
UPDATE generators SET name = left(name || '-' || left(id::text, 8), 255)
 WHERE name = '__system__' AND id <> '00000000-0000-0000-0000-000000000000'
   AND deleted_at IS NULL;
INSERT INTO generators (id, name, description, is_active)
VALUES ('00000000-0000-0000-0000-000000000000', '__system__',
        'System generator: owns fleet-wide stacks; every agent is registered with it', TRUE)
ON CONFLICT (id) DO UPDATE
   SET name = EXCLUDED.name, description = EXCLUDED.description, deleted_at = NULL;

-- Today's agents keep what they run today through explicit targets: each is registered with the
-- system generator and with every generator whose stacks it targets. Stacks that reached an
-- agent only by label or annotation from any other generator stop reaching it (README, upgrade
-- notes).
INSERT INTO agent_registrations (agent_id, generator_id)
SELECT a.id, '00000000-0000-0000-0000-000000000000' FROM agents a
ON CONFLICT DO NOTHING;
INSERT INTO agent_registrations (agent_id, generator_id)
SELECT DISTINCT t.agent_id, s.generator_id
  FROM agent_targets t JOIN stacks s ON s.id = t.stack_id
ON CONFLICT DO NOTHING;

-- A text that may hold a UUID (a field of an event's JSON data), as a UUID or NULL.
CREATE FUNCTION brokkr_uuid_or_null(value TEXT) RETURNS UUID
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        THEN value::uuid
    END
$$;
