"""Every provider-facing endpoint, discovered from the URL patterns under hooks/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Hook:
    route: str
    name: str
    pattern: URLPattern

    @property
    def provider(self) -> str:
        return self.route.split("/")[1]

    @property
    def kwargs(self) -> list[str]:
        return list(self.pattern.pattern.regex.groupindex)


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for p in patterns:
        route = prefix + str(p.pattern).lstrip("^")
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, route)
        else:
            yield route, p


def hooks() -> list[Hook]:
    return sorted(
        (
            Hook(route=r, name=p.name or r, pattern=p)
            for r, p in _walk(get_resolver().url_patterns)
            if r.startswith("hooks/")
        ),
        key=lambda h: h.route,
    )


def url_for(hook: Hook, token: str, **values: str) -> str:
    """The hook's URL with a token (and the first alternative of any other group)."""
    import re

    from django.urls import reverse

    regex = hook.pattern.pattern.regex.pattern
    kwargs = {}
    for name in hook.kwargs:
        if name in values:
            kwargs[name] = values[name]
        elif name == "token" or "token" in name:
            kwargs[name] = token
        else:
            group = re.search(rf"\(\?P<{name}>([\w|-]+)\)", regex)
            kwargs[name] = group.group(1).split("|")[0] if group else "x"
    return reverse(hook.pattern.name, kwargs=kwargs)
