"""Only for running tests/incode while other flow apps are half-written in the shared tree:
`pytest --ds=tests.incode.settings tests/incode`. The suite itself uses tests.settings."""

# ruff: noqa: F403, F405
from tests.settings import *

INSTALLED_APPS = [
    app for app in INSTALLED_APPS if not app.startswith("kyc.flows.") or app == "kyc.flows.incode"
]
