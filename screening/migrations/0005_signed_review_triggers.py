"""On PostgreSQL the database itself refuses to change a signed report: UPDATE or DELETE of a visit,
review or eye reading of a visit that has a sign-off, and any UPDATE or DELETE of a sign-off or
addendum (the models and querysets refuse too; this also covers raw SQL from the application's
role). TRUNCATE, which test databases use between tests, is not affected."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION screening_review_locked() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM screening_signoff WHERE visit_id = OLD.visit_id) THEN
        RAISE EXCEPTION 'review % belongs to a signed report (% refused)', OLD.id, TG_OP;
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER screening_review_locked BEFORE UPDATE OR DELETE ON screening_review
    FOR EACH ROW EXECUTE FUNCTION screening_review_locked();

CREATE OR REPLACE FUNCTION screening_eyereading_locked() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM screening_signoff s JOIN screening_review r ON r.visit_id = s.visit_id
        WHERE r.id = OLD.review_id
    ) THEN
        RAISE EXCEPTION 'eye reading % belongs to a signed report (% refused)', OLD.id, TG_OP;
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER screening_eyereading_locked BEFORE UPDATE OR DELETE ON screening_eyereading
    FOR EACH ROW EXECUTE FUNCTION screening_eyereading_locked();

CREATE OR REPLACE FUNCTION screening_visit_locked() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM screening_signoff WHERE visit_id = OLD.id) THEN
        RAISE EXCEPTION 'visit % has a signed report (% refused)', OLD.id, TG_OP;
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER screening_visit_locked BEFORE UPDATE OR DELETE ON screening_visit
    FOR EACH ROW EXECUTE FUNCTION screening_visit_locked();

CREATE OR REPLACE FUNCTION screening_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER screening_signoff_append_only BEFORE UPDATE OR DELETE ON screening_signoff
    FOR EACH ROW EXECUTE FUNCTION screening_append_only();
CREATE TRIGGER screening_addendum_append_only BEFORE UPDATE OR DELETE ON screening_addendum
    FOR EACH ROW EXECUTE FUNCTION screening_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS screening_visit_locked ON screening_visit;
DROP TRIGGER IF EXISTS screening_review_locked ON screening_review;
DROP TRIGGER IF EXISTS screening_eyereading_locked ON screening_eyereading;
DROP TRIGGER IF EXISTS screening_signoff_append_only ON screening_signoff;
DROP TRIGGER IF EXISTS screening_addendum_append_only ON screening_addendum;
DROP FUNCTION IF EXISTS screening_visit_locked();
DROP FUNCTION IF EXISTS screening_review_locked();
DROP FUNCTION IF EXISTS screening_eyereading_locked();
DROP FUNCTION IF EXISTS screening_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("screening", "0004_review")]
    operations = [migrations.RunPython(forwards, backwards)]
