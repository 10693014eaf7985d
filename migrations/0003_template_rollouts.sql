-- Template rollouts: re-rendering, with a template's latest version, every stack whose latest
-- deployment object came from an older version of it (one `template_render` job per stack).

CREATE TABLE template_rollouts (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The version rolled out (the latest when the rollout started).
    template_id      UUID NOT NULL REFERENCES stack_templates (id),
    template_version INTEGER NOT NULL CHECK (template_version >= 1),
    -- Who started it: the deployment objects it creates are recorded in their name.
    actor_type       TEXT NOT NULL,
    actor_id         UUID,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when the last stack has its result.
    completed_at     TIMESTAMPTZ
);
CREATE INDEX template_rollouts_template_idx ON template_rollouts (template_id);

-- One row per stack of a rollout, with its outcome.
CREATE TABLE template_rollout_stacks (
    rollout_id                    UUID NOT NULL REFERENCES template_rollouts (id) ON DELETE CASCADE,
    stack_id                      UUID NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
    -- The stack's latest deployment object when the rollout started, and its template version.
    previous_deployment_object_id UUID NOT NULL,
    previous_template_version     INTEGER NOT NULL,
    status                        TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'rendered', 'invalid_parameters', 'failed', 'skipped')),
    deployment_object_id          UUID REFERENCES deployment_objects (id) ON DELETE SET NULL,
    error                         TEXT,
    validation_errors             JSONB,
    updated_at                    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (rollout_id, stack_id)
);
CREATE INDEX template_rollout_stacks_pending_idx ON template_rollout_stacks (rollout_id)
    WHERE status = 'pending';

-- "Which stacks' latest deployment object came from this template?" looks provenance up by
-- deployment object (already unique-indexed) and templates by owner and name.
CREATE INDEX stack_templates_owner_name_idx ON stack_templates
    (COALESCE(generator_id, '00000000-0000-0000-0000-000000000000'::uuid), name, version DESC)
    WHERE deleted_at IS NULL;
