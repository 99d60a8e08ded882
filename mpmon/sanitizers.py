"""Ready-made sanitizers for `sanitize_func`: text in, text with the sensitive parts masked out.

`default` masks the secrets that most often end up in arguments, exception messages, tracebacks and
log lines; it is what mpmon applies to captured log lines (`capture_logging=True`) when the run has no
sanitizer of its own. To apply it to everything a run sends, pass it to the collector:

    mpmon.start_collector("logs", sanitize_func=mpmon.sanitizers.default)

or to one decorator: `@mpmon.Timer(sanitize_func=mpmon.sanitizers.default)`. What it masks (the value
becomes `***`; a name, a header or a vendor prefix such as `ghp_` stays, so a reader still sees that a
secret was there and of which kind) is listed in `FORMATS`:

- `name=value` and `name: value` pairs, quoted or not (JSON, query strings, keyword-argument reprs,
  `dict` reprs), and their URL-encoded forms (`password%3D...`, `%22token%22%3A%22...`), whose name
  contains password, passwd, passphrase, pwd, secret, token, api_key / apikey / api-key, access_key,
  private_key, auth_key, session / session_id, cookie or credential;
- HTTP `Authorization:` and `Proxy-Authorization:` headers, and `Bearer <token>` anywhere;
- the password of `scheme://user:password@host` URLs, and the key of Azure connection strings;
- PEM private key blocks and JSON Web Tokens;
- the token shapes that vendors publish for secret scanning (`VENDOR_TOKENS`: AWS, GitHub, GitLab,
  Slack, Stripe, Google, OpenAI, Anthropic, Hugging Face, npm, PyPI, and more).

It is a safety net, not a guarantee: a secret with no recognizable name or shape passes through. A
sanitizer of your own can run it first: `return mask_my_ids(mpmon.sanitizers.default(text))`.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["FORMATS", "MASK", "VENDOR_TOKENS", "default", "digits", "sanitizer"]

MASK: Final = "***"

_NAME: Final = (
    r"[\w.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|auth[_-]?key|session(?:[_-]?id)?|cookie|credential)[\w.-]*"
)

VENDOR_TOKENS: Final[tuple[tuple[str, str, str], ...]] = (
    # (format, the prefix kept, the rest of the shape): vendors' published token formats
    ("AWS access key id", r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)", r"[A-Z0-9]{16}\b"),
    ("GitHub personal access token (classic)", r"ghp_", r"[A-Za-z0-9]{36}\b"),
    ("GitHub OAuth access token", r"gho_", r"[A-Za-z0-9]{36}\b"),
    ("GitHub user-to-server token", r"ghu_", r"[A-Za-z0-9]{36}\b"),
    ("GitHub server-to-server token", r"ghs_", r"[A-Za-z0-9]{36}\b"),
    ("GitHub refresh token", r"ghr_", r"[A-Za-z0-9]{36}\b"),
    ("GitHub fine-grained personal access token", r"github_pat_", r"[A-Za-z0-9_]{60,}"),
    ("GitLab personal access token", r"glpat-", r"[A-Za-z0-9_-]{20,}"),
    ("GitLab pipeline trigger / runner token", r"(?:glptt-|glrt-)", r"[A-Za-z0-9_-]{20,}"),
    ("Slack bot token", r"xoxb-", r"[0-9A-Za-z-]{20,}"),
    ("Slack user token", r"xoxp-", r"[0-9A-Za-z-]{20,}"),
    ("Slack app-level / other token", r"(?:xapp-|xox[aors]-)", r"[0-9A-Za-z-]{20,}"),
    ("Slack webhook URL", r"https://hooks\.slack\.com/(?:services|workflows)/", r"[A-Za-z0-9/_-]{20,}"),
    ("Stripe secret key (live)", r"(?:sk|rk)_live_", r"[0-9A-Za-z]{20,}"),
    ("Stripe secret key (test)", r"(?:sk|rk)_test_", r"[0-9A-Za-z]{20,}"),
    ("Stripe webhook secret", r"whsec_", r"[0-9A-Za-z]{24,}"),
    ("Google API key", r"AIza", r"[0-9A-Za-z_-]{35}"),
    ("Google OAuth client secret", r"GOCSPX-", r"[0-9A-Za-z_-]{28}"),
    ("Google OAuth access token", r"ya29\.", r"[0-9A-Za-z_-]{20,}"),
    ("OpenAI API key", r"sk-(?:proj|svcacct|admin)-", r"[A-Za-z0-9_-]{20,}"),
    ("OpenAI API key (legacy)", r"sk-", r"[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"),
    ("Anthropic API key", r"sk-ant-(?:api|admin)\d\d-", r"[A-Za-z0-9_-]{40,}"),
    ("Hugging Face token", r"hf_", r"[A-Za-z]{34}\b"),
    ("npm access token", r"npm_", r"[A-Za-z0-9]{36}\b"),
    ("PyPI upload token", r"pypi-AgEIcHlwaS5vcmc", r"[A-Za-z0-9_-]{40,}"),
    ("Twilio API key", r"SK", r"[0-9a-f]{32}\b"),
    ("SendGrid API key", r"SG\.", r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
    ("Mailgun API key", r"key-", r"[0-9a-f]{32}\b"),
    ("Mailchimp API key", r"", r"\b[0-9a-f]{32}-us[0-9]{1,2}\b"),
    ("Shopify access token", r"shp(?:at|ca|pa|ss)_", r"[0-9a-fA-F]{32}\b"),
    ("DigitalOcean token", r"do[opr]_v1_", r"[0-9a-f]{64}\b"),
    ("Databricks token", r"dapi", r"[0-9a-f]{32}(?:-\d)?\b"),
    ("Postman API key", r"PMAK-", r"[0-9a-f]{24}-[0-9a-f]{34}\b"),
    ("Docker Hub personal access token", r"dckr_pat_", r"[A-Za-z0-9_-]{27,}"),
    ("Atlassian API token", r"ATATT3", r"[A-Za-z0-9_=-]{100,}"),
    ("Square access token", r"(?:EAAA|sq0atp-|sq0csp-)", r"[0-9A-Za-z_-]{22,}"),
    ("New Relic user API key", r"NRAK-", r"[A-Z0-9]{27}\b"),
    ("Linear API key", r"lin_api_", r"[A-Za-z0-9]{40}\b"),
    ("Telegram bot token", r"\b[0-9]{8,10}:", r"AA[0-9A-Za-z_-]{33}\b"),
    ("Discord webhook URL", r"https://discord(?:app)?\.com/api/webhooks/[0-9]+/", r"[A-Za-z0-9_-]{30,}"),
    ("age secret key", r"AGE-SECRET-KEY-1", r"[0-9A-Z]{58}\b"),
)

_NAMED: Final = (
    "name=value / name: value pair",
    "URL-encoded name=value pair",
    "passphrase",
    "Authorization header",
    "Bearer token",
    "password in a URL",
    "Azure connection string key",
    "PEM private key block",
    "JSON Web Token",
)
FORMATS: Final[tuple[str, ...]] = _NAMED + tuple(name for name, _, _ in VENDOR_TOKENS)
"""Every kind of secret `default` recognizes."""

_VENDOR: Final = re.compile(
    "|".join(f"(?<![A-Za-z0-9_])(?P<t{i}>{p}){rest}" for i, (_, p, rest) in enumerate(VENDOR_TOKENS))
)


def _keep_prefix(match: re.Match[str]) -> str:
    return (match.group(match.lastgroup) if match.lastgroup else "") + MASK


_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # PEM private keys, whole blocks
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
        f"-----PRIVATE KEY {MASK}-----",
    ),
    # Authorization headers: the scheme stays, the credentials go
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|digest|token)\s+)?)[^\s\"',;]+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1{MASK}"),
    # "name": "value", 'name': 'value', name="value": the whole quoted value, spaces and all
    (
        re.compile(rf"(?i)(\b{_NAME}[\"']?\s*[:=]\s*b?)([\"'])(?:\\.|(?!\2)[^\n])*\2"),
        rf"\1\2{MASK}\2",
    ),
    # name=value, name: value, unquoted
    (
        re.compile(rf"(?i)(\b{_NAME}[\"']?\s*[:=]\s*(?:b?[\"'])?)((?:(?![\"'])[^\s,;&}})\]])+)"),
        rf"\1{MASK}",
    ),
    # the same, URL-encoded: name%3Dvalue, %22name%22%3A%22value%22 (up to the next encoded delimiter)
    (
        re.compile(
            rf"(?i)(\b{_NAME}(?:%22|%27)?(?:%3D|%3A)(?:%20)*(?:%22|%27)?)((?:(?!%26|%22|%27|%2C|%3B)[^\s&\"',;])+)"
        ),
        rf"\1{MASK}",
    ),
    # Azure storage connection strings
    (re.compile(r"(?i)\b((?:AccountKey|SharedAccessKey)=)[A-Za-z0-9+/=]{20,}"), rf"\1{MASK}"),
    # user:password@host in URLs
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), rf"\1{MASK}@"),
    # JSON Web Tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), MASK),
)


def default(text: str) -> str:
    """`text` with common secrets masked (see the module's documentation for what it recognizes)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _VENDOR.sub(_keep_prefix, text)


def digits(text: str) -> str:
    """Every digit masked with `*` (the original module's example sanitizer)."""
    return "".join("*" if c.isdigit() else c for c in text)


sanitizer = digits
