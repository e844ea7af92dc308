-- Records any DML on canary and any DDL at all, so a test can prove no unintended statement ran.
CREATE TABLE tamper_log (what text NOT NULL);
CREATE FUNCTION log_dml() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tamper_log VALUES (TG_OP || ' ' || TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER canary_dml AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON canary
    FOR EACH STATEMENT EXECUTE FUNCTION log_dml();
CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tamper_log VALUES (tg_tag);
END $$;
CREATE EVENT TRIGGER any_ddl ON ddl_command_start EXECUTE FUNCTION log_ddl();
