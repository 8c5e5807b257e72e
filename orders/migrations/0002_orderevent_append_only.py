# The order timeline is append-only: the database refuses to change an event row, so no
# code path (a stray save(), bulk_update, an admin slip) can rewrite history. PostgreSQL
# only: the embedded SQLite quick start has no plpgsql; there the services are the guard.

from django.db import migrations

from oms.core.db import PostgresOnlySQL

FORWARD = """
CREATE OR REPLACE FUNCTION orders_orderevent_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'orders_orderevent is append-only: event % cannot be changed', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER orders_orderevent_append_only
    BEFORE UPDATE ON orders_orderevent
    FOR EACH ROW EXECUTE FUNCTION orders_orderevent_refuse_update();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS orders_orderevent_append_only ON orders_orderevent;
DROP FUNCTION IF EXISTS orders_orderevent_refuse_update();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0001_initial'),
    ]

    operations = [PostgresOnlySQL(FORWARD, reverse_sql=BACKWARD)]
