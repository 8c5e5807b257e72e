from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("profile/", views.profile_edit, name="profile"),
    path("addresses/new/", views.address_add, name="address_add"),
    path("addresses/<int:pk>/default/", views.address_set_default, name="address_default"),
    path("subscriptions/", views.subscription_list, name="subscriptions"),
    path("subscriptions/<int:pk>/", views.subscription_detail, name="subscription"),
    path(
        "subscriptions/<int:pk>/<slug:change>/",
        views.subscription_change,
        name="subscription_change",
    ),
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:pk>/", views.order_detail, name="order"),
    path("orders/<int:pk>/return/", views.order_return, name="order_return"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/<int:pk>/", views.invoice_view, name="invoice"),
    path("invoices/<int:pk>/pay/", views.invoice_pay, name="invoice_pay"),
]
