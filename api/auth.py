"""Who may do what: API keys and OAuth2 bearer JWTs turned into a principal (role, site), and the
per-route role declarations.

A principal is ``(subject, role, site)``. Roles are ordered: ``viewer`` reads runs, KPIs, drift and
plots; ``planner`` also runs strategies, studies and chat; ``admin`` also adds vessels and
schedules, promotes and rolls back models, reads the audit log and manages keys.

Every route declares what it needs, on the route itself:

    @router.get("/runs", dependencies=[requires(Role.viewer)])   # or a parameter ``principal: Viewer``
    @router.get("/health", dependencies=[PUBLIC])                # explicitly open

``tests/api/test_auth.py`` walks every route of the app and fails on one that declares neither, so
a new router must pick one. Site isolation is in the data access: routes pass ``principal.site``
to the store (runs of another site are "not found", 404) and ``require_own_site`` guards what this
deployment keeps in files (fleet, models, drift reports, study plots), which belongs to
``Settings.site``.

Credentials: ``Authorization: Bearer mk_<id>_<secret>`` or ``X-API-Key: mk_<id>_<secret>`` (keys
made by ``python -m api.keys``; only a SHA-256 of the secret is stored, compared in constant time),
or ``Authorization: Bearer <JWT>`` signed by the identity provider at ``Settings.jwt_jwks_url``
(PyJWT's ``PyJWKClient``; issuer always checked, audience when configured; role and site from the
claims ``Settings.jwt_role_claim`` / ``jwt_site_claim``).

Modes (``MINEOPS_AUTH``): ``off`` makes every request an admin of the deployment's site and is
refused unless the service listens on loopback (``check_auth_mode``); ``on`` answers 401 without
valid credentials, unless ``MINEOPS_ANONYMOUS_ROLE`` grants one role to requests that send none.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy import MetaData, Table, insert, select, update
from sqlalchemy.engine import Engine

from api.deps import SettingsDep

log = logging.getLogger(__name__)

#: Prefix of the API keys this service issues: ``mk_<key id>_<secret>``.
KEY_PREFIX = "mk_"
#: Random bytes of a key id (hex) and of its secret (URL-safe base64).
KEY_ID_BYTES = 8
KEY_SECRET_BYTES = 32
#: Signature algorithms accepted on JWTs (asymmetric only: the IdP's public keys come from JWKS).
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
#: Seconds of clock difference tolerated on a JWT's exp/nbf/iat.
JWT_LEEWAY_S = 30
#: Header an API key may also come in (for clients that reserve Authorization).
API_KEY_HEADER = "X-API-Key"


class Role(enum.IntEnum):
    """What a principal may do; a higher role may do everything a lower one may."""

    viewer = 1
    planner = 2
    admin = 3


@dataclass(frozen=True)
class Principal:
    """Who is asking: key id or JWT subject, role, site, and how they were recognised."""

    subject: str
    role: Role
    site: str
    via: str  # "key" | "jwt" | "anonymous" | "auth-off"


class AuthConfigError(ValueError):
    """The authentication settings do not allow the service to start as configured."""


# --- modes ---------------------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_auth_mode(auth: str, host: str) -> None:
    """Refuse ``MINEOPS_AUTH=off`` on a non-loopback address (raises ``AuthConfigError``)."""
    if auth == "off" and not is_loopback(host):
        raise AuthConfigError(
            f"refusing to start: MINEOPS_AUTH=off while listening on {host}. Without authentication "
            "anyone who reaches the service is an admin, so off is allowed only on a loopback address "
            "(127.0.0.1, ::1, localhost). Set MINEOPS_AUTH=on and create keys with "
            "`python -m api.keys create --role viewer|planner|admin --site SITE`, or listen on 127.0.0.1.")


# --- API keys ------------------------------------------------------------------------------------------

def secret_digest(secret: str) -> str:
    """SHA-256 hex of a key's secret (secrets are 256 random bits, so a fast hash is enough)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_key(token: str) -> tuple[str, str] | None:
    """(key id, secret) of ``mk_<id>_<secret>``, or None when the token is not one of our keys."""
    if not token.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = token[len(KEY_PREFIX):].partition("_")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never its secret)."""

    key_id: str
    role: Role
    site: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class KeyStore:
    """API keys in the run store's ``api_keys`` table."""

    def __init__(self, engine: Engine):
        self.engine = engine
        with engine.connect() as conn:
            self._t = Table("api_keys", MetaData(), autoload_with=conn)

    def create(self, role: Role | str, site: str, name: str = "") -> tuple[ApiKey, str]:
        """Store a new key; return it and the full token, which is shown once and never stored."""
        role = Role[role] if isinstance(role, str) else role
        key_id = secrets.token_hex(KEY_ID_BYTES)
        secret = secrets.token_urlsafe(KEY_SECRET_BYTES)
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            conn.execute(insert(self._t), {"key_id": key_id, "secret_sha256": secret_digest(secret),
                                           "role": role.name, "site": site, "name": name or "",
                                           "created_at": now, "revoked_at": None})
        return ApiKey(key_id, role, site, name or "", now, None), f"{KEY_PREFIX}{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        """Every key, oldest first (revoked ones included, with their revocation time)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(self._t).order_by(self._t.c.created_at)).all()
        return [self._key(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key (takes effect on the next request); False when no live key has this id."""
        t = self._t
        with self.engine.begin() as conn:
            done = conn.execute(update(t).where(t.c.key_id == key_id, t.c.revoked_at.is_(None))
                                .values(revoked_at=datetime.now(timezone.utc)))
        return done.rowcount == 1

    def verify(self, token: str) -> ApiKey | None:
        """The live key ``token`` names when its secret matches, else None."""
        parts = split_key(token)
        if parts is None:
            return None
        key_id, secret = parts
        t = self._t
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.key_id == key_id)).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_sha256, secret_digest(secret)):
            return None
        return self._key(row)

    @staticmethod
    def _key(row: Any) -> ApiKey:
        def utc(dt: datetime | None) -> datetime | None:
            return None if dt is None else (dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt)

        return ApiKey(row.key_id, Role[row.role], row.site, row.name, utc(row.created_at), utc(row.revoked_at))


# --- JWTs ----------------------------------------------------------------------------------------------

class JwtVerifier:
    """Verifies bearer JWTs of one external identity provider (issuer + JWKS URL)."""

    def __init__(self, issuer: str, jwks_url: str, audience: str = "", role_claim: str = "mineops_role",
                 site_claim: str = "mineops_site"):
        import jwt

        self._jwt = jwt
        self.issuer = issuer
        self.audience = audience or None
        self.role_claim = role_claim
        self.site_claim = site_claim
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True)

    @classmethod
    def from_settings(cls, settings: Any) -> "JwtVerifier | None":
        if not (settings.jwt_issuer and settings.jwt_jwks_url):
            return None
        return cls(settings.jwt_issuer, settings.jwt_jwks_url, settings.jwt_audience,
                   settings.jwt_role_claim, settings.jwt_site_claim)

    def verify(self, token: str) -> Principal:
        """The principal the token's claims name; ``ValueError`` saying why it is not accepted."""
        jwt = self._jwt
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, signing_key.key, algorithms=list(JWT_ALGORITHMS), issuer=self.issuer,
                                audience=self.audience, leeway=JWT_LEEWAY_S,
                                options={"require": ["exp", "iss", "sub"], "verify_aud": self.audience is not None})
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise ValueError(f"bearer token rejected: {exc}") from exc
        role = claims.get(self.role_claim)
        site = claims.get(self.site_claim)
        if role not in Role.__members__:
            raise ValueError(f"bearer token rejected: claim {self.role_claim!r} must be one of "
                             f"{', '.join(Role.__members__)}, got {role!r}")
        if not isinstance(site, str) or not site:
            raise ValueError(f"bearer token rejected: claim {self.site_claim!r} (the site) is missing")
        return Principal(str(claims["sub"]), Role[role], site, "jwt")


# --- turning a request into a principal ----------------------------------------------------------------

class Authenticator:
    """Credentials -> principal for one app (keys from the run store, JWTs from the IdP)."""

    def __init__(self, settings: Any, jwt_verifier: JwtVerifier | None = None):
        self.settings = settings
        self.jwt = jwt_verifier if jwt_verifier is not None else JwtVerifier.from_settings(settings)
        self._keys: KeyStore | None = None

    def keys(self, store: Any) -> KeyStore:
        if self._keys is None or self._keys.engine is not store.engine:
            self._keys = KeyStore(store.engine)
        return self._keys

    def authenticate(self, token: str | None, store: Any) -> Principal:
        """The principal of ``token`` (None: no credentials sent); ``HTTPException`` 401 otherwise."""
        s = self.settings
        if s.auth == "off":
            return Principal("local", Role.admin, s.site, "auth-off")
        if not token:
            if s.anonymous_role:
                return Principal("anonymous", Role[s.anonymous_role], s.site, "anonymous")
            raise unauthorized("credentials required: send Authorization: Bearer <API key or JWT> "
                               f"or {API_KEY_HEADER}")
        if split_key(token) is not None:
            key = self.keys(store).verify(token)
            if key is None:
                raise unauthorized("API key not recognised or revoked")
            return Principal(f"key:{key.key_id}", key.role, key.site, "key")
        if self.jwt is None:
            raise unauthorized("bearer JWTs are not accepted here (no identity provider configured)")
        try:
            return self.jwt.verify(token)
        except ValueError as exc:
            raise unauthorized(str(exc)) from exc


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


_bearer = HTTPBearer(auto_error=False, description="An API key (mk_...) or a JWT of the identity provider")
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="An API key (mk_...)")


