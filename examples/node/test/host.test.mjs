// The host library's own rules, with a plugin written in JavaScript (same shapes as jco's)
// and a `fetch` that answers in memory: nothing here touches the network.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Account, Plugin, settingsFromEnv, TenantctlError } from "../tenantctl-host.mjs";

const info = {
    vendor: "fake-vendor",
    displayName: "Fake",
    version: "0.0.1",
    contract: "0.2.0",
    urlHint: "https://fake.example",
    actions: [{ action: "disable", description: "", destructive: false }],
    config: [
        { name: "api-key", description: "The key.", secret: true, required: true },
        { name: "region", description: "Optional.", secret: false, required: false },
    ],
};

const bytes = (text) => new TextEncoder().encode(text);
const send = (url, { effect = "read", intent } = {}) => ({
    tag: "send",
    val: {
        request: { method: "post", url, headers: [], body: bytes("{}"), bodySecret: false, effect },
        state: bytes("s"),
        intent,
    },
});
const session = { token: "token-123", expiresAt: undefined, data: new Uint8Array() };

/** A `fetch` that records what it is asked and answers 200 with an empty body. */
function fakeFetch() {
    const calls = [];
    const fetch = async (url, init) => {
        calls.push({ url, init });
        return new Response("", { status: 200 });
    };
    return { fetch, calls };
}

test("refuses a request outside the base URL's origin, before sending it", async () => {
    const exports = { beginLogin: () => send("http://127.0.0.1:8081/login") };
    const { fetch, calls } = fakeFetch();
    const account = new Account(new Plugin(async () => exports, info), { baseUrl: "http://127.0.0.1:8080/api", fetch });
    await assert.rejects(account.login(), (err) => {
        assert.ok(err instanceof TenantctlError);
        assert.equal(err.kind, "plugin");
        assert.match(err.message, /outside http:\/\/127\.0\.0\.1:8080; refused/);
        return true;
    });
    assert.equal(calls.length, 0);
});

test("renews a refused session once, then reports auth", async () => {
    let logins = 0;
    const expired = { tag: "session-expired", val: { message: "401", httpStatus: 401, vendorCode: undefined } };
    const exports = {
        beginLogin: () => {
            logins += 1;
            return { tag: "done", val: session };
        },
        beginAction: () => ({
            tag: "done",
            val: { tenant: undefined, enabledBefore: undefined, enabledAfter: undefined, changed: false, error: expired, notes: [] },
        }),
    };
    const account = new Account(new Plugin(async () => exports, info), { baseUrl: "http://127.0.0.1:8080" });
    const { outcome } = await account.run({ action: "disable", tenant: { tag: "id", val: "1" } });
    assert.equal(logins, 2);
    assert.equal(outcome.error.tag, "auth");
    assert.equal(outcome.error.val.httpStatus, 401);
});

test("a dry run reports the write with secrets redacted, and sends only reads", async () => {
    const intent = { tenant: { id: "1", name: "One" }, enabledBefore: true, enabledAfter: false };
    const exports = {
        beginLogin: () => ({ tag: "done", val: session }),
        beginAction: () => send("http://127.0.0.1:8080/read"),
        resumeAction: (ctx, sess, state, response) => {
            assert.equal(typeof ctx.now, "number");
            assert.ok(Math.abs(ctx.now - Date.now() / 1000) < 5, "now is in seconds");
            assert.deepEqual(ctx.config, [{ name: "api-key", value: "key-secret" }]);
            assert.equal(response.status, 200);
            assert.ok(response.body instanceof Uint8Array);
            const write = send("http://127.0.0.1:8080/tenants/1?key=key-secret", { effect: "write", intent });
            write.val.request.headers = [
                { name: "Authorization", value: `Bearer ${sess.token}`, secret: true },
                { name: "X-Echo", value: sess.token, secret: false },
            ];
            write.val.request.body = bytes("password=hunter2");
            write.val.request.bodySecret = true;
            return write;
        },
    };
    const { fetch, calls } = fakeFetch();
    const account = new Account(new Plugin(async () => exports, info), {
        baseUrl: "http://127.0.0.1:8080",
        config: { "api-key": "key-secret" },
        fetch,
    });
    const { outcome, planned } = await account.run({ action: "disable", tenant: { tag: "id", val: "1" } }, { dryRun: true });
    assert.equal(outcome, undefined);
    assert.deepEqual(planned, {
        method: "POST",
        url: "http://127.0.0.1:8080/tenants/1?key=<redacted>",
        headers: { Authorization: "<redacted>", "X-Echo": "<redacted>" },
        body: "<redacted>",
        effect: "write",
        intent,
    });
    assert.deepEqual(calls.map((c) => c.url), ["http://127.0.0.1:8080/read"]);
});

