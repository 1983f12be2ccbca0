from django.conf import settings
from django.conf.urls.static import static
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

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