def authenticator(request: Request, settings: Any) -> Authenticator:
    """The app's authenticator (``create_app`` builds it; an app assembled from routers gets one here)."""
    state = request.app.state
    auth = getattr(state, "authenticator", None)
    if auth is None or auth.settings is not settings:
        auth = state.authenticator = Authenticator(settings)
    return auth


def current_principal(security_scopes: SecurityScopes, request: Request, settings: SettingsDep,
                      bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                      api_key: Annotated[str | None, Depends(_api_key)]) -> Principal:
    """The request's principal (401 without valid credentials), checked against the route's role (403).

    A sync function on purpose: FastAPI runs it in the thread pool, where the key lookup and a
    JWKS refresh may block.
    """
    token = bearer.credentials if bearer is not None else api_key
    principal = authenticator(request, settings).authenticate(token, getattr(request.app.state, "store", None))
    request.state.principal = principal
    needed = max((Role[s] for s in security_scopes.scopes), default=Role.viewer)
    if principal.role < needed:
        raise HTTPException(status_code=403, detail=f"{principal.role.name} may not do this: needs {needed.name}")
    return principal


def public() -> None:
    """Marks a route as open to everyone (health, readiness, metrics exposition)."""
    return None


def requires(role: Role) -> Any:
    """The dependency declaring that a route needs ``role`` (``dependencies=[requires(Role.planner)]``)."""
    return Security(current_principal, scopes=[role.name])


