from rest_framework.routers import SimpleRouter

from portal.api import views

router = SimpleRouter()
router.register("transfers", views.TransferViewSet, basename="transfer")
router.register("records", views.RecordViewSet, basename="record")
router.register("certificates", views.CertificateViewSet, basename="certificate")
urlpatterns = router.urls
