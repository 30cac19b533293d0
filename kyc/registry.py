"""The one registry of providers: `settings.PORTAL_PROVIDERS`, loaded once.

Each entry is the dotted path of a `kyc.contract.Provider` subclass, e.g.
`providers.portmone.provider.PortmoneProvider`; its order is the order of
choices, URL mounting and reconciliation. Labels, delivery processors, flow
hooks, page hooks and URLs all come from the loaded instances: adding a
provider is one folder and one line in settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.choices import BaseChoiceIterator
from django.utils.module_loading import import_string

from kyc.contract import Provider


class UnknownProvider(KeyError):
    pass


class ImproperProvider(TypeError):
    """A PORTAL_PROVIDERS entry that is not a Provider subclass, or a name used twice."""


@cache
def _loaded() -> dict[str, Provider]:
    loaded: dict[str, Provider] = {}
    for path in settings.PORTAL_PROVIDERS:
        cls = import_string(path)
        if not (isinstance(cls, type) and issubclass(cls, Provider)) or not cls.name:
            raise ImproperProvider(f"{path} is not a named kyc.contract.Provider subclass")
        if cls.name in loaded:
            raise ImproperProvider(f"provider name {cls.name!r} is registered twice")
        loaded[cls.name] = cls()
    return loaded


def reload() -> None:
    """Forget the loaded providers (tests that change PORTAL_PROVIDERS)."""
    _loaded.cache_clear()


@receiver(setting_changed)
def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "PORTAL_PROVIDERS":
        reload()


def providers() -> list[Provider]:
    """Every registered provider, in settings order."""
    return list(_loaded().values())


def names() -> list[str]:
    return list(_loaded())


def get(name: str) -> Provider:
    try:
        return _loaded()[name]
    except KeyError:
        raise UnknownProvider(name) from None


def find(name: str) -> Provider | None:
    return _loaded().get(name)


def choices() -> list[tuple[str, str]]:
    return [(p.name, p.label) for p in _loaded().values()]


class ModelChoices(BaseChoiceIterator):
    """The providers as model-field choices, read from the registry when first iterated:
    models load before providers can (a provider's own models import kyc's).

    Equal to the same choices as a list, so migrations (which hold the list) see no change.
    """

    def __iter__(self) -> Iterator[tuple[str, str]]:
        yield from choices()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list | tuple | BaseChoiceIterator):
            return NotImplemented
        return list(self) == [tuple(c) for c in other]

    __hash__ = BaseChoiceIterator.__hash__


model_choices = ModelChoices()