#: An explicitly public route: ``dependencies=[PUBLIC]``.
PUBLIC = Depends(public)

#: The principal of a route that needs at least this role (use as a parameter type).
Viewer = Annotated[Principal, Security(current_principal, scopes=[Role.viewer.name])]
Planner = Annotated[Principal, Security(current_principal, scopes=[Role.planner.name])]
Admin = Annotated[Principal, Security(current_principal, scopes=[Role.admin.name])]


def visible_site(principal: Principal, requested: str | None, default: str) -> str:
    """The site a read asks about: the caller's own (404 for another), or any with auth off.

    With auth off the local admin may name any site (``requested``, else ``default``); otherwise
    ``requested`` must be the principal's site or absent.
    """
    if principal.via == "auth-off":
        return requested or default
    if requested is not None and requested != principal.site:
        raise HTTPException(status_code=404, detail=f"site {requested!r} not found")
    return principal.site


def require_own_site(principal: Principal, settings: Any, what: str = "resource") -> None:
    """404 unless ``principal`` belongs to this deployment's site (its files: fleet, models, reports).

    Not 403: a key of another site must not learn that the resource exists.
    """
    if principal.site != settings.site:
        raise HTTPException(status_code=404, detail=f"{what} not found")


@dataclass(frozen=True)
class RouteInfo:
    """One HTTP route of an app as served (path with any include prefix) and the role it declares."""

    path: str
    methods: frozenset[str]
    role: str | None  # "public", a role name, or None when the route declares neither
    query_params: tuple[Any, ...] = ()  # the route's query parameters (fields with .name)


def app_routes(app: Any) -> list[RouteInfo]:
    """Every API route of ``app`` with its declared role (routers included at any depth)."""
    from fastapi.routing import APIRoute

    try:  # FastAPI >= 0.13x keeps included routers as branches; this walks them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies every route into app.routes
        return [RouteInfo(r.path, frozenset(r.methods), declared_role(r.dependant), _query_params(r.dependant))
                for r in app.routes if isinstance(r, APIRoute)]
    out = []
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if isinstance(route, APIRoute):
            effective = getattr(rc, "_route_context", None)  # carries the include's own dependencies
            dependant = getattr(effective, "dependant", None) or route.dependant
            out.append(RouteInfo(rc.path or route.path, frozenset(route.methods), declared_role(dependant),
                                 _query_params(dependant)))
    return out


def _query_params(dependant: Any) -> tuple[Any, ...]:
    out = list(dependant.query_params)
    for sub in dependant.dependencies:
        out.extend(_query_params(sub))
    return tuple(out)


def declared_role(dependant: Any) -> str | None:
    """``"public"``, the highest role a route's dependencies require, or None when it declares neither."""
    found: list[str] = []

    def walk(dep: Any, scopes: list[str]) -> None:
        for sub in dep.dependencies:
            own = list(getattr(sub, "own_oauth_scopes", None) or getattr(sub, "scopes", None) or [])
            if sub.call is current_principal:
                found.extend(own or scopes or [Role.viewer.name])
            elif sub.call is public:
                found.append("public")
            walk(sub, scopes + own)

    walk(dependant, [])
    roles = [r for r in found if r != "public"]
    if roles:
        return max(roles, key=lambda r: Role[r])
    return "public" if found else None
