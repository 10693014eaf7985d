-- Traces: the W3C `traceparent` of the request that created a deployment object (NULL when
-- that request was not traced). Agents link the span of their apply to it, so a trace shows
-- which change an apply carried out, however much later it happens.
ALTER TABLE deployment_objects
    ADD COLUMN traceparent TEXT
        CHECK (traceparent IS NULL OR traceparent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');

-- The column is as immutable as the rest of the object.
CREATE OR REPLACE FUNCTION brokkr_deployment_objects_immutable() RETURNS trigger AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.sequence_id IS DISTINCT FROM OLD.sequence_id
       OR NEW.stack_id IS DISTINCT FROM OLD.stack_id
       OR NEW.yaml_content IS DISTINCT FROM OLD.yaml_content
       OR NEW.yaml_checksum IS DISTINCT FROM OLD.yaml_checksum
       OR NEW.submitted_at IS DISTINCT FROM OLD.submitted_at
       OR NEW.is_deletion_marker IS DISTINCT FROM OLD.is_deletion_marker
       OR NEW.traceparent IS DISTINCT FROM OLD.traceparent
       OR (OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS DISTINCT FROM OLD.deleted_at)
       OR (OLD.deleted_at IS NULL AND NEW.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'deployment objects are immutable; only a soft delete is allowed'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
