"""The masking rule, as docs/stack-toml.md says it: a short secret wherever it stands as a whole
token, a long one wherever it appears."""

from __future__ import annotations

import pytest

from harness.config.masking import mask_env, mask_text

ENV = {"DB_PASSWORD": "app", "S3_ACCESS_KEY": "harness", "API_TOKEN": "0123456789abcdefXYZ"}


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("user app", "user ***"),
        ("pw=app;", "pw=***;"),
        ("postgresql://u:app@127.0.0.1/db", "postgresql://u:***@127.0.0.1/db"),
        ('{"password": "app"}', '{"password": "***"}'),
        ("harness exited 1", "*** exited 1"),
        ("/log/ERROR%20login%20for%20app", "/log/ERROR%20login%20for%20***"),
        ("?pw=app%20x", "?pw=***%20x"),
        ("token 0123456789abcdefXYZ.", "token ***."),
        ("inside-0123456789abcdefXYZ-too", "inside-***-too"),
    ],
)
def test_a_secret_standing_alone_is_masked(text, masked):
    assert mask_text(text, ENV) == masked


@pytest.mark.parametrize(
    "text", ["application", "app_1", "tests/app/x", "app.py", "happy", "tests/harness/failing/test_x.py", "app2"]
)
def test_an_ordinary_word_survives_in_names_and_paths(text):
    assert mask_text(text, ENV) == text


def test_env_values_of_secret_keys_are_masked_whole():
    assert mask_env({**ENV, "HOST": "127.0.0.1"}) == {
        "DB_PASSWORD": "***",
        "S3_ACCESS_KEY": "***",
        "API_TOKEN": "***",
        "HOST": "127.0.0.1",
    }
