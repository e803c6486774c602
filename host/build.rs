//! Builds the vendor plugins in `guest/` for `wasm32-wasip2` and leaves them in `OUT_DIR`,
//! where `src/plugin/builtin.rs` embeds them.

use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGINS: &[&str] = &["tenantctl-plugin-acronis", "tenantctl-plugin-commvault"];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    for watched in ["wit", "guest", "Cargo.lock", "Cargo.toml"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    // A target directory of its own: sharing the outer build's would deadlock on its lock.
    let target_dir = out_dir.join("guest-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--profile", "plugin", "--target", TARGET])
        .env("CARGO_TARGET_DIR", &target_dir)
        // Flags meant for the host target (e.g. -C target-cpu=native) must not reach wasm.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET");
    for plugin in PLUGINS {
        command.args(["-p", plugin]);
    }
    let status = command
        .status()
        .expect("running cargo to build the vendor plugins");
    if !status.success() {
        panic!(
            "building the vendor plugins for {TARGET} failed (see above). If the target is \
             missing, run `rustup target add {TARGET}`."
        );
    }
    for plugin in PLUGINS {
        let file = format!("{}.wasm", plugin.replace('-', "_"));
        let built = target_dir.join(TARGET).join("plugin").join(&file);
        std::fs::copy(&built, out_dir.join(&file))
            .unwrap_or_else(|err| panic!("copying {}: {err}", built.display()));
    }
}
