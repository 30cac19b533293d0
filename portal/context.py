from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict:
    return {"SANDBOX": settings.SANDBOX, "PUBLIC_URL": settings.PUBLIC_URL}
