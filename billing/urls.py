from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
    path("invoices/<int:pk>/print/", views.invoice_print, name="invoice-print"),
    path("i/<str:token>/", views.invoice_public, name="invoice-public"),
    path("pay/<str:token>/", views.pay, name="pay"),
    path("card/<str:token>/", views.card, name="card"),
    path("card/c/<str:token>/", views.customer_card, name="customer-card"),
]
