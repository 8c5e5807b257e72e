from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from oms.core.api.errors import json_not_found

api_v1 = [
    path("", include("oms.core.api.urls")),
    path("", include("customers.api.urls")),
    path("", include("inventory.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("subscriptions.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("fulfillment.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="api-schema", authentication_classes=[], permission_classes=[]
        ),
        name="api-docs",
    ),
    path("", include("oms.portal_urls")),
]


def handler404(request, exception=None):  # noqa: ANN001
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
