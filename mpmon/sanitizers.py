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
- the password of `scheme://user:password@host` and `scheme://:password@host` URLs, and the key of
  Azure connection strings;
- the password glued to `-p` on a command line that mentions mysql or mariadb (`mysql -pS3cret`);
- PEM private key blocks and JSON Web Tokens;
- the token shapes that vendors publish for secret scanning (`VENDOR_TOKENS`: AWS, GitHub, GitLab,
  Slack, Stripe, Google, OpenAI, Anthropic, Hugging Face, npm, PyPI, and more).

It is a safety net, not a guarantee: a secret with no recognizable name or shape passes through. A
sanitizer of your own can run it first: `return mask_my_ids(mpmon.sanitizers.default(text))`.

Every rule runs in time linear in the text (it runs in the caller, holding the GIL, for every captured
log line): no two ways to match the same characters, a repeated part that cannot rescan what a previous
start scanned, and starts only at the beginning of a name or token (benchmarks/sanitizer_time.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

__all__ = ["FORMATS", "MASK", "VENDOR_TOKENS", "default", "digits", "sanitizer"]

MASK: Final = "***"

_SECRET_NAME: Final = re.compile(
    r"(?i)password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|auth[_-]?key|session|cookie|credential"
)
_NAME: Final = r"(?<![\w.-])([\w.-]+)"  # a whole name (group 1): checked by _SECRET_NAME, in linear time


def _masked_value(match: re.Match[str]) -> str:
    """name, separator (and opening quote), then the mask (and closing quote), if the name says secret."""
    if not _SECRET_NAME.search(match.group(1)):
        return match.group(0)
    quote = match.group("quote") or "" if "quote" in match.re.groupindex else ""
    return match.group(1) + match.group(2) + quote + MASK + quote


def _masked_quoted(match: re.Match[str]) -> str:
    """The same for a quoted value: the quote is the first character after the separator."""
    if not _SECRET_NAME.search(match.group(1)):
        return match.group(0)
    quote = match.string[match.end(2)]
    return match.group(1) + match.group(2) + quote + MASK + quote


QUOTED_MAX: Final = 4096
"""The longest quoted value the pair rule masks whole (a longer one is masked up to its first space by the
unquoted rule): the bound keeps a text with many unclosed quotes linear in time."""


VENDOR_TOKENS: Final[tuple[tuple[str, str, str, tuple[str, ...]], ...]] = (
    # (format, the prefix kept, the rest of the shape, texts one of which a match contains): vendors'
    # published token formats
    (
        "AWS access key id",  # masked whole, prefix included
        r"",
        r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
        ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"),
    ),
    ("GitHub personal access token (classic)", r"ghp_", r"[A-Za-z0-9]{36}\b", ("ghp_",)),
    ("GitHub OAuth access token", r"gho_", r"[A-Za-z0-9]{36}\b", ("gho_",)),
    ("GitHub user-to-server token", r"ghu_", r"[A-Za-z0-9]{36}\b", ("ghu_",)),
    ("GitHub server-to-server token", r"ghs_", r"[A-Za-z0-9]{36}\b", ("ghs_",)),
    ("GitHub refresh token", r"ghr_", r"[A-Za-z0-9]{36}\b", ("ghr_",)),
    ("GitHub fine-grained personal access token", r"github_pat_", r"[A-Za-z0-9_]{60,}", ("github_pat_",)),
    ("GitLab personal access token", r"glpat-", r"[A-Za-z0-9_-]{20,}", ("glpat-",)),
    (
        "GitLab pipeline trigger / runner token",
        r"(?:glptt-|glrt-)",
        r"[A-Za-z0-9_-]{20,}",
        ("glptt-", "glrt-"),
    ),
    ("Slack bot token", r"xoxb-", r"[0-9A-Za-z-]{20,}", ("xoxb-",)),
    ("Slack user token", r"xoxp-", r"[0-9A-Za-z-]{20,}", ("xoxp-",)),
    (
        "Slack app-level / other token",
        r"(?:xapp-|xox[aors]-)",
        r"[0-9A-Za-z-]{20,}",
        ("xapp-", "xoxa-", "xoxo-", "xoxr-", "xoxs-"),
    ),
    (
        "Slack webhook URL",
        r"https://hooks\.slack\.com/(?:services|workflows)/",
        r"[A-Za-z0-9/_-]{20,}",
        ("hooks.slack.com",),
    ),
    ("Stripe secret key (live)", r"(?:sk|rk)_live_", r"[0-9A-Za-z]{20,}", ("k_live_",)),
    ("Stripe secret key (test)", r"(?:sk|rk)_test_", r"[0-9A-Za-z]{20,}", ("k_test_",)),
    ("Stripe webhook secret", r"whsec_", r"[0-9A-Za-z]{24,}", ("whsec_",)),
    ("Google API key", r"AIza", r"[0-9A-Za-z_-]{35}", ("AIza",)),
    ("Google OAuth client secret", r"GOCSPX-", r"[0-9A-Za-z_-]{28}", ("GOCSPX-",)),
    ("Google OAuth access token", r"ya29\.", r"[0-9A-Za-z_-]{20,}", ("ya29.",)),
    (
        "OpenAI API key",
        r"sk-(?:proj|svcacct|admin)-",
        r"[A-Za-z0-9_-]{20,}",
        ("sk-proj-", "sk-svcacct-", "sk-admin-"),
    ),
    ("OpenAI API key (legacy)", r"sk-", r"[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}", ("T3BlbkFJ",)),
    ("Anthropic API key", r"sk-ant-(?:api|admin)\d\d-", r"[A-Za-z0-9_-]{40,}", ("sk-ant-",)),
    ("Hugging Face token", r"hf_", r"[A-Za-z]{34}\b", ("hf_",)),
    ("npm access token", r"npm_", r"[A-Za-z0-9]{36}\b", ("npm_",)),
    ("PyPI upload token", r"pypi-AgEIcHlwaS5vcmc", r"[A-Za-z0-9_-]{40,}", ("pypi-AgEIcHlwaS5vcmc",)),
    ("Twilio API key", r"SK", r"[0-9a-f]{32}\b", ("SK",)),
    ("SendGrid API key", r"SG\.", r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", ("SG.",)),
    ("Mailgun API key", r"key-", r"[0-9a-f]{32}\b", ("key-",)),
    ("Mailchimp API key", r"", r"\b[0-9a-f]{32}-us[0-9]{1,2}\b", ("-us",)),
    (
        "Shopify access token",
        r"shp(?:at|ca|pa|ss)_",
        r"[0-9a-fA-F]{32}\b",
        ("shpat_", "shpca_", "shppa_", "shpss_"),
    ),
    ("DigitalOcean token", r"do[opr]_v1_", r"[0-9a-f]{64}\b", ("_v1_",)),
    ("Databricks token", r"dapi", r"[0-9a-f]{32}(?:-\d)?\b", ("dapi",)),
    ("Postman API key", r"PMAK-", r"[0-9a-f]{24}-[0-9a-f]{34}\b", ("PMAK-",)),
    ("Docker Hub personal access token", r"dckr_pat_", r"[A-Za-z0-9_-]{27,}", ("dckr_pat_",)),
    ("Atlassian API token", r"ATATT3", r"[A-Za-z0-9_=-]{100,}", ("ATATT3",)),
    (
        "Square access token",
        r"(?:EAAA|sq0atp-|sq0csp-)",
        r"[0-9A-Za-z_-]{22,}",
        ("EAAA", "sq0atp-", "sq0csp-"),
    ),
    ("New Relic user API key", r"NRAK-", r"[A-Z0-9]{27}\b", ("NRAK-",)),
    ("Linear API key", r"lin_api_", r"[A-Za-z0-9]{40}\b", ("lin_api_",)),
    ("Telegram bot token", r"\b[0-9]{8,10}:", r"AA[0-9A-Za-z_-]{33}\b", (":AA",)),
    (
        "Discord webhook URL",
        r"https://discord(?:app)?\.com/api/webhooks/[0-9]+/",
        r"[A-Za-z0-9_-]{30,}",
        ("/api/webhooks/",),
    ),
    ("age secret key", r"AGE-SECRET-KEY-1", r"[0-9A-Z]{58}\b", ("AGE-SECRET-KEY-1",)),
)

_NAMED: Final = (
    "name=value / name: value pair",
    "URL-encoded name=value pair",
    "passphrase",
    "Authorization header",
    "Bearer token",
    "password in a URL",
    "mysql -p<password>",
    "Azure connection string key",
    "PEM private key block",
    "JSON Web Token",
)
FORMATS: Final[tuple[str, ...]] = _NAMED + tuple(name for name, _, _, _ in VENDOR_TOKENS)
"""Every kind of secret `default` recognizes."""

_KEYWORDS: Final = ("pass", "pwd", "secret", "token", "api", "access", "private", "auth", "session",
                    "cookie", "credential")  # fmt: skip
_Rule = tuple[tuple[str, ...], bool, re.Pattern[str], str | Callable[[re.Match[str]], str]]
"""(hints, hints in lower case, pattern, replacement)"""

_GENERIC: Final[tuple[_Rule, ...]] = (
    # PEM private keys, whole blocks
    (
        ("PRIVATE KEY",),
        False,
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
        f"-----PRIVATE KEY {MASK}-----",
    ),
    # Authorization headers: the scheme stays, the credentials go
    (
        ("authorization",),
        True,
        re.compile(
            r"(?i)\b((?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|digest|token)\s+)?)[^\s\"',;]+"
        ),
        rf"\1{MASK}",
    ),
    (("bearer",), True, re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1{MASK}"),
    # "name": "value", 'name': 'value', name="value": the whole quoted value, spaces and all. An escape
    # and a plain character never start alike, so a value without its closing quote fails in one pass
    # (the rule before this one backtracked exponentially on a run of backslashes).
    (
        _KEYWORDS,
        True,
        re.compile(
            rf"{_NAME}([\"']?\s*[:=]\s*b?)"
            rf"(?:\"(?:[^\"\\\n]|\\.){{0,{QUOTED_MAX}}}\"|'(?:[^'\\\n]|\\.){{0,{QUOTED_MAX}}}')"
        ),
        _masked_quoted,
    ),
    # name=value, name: value, unquoted; a value ends at "?" too, so that the value of a name that is not
    # secret ("https:" of a URL) does not swallow the first parameter of its query ("?token=...")
    (
        _KEYWORDS,
        True,
        re.compile(rf"{_NAME}([\"']?\s*[:=]\s*(?:b?[\"'])?)(?:(?![\"'])[^\s,;&?}})\]])+"),
        _masked_value,
    ),
    # the same, URL-encoded: name%3Dvalue, %22name%22%3A%22value%22 (up to the next encoded delimiter)
    (
        ("%3d", "%3a"),
        True,
        re.compile(
            rf"(?i){_NAME}((?:%22|%27)?(?:%3D|%3A)(?:%20)*(?:%22|%27)?)(?:(?!%26|%22|%27|%2C|%3B)[^\s&\"',;])+"
        ),
        _masked_value,
    ),
    # Azure storage connection strings
    (
        ("accountkey=", "sharedaccesskey="),
        True,
        re.compile(r"(?i)\b((?:AccountKey|SharedAccessKey)=)[A-Za-z0-9+/=]{20,}"),
        rf"\1{MASK}",
    ),
    # user:password@host in URLs, and :password@host with no user (redis://:password@host); a scheme
    # starts only where no scheme character precedes (else each of its letters would start a new scan)
    (
        ("://",),
        False,
        re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"),
        rf"\1{MASK}@",
    ),
    # JSON Web Tokens (starting only at the start of a run of token characters: linear)
    (
        ("eyJ",),
        False,
        re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"),
        MASK,
    ),
    # mysql / mariadb command lines: -p<password> (the password glued to the option)
    (("mysql", "mariadb"), True, re.compile(r"(?<!\S)(-p)[^\s]+"), rf"\1{MASK}"),
)
_RULES: Final[tuple[_Rule, ...]] = _GENERIC + tuple(
    (hints, False, re.compile(rf"(?<![A-Za-z0-9_])({prefix}){rest}"), rf"\1{MASK}")
    for _, prefix, rest, hints in VENDOR_TOKENS
)


def _hint_scanner(folded: bool) -> re.Pattern[str]:
    hints = {hint for rule in _RULES if rule[1] is folded for hint in rule[0]}
    return re.compile("|".join(map(re.escape, sorted(hints, key=len, reverse=True))))


_FOLDED_HINTS: Final = _hint_scanner(True)
_EXACT_HINTS: Final = _hint_scanner(False)


def default(text: str) -> str:
    """`text` with common secrets masked (see the module's documentation for what it recognizes)."""
    # A pattern runs only on a text that holds one of its hints: one scan for all of them first.
    found = set(_FOLDED_HINTS.findall(text.lower())) | set(_EXACT_HINTS.findall(text))
    if not found:
        return text
    for hints, _, pattern, replacement in _RULES:
        if not found.isdisjoint(hints):
            text = pattern.sub(replacement, text)
    return text


def digits(text: str) -> str:
    """Every digit masked with `*` (the original module's example sanitizer)."""
    return "".join("*" if c.isdigit() else c for c in text)


sanitizer = digits
