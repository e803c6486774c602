// A small Node.js host for tenantctl vendor plugins (WebAssembly components).
//
// A plugin never performs I/O. It answers each call with a request for the host to send
// (`{tag: "send", val: outgoing}`), a page of a listing (`{tag: "page", val: {tenants,
// next}}`) or its result, and the host calls it again with the response. This module does
// the host's part with `fetch`, the way the Rust host does in host/src/account/, minus
// retries, audit records, caching and size limits:
//
//   const plugin = await loadPlugin("plugins/acronis.wasm");   // transpiled with jco
//   const account = new Account(plugin, { baseUrl, config: { "client-id": id, "client-secret": secret } });
//   const { outcome } = await account.run({ action: "disable", tenant: { tag: "name", val: "Acme Corp" } });
//   for await (const tenant of account.tenants()) console.log(tenant.id, tenant.name, tenant.enabled);
//
// The values passing in and out are the WIT types of wit/v0.2.0/types.wit as jco renders them:
// records are plain objects with camelCase fields, variants `{tag, val}`, enums strings,
// options `T | undefined`, `list<u8>` Uint8Array, u16/u32 numbers (see README.md).

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { cli, io } from "@bytecodealliance/preview2-shim";

/** What stands in for a secret in a dry-run plan. */
export const REDACTED = "<redacted>";

/** Renew a session this many seconds before the vendor says it expires. */
const RENEW_MARGIN_SECS = 60;

/** Requests one operation may make before the host stops the plugin (a listing: per page). */
const MAX_STEPS = 50;

/** The longest an operation may ask the host to wait in all (`outgoing.waitMs`) before
 * the host gives up on it. */
const MAX_WAIT_MS = 5 * 60_000;

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** A failure of an operation: `kind` is a `failure` case of the contract (`auth`,
 * `not-found`, ...) or one of the host's own: `plugin` (the plugin broke the contract or
 * trapped), `transport`, `timeout`. `failure` holds the plugin's variant when it gave one. */
export class TenantctlError extends Error {
    constructor(kind, message, failure) {
        super(message);
        this.name = "TenantctlError";
        this.kind = kind;
        this.failure = failure;
    }
}

/** The seconds since the Unix epoch, as the contract's `now: u32` wants them. (jco wraps an
 * out-of-range number modulo 2^32 instead of failing, so passing `Date.now()` would go
 * unnoticed: always divide.) */
export function unixNow() {
    return Math.floor(Date.now() / 1000);
}

/** The `error-detail` of a `failure` variant: every case carries one, `rate-limited` inside
 * its `rate-limit` record. */
export function failureDetail(failure) {
    return failure.tag === "rate-limited" ? failure.val.detail : failure.val;
}

/**
 * Transpiles a plugin `.wasm` with jco into `outDir` and returns the path of its JS module.
 *
 * `instantiation: "async"` makes jco emit an `instantiate(getCoreModule, imports)` function
 * instead of a module that imports `@bytecodealliance/preview2-shim` itself: the host then
 * chooses every WASI import (see `sandboxedWasi`), may create a fresh instance per
 * operation, and the output loads from any directory.
 */
export async function transpilePlugin(wasmFile, outDir) {
    const { transpile } = await import("@bytecodealliance/jco");
    const name = basename(wasmFile, ".wasm");
    const { files } = await transpile(await readFile(wasmFile), {
        name,
        instantiation: "async",
        quiet: true,
    });
    for (const [file, bytes] of Object.entries(files)) {
        await mkdir(dirname(join(outDir, file)), { recursive: true });
        await writeFile(join(outDir, file), bytes);
    }
    return join(outDir, `${name}.js`);
}

/**
 * The WASI imports a plugin gets: none of the host's environment, arguments or stdin, no
 * way to end the process, and its stdout sent to stderr (stdout carries results only).
 * The Rust plugins import only `wasi:cli` and `wasi:io` (their standard library's
 * runtime); jco's instantiation code looks the interfaces up without their `@0.2.x`
 * version, whatever its generated `.d.ts` says.
 */
