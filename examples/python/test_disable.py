"""Tests of the Python host against the plugin files tenantctl itself uses and the simulator.

Needs ``$TENANTCTL_BIN_DIR/tenantctl`` and ``tenantctl-simulator`` (default
``../../target/release``). All traffic stays on loopback.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request
from pathlib import Path

from wasmtime.component import Record, Variant

import tenantctl_host as host

HERE = Path(__file__).resolve().parent
BIN_DIR = Path(os.environ.get("TENANTCTL_BIN_DIR") or HERE / ".." / ".." / "target" / "release")
TENANTCTL = BIN_DIR / "tenantctl"
SIMULATOR = BIN_DIR / "tenantctl-simulator"
PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}

# Set up once for the module: the exported plugins, compiled, and one simulator.
_tmp: tempfile.TemporaryDirectory | None = None
PLUGIN_DIR = Path()  # set by setUpModule
PLUGINS: dict[str, host.Plugin] = {}
SIM_ENV: dict[str, str] = {}


def setUpModule() -> None:
    global _tmp, PLUGIN_DIR
    for exe in (TENANTCTL, SIMULATOR):
        if not os.access(exe, os.X_OK):
            raise RuntimeError(f"{exe} is missing: build it with `cargo build --release`")
    # Module cleanups run even when setUpModule fails half-way (tearDownModule would not).
    _tmp = tempfile.TemporaryDirectory(prefix="tenantctl-python-")
    unittest.addModuleCleanup(_tmp.cleanup)
    tmp = Path(_tmp.name)
    PLUGIN_DIR = tmp / "plugins"
    # An empty plugin directory: export the built-in plugins, whatever the user installed.
    (tmp / "no-plugins").mkdir()
    env = dict(os.environ, TENANTCTL_PLUGIN_DIR=str(tmp / "no-plugins"))
    subprocess.run(
        [str(TENANTCTL), "plugins", "export", str(PLUGIN_DIR)],
        env=env, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    for vendor in ("acronis", "commvault"):
        PLUGINS[vendor] = host.Plugin(PLUGIN_DIR / f"{vendor}.wasm")
    SIM_ENV.update(start_simulator(tmp / "simulator.log"))


def stop_simulator(sim: subprocess.Popen) -> None:
    sim.terminate()
    try:
        sim.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sim.kill()
        sim.wait()
    for pipe in (sim.stdin, sim.stdout):
        if pipe:
            pipe.close()


def start_simulator(log_path: Path) -> dict[str, str]:
    """Starts the simulator on free loopback ports; returns the variables it prints."""
    log = open(log_path, "wb")
    sim = subprocess.Popen(
        # --exit-on-stdin-close: the simulator also stops if this process dies unannounced.
        [str(SIMULATOR), "--acronis-port", "0", "--commvault-port", "0", "--exit-on-stdin-close"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
    )
    unittest.addModuleCleanup(stop_simulator, sim)
    log.close()
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert sim.stdout is not None
        for line in sim.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    found: dict[str, str] = {}
    wanted = {
        "TENANTCTL_ACRONIS_URL", "TENANTCTL_ACRONIS_CLIENT_ID", "TENANTCTL_ACRONIS_CLIENT_SECRET",
        "TENANTCTL_COMMVAULT_URL", "TENANTCTL_COMMVAULT_USERNAME", "TENANTCTL_COMMVAULT_PASSWORD",
    }
    while not wanted <= found.keys():
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            line = None
        if line is None:
            raise RuntimeError(
                f"the simulator printed {sorted(found)} and stopped or stalled; "
                f"its log:\n{log_path.read_text(errors='replace')}"
            )
        words = shlex.split(line)  # export NAME='value'
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            found[name] = value
    return found


def sim_state(vendor: str) -> dict:
    """``GET /_sim/tenants`` at the server root (for Commvault, not under the API path)."""
    scheme, hostname, port = host.origin_of(SIM_ENV[f"TENANTCTL_{vendor.upper()}_URL"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{scheme}://{hostname}:{port}/_sim/tenants", timeout=10) as resp:
        return json.load(resp)


def sim_post(vendor: str, path: str) -> None:
    scheme, hostname, port = host.origin_of(SIM_ENV[f"TENANTCTL_{vendor.upper()}_URL"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(f"{scheme}://{hostname}:{port}{path}", data=b"", method="POST")
    with opener.open(req, timeout=10):
        pass


def account(vendor: str) -> host.Account:
    """An account on the simulator, configured from its variables as tenantctl would be."""
    plugin = PLUGINS[vendor]
    base_url, config = host.config_from_env(plugin.info, SIM_ENV)
    return host.Account(plugin, base_url, config, timeout=10, proxies={})


class DescribeTest(unittest.TestCase):
    def test_describe_returns_plain_values(self) -> None:
        for vendor, plugin in PLUGINS.items():
            with self.subTest(vendor=vendor):
                info = plugin.info
                self.assertIsInstance(info, Record)
                self.assertEqual(info.vendor, vendor)
                for name in ("vendor", "display-name", "version", "contract", "url-hint"):
                    self.assertIs(type(host.field(info, name)), str, name)
                self.assertIs(type(info.actions), list)
                self.assertIn("disable", [a.action for a in info.actions])
                for action in info.actions:
                    self.assertIn(action.action, host.ACTIONS)  # an enum is a plain str
                    self.assertIs(type(action.description), str)
                    self.assertIs(type(action.destructive), bool)
                for f in info.config:
                    self.assertIs(type(f.name), str)
                    self.assertIs(type(f.secret), bool)
                    self.assertIs(type(f.required), bool)
                # Nothing else hides in there: every leaf is a str, bool or int.
                self.assert_plain(host.to_plain(info))

    def assert_plain(self, value: object) -> None:
        if isinstance(value, dict):
            for v in value.values():
                self.assert_plain(v)
        elif isinstance(value, list):
            for v in value:
                self.assert_plain(v)
        else:
            self.assertIn(type(value), (str, bool, int))

    def test_env_names_follow_tenantctl(self) -> None:
        self.assertEqual(host.env_name("acronis", "client-secret"), "TENANTCTL_ACRONIS_CLIENT_SECRET")
        url, config = host.config_from_env(PLUGINS["commvault"].info, SIM_ENV)
        self.assertEqual(url, SIM_ENV["TENANTCTL_COMMVAULT_URL"])
        self.assertEqual(set(config), {"username", "password"})
        with self.assertRaisesRegex(KeyError, "TENANTCTL_ACRONIS_URL"):
            host.config_from_env(PLUGINS["acronis"].info, {})


class DisableTest(unittest.TestCase):
    def disable_twice(self, vendor: str, name: str) -> Record:
        acct = account(vendor)
        outcome = acct.run("disable", host.tenant_by_name(name))
        self.assertIsNone(outcome.error, host.to_plain(outcome))
        self.assertIs(outcome.changed, True)
        self.assertIs(host.field(outcome, "enabled-before"), True)
        self.assertIs(host.field(outcome, "enabled-after"), False)
        self.assertIsInstance(outcome.tenant, Record)
        self.assertEqual(outcome.tenant.name.lower(), name.lower())

        again = acct.run("disable", host.tenant_by_name(name))
        self.assertIsNone(again.error, host.to_plain(again))
        self.assertIs(again.changed, False)
        self.assertIs(host.field(again, "enabled-after"), False)
        self.assertEqual(again.tenant.id, outcome.tenant.id)
        self.assertEqual(acct.logins, 1, "the second operation reuses the session")
        return outcome

    def test_acronis_disable_by_name(self) -> None:
        outcome = self.disable_twice("acronis", "Acme Corp")
        tenants = {t["id"]: t for t in sim_state("acronis")["tenants"]}
        tenant = tenants[outcome.tenant.id]
        self.assertEqual(tenant["name"], "Acme Corp")
        self.assertIs(tenant["enabled"], False)

    def test_commvault_disable_by_name(self) -> None:
        outcome = self.disable_twice("commvault", "acme corp")
        self.assertEqual(outcome.tenant.name, "Acme Corp")  # as Commvault holds it
        orgs = {str(o["id"]): o for o in sim_state("commvault")["organizations"]}
        org = orgs[outcome.tenant.id]
        self.assertEqual(org["connectName"], "Acme Corp")
        self.assertIs(org["enabled"], False)
        self.assertEqual(
            org["deactivateOptions"],
            {"disableBackup": True, "disableLogin": True, "disableRestore": True},
        )

    def test_not_found(self) -> None:
        for vendor in PLUGINS:
            with self.subTest(vendor=vendor):
                outcome = account(vendor).run("disable", host.tenant_by_name("No Such Tenant 4711"))
                self.assertIsInstance(outcome.error, Variant)
                self.assertEqual(outcome.error.tag, "not-found")
                detail = outcome.error.payload  # an error-detail record
                self.assertIs(type(detail.message), str)
                self.assertIn(type(host.field(detail, "http-status")), (int, type(None)))
                self.assertIs(outcome.changed, False)

    def test_session_expired_renews_once(self) -> None:
        for vendor in PLUGINS:
            with self.subTest(vendor=vendor):
                acct = account(vendor)
                first = acct.run("status", host.tenant_by_name("Dormant Ltd"))
                self.assertIsNone(first.error, host.to_plain(first))
                sim_post(vendor, "/_sim/expire-tokens")
                second = acct.run("status", host.tenant_by_name("Dormant Ltd"))
                self.assertIsNone(second.error, host.to_plain(second))
                self.assertIs(host.field(second, "enabled-after"), False)
                self.assertEqual(acct.logins, 2)

    def test_unsupported_action_is_answered_by_the_host(self) -> None:
        offered = {a.action for a in PLUGINS["acronis"].info.actions}
        if "offboard" in offered:
            self.skipTest("the Acronis plugin offers offboard")
        acct = account("acronis")
        outcome = acct.run("offboard", host.tenant_by_name("Acme"))
        self.assertEqual(outcome.error.tag, "unsupported")
        self.assertEqual(acct.logins, 0)


class HttpTest(unittest.TestCase):
    def request(self, url: str) -> Record:
        return host.record(
            {"method": "get", "url": url, "headers": [], "body": b"", "body-secret": False, "effect": "read"}
        )

    def test_refuses_requests_outside_the_origin(self) -> None:
        base = SIM_ENV["TENANTCTL_ACRONIS_URL"]
        sender = host.HttpSender(base, timeout=5, proxies={})
        scheme, hostname, port = host.origin_of(base)
        for url in (
            f"{scheme}://{hostname}:{port + 1}/api/2/tenants",  # another port
            f"https://{hostname}:{port}/api/2/tenants",  # another scheme
            f"{scheme}://localhost:{port}/api/2/tenants",  # another host name
            f"{scheme}://user@{hostname}:{port}/api/2/tenants",  # user info
            f"{scheme}://{hostname}:{port}\\@example.com/",  # parsers disagree on the host
            f"{scheme}://{hostname}%3A{port}/",  # percent-encoded
            "file:///etc/passwd",
            "not a url",
        ):
            with self.subTest(url=url), self.assertRaises(host.RefusedRequest):
                sender.send(self.request(url))

    def test_error_statuses_come_back_as_responses(self) -> None:
        sender = host.HttpSender(SIM_ENV["TENANTCTL_ACRONIS_URL"], timeout=5, proxies={})
        response = sender.send(self.request(SIM_ENV["TENANTCTL_ACRONIS_URL"] + "/api/2/tenants/nope"))
        self.assertEqual(response.status, 401)  # no token
        self.assertIs(type(response.body), bytes)
        self.assertIn("error", json.loads(response.body))
        self.assertTrue(any(h.name.lower() == "content-type" for h in response.headers))


class ListDeleteTest(unittest.TestCase):
    """Contract 0.2: listings come page by page; delete takes only a disabled tenant."""

    def listed(self, vendor: str) -> list[Record]:
        tenants = list(account(vendor).tenants())
        for tenant in tenants:
            self.assertIs(type(tenant.id), str)
            self.assertIs(type(tenant.name), str)
            self.assertIn(type(tenant.enabled), (bool, type(None)))
        self.assertEqual(len({t.id for t in tenants}), len(tenants), "no tenant twice")
        return tenants

    def test_listings_match_the_simulator(self) -> None:
        held = {t["id"]: t for t in sim_state("acronis")["tenants"] if not t["deleted"]}
        listed = self.listed("acronis")
        self.assertGreaterEqual(len(listed), 5)
        for tenant in listed:
            self.assertIn(tenant.id, held)
            self.assertIs(tenant.enabled, held[tenant.id]["enabled"], tenant.name)
        orgs = {str(o["id"]): o for o in sim_state("commvault")["organizations"]}
        listed = self.listed("commvault")
        self.assertEqual({t.id for t in listed}, set(orgs))
        for tenant in listed:
            self.assertEqual(tenant.name, orgs[tenant.id]["connectName"])
            self.assertIs(tenant.enabled, orgs[tenant.id]["enabled"], tenant.name)

    def test_delete_refuses_enabled_tenants_and_deletes_disabled_ones(self) -> None:
        twin = next(t for t in sim_state("acronis")["tenants"] if t["name"] == "Twin Co")
        refused = account("acronis").run("delete", host.tenant_by_id(twin["id"]))
        self.assertEqual(refused.error.tag, "invalid-input", host.to_plain(refused))
        refused = account("commvault").run("delete", host.tenant_by_name("halfway inc"))
        self.assertEqual(refused.error.tag, "invalid-input", host.to_plain(refused))
        for vendor in PLUGINS:
            with self.subTest(vendor=vendor):
                outcome = account(vendor).run("delete", host.tenant_by_name("Dormant Ltd"))
                self.assertIsNone(outcome.error, host.to_plain(outcome))
                self.assertIs(outcome.changed, True)
                self.assertIs(host.field(outcome, "enabled-before"), False)
                self.assertIsNone(host.field(outcome, "enabled-after"))
        acronis = {t["id"]: t for t in sim_state("acronis")["tenants"]}
        self.assertIs(acronis[twin["id"]]["deleted"], False)
        self.assertTrue(all(t["deleted"] for t in acronis.values() if t["name"] == "Dormant Ltd"))
        names = {o["connectName"] for o in sim_state("commvault")["organizations"]}
        self.assertIn("Halfway Inc", names)
        self.assertNotIn("Dormant Ltd", names)


class CliTest(unittest.TestCase):
    def run_cli(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS}
        env.update(SIM_ENV)
        return subprocess.run(
            [sys.executable, str(HERE / "disable.py"), *args],
            env=env, cwd=HERE, capture_output=True, text=True, timeout=60,
            stdin=subprocess.DEVNULL,
        )

    def test_cli_disables_and_prints_json(self) -> None:
        done = self.run_cli(
            "--plugin", str(PLUGIN_DIR / "acronis.wasm"), "--vendor", "acronis", "--tenant-name", "Acme"
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        outcome = json.loads(done.stdout)
        self.assertEqual(outcome["tenant"]["name"], "Acme")
        self.assertIs(outcome["changed"], True)
        self.assertIs(outcome["enabled-after"], False)
        self.assertIsNone(outcome["error"])
        tenants = {t["id"]: t for t in sim_state("acronis")["tenants"]}
        self.assertIs(tenants[outcome["tenant"]["id"]]["enabled"], False)

    def test_cli_reports_failures(self) -> None:
        plugin = str(PLUGIN_DIR / "commvault.wasm")
        twins = self.run_cli("--plugin", plugin, "--tenant-name", "Twin Co")
        self.assertEqual(twins.returncode, 1, twins.stderr)
        self.assertEqual(json.loads(twins.stdout)["error"]["tag"], "ambiguous")
        wrong = self.run_cli("--plugin", plugin, "--vendor", "acronis", "--tenant-name", "x")
        self.assertEqual(wrong.returncode, 2)
        self.assertIn("not acronis", wrong.stderr)


if __name__ == "__main__":
    unittest.main()
