"""``python -m api.keys create|list|revoke``: the service's API keys (stored hashed in the run store).

    python -m api.keys create --role planner --site north-pit --name "Dashboard PC 3"
    python -m api.keys list [--json]
    python -m api.keys revoke KEY_ID

``create`` prints the key (``mk_<id>_<secret>``) once on stdout; only a SHA-256 of the secret is
stored, so a lost key is revoked and replaced, never recovered. Revocation takes effect on the
next request. Exit codes: 0 success, 2 bad input (unknown key id, bad role or site).
"""
from __future__ import annotations

import argparse
import json
import re
import sys

from api.auth import KeyStore, Role
from api.settings import get_settings
from api.store import RunStore
from training.cli import EXIT_BAD_INPUT, EXIT_OK

#: What a site name may look like (the same rule as ``Settings.site``).
SITE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _site(value: str) -> str:
    if not SITE_PATTERN.fullmatch(value):
        raise argparse.ArgumentTypeError(f"site {value!r}: letters, digits, '-' and '_' only, at most 64")
    return value


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m api.keys", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None,
                        help="run store (default: the settings' MINEOPS_DATABASE_URL or logs/runs.sqlite3)")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="make a key and print it once")
    create.add_argument("--role", required=True, choices=[r.name for r in Role])
    create.add_argument("--site", type=_site, default=settings.site, help=f"default {settings.site}")
    create.add_argument("--name", default="", help="who or what holds the key")
    listing = sub.add_parser("list", help="every key (never the secrets)")
    listing.add_argument("--json", action="store_true")
    revoke = sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    store = RunStore.from_url(args.database_url or settings.effective_database_url)
    try:
        keys = KeyStore(store.engine)
        if args.command == "create":
            key, token = keys.create(Role[args.role], args.site, args.name)
            print(token)
            print(f"created key {key.key_id}: role {key.role.name}, site {key.site}; store it now, "
                  "it is not shown again", file=sys.stderr)
            return EXIT_OK
        if args.command == "list":
            rows = [{"key_id": k.key_id, "role": k.role.name, "site": k.site, "name": k.name,
                     "created_at": k.created_at.isoformat(timespec="seconds"),
                     "revoked_at": k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else None}
                    for k in keys.list()]
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                for r in rows:
                    state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "live"
                    print(f"{r['key_id']}  {r['role']:<7}  {r['site']:<16}  {state:<30}  {r['name']}")
                print(f"{len(rows)} key(s)", file=sys.stderr)
            return EXIT_OK
        if keys.revoke(args.key_id):
            print(f"revoked key {args.key_id}", file=sys.stderr)
            return EXIT_OK
        print(f"python -m api.keys: no live key {args.key_id!r} (see python -m api.keys list)", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