export function sandboxedWasi() {
    const denied = (what) => () => {
        throw new Error(`plugins have no ${what}`);
    };
    return {
        "wasi:cli/environment": {
            getEnvironment: () => [],
            getArguments: () => [],
            initialCwd: () => undefined,
        },
        "wasi:cli/exit": { exit: denied("exit"), exitWithCode: denied("exit") },
        "wasi:cli/stdin": { getStdin: denied("stdin") },
        "wasi:cli/stdout": { getStdout: () => cli.stderr.getStderr() },
        "wasi:cli/stderr": cli.stderr,
        "wasi:cli/terminal-input": cli.terminalInput,
        "wasi:cli/terminal-output": cli.terminalOutput,
        "wasi:cli/terminal-stdin": { getTerminalStdin: () => undefined },
        "wasi:cli/terminal-stdout": { getTerminalStdout: () => undefined },
        "wasi:cli/terminal-stderr": { getTerminalStderr: () => undefined },
        "wasi:io/error": io.error,
        "wasi:io/poll": io.poll,
        "wasi:io/streams": io.streams,
    };
}

/** A loaded plugin: what `describe()` says, and fresh instances on demand. */
export class Plugin {
    /** @param instantiate async () => the exports of `tenantctl:plugin/plugin` */
    constructor(instantiate, info) {
        this.instantiate = instantiate;
        /** The plugin's `describe()`: vendor, versions, actions and configuration fields. */
        this.info = info;
    }

    /** Calls `describe()` on a fresh instance. */
    async describe() {
        return (await this.instantiate()).describe();
    }

    toString() {
        return `plugin ${this.info.vendor} ${this.info.version}`;
    }
}

/**
 * Loads a plugin from a `.js` module jco made with `instantiation: "async"`, or from a
 * `.wasm` file, transpiled first into `outDir` (by default `generated/NAME-HASH/` beside
 * this file, reused while the `.wasm` is unchanged).
 */
export async function loadPlugin(file, { outDir } = {}) {
    let jsFile = file;
    if (file.endsWith(".wasm")) {
        if (outDir) {
            jsFile = await transpilePlugin(file, outDir);
        } else {
            const hash = createHash("sha256").update(await readFile(file)).digest("hex");
            const cache = fileURLToPath(
                new URL(`generated/${basename(file, ".wasm")}-${hash.slice(0, 16)}`, import.meta.url),
            );
            jsFile = join(cache, `${basename(file, ".wasm")}.js`);
            if (!existsSync(jsFile)) {
                const partial = `${cache}.partial-${process.pid}`;
                await transpilePlugin(file, partial);
                await rename(partial, cache).catch(() => rm(partial, { recursive: true, force: true }));
            }
        }
    }
    const url = pathToFileURL(jsFile);
    const { instantiate } = await import(url.href);
    if (typeof instantiate !== "function") {
        throw new TypeError(`${jsFile} has no instantiate(): transpile it with jco's instantiation: "async"`);
    }
    // Compile each core module once; every instance reuses them.
    const compiled = new Map();
    const getCoreModule = (name) => {
        if (!compiled.has(name)) {
            compiled.set(name, readFile(new URL(name, url)).then((bytes) => WebAssembly.compile(bytes)));
        }
        return compiled.get(name);
    };
    const fresh = async () => (await instantiate(getCoreModule, sandboxedWasi())).plugin;
    return new Plugin(fresh, (await fresh()).describe());
}

/**
 * One vendor account: a plugin, the base URL and configuration the operator gave, and the
 * session, logged in on first use and kept for every later operation. Run its operations
 * one after the other (concurrent ones would each log in when the session is missing).
 */
export class Account {
    #plugin;
    #baseUrl;
    #origin;
    #config;
    #secrets;
    #fetch;
    #timeoutMs;
    #trace;
    #session;
    #instance;

