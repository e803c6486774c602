#!/usr/bin/env node
// Disables one tenant through a tenantctl plugin, from Node.js.
//
//   node disable.mjs --plugin DIR/acronis.wasm --vendor acronis --tenant-name "Acme Corp"
//   node disable.mjs --plugin DIR/commvault.wasm --vendor commvault --tenant 42 --dry-run
//
// Get the plugin files with `tenantctl plugins export DIR`. The URL and credentials come
// from the same environment variables as tenantctl's: TENANTCTL_<VENDOR>_URL and
// TENANTCTL_<VENDOR>_<FIELD> (or ..._FILE) for each field the plugin's describe() declares,
// e.g. TENANTCTL_ACRONIS_CLIENT_ID and TENANTCTL_ACRONIS_CLIENT_SECRET.
//
// Prints the plugin's outcome as one JSON object on stdout (absent options as null), or
// with --dry-run the request it would send. Exit status: 0 when the tenant ended up
// disabled (or would be), 1 when the operation failed, 2 on a usage or configuration error.

import { parseArgs } from "node:util";

import { Account, loadPlugin, settingsFromEnv, TenantctlError } from "./tenantctl-host.mjs";

const usage =
    "usage: node disable.mjs --plugin FILE.wasm --vendor NAME (--tenant-name NAME | --tenant ID) [--dry-run]";

/** JSON with `undefined` (an absent `option<T>`) written as null rather than dropped. */
const toJson = (value) => JSON.stringify(value, (_key, v) => (v === undefined ? null : v));

async function main() {
    let args;
    try {
        ({ values: args } = parseArgs({
            options: {
                plugin: { type: "string" },
                vendor: { type: "string" },
                "tenant-name": { type: "string" },
                tenant: { type: "string" },
                "dry-run": { type: "boolean", default: false },
            },
        }));
    } catch (err) {
        return fail(2, `${err.message}\n${usage}`);
    }
    const byName = args["tenant-name"] !== undefined;
    if (!args.plugin || !args.vendor || byName === (args.tenant !== undefined)) {
        return fail(2, usage);
    }

    let account;
    try {
        const plugin = await loadPlugin(args.plugin);
        if (plugin.info.vendor !== args.vendor) {
            return fail(2, `${args.plugin} is the plugin for ${plugin.info.vendor}, not ${args.vendor}`);
        }
        const { baseUrl, config } = await settingsFromEnv(plugin.info);
        account = new Account(plugin, { baseUrl, config });
    } catch (err) {
        return fail(2, err.message);
    }

    const request = {
        action: "disable",
        tenant: byName ? { tag: "name", val: args["tenant-name"] } : { tag: "id", val: args.tenant },
    };
    try {
        const { outcome, planned } = await account.run(request, { dryRun: args["dry-run"] });
        if (planned) {
            console.log(toJson({ dryRun: true, planned }));
            return 0;
        }
        console.log(toJson(outcome));
        return outcome.error ? 1 : 0;
    } catch (err) {
        if (!(err instanceof TenantctlError)) throw err;
        console.log(toJson({ error: { kind: err.kind, message: err.message } }));
        return 1;
    }
}

function fail(code, message) {
    console.error(`disable.mjs: ${message}`);
    return code;
}

process.exitCode = await main();
