from django.urls import path

from . import views

urlpatterns = [
    path("plans/", views.PlanListView.as_view(), name="plan-list"),
    path(
        "subscriptions/<int:pk>/events/",
        views.SubscriptionEventListView.as_view(),
        name="subscription-events",
    ),
    path("subscriptions/", views.SubscriptionListCreateView.as_view(), name="subscription-list"),
    path(
        "subscriptions/preview/",
        views.SubscriptionCreatePreviewView.as_view(),
        name="subscription-create-preview",
    ),
    path(
        "subscriptions/<int:pk>/",
        views.SubscriptionDetailView.as_view(),
        name="subscription-detail",
    ),
]
for _spec, _apply, _preview in views.CHANGE_VIEWS:
    urlpatterns += [
        path(
            f"subscriptions/<int:pk>/{_spec.slug}/",
            _apply.as_view(),
            name=f"subscription-{_spec.slug}",
        ),
        path(
            f"subscriptions/<int:pk>/{_spec.slug}/preview/",
            _preview.as_view(),
            name=f"subscription-{_spec.slug}-preview",
        ),
    ]
