"""`mpmon.sanitizers.default` masks every format it lists, leaves look-alike text alone (issue 10, item 7).

Example tokens are assembled from pieces so that no secret scanner mistakes this file for a leak.
"""

from __future__ import annotations

import pytest

from mpmon import sanitizers
from mpmon.sanitizers import FORMATS, MASK, default

A36 = "a1B2c3D4e5" * 3 + "F6g7H8"  # 36 letters and digits
HEX32 = "0123456789abcdef" * 2
HEX64 = HEX32 * 2
B64 = "Zm9vYmFyYmF6cXV4" * 6
UPPER = "QWERTYUIOPASDFGHJKLZXCVBNM1234567890" * 2

# format: (text holding a secret, the secret, look-alike text that must stay as it is)
CASES: dict[str, tuple[str, str, str]] = {
    "name=value / name: value pair": ("login(password='hunter2 x')", "hunter2", "password policy: see wiki"),
    "URL-encoded name=value pair": ("q=a%26password%3Dhunter2%26b%3D1", "hunter2", "q=a%26passage%3Dhunter2"),
    "passphrase": ('{"passphrase": "correct horse"}', "correct horse", '{"phrase": "correct horse"}'),
    "Authorization header": ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "authorization needed"),
    "Bearer token": ("sent bearer abcdefgh12345678", "abcdefgh12345678", "the bearer of bad news"),
    "password in a URL": ("postgres://bob:hunter2@db:5432/x", "hunter2", "https://example.org/a:b@c"),
    "mysql -p<password>": ("mysql -u root -phunter2 shop", "hunter2", "ssh -p2222 host"),
    "Azure connection string key": ("AccountName=x;AccountKey=" + B64, B64, "AccountKey=short"),
    "PEM private key block": (
        "-----BEGIN RSA PRIVATE KEY-----\n" + B64 + "\n-----END RSA PRIVATE KEY-----",
        B64,
        "-----BEGIN CERTIFICATE-----\n" + B64,
    ),
    "JSON Web Token": ("eyJhbGciOi" + "J9.eyJzdWIiOiIx" + "fQ.c2lnbmF0dXJl", "c2lnbmF0dXJl", "eyJ alone"),
    "AWS access key id": ("AKIA" + "IOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE", "AKIA" + "short"),
    "GitHub personal access token (classic)": ("ghp_" + A36, A36, "ghp_" + A36[:20]),
    "GitHub OAuth access token": ("gho_" + A36, A36, "gho_" + A36[:20]),
    "GitHub user-to-server token": ("ghu_" + A36, A36, "ghu_" + A36[:20]),
    "GitHub server-to-server token": ("ghs_" + A36, A36, "ghs_" + A36[:20]),
    "GitHub refresh token": ("ghr_" + A36, A36, "ghr_" + A36[:20]),
    "GitHub fine-grained personal access token": ("github_pat_" + A36 * 2, A36 * 2, "github_pat_" + A36[:10]),
    "GitLab personal access token": ("glpat-" + A36[:20], A36[:20], "glpat-" + A36[:8]),
    "GitLab pipeline trigger / runner token": ("glptt-" + A36, A36, "glptt-" + A36[:8]),
    "Slack bot token": ("xoxb-" + "1234-5678-" + A36, A36, "xoxb-" + "12"),
    "Slack user token": ("xoxp-" + "1234-5678-" + A36, A36, "xoxp-" + "12"),
    "Slack app-level / other token": ("xapp-" + "1-A0-" + A36, A36, "xapp-" + "1"),
    "Slack webhook URL": (
        "https://hooks.slack.com/" + "services/T000/B000/" + A36,
        A36,
        "https://hooks.slack.com/" + "help",
    ),
    "Stripe secret key (live)": ("sk_live_" + A36, A36, "sk_live_" + "key"),
    "Stripe secret key (test)": ("rk_test_" + A36, A36, "pk_test_" + A36),
    "Stripe webhook secret": ("whsec_" + A36, A36, "whsec_" + "x"),
    "Google API key": ("AIza" + "Sy" + A36[:33], "Sy" + A36[:33], "AIza" + "Sy" + A36[:10]),
    "Google OAuth client secret": ("GOCSPX-" + A36[:28], A36[:28], "GOCSPX-" + A36[:5]),
    "Google OAuth access token": ("ya29." + A36, A36, "ya29." + "x"),
    "OpenAI API key": ("sk-proj-" + A36, A36, "sk-proj-" + "x"),
    "OpenAI API key (legacy)": ("sk-" + A36[:20] + "T3Blbk" + "FJ" + A36[:20], A36[:20], "sk-" + A36[:20]),
    "Anthropic API key": ("sk-ant-" + "api03-" + A36 * 2, A36 * 2, "sk-ant-" + "api03-x"),
    "Hugging Face token": ("hf_" + "abcdefghij" * 3 + "abcd", "abcdefghij" * 3, "hf_" + "abc"),
    "npm access token": ("npm_" + A36, A36, "npm_" + "install"),
    "PyPI upload token": ("pypi-" + "AgEIcHlwaS5vcmc" + A36 * 2, A36 * 2, "pypi-" + "AgEI"),
    "Twilio API key": ("SK" + HEX32, HEX32, "ASK" + HEX32),
    "SendGrid API key": ("SG." + A36[:22] + "." + A36 + A36[:7], A36[:22], "SG." + "x.y"),
    "Mailgun API key": ("key-" + HEX32, HEX32, "key-" + "value"),
    "Mailchimp API key": (HEX32 + "-us" + "12", HEX32, HEX32 + "-use"),
    "Shopify access token": ("shpat_" + HEX32, HEX32, "shpat_" + HEX32[:10]),
    "DigitalOcean token": ("dop_v1_" + HEX64, HEX64, "dop_v1_" + HEX32),
    "Databricks token": ("dapi" + HEX32, HEX32, "dapi" + "docs"),
    "Postman API key": ("PMAK-" + HEX32[:24] + "-" + HEX32 + "ab", HEX32[:24], "PMAK-" + "x"),
    "Docker Hub personal access token": ("dckr_pat_" + A36, A36, "dckr_pat_" + "x"),
    "Atlassian API token": ("ATATT3" + A36 * 3, A36 * 3, "ATATT3" + "x"),
    "Square access token": ("sq0atp-" + A36, A36, "sq0atp-" + "x"),
    "New Relic user API key": ("NRAK-" + UPPER[:27], UPPER[:27], "NRAK-" + "X"),
    "Linear API key": ("lin_api_" + A36 + "abcd", A36, "lin_api_" + "x"),
    "Telegram bot token": ("123456789:" + "AA" + A36[:33], A36[:33], "12:30 " + "AA" + A36[:33]),
    "Discord webhook URL": (
        "https://discord.com/api/" + "webhooks/123/" + A36,
        A36,
        "https://discord.com/api/" + "docs",
    ),
    "age secret key": ("AGE-SECRET-KEY-1" + UPPER[:58], UPPER[:58], "AGE-SECRET-KEY-1"),
}