test("a write without an intent is refused", async () => {
    const exports = {
        beginLogin: () => ({ tag: "done", val: session }),
        beginAction: () => send("http://127.0.0.1:8080/x", { effect: "idempotent-write" }),
    };
    const { fetch, calls } = fakeFetch();
    const account = new Account(new Plugin(async () => exports, info), { baseUrl: "http://127.0.0.1:8080", fetch });
    await assert.rejects(account.run({ action: "disable", tenant: { tag: "id", val: "1" } }), /without declaring its intent/);
    assert.equal(calls.length, 0);
});

test("a listing streams its pages and follows each page's next request", async () => {
    const listed = (id) => ({ id, name: `Tenant ${id}`, enabled: id !== "b" ? true : undefined });
    const page = (ids, next) => ({ tag: "page", val: { tenants: ids.map(listed), next: next && send(next).val } });
    const exports = {
        beginLogin: () => ({ tag: "done", val: session }),
        beginAction: (ctx, sess, request) => {
            assert.equal(request.action, "list");
            assert.equal(request.tenant, undefined);
            return send("http://127.0.0.1:8080/page/1");
        },
        resumeAction: (ctx, sess, state, response) =>
            calls.length === 1 ? page(["a", "b"], "http://127.0.0.1:8080/page/2") : page(["c"], undefined),
    };
    const { fetch, calls } = fakeFetch();
    const account = new Account(new Plugin(async () => exports, info), { baseUrl: "http://127.0.0.1:8080", fetch });
    const seen = [];
    for await (const tenant of account.tenants()) seen.push([tenant.id, tenant.enabled]);
    assert.deepEqual(seen, [["a", true], ["b", undefined], ["c", true]]);
    assert.deepEqual(calls.map((c) => c.url), ["http://127.0.0.1:8080/page/1", "http://127.0.0.1:8080/page/2"]);
    await assert.rejects(account.run({ action: "list" }), /account\.tenants\(\)/);
});

test("a listing that fails part-way throws after the tenants already listed", async () => {
    const failure = { tag: "vendor", val: { message: "HTTP 503", httpStatus: 503, vendorCode: undefined } };
    const exports = {
        beginLogin: () => ({ tag: "done", val: session }),
        beginAction: () => send("http://127.0.0.1:8080/page/1"),
        resumeAction: () =>
            calls.length === 1
                ? { tag: "page", val: { tenants: [{ id: "a", name: "A", enabled: true }], next: send("http://127.0.0.1:8080/page/2").val } }
                : { tag: "done", val: { tenant: undefined, enabledBefore: undefined, enabledAfter: undefined, changed: false, error: failure, notes: [] } },
    };
    const { fetch, calls } = fakeFetch();
    const account = new Account(new Plugin(async () => exports, info), { baseUrl: "http://127.0.0.1:8080", fetch });
    const seen = [];
    await assert.rejects(
        (async () => {
            for await (const tenant of account.tenants()) seen.push(tenant.id);
        })(),
        (err) => err instanceof TenantctlError && err.kind === "vendor" && /HTTP 503/.test(err.message),
    );
    assert.deepEqual(seen, ["a"]);
});

test("waits as long as a poll asks before sending it", async () => {
    const poll = send("http://127.0.0.1:8080/job");
    poll.val.waitMs = 120;
    const exports = {
        beginLogin: () => ({ tag: "done", val: session }),
        beginAction: () => poll,
        resumeAction: () => ({
            tag: "done",
            val: { tenant: undefined, enabledBefore: undefined, enabledAfter: undefined, changed: false, error: undefined, notes: [] },
        }),
    };
    const { fetch, calls } = fakeFetch();
    const account = new Account(new Plugin(async () => exports, info), { baseUrl: "http://127.0.0.1:8080", fetch });
    const started = Date.now();
    await account.run({ action: "status", tenant: { tag: "id", val: "1" } });
    assert.ok(Date.now() - started >= 110, "the host waited before the poll");
    assert.equal(calls.length, 1);
});

test("settings come from TENANTCTL_<VENDOR>_<FIELD>", async () => {
    const env = { TENANTCTL_FAKE_VENDOR_URL: " http://127.0.0.1:8080 ", TENANTCTL_FAKE_VENDOR_API_KEY: "k" };
    assert.deepEqual(await settingsFromEnv(info, env), { baseUrl: "http://127.0.0.1:8080", config: { "api-key": "k" } });
    await assert.rejects(settingsFromEnv(info, {}), (err) => {
        assert.match(err.message, /TENANTCTL_FAKE_VENDOR_URL/);
        assert.match(err.message, /TENANTCTL_FAKE_VENDOR_API_KEY_FILE/);
        return true;
    });
});

test("a plugin that throws fails the operation, not the host, and is replaced", async () => {
    let instances = 0;
    const plugin = new Plugin(async () => {
        instances += 1;
        return {
            beginLogin: () => {
                throw new WebAssembly.RuntimeError("unreachable");
            },
        };
    }, info);
    const account = new Account(plugin, { baseUrl: "http://127.0.0.1:8080" });
    for (const _ of [1, 2]) {
        await assert.rejects(account.login(), (err) => err instanceof TenantctlError && err.kind === "plugin" && /unreachable/.test(err.message));
    }
    assert.equal(instances, 2);
});
