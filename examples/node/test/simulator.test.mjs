// End to end: the plugin files the tenantctl binary uses, transpiled with jco, driven by
// tenantctl-host.mjs against tenantctl-simulator on loopback.
//
// Needs $TENANTCTL_BIN_DIR (default ../../target/release) to hold `tenantctl` and
// `tenantctl-simulator`; run-tests.sh checks that first.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { Account, loadPlugin, settingsFromEnv } from "../tenantctl-host.mjs";

const exampleDir = fileURLToPath(new URL("..", import.meta.url));
const binDir = resolve(exampleDir, process.env.TENANTCTL_BIN_DIR ?? "../../target/release");
const run = promisify(execFile);

let workDir;
let simulator;
/** The simulator's `export` lines, as an environment. */
let simEnv;
/** vendor → { wasm, plugin } */
const plugins = {};

before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "tenantctl-node-"));
    // An empty plugin directory, so the export is always the built-in plugins.
    const emptyPluginDir = join(workDir, "no-plugins");
    await mkdir(emptyPluginDir);
    const exportDir = join(workDir, "plugins");
    await run(join(binDir, "tenantctl"), ["plugins", "export", "--plugin-dir", emptyPluginDir, exportDir]);
    for (const vendor of ["acronis", "commvault"]) {
        const wasm = join(exportDir, `${vendor}.wasm`);
        plugins[vendor] = { wasm, plugin: await loadPlugin(wasm, { outDir: join(workDir, "js", vendor) }) };
    }
    ({ process: simulator, env: simEnv } = await startSimulator());
});

