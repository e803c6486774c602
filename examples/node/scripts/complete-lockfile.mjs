// Adds lockfile entries for optional platform packages that the registry this project
// reaches does not serve at the version a dependency asks for.
//
// Why: npm 11 treats an optional dependency that is missing from package-lock.json as a
// problem to resolve, and `npm ci` then refuses the lockfile ("Missing: NAME@ from lock
// file") whenever the registry cannot serve that package, even though it is for another
// platform and would never be installed here. Each entry added names the version the
// dependency asks for and the platform it is for (`os`, `cpu`, `libc`, read from the newest
// version the registry does serve); it has no `integrity`. npm skips such an entry on every
// other platform without fetching it, and on its own platform fetches it by name and
// version (or skips it, being optional, when the registry cannot serve it).
//
// Run after `npm install` changes the lockfile:  node scripts/complete-lockfile.mjs
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const packages = lock.packages;

/** Where npm would find dependency `name` of the package installed at `location`. */
function resolves(location, name) {
    for (let dir = location; ; ) {
        if (packages[`${dir ? `${dir}/` : ""}node_modules/${name}`]) return true;
        if (!dir) return false;
        const cut = dir.lastIndexOf("/node_modules/");
        dir = cut < 0 ? "" : dir.slice(0, cut);
    }
}

let added = 0;
for (const [location, entry] of Object.entries({ ...packages })) {
    for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
        if (resolves(location, name)) continue;
        const view = execFileSync("npm", ["view", name, "--json"], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "ignore"],
        });
        const platform = JSON.parse(view);
        packages[`node_modules/${name}`] = {
            version,
            ...(platform.cpu && { cpu: platform.cpu }),
            ...(platform.libc && { libc: platform.libc }),
            optional: true,
            ...(platform.os && { os: platform.os }),
        };
        console.log(`added ${name}@${version} (${[platform.os, platform.cpu, platform.libc].flat().filter(Boolean).join(" ")})`);
        added += 1;
    }
}
const sorted = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) => a.localeCompare(b, "en")),
);
writeFileSync(path, `${JSON.stringify({ ...lock, packages: sorted }, null, 2)}\n`);
console.log(`${added} entr${added === 1 ? "y" : "ies"} added`);
