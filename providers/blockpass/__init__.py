"""Blockpass (certificate promises). Webhook trust and its limits, including why an old signed
body replayed with a fresh delivery id cannot be refused by age: see signature.py.

Certificate sharing through CertPromise.

Per merchant account, under the URL the provider settings page shows as the webhook URL
(`/hooks/blockpass/<webhook_token>/`):

- `POST .../`                      webhook (x-blockpass-signature = hex HMAC-SHA256 of the body)
- `POST .../api/register|login`    the app hands over `code` (+ `sessionCode`); we exchange it
                                   for the customer's Blockpass token (kept encrypted in
                                   KYCRecord.secrets) and store the blockpassID
- `POST .../api/upload`            identity fields, `[cer]` certificates, `[cerPromise]` ids
- `POST .../api/resubmit|status`   what the reviewer decided, as the app expects it

`certPormise.resolved` (sic) creates/updates the CertPromise; the pull task claims it with a
lease (row lock, skip_locked), pulls once, stores the certificate in its own transaction and
marks the promise pulled; 404 -> GONE, 5xx/timeouts -> bounded backoff (reconcile() picks up
waits longer than CELERY_MAX_COUNTDOWN and leases of dead workers).
"""