after(async () => {
    if (simulator && simulator.exitCode === null) {
        const exited = new Promise((done) => simulator.once("exit", done));
        simulator.kill("SIGTERM");
        await exited;
    }
    if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Starts `tenantctl-simulator` on free loopback ports and reads its `export` lines. */
async function startSimulator() {
    const child = spawn(
        join(binDir, "tenantctl-simulator"),
        ["--acronis-port", "0", "--commvault-port", "0", "--exit-on-stdin-close"],
        { stdio: ["pipe", "pipe", "inherit"] },
    );
    const env = {};
    await new Promise((ready, failed) => {
        const timer = setTimeout(() => failed(new Error("tenantctl-simulator printed no URLs within 15 s")), 15_000);
        child.once("error", failed);
        child.once("exit", (code) => failed(new Error(`tenantctl-simulator exited early (status ${code})`)));
        // Keeps reading stdout to the end, so the simulator never writes into a closed pipe.
        createInterface({ input: child.stdout }).on("line", (line) => {
            const match = /^export (TENANTCTL_\w+)='(.*)'$/.exec(line);
            if (match) env[match[1]] = match[2].replaceAll("'\\''", "'");
            if (env.TENANTCTL_ACRONIS_URL && env.TENANTCTL_COMMVAULT_URL && env.TENANTCTL_COMMVAULT_PASSWORD) {
                clearTimeout(timer);
                ready();
            }
        });
    }).catch((err) => {
        child.kill("SIGTERM");
        throw err;
    });
    for (const url of [env.TENANTCTL_ACRONIS_URL, env.TENANTCTL_COMMVAULT_URL]) {
        assert.equal(new URL(url).hostname, "127.0.0.1", "only loopback traffic");
    }
    return { process: child, env };
}

/** Fails unless `value` holds only what JSON carries as is: no BigInt, no function, no
 * class instance other than Uint8Array (the `list<u8>` fields). */
function assertPlain(value, where) {
    assert.doesNotThrow(() => JSON.stringify(value), `${where}: JSON.stringify`);
    const walk = (v, path) => {
        if (v === undefined || v === null) return;
        if (typeof v === "string" || typeof v === "boolean") return;
        if (typeof v === "number") {
            assert.ok(Number.isInteger(v), `${path} is an integer`);
            return;
        }
        if (v instanceof Uint8Array) return;
        assert.equal(typeof v, "object", `${path} is ${typeof v}`);
        const proto = Object.getPrototypeOf(v);
        assert.ok(proto === Object.prototype || proto === Array.prototype, `${path} is a plain object or array`);
        for (const [key, item] of Object.entries(v)) walk(item, `${path}.${key}`);
    };
    walk(value, where);
}

/** An account on the simulator for `vendor`, configured from its `export` lines as
 * tenantctl would be, checking every value the plugin returns. */
async function account(vendor) {
    const { plugin } = plugins[vendor];
    const { baseUrl, config } = await settingsFromEnv(plugin.info, simEnv);
    return new Account(plugin, { baseUrl, config, timeoutMs: 10_000, trace: (call, value) => assertPlain(value, call) });
}

/** `GET /_sim/<what>` on the vendor's simulator; its control API is at the server root. */
async function control(vendor, what, init) {
    const root = new URL(simEnv[`TENANTCTL_${vendor.toUpperCase()}_URL`]).origin;
    const response = await fetch(`${root}/_sim/${what}`, init);
    assert.equal(response.status, 200, `${what}: ${await response.clone().text()}`);
    return response.json();
}

async function acronisTenant(name) {
    const { tenants } = await control("acronis", "tenants");
    const found = tenants.filter((t) => t.name === name);
    assert.equal(found.length, 1, `one Acronis tenant named ${name}`);
    return found[0];
}

async function commvaultOrganization(name) {
    const { organizations } = await control("commvault", "tenants");
    const found = organizations.filter((o) => o.connectName === name);
    assert.equal(found.length, 1, `one Commvault company named ${name}`);
    return found[0];
}

const byName = (val) => ({ tag: "name", val });

test("describe() comes out as plain strings and booleans", () => {
    for (const [vendor, { plugin }] of Object.entries(plugins)) {
        const info = plugin.info;
        assertPlain(info, `${vendor} describe()`);
        // Nothing is lost in JSON: no undefined, no bytes, no BigInt anywhere.
        assert.deepEqual(JSON.parse(JSON.stringify(info)), info);
        assert.equal(info.vendor, vendor);
        for (const key of ["displayName", "version", "contract", "urlHint"]) {
            assert.equal(typeof info[key], "string", `${vendor} ${key}`);
        }
        assert.ok(info.actions.some((a) => a.action === "disable"), `${vendor} offers disable`);
        for (const a of info.actions) {
            assert.ok(["status", "disable", "enable", "offboard", "delete", "list"].includes(a.action));
            assert.equal(typeof a.description, "string");
            assert.equal(typeof a.destructive, "boolean");
        }
        for (const field of info.config) {
            assert.match(field.name, /^[a-z][a-z0-9-]*$/);
            assert.equal(typeof field.description, "string");
            assert.equal(typeof field.secret, "boolean");
            assert.equal(typeof field.required, "boolean");
        }
        assert.ok(info.config.some((f) => f.secret), `${vendor} declares a secret field`);
        assert.ok(info.actions.some((a) => a.action === "list"), `${vendor} lists`);
        assert.ok(info.actions.some((a) => a.action === "delete" && a.destructive), `${vendor} deletes`);
    }
});

/** Every tenant the plugin lists for `vendor`, checking each record's shape. */
async function listAll(vendor) {
    const listed = [];
    for await (const tenant of (await account(vendor)).tenants()) {
        assertPlain(tenant, `${vendor} listed tenant`);
        assert.equal(typeof tenant.id, "string");
        assert.equal(typeof tenant.name, "string");
        assert.ok(tenant.enabled === undefined || typeof tenant.enabled === "boolean");
        listed.push(tenant);
    }
    return listed;
}

describe("acronis", () => {
    test("disables Acme Corp", async () => {
        assert.equal((await acronisTenant("Acme Corp")).enabled, true);
        const acme = await account("acronis");
        const { outcome } = await acme.run({ action: "disable", tenant: byName("Acme Corp") });
        assert.equal(outcome.error, undefined, JSON.stringify(outcome.error));
        assert.equal(outcome.changed, true);
        assert.equal(outcome.tenant.name, "Acme Corp");
        assert.equal(outcome.enabledBefore, true);
        assert.equal(outcome.enabledAfter, false);
        const tenant = await acronisTenant("Acme Corp");
        assert.equal(tenant.id, outcome.tenant.id);
        assert.equal(tenant.enabled, false, "the simulator holds it disabled");

        const again = await acme.run({ action: "disable", tenant: byName("Acme Corp") });
        assert.equal(again.outcome.error, undefined);
        assert.equal(again.outcome.changed, false, "a second disable changes nothing");
        assert.equal(again.outcome.enabledAfter, false);
        assert.equal(acme.logins, 1, "one login serves both operations");
    });

    test("an unknown name is not-found", async () => {
        const { outcome } = await (await account("acronis")).run({ action: "disable", tenant: byName("No Such Tenant") });
        assert.equal(outcome.error?.tag, "not-found");
        assert.equal(typeof outcome.error.val.message, "string");
        assert.equal(outcome.changed, false);
    });

    test("a refused session is renewed once", async () => {
        const acme = await account("acronis");
        await acme.run({ action: "status", tenant: byName("Acme Corp") });
        await control("acronis", "expire-tokens", { method: "POST" });
        const { outcome } = await acme.run({ action: "status", tenant: byName("Acme Corp") });
        assert.equal(outcome.error, undefined, JSON.stringify(outcome.error));
        assert.equal(outcome.enabledAfter, false);
        assert.equal(acme.logins, 2);
    });

    test("a dry run stops before the write and hides secrets", async () => {
        const { outcome, planned } = await (await account("acronis")).run(
            { action: "disable", tenant: byName("Acme") },
            { dryRun: true },
        );
        assert.equal(outcome, undefined);
        assert.equal(planned.method, "PUT");
        assert.equal(planned.effect, "idempotent-write");
        assert.equal(planned.intent.tenant.name, "Acme");
        assert.equal(planned.intent.enabledAfter, false);
        assert.equal(planned.headers.Authorization, "<redacted>");
        assert.ok(!JSON.stringify(planned).includes(simEnv.TENANTCTL_ACRONIS_CLIENT_SECRET));
        assert.equal((await acronisTenant("Acme")).enabled, true, "nothing was changed");
    });
});

describe("acronis listing and delete", () => {
    test("lists every tenant below the API client's own, as the simulator holds them", async () => {
        const { tenants } = await control("acronis", "tenants");
        const listed = await listAll("acronis");
        const dormant = listed.find((t) => t.name === "Dormant Ltd");
        assert.equal(dormant?.enabled, false);
        for (const tenant of listed) {
            const held = tenants.find((t) => t.id === tenant.id);
            assert.ok(held, `${tenant.name} is a simulator tenant`);
            assert.equal(tenant.enabled, held.enabled, tenant.name);
        }
        assert.ok(listed.length >= 5, `${listed.length} tenants listed`);
        assert.equal(new Set(listed.map((t) => t.id)).size, listed.length, "no tenant twice");
    });

    test("deletes a disabled tenant and refuses an enabled one", async () => {
        const acme = await account("acronis");
        // "Acme" stays enabled: the dry run above changed nothing.
        const enabled = await acronisTenant("Acme");
        const refused = await acme.run({ action: "delete", tenant: { tag: "id", val: enabled.id } });
        assert.equal(refused.outcome.error?.tag, "invalid-input", JSON.stringify(refused.outcome));
        assert.equal(refused.outcome.changed, false);
        assert.equal((await acronisTenant("Acme")).deleted, false, "nothing was deleted");

        const dormant = await acronisTenant("Dormant Ltd");
        assert.equal(dormant.enabled, false);
        const { outcome } = await acme.run({ action: "delete", tenant: byName("Dormant Ltd") });
        assert.equal(outcome.error, undefined, JSON.stringify(outcome.error));
        assert.equal(outcome.changed, true);
        assert.equal(outcome.tenant.id, dormant.id);
        assert.equal(outcome.enabledBefore, false);
        assert.equal(outcome.enabledAfter, undefined, "a deleted tenant has no state");
        assert.equal((await acronisTenant("Dormant Ltd")).deleted, true);
    });
});

describe("commvault listing and delete", () => {
    test("lists every company with its state", async () => {
        const { organizations } = await control("commvault", "tenants");
        const listed = await listAll("commvault");
        assert.equal(listed.length, organizations.length);
        for (const tenant of listed) {
            const held = organizations.find((o) => String(o.id) === tenant.id);
            assert.ok(held, `${tenant.name} is a simulator company`);
            assert.equal(tenant.name, held.connectName);
            assert.equal(tenant.enabled, held.enabled, tenant.name);
        }
    });

    test("deletes a deactivated company and refuses a partly deactivated one", async () => {
        const cv = await account("commvault");
        const refused = await cv.run({ action: "delete", tenant: byName("halfway inc") });
        assert.equal(refused.outcome.error?.tag, "invalid-input", JSON.stringify(refused.outcome));
        assert.ok(await commvaultOrganization("Halfway Inc"), "nothing was deleted");

        const dormant = await commvaultOrganization("Dormant Ltd");
        const { outcome } = await cv.run({ action: "delete", tenant: byName("dormant ltd") });
        assert.equal(outcome.error, undefined, JSON.stringify(outcome.error));
        assert.equal(outcome.changed, true);
        assert.equal(outcome.tenant.id, String(dormant.id));
        const { organizations } = await control("commvault", "tenants");
        assert.ok(!organizations.some((o) => o.id === dormant.id), "the simulator no longer holds it");
    });
});

describe("commvault", () => {
    test("disables acme corp", async () => {
        assert.equal((await commvaultOrganization("Acme Corp")).enabled, true);
        const cv = await account("commvault");
        const { outcome } = await cv.run({ action: "disable", tenant: byName("acme corp") });
        assert.equal(outcome.error, undefined, JSON.stringify(outcome.error));
        assert.equal(outcome.changed, true);
        assert.equal(outcome.tenant.name, "Acme Corp");
        const organization = await commvaultOrganization("Acme Corp");
        assert.equal(organization.enabled, false, "the simulator holds it deactivated");
        assert.deepEqual(organization.deactivateOptions, {
            disableBackup: true,
            disableLogin: true,
            disableRestore: true,
        });

        const again = await cv.run({ action: "disable", tenant: byName("acme corp") });
        assert.equal(again.outcome.error, undefined);
        assert.equal(again.outcome.changed, false, "a second disable changes nothing");
    });

    test("an unknown name is not-found", async () => {
        const { outcome } = await (await account("commvault")).run({ action: "disable", tenant: byName("no such company") });
        assert.equal(outcome.error?.tag, "not-found");
    });
});

test("disable.mjs prints the outcome as JSON", async () => {
    const { stdout } = await run(
        process.execPath,
        ["disable.mjs", "--plugin", plugins.commvault.wasm, "--vendor", "commvault", "--tenant-name", "Halfway Inc"],
        { cwd: exampleDir, env: { ...process.env, ...simEnv } },
    );
    const outcome = JSON.parse(stdout);
    assert.equal(outcome.error, null);
    assert.equal(outcome.changed, true);
    assert.equal(outcome.tenant.name, "Halfway Inc");
    assert.equal((await commvaultOrganization("Halfway Inc")).enabled, false);
});
