import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    owned = ("DJANGO_", "SECRET_KEY", "DATABASE_URL", "CELERY_", "OMS_", "ALLOWED_HOSTS")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(owned)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "oms.settings.production",
    "SECRET_KEY": "x9!" + "k" * 60 + "Zq#p",
    "ALLOWED_HOSTS": "oms.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
}


def test_check_deploy_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "DEBUG", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def _printed_in_production(code: str, **env: str) -> list[str]:
    """The words ``code`` prints in ``manage.py shell`` under production settings."""
    result = _manage("shell", "-c", code, env={**PROD_ENV, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_production_keeps_database_connections_and_checks_them_before_reuse():
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default']; "
        "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    assert _printed_in_production(code)[-2:] == ["60", "True"]
    assert _printed_in_production(code, DB_CONN_MAX_AGE="0")[-2:] == ["0", "True"]


def test_prepared_statements_are_on_unless_a_pooler_needs_them_off():
    code = (
        "from django.db import connection; connection.ensure_connection(); "
        "print(connection.connection.prepare_threshold)"
    )
    assert _printed_in_production(code)[-1] == str(2**31 - 1)
    assert _printed_in_production(code, DB_PREPARED_STATEMENTS="0")[-1] == "None"


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_settings_come_from_the_environment():
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.CELERY_TASK_ALWAYS_EAGER, s.OMS_TIME_ZONE, s.DATABASES['default']['ENGINE'])",
        env={
            "DJANGO_SETTINGS_MODULE": "oms.settings.local",
            "OMS_TIME_ZONE": "Europe/Berlin",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["False", "Europe/Berlin", "django.db.backends.sqlite3"]


@pytest.mark.django_db
def test_openapi_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/customers/" in text
    assert "Idempotency-Key" in text
    assert "bearer" in text


@pytest.mark.django_db
def test_swagger_ui_is_served_offline(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn.jsdelivr" not in response.content
    assert client.get("/api/schema/").status_code == 200


def test_test_command_stops_at_once_with_one_message_when_postgres_is_unreachable():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/oms"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_smoke.py", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "Cannot reach PostgreSQL" in output
    assert "DATABASE_URL=postgres://" in output
    assert "passed" not in output


def test_production_lends_pooled_connections_when_the_web_server_asks():
    code = (
        "from django.conf import settings as s; from django.db import connection; "
        "d = s.DATABASES['default']; connection.ensure_connection(); "
        "print(d['CONN_MAX_AGE'], connection.pool.max_size, connection.pool.min_size)"
    )
    assert _printed_in_production(code, DB_POOL_MAX_SIZE="7")[-3:] == ["0", "7", "2"]
    plain = (
        "from django.conf import settings as s; print('pool' in s.DATABASES['default']['OPTIONS'])"
    )
    assert _printed_in_production(plain)[-1] == "False"
