"""Only for running tests/incode while other flow apps are half-written in the shared tree:
`pytest --ds=tests.incode.settings tests/incode`. The suite itself uses tests.settings."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [  # noqa: F405
    app
    for app in INSTALLED_APPS
    if not app.startswith("kyc.flows.") or app == "kyc.flows.incode"  # noqa: F405
]
