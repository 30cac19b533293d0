"""A CorePass callback sent as a form with indexed infos (`infos[0][fieldID]`): the parsed
document holds those values once, as the list of infos, and not also under their raw form
keys (kills a mutant `make mutate` found in providers/corepass/callbacks.py)."""

from __future__ import annotations

from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from providers.corepass import callbacks as cb

USER = "cb57bbbb54cdf60fa666fd741be78f794d4608d67109"


def test_it_keeps_indexed_infos_only_as_the_list_of_infos() -> None:
    body = encode_multipart(
        BOUNDARY,
        {
            "user": USER,
            "deadline": "9",
            "infos[0][fieldID]": "SH_EMAIL",
            "infos[0][fieldValue]": "a@example.com",
            "infos[0].pepper": "p0",
        },
    )
    assert cb.parse_body(MULTIPART_CONTENT, body) == {
        "user": USER,
        "deadline": "9",
        "infos": [{"fieldID": "SH_EMAIL", "fieldValue": "a@example.com", "pepper": "p0"}],
    }
    # control: a field that only starts like them is a field of its own
    body = encode_multipart(BOUNDARY, {"user": USER, "info": "x"})
    assert cb.parse_body(MULTIPART_CONTENT, body) == {"user": USER, "info": "x"}
