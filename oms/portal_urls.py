"""Pages for people: the customer portal and printable documents. Each app adds its own
``<app>/urls.py``; this file only mounts them."""

from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("accounts/", include("django.contrib.auth.urls")),
    path("portal/", include("customers.portal.urls")),
    path("ops/dashboard/", include("oms.dashboard.urls")),
    path("billing/", include("billing.urls")),
    path("fulfillment/", include("fulfillment.urls")),
]
