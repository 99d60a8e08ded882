"""Ready-made sanitizers for `sanitize_func`: text in, text with the sensitive parts masked out.

`default` masks the secrets that most often end up in arguments, exception messages, tracebacks and
log lines; it is what mpmon applies to captured log lines (`capture_logging=True`) when the run has no
sanitizer of its own. To apply it to everything a run sends, pass it to the collector:

    mpmon.start_collector("logs", sanitize_func=mpmon.sanitizers.default)

or to one decorator: `@mpmon.Timer(sanitize_func=mpmon.sanitizers.default)`. What it masks (the value
becomes `***`, the name stays, so a reader still sees that a secret was there):

- `name=value` and `name: value` pairs, quoted or not (JSON, query strings, keyword-argument reprs,
  `dict` reprs), whose name contains password, passwd, pwd, secret, token, api_key / apikey / api-key,
  access_key, private_key, auth_key, session / session_id or credential;
- HTTP `Authorization:` and `Proxy-Authorization:` headers, and `Bearer <token>` anywhere;
- the password of `scheme://user:password@host` URLs;
- AWS access key ids (`AKIA...`, `ASIA...`), and JSON Web Tokens;
- PEM private key blocks.

It is a safety net, not a guarantee: a secret with no recognizable name or shape passes through. A
sanitizer of your own can run it first: `return mask_my_ids(mpmon.sanitizers.default(text))`.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MASK", "default", "digits", "sanitizer"]

MASK: Final = "***"

_NAME: Final = (
    r"[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|auth[_-]?key|session(?:[_-]?id)?|credential)[\w.-]*"
)
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
    # name=value, name: value, "name": "value", 'name': 'value'
    (
        re.compile(rf"(?i)(\b{_NAME}[\"']?\s*[:=]\s*(?:b?[\"'])?)((?:(?![\"'])[^\s,;&}})\]])+)"),
        rf"\1{MASK}",
    ),
    # user:password@host in URLs
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), rf"\1{MASK}@"),
    # AWS access key ids
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), MASK),
    # JSON Web Tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), MASK),
)


def default(text: str) -> str:
    """`text` with common secrets masked (see the module's documentation for what it recognizes)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def digits(text: str) -> str:
    """Every digit masked with `*` (the original module's example sanitizer)."""
    return "".join("*" if c.isdigit() else c for c in text)


sanitizer = digits
