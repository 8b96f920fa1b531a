"""Password strength: a length window, a list of common passwords and zxcvbn's estimate.

The common-password list is the ``passwords`` frequency list zxcvbn ships (about 30,000 of the
most used passwords, from Mark Burnett's / Xato's public corpus; see the zxcvbn package). zxcvbn
then estimates how many guesses the password takes, knowing the account's email and name (a
password made of them is weak), and we ask for its score 3: "safely unguessable", more than
10^10 guesses.
"""

from __future__ import annotations

from functools import lru_cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from aforo.errors import ValidationFailed

MIN_PASSWORD, MAX_PASSWORD = 10, 256
MIN_SCORE = 3
_ZXCVBN_MAX = 72  # zxcvbn refuses longer input; past 72 characters the head decides


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(
    password: str, *, user_inputs: tuple[str, ...] = (), field: str = "password"
) -> None:
    """Raise ``ValidationFailed`` (on ``field``) unless the password is strong enough."""
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"password must be at least {MIN_PASSWORD} characters", field=field)
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(f"password must be at most {MAX_PASSWORD} characters", field=field)
    if not password.strip():
        raise ValidationFailed("password must not be only spaces", field=field)
    if password.lower() in _common() or password.strip().lower() in _common():
        raise ValidationFailed("this is a commonly used password; choose another", field=field)
    inputs = [i for i in user_inputs if i]
    for i in list(inputs):
        inputs += [part for part in i.replace("@", " ").replace(".", " ").split() if part]
    estimate = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=inputs)
    if estimate["score"] < MIN_SCORE:
        feedback = estimate["feedback"]
        hint = feedback.get("warning") or " ".join(feedback.get("suggestions") or ())
        message = "password is too easy to guess"
        raise ValidationFailed(f"{message}: {hint}" if hint else message, field=field)
