import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings.production")

application = get_wsgi_application()

from oms.core.runtime import freeze_startup_heap  # noqa: E402 - needs the app set up

freeze_startup_heap()
