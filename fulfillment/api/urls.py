from django.urls import path

from . import views

urlpatterns = [
    path("shipments/", views.ShipmentListView.as_view(), name="shipment-list"),
    path(
        "shipments/tracking-events/",
        views.TrackingEventPostView.as_view(),
        name="shipment-tracking-events",
    ),
    path("shipments/<int:pk>/", views.ShipmentDetailView.as_view(), name="shipment-detail"),
    path(
        "orders/<int:pk>/shipments/",
        views.OrderShipmentListView.as_view(),
        name="order-shipments",
    ),
    path(
        "orders/<int:pk>/delivery-promise/",
        views.OrderDeliveryPromiseView.as_view(),
        name="order-delivery-promise",
    ),
    path("returns/", views.ReturnListCreateView.as_view(), name="return-list"),
    path("returns/<int:pk>/", views.ReturnDetailView.as_view(), name="return-detail"),
    path("returns/<int:pk>/approve/", views.ReturnApproveView.as_view(), name="return-approve"),
    path("returns/<int:pk>/reject/", views.ReturnRejectView.as_view(), name="return-reject"),
    path("returns/<int:pk>/cancel/", views.ReturnCancelView.as_view(), name="return-cancel"),
    path(
        "returns/<int:pk>/send-label/",
        views.ReturnSendLabelView.as_view(),
        name="return-send-label",
    ),
    path("returns/<int:pk>/receive/", views.ReturnReceiveView.as_view(), name="return-receive"),
    path("returns/<int:pk>/inspect/", views.ReturnInspectView.as_view(), name="return-inspect"),
    path("returns/<int:pk>/restock/", views.ReturnRestockView.as_view(), name="return-restock"),
    path("returns/<int:pk>/refund/", views.ReturnRefundView.as_view(), name="return-refund"),
    path("returns/<int:pk>/replace/", views.ReturnReplaceView.as_view(), name="return-replace"),
]
