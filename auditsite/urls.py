from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from auditsite.health import healthz
from logs.metrics import metrics

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # No login: for load balancers and Prometheus (also answered by OpsEndpointsMiddleware).
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
]
# Uploaded originals are never served from MEDIA_URL, not even under DEBUG: only the
# permission-checked download of the execution admin sends them.
