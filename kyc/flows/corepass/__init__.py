"""CorePass KYC-transfer flow: per-request callbacks, inbox processing, reconciliation."""
