import pytest

from providers.corepass import coreid
from tests.corepass.conftest import SEED_COREIDS


@pytest.mark.parametrize("value", SEED_COREIDS)
def test_it_accepts_every_documented_coreid(value: str) -> None:
    assert coreid.normalize(value) == value
    assert coreid.check_digits(value[:2], value[4:]) == value[2:4]


def test_it_normalises_case_and_whitespace() -> None:
    assert coreid.normalize("  " + SEED_COREIDS[0].upper() + " ") == SEED_COREIDS[0]


def test_it_builds_valid_mainnet_and_private_network_ids() -> None:
    body = "0123456789abcdef0123456789abcdef01234567"
    for prefix in ("cb", "ce"):
        value = prefix + coreid.check_digits(prefix, body) + body
        assert coreid.is_valid(value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "missing"),
        (SEED_COREIDS[0][:-1], "44 characters"),
        (SEED_COREIDS[0] + "0", "44 characters"),
        ("xx" + SEED_COREIDS[0][2:], "prefix 'xx' is unknown"),
        ("abx2" + SEED_COREIDS[0][4:], "check digits"),
        (SEED_COREIDS[0][:-1] + "g", "40 hexadecimal"),
        (SEED_COREIDS[0][:-1] + ("f" if SEED_COREIDS[0][-1] != "f" else "e"), "do not match"),
        (SEED_COREIDS[0][:2] + "23" + SEED_COREIDS[0][4:], "do not match"),
    ],
)
def test_it_refuses_corrupted_coreids_naming_the_problem(value: str, problem: str) -> None:
    with pytest.raises(coreid.CoreIDError, match=problem):
        coreid.normalize(value)


@pytest.mark.parametrize("value", SEED_COREIDS)
def test_it_refuses_every_same_class_single_character_substitution(value: str) -> None:
    # Mod 97 catches every digit-for-digit and letter-for-letter typo (a digit-for-letter
    # swap changes the expansion's length and is caught only with high probability).
    for i in range(2, 44):
        same = "0123456789" if value[i].isdigit() else "abcdef"
        for c in same:
            if c != value[i]:
                assert not coreid.is_valid(value[:i] + c + value[i + 1 :]), (i, c)
