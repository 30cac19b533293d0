"""What every part of the Blockpass flow shares: the provider name, where a record's token
sits, the upload session's signing salt, the log."""

from __future__ import annotations

import logging

log = logging.getLogger("providers.blockpass.services")

PROVIDER = "blockpass"
SECRETS_KEY = "blockpass_token"  # where a record's Blockpass token sits in KYCRecord.secrets
SESSION_SALT = "kyc.flows.blockpass.upload-session"
SESSION_MAX_AGE = 3600
