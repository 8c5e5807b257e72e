from django.urls import path

from . import views

app_name = "fulfillment"

urlpatterns = [
    path("carriers/<slug:code>/events/", views.carrier_webhook, name="carrier-webhook"),
    path("warehouses/<slug:warehouse_code>/pick-list/", views.pick_list, name="pick-list"),
    path("shipments/<int:pk>/packing-slip/", views.packing_slip, name="packing-slip"),
    path("shipments/<int:pk>/label/", views.shipping_label, name="label"),
]
