from django.urls import path

from . import views

urlpatterns = [
    path("orders/", views.OrderListPlaceView.as_view(), name="order-list"),
    path("orders/<int:pk>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<int:pk>/cancel/", views.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<int:pk>/edit/", views.OrderEditView.as_view(), name="order-edit"),
    path("orders/<int:pk>/notes/", views.OrderNoteView.as_view(), name="order-note"),
]
