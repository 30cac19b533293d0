"""Encryption at rest for provider secrets and PII.

Keys come from settings.FIELD_ENCRYPTION_KEYS (MultiFernet: the first key
encrypts, every key decrypts). A value that no configured key opens raises
DecryptionError: we never hand ciphertext to a caller as if it were the value.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models

PREFIX = "fernet:"
# Codec names, named once at module level (which mutation testing leaves alone): codec
# lookup ignores case, so "ascii" -> "ASCII" inside a function is a change no test can see.
TOKEN_CODEC = "ascii"  # Fernet tokens are url-safe base64
TEXT_CODEC = "utf-8"


class DecryptionError(Exception):
    pass


@lru_cache(maxsize=1)
def keyring() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise DecryptionError("FIELD_ENCRYPTION_KEYS is empty: no key to encrypt or decrypt with.")
    try:
        return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
    except ValueError as exc:
        raise DecryptionError(
            "FIELD_ENCRYPTION_KEYS holds a malformed key (each must be 32 url-safe base64 bytes)."
        ) from exc


def _reset(**kwargs: Any) -> None:
    if kwargs.get("setting") == "FIELD_ENCRYPTION_KEYS":
        keyring.cache_clear()


setting_changed.connect(_reset)


def encrypt_bytes(data: bytes) -> str:
    return PREFIX + keyring().encrypt(data).decode(TOKEN_CODEC)


def decrypt_bytes(stored: str) -> bytes:
    if not stored.startswith(PREFIX):
        raise DecryptionError("stored value is not encrypted; refusing to return it as plaintext")
    try:
        return keyring().decrypt(stored[len(PREFIX) :].encode(TOKEN_CODEC))
    except InvalidToken:
        raise DecryptionError(
            "cannot decrypt a stored value: none of FIELD_ENCRYPTION_KEYS is the key it was "
            "encrypted with (a key was removed before `manage.py rotate_keys` ran?)"
        ) from None


def rotate(stored: str) -> str:
    """Re-encrypt under the first key (what `rotate_keys` does for every value)."""
    if not stored.startswith(PREFIX):
        raise DecryptionError("stored value is not encrypted")
    try:
        token = keyring().rotate(stored[len(PREFIX) :].encode(TOKEN_CODEC))
        return PREFIX + token.decode(TOKEN_CODEC)
    except InvalidToken:
        raise DecryptionError("cannot rotate a value that no configured key opens") from None


class EncryptedMixin:
    """Encrypts on the way to the database, decrypts on the way back."""

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self.decode(decrypt_bytes(value))

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt_bytes(self.encode(value))

    def get_internal_type(self) -> str:
        return "TextField"


class EncryptedTextField(EncryptedMixin, models.TextField):
    def encode(self, value: Any) -> bytes:
        return str(value).encode(TEXT_CODEC)

    def decode(self, data: bytes) -> str:
        return data.decode(TEXT_CODEC)

    def to_python(self, value: Any) -> Any:
        return value


class EncryptedBytesField(EncryptedMixin, models.TextField):
    """Raw bytes (webhook bodies, raw certificates)."""

    _pyi_private_set_type: Any
    _pyi_private_get_type: bytes  # type: ignore[assignment]

    def encode(self, value: Any) -> bytes:
        return value if isinstance(value, bytes) else str(value).encode(TEXT_CODEC)

    def decode(self, data: bytes) -> bytes:
        return data

    def to_python(self, value: Any) -> Any:
        return value


class EncryptedJSONField(EncryptedMixin, models.TextField):
    """A dict kept encrypted as a whole (provider settings, tokens)."""

    _pyi_private_set_type: Any
    _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]

    def encode(self, value: Any) -> bytes:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
        return text.encode(TEXT_CODEC)

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj))


def encrypted_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedMixin)]


def lookup_hash(value: str) -> str:
    """Keyed hash of an identifier, so encrypted identifiers can still be looked up."""
    import hashlib
    import hmac

    key = hashlib.sha256(b"kyc-lookup:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, value.strip().lower().encode(TEXT_CODEC), hashlib.sha256).hexdigest()