def test_at_least_30_formats_each_with_a_case() -> None:
    """Every format the module lists has a row in this table, and there are at least 30."""
    assert len(FORMATS) >= 30
    assert set(CASES) == set(FORMATS)


@pytest.mark.parametrize("name", list(CASES))
def test_masks_the_secret(name: str) -> None:
    """The secret is gone from the text, a mask stands in its place."""
    text, secret, _ = CASES[name]
    masked = default(f"before {text} after")
    assert secret not in masked and MASK in masked
    assert masked.startswith("before ") and masked.endswith(" after")


@pytest.mark.parametrize("name", list(CASES))
def test_leaves_look_alikes_alone(name: str) -> None:
    """Text that only resembles the format passes unchanged."""
    _, _, harmless = CASES[name]
    assert default(harmless) == harmless


def test_the_seven_named_in_the_issue() -> None:
    """The secrets the issue found unmasked are masked (the kind stays readable)."""
    masked = default(
        "password%3Dhunter2 passphrase=opensesame ghp_" + A36 + " xoxb-" + "12-34-" + A36
        + " sk_live_" + A36 + " AIza" + "Sy" + A36[:33]
    )  # fmt: skip
    assert "hunter2" not in masked and "opensesame" not in masked and A36[:20] not in masked
    assert sanitizers.digits("a1b2") == "a*b*"
