from django.urls import path

from . import views

urlpatterns = [
    path("customers/", views.CustomerListCreateView.as_view(), name="customer-list"),
    path("customers/upsert/", views.CustomerUpsertView.as_view(), name="customer-upsert"),
    path("customers/<int:pk>/", views.CustomerDetailView.as_view(), name="customer-detail"),
    path(
        "customers/<int:pk>/addresses/",
        views.CustomerAddressCreateView.as_view(),
        name="customer-address-create",
    ),
]