    /**
     * @param plugin a `Plugin`
     * @param options.baseUrl the vendor's URL; every request must stay in its origin
     * @param options.config `{field: value}` for the fields `plugin.info.config` declares
     * @param options.fetch the `fetch` to use (default: the global one)
     * @param options.timeoutMs the limit for each request (default 30 s)
     * @param options.trace `(call, value) => void`, told what every plugin call returned
     */
    constructor(plugin, { baseUrl, config = {}, fetch = globalThis.fetch, timeoutMs = 30_000, trace } = {}) {
        const url = URL.canParse(baseUrl) ? new URL(baseUrl) : undefined;
        if (!url || !["http:", "https:"].includes(url.protocol)) {
            throw new TenantctlError("invalid-input", `${JSON.stringify(baseUrl)} must be an http:// or https:// URL`);
        }
        this.#plugin = plugin;
        this.#baseUrl = baseUrl;
        this.#origin = url.origin;
        this.#config = Object.entries(config).map(([name, value]) => ({ name, value }));
        const secretFields = plugin.info.config.filter((f) => f.secret).map((f) => f.name);
        this.#secrets = this.#config.filter((c) => secretFields.includes(c.name)).map((c) => c.value);
        this.#fetch = fetch;
        this.#timeoutMs = timeoutMs;
        this.#trace = trace;
        /** Logins performed. */
        this.logins = 0;
    }

