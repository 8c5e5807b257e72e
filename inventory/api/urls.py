from django.urls import path

from . import views

urlpatterns = [
    path("skus/", views.SkuListView.as_view(), name="inventory-sku-list"),
    path("skus/<str:code>/", views.SkuDetailView.as_view(), name="inventory-sku-detail"),
    path("stock/receipts/", views.StockReceiptView.as_view(), name="inventory-receipt"),
    path("stock/adjustments/", views.StockAdjustmentView.as_view(), name="inventory-adjustment"),
    path("stock/movements/", views.MovementListView.as_view(), name="inventory-movement-list"),
]
