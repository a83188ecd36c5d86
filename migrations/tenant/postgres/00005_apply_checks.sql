-- +goose Up
-- tf_assert fails the statement it runs in when ok is false. The engine
-- applies a command as one statement of data-modifying CTEs and checks each
-- revision (and each latest-version guard) with it, so that a check that
-- fails rolls the whole statement back even with no transaction around it:
-- a command then commits in one round trip. A failed revision check is a
-- serialization failure (40001), which the engine retries; a replaced
-- latest version is TF001 with the process key as detail.
-- +goose StatementBegin
CREATE FUNCTION tf_assert(ok boolean, what text, stale boolean) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    IF ok THEN
        RETURN 1;
    END IF;
    IF stale THEN
        RAISE EXCEPTION 'the latest version of process % changed', what USING ERRCODE = 'TF001', DETAIL = what;
    END IF;
    RAISE EXCEPTION '% was changed concurrently', what USING ERRCODE = '40001';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION tf_assert(boolean, text, boolean);