    /** The plugin instance serving this account. A plugin keeps nothing between calls, so
     * one instance serves them all: creating one costs about 30 ms with jco (its generated
     * glue is rebuilt for each), a call well under a millisecond. An instance that
     * failed is dropped, and the next call gets a fresh one. */
    async #exports() {
        this.#instance ??= await this.#plugin.instantiate();
        return this.#instance;
    }

    /** The `context` passed into every plugin call. */
    #context() {
        return { baseUrl: this.#baseUrl, config: this.#config, now: unixNow() };
    }

    /**
     * Runs one action on one tenant and resolves to `{outcome}`, the plugin's `outcome`
     * record (a failed operation is an outcome with `error` set), or with `dryRun`, to
     * `{planned}` as soon as the plugin asks for a request that is not a read: that
     * request, with secrets redacted, and the plugin's `intent`. Throws `TenantctlError`
     * when logging in fails or the plugin or the network lets the host down.
     *
     * @param request an `action-request`, e.g. `{action: "disable", tenant: {tag: "name", val: "Acme Corp"}}`
     */
    async run(request, { dryRun = false } = {}) {
        if (request.action === "list") {
            throw new TypeError("a listing comes page by page: use account.tenants()");
        }
        for (let attempt = 1; ; attempt += 1) {
            const session = await this.session({ renew: attempt > 1 });
            const result = await this.#attempt(session, request, dryRun);
            if (result.outcome?.error?.tag !== "session-expired") {
                return result;
            }
            if (attempt === 2) {
                const detail = failureDetail(result.outcome.error);
                const message = `${this.#plugin.info.vendor} refused a freshly renewed session; check that the credentials still have access (${detail.message})`;
                return { outcome: { ...result.outcome, error: { tag: "auth", val: { ...detail, message } } } };
            }
            // The session was refused (expired or revoked): log in once more and start over.
        }
    }

    /** The current session: logs in when there is none, when it is about to expire, or
     * when `renew` is set. */
    async session({ renew = false } = {}) {
        const expiresAt = this.#session?.expiresAt;
        const expiring = expiresAt !== undefined && expiresAt <= unixNow() + RENEW_MARGIN_SECS;
        if (!this.#session || expiring || renew) {
            this.#session = undefined;
            this.#session = await this.login();
        }
        return this.#session;
    }

    /** Logs in and returns the plugin's `session` (without keeping it; see `session()`). */
    async login() {
        const plugin = await this.#exports();
        const ctx = this.#context();
        let step = this.#call("beginLogin", () => plugin.beginLogin(ctx));
        for (let steps = 1; step.tag === "send"; steps += 1) {
            const outgoing = step.val;
            this.#check(outgoing, steps);
            if (outgoing.request.effect !== "read") {
                throw new TenantctlError("plugin", `${this.#plugin} asked to send a write while logging in; refused`);
            }
            const response = await this.#send(outgoing.request);
            step = this.#call("resumeLogin", () => plugin.resumeLogin(ctx, outgoing.state, response));
        }
        if (step.tag === "failed") {
            const { message } = failureDetail(step.val);
            throw new TenantctlError(
                step.val.tag,
                `logging in to ${this.#plugin.info.vendor} at ${this.#baseUrl}: ${message}`,
                step.val,
            );
        }
        this.#expect(step, "done", "beginLogin/resumeLogin");
        this.logins += 1;
        return step.val;
    }

    /**
     * Lists every tenant the account can act on, as an async iterator of `listed-tenant`
     * records (`{id, name, enabled}`, `enabled` undefined when the vendor does not say),
     * page by page as the plugin emits them: memory does not grow with the listing. A
     * session refused before the first page is renewed once; a failure later throws
     * `TenantctlError` after the tenants already yielded.
     */
    async *tenants() {
        const request = { action: "list", tenant: undefined };
        for (let attempt = 1; ; attempt += 1) {
            const session = await this.session({ renew: attempt > 1 });
            let pages = 0;
            let outcome;
            for await (const item of this.#steps(session, request, false)) {
                if (item.outcome) {
                    outcome = item.outcome;
                } else {
                    pages += 1;
                    yield* item.tenants;
                }
            }
            if (!outcome) return;
            if (outcome.error?.tag === "session-expired" && pages === 0 && attempt === 1) continue;
            const failure = outcome.error ?? { tag: "plugin", val: { message: "the listing ended without its last page" } };
            const { message } = failureDetail(failure);
            throw new TenantctlError(failure.tag, `listing ${this.#plugin.info.vendor} tenants: ${message}`, failure);
        }
    }

    async #attempt(session, request, dryRun) {
        for await (const item of this.#steps(session, request, dryRun)) {
            if (item.tenants) {
                throw new TenantctlError("plugin", `${this.#plugin} emitted a listing page for ${request.action}`);
            }
            return item;
        }
        throw new TenantctlError("plugin", `${this.#plugin} ended ${request.action} without an outcome`);
    }

    /** Drives one action: yields `{tenants}` for each page, then `{outcome}` (or
     * `{planned}` in a dry run); a listing's last page ends it without an outcome. */
    async *#steps(session, request, dryRun) {
        const plugin = await this.#exports();
        const ctx = this.#context();
        let step = this.#call("beginAction", () => plugin.beginAction(ctx, session, request));
        let waited = 0;
        for (let steps = 1; step.tag === "send" || step.tag === "page"; steps += 1) {
            let outgoing = step.val;
            if (step.tag === "page") {
                yield { tenants: step.val.tenants };
                if (!step.val.next) return;
                outgoing = step.val.next;
                steps = 1;
            }
            this.#check(outgoing, steps);
            if (dryRun && outgoing.request.effect !== "read") {
                yield { planned: { ...this.#plan(outgoing.request, session), effect: outgoing.request.effect, intent: outgoing.intent } };
                return;
            }
            if (outgoing.waitMs) {
                // An asynchronous vendor operation being polled: wait as asked, within a cap.
                waited += outgoing.waitMs;
                if (waited > MAX_WAIT_MS) {
                    throw new TenantctlError("timeout", `${this.#plugin} waited more than ${MAX_WAIT_MS / 1000} s for the vendor in one operation`);
                }
                await sleep(outgoing.waitMs);
            }
            const response = await this.#send(outgoing.request);
            step = this.#call("resumeAction", () => plugin.resumeAction(ctx, session, outgoing.state, response));
        }
        this.#expect(step, "done", "beginAction/resumeAction");
        yield { outcome: step.val };
    }

    /** Calls the plugin; a trap (or a denied WASI call) fails the operation, not the host. */
    #call(name, fn) {
        let value;
        try {
            value = fn();
        } catch (err) {
            this.#instance = undefined;
            throw new TenantctlError("plugin", `${this.#plugin} failed in ${name}: ${err.message}`);
        }
        this.#trace?.(name, value);
        return value;
    }

    #expect(step, tag, call) {
        if (step?.tag !== tag) {
            throw new TenantctlError("plugin", `${this.#plugin} returned ${JSON.stringify(step?.tag)} from ${call}`);
        }
    }

    /** Rejects requests that break the contract before anything is sent. */
    #check(outgoing, steps) {
        if (steps > MAX_STEPS) {
            throw new TenantctlError("plugin", `${this.#plugin} made more than ${MAX_STEPS} requests in one operation and was stopped`);
        }
        if (outgoing.request.effect !== "read" && !outgoing.intent) {
            throw new TenantctlError("plugin", `${this.#plugin} asked to send a write without declaring its intent`);
        }
    }

    /** Sends an `http-request` and returns the `http-response`. Only to the account's origin;
     * redirects are handed to the plugin, never followed. */
    async #send({ method, url, headers, body }) {
        const target = URL.canParse(url) ? new URL(url) : undefined;
        if (target?.origin !== this.#origin) {
            throw new TenantctlError(
                "plugin",
                `${this.#plugin} asked for ${this.#redact(url)}, outside ${this.#origin}; refused`,
            );
        }
        const verb = method.toUpperCase();
        let response;
        let bytes;
        try {
            response = await this.#fetch(url, {
                method: verb,
                headers: headers.map((h) => [h.name, h.value]),
                body: body.length > 0 ? body : undefined,
                redirect: "manual",
                signal: AbortSignal.timeout(this.#timeoutMs),
            });
            bytes = new Uint8Array(await response.arrayBuffer());
        } catch (err) {
            const kind = err.name === "TimeoutError" ? "timeout" : "transport";
            throw new TenantctlError(kind, `${verb} ${this.#redact(url)}: ${err.cause?.message ?? err.message}`);
        }
        return {
            status: response.status,
            headers: [...response.headers].map(([name, value]) => ({ name, value, secret: false })),
            body: bytes,
        };
    }

    /** The request as a dry run shows it, like the Rust host's `planned_request`. */
    #plan(request, session) {
        const redact = (text) => this.#redact(text, session.token);
        let body = null;
        if (request.body.length > 0) {
            body = request.bodySecret ? REDACTED : redact(new TextDecoder().decode(request.body));
        }
        return {
            method: request.method.toUpperCase(),
            url: redact(request.url),
            headers: Object.fromEntries(request.headers.map((h) => [h.name, h.secret ? REDACTED : redact(h.value)])),
            body,
        };
    }

    /** `text` with every known secret (secret configuration values, the session token)
     * replaced by `<redacted>`. */
    #redact(text, ...more) {
        const secrets = [...this.#secrets, ...more].filter((s) => s && s.length >= 4);
        secrets.sort((a, b) => b.length - a.length);
        return secrets.reduce((t, secret) => t.replaceAll(secret, REDACTED), text);
    }
}

