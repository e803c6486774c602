#!/usr/bin/env python3
"""Disables one tenant with a tenantctl vendor plugin, from Python.

    python disable.py --plugin DIR/acronis.wasm --vendor acronis --tenant-name "Acme Corp"

The base URL and credentials come from the same variables as tenantctl's:
``TENANTCTL_<VENDOR>_URL`` and ``TENANTCTL_<VENDOR>_<FIELD>`` for each configuration field
the plugin declares (upper-cased, ``-`` as ``_``), e.g. ``TENANTCTL_ACRONIS_CLIENT_ID``.
Get the plugin files with ``tenantctl plugins export DIR``.

Prints the plugin's outcome as JSON on stdout. Exit status: 0 when the tenant is disabled
(now or already), 1 when the plugin reported a failure, 2 for a usage, configuration or
host error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tenantctl_host import (
    Account,
    HostError,
    Plugin,
    config_from_env,
    tenant_by_id,
    tenant_by_name,
    to_plain,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin", required=True, help="the plugin file, e.g. DIR/acronis.wasm")
    parser.add_argument(
        "--vendor",
        help="the vendor, naming the TENANTCTL_<VENDOR>_* variables (default: the plugin's)",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--tenant-name", help="the tenant's name, matched as the vendor matches")
    which.add_argument("--tenant-id", help="the vendor's id for the tenant")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    args = parser.parse_args(argv)

    try:
        plugin = Plugin(args.plugin)
    except (OSError, HostError) as err:
        print(f"disable.py: cannot load {args.plugin}: {err}", file=sys.stderr)
        return 2
    if args.vendor and args.vendor != plugin.vendor:
        print(
            f"disable.py: {args.plugin} is the {plugin.vendor} plugin, not {args.vendor}",
            file=sys.stderr,
        )
        return 2
    try:
        base_url, config = config_from_env(plugin.info, os.environ)
    except KeyError as err:
        print(f"disable.py: {err.args[0]}", file=sys.stderr)
        return 2

    tenant = tenant_by_name(args.tenant_name) if args.tenant_name else tenant_by_id(args.tenant_id)
    try:
        account = Account(plugin, base_url, config, timeout=args.timeout)
        outcome = account.run("disable", tenant)
    except (HostError, ValueError) as err:
        print(f"disable.py: {err}", file=sys.stderr)
        return 2

    json.dump(to_plain(outcome), sys.stdout, indent=2)
    print()
    return 0 if outcome.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
