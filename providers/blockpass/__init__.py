"""Blockpass (certificate promises). Webhook trust and its limits, including why an old signed
body replayed with a fresh delivery id cannot be refused by age: see signature.py."""