/** The environment variable for `field` of `vendor`, as tenantctl reads it:
 * `TENANTCTL_<VENDOR>_<FIELD>`, upper-cased, `-` as `_`. */
export function envVar(vendor, field) {
    return `TENANTCTL_${vendor}_${field}`.toUpperCase().replaceAll("-", "_");
}

/**
 * The base URL and configuration for `info` (a plugin's `describe()`) from the environment,
 * like tenantctl: `TENANTCTL_<VENDOR>_URL` and `TENANTCTL_<VENDOR>_<FIELD>` for each field
 * (or `..._FILE` naming a file that holds it). Throws naming every missing variable.
 */
export async function settingsFromEnv(info, env = process.env) {
    const problems = [];
    const urlVar = envVar(info.vendor, "url");
    const baseUrl = env[urlVar]?.trim();
    if (!baseUrl) problems.push(`set ${urlVar} (for example ${info.urlHint})`);
    const config = {};
    for (const field of info.config) {
        const name = envVar(info.vendor, field.name);
        const fileName = `${name}_FILE`;
        if (env[name] && env[fileName]) {
            problems.push(`both ${name} and ${fileName} are set; keep one`);
        } else if (env[name]) {
            config[field.name] = env[name];
        } else if (env[fileName]) {
            try {
                config[field.name] = (await readFile(env[fileName], "utf8")).replace(/[\r\n]+$/, "");
            } catch (err) {
                problems.push(`${fileName} names ${JSON.stringify(env[fileName])}, which cannot be read: ${err.message}`);
            }
        } else if (field.required) {
            problems.push(`set ${name} (or ${fileName} naming a file that holds it): ${field.description}`);
        }
    }
    if (problems.length > 0) {
        throw new TenantctlError("invalid-input", `missing credentials for ${info.vendor}:\n  ${problems.join("\n  ")}`);
    }
    return { baseUrl, config };
}
