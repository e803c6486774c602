//! `tenantctl plugins new`: a new vendor plugin crate that builds wherever it is copied,
//! with a copy of the SDK and the contract inside.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

/// The files of the SDK and the contract, as this tenantctl was built with them.
const SDK_SOURCES: &[(&str, &str)] = &[
    ("sdk/src/lib.rs", include_str!("../../guest/sdk/src/lib.rs")),
    (
        "sdk/src/decide.rs",
        include_str!("../../guest/sdk/src/decide.rs"),
    ),
    (
        "sdk/src/find.rs",
        include_str!("../../guest/sdk/src/find.rs"),
    ),
    (
        "sdk/src/http.rs",
        include_str!("../../guest/sdk/src/http.rs"),
    ),
    ("sdk/src/io.rs", include_str!("../../guest/sdk/src/io.rs")),
    (
        "sdk/src/lenient.rs",
        include_str!("../../guest/sdk/src/lenient.rs"),
    ),
    (
        "sdk/src/login.rs",
        include_str!("../../guest/sdk/src/login.rs"),
    ),
    (
        "sdk/src/outcome.rs",
        include_str!("../../guest/sdk/src/outcome.rs"),
    ),
    (
        "sdk/src/state.rs",
        include_str!("../../guest/sdk/src/state.rs"),
    ),
    (
        "sdk/src/fuzz.rs",
        include_str!("../../guest/sdk/src/fuzz.rs"),
    ),
    (
        "sdk/src/testing.rs",
        include_str!("../../guest/sdk/src/testing.rs"),
    ),
    (
        "sdk/src/vendor.rs",
        include_str!("../../guest/sdk/src/vendor.rs"),
    ),
    (
        "sdk/wit/types.wit",
        include_str!("../../wit/v0.2.0/types.wit"),
    ),
    (
        "sdk/wit/plugin.wit",
        include_str!("../../wit/v0.2.0/plugin.wit"),
    ),
    ("sdk/wit/world.wit", WORLD),
];

/// The contract the SDK copy implements.
const WORLD: &str = include_str!("../../wit/v0.2.0/world.wit");

/// Where the SDK finds the contract in this repository, and in a generated crate.
const WIT_PATHS: [(&str, &str); 2] = [
    (r#"path: "../../wit/v0.2.0""#, r#"path: "wit""#),
    (
        r#"include_str!("../../../wit/v0.2.0/world.wit")"#,
        r#"include_str!("../wit/world.wit")"#,
    ),
];

/// The contract version the SDK copy implements, from its world's package line.
fn contract_version() -> &'static str {
    WORLD
        .lines()
        .find_map(|line| line.trim().strip_prefix("package tenantctl:plugin@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .expect("wit/v0.2.0/world.wit declares package tenantctl:plugin@<version>;")
}

/// Writes a plugin crate for vendor `name` into `dir`, which must not exist or be empty.
pub fn write(dir: &Path, name: &str) -> Result<()> {
    let is_id = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !is_id {
        bail!(
            "the vendor name {name:?} must be lower-case letters, digits and '-', starting with a letter"
        );
    }
    if dir.exists()
        && dir
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!("{} already exists and is not empty", dir.display());
    }
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{env}}", &name.to_ascii_uppercase().replace('-', "_"))
            .replace("{{contract}}", contract_version())
            .replace("{{sdk_version}}", env!("CARGO_PKG_VERSION"))
    };
    let mut files: Vec<(String, String)> = vec![
        (
            "Cargo.toml".into(),
            fill(include_str!("../template/Cargo.toml.tmpl")),
        ),
        (
            "rust-toolchain.toml".into(),
            fill(include_str!("../template/rust-toolchain.toml.tmpl")),
        ),
        (
            ".gitignore".into(),
            fill(include_str!("../template/gitignore.tmpl")),
        ),
        (
            "README.md".into(),
            fill(include_str!("../template/README.md.tmpl")),
        ),
        (
            "src/lib.rs".into(),
            fill(include_str!("../template/lib.rs.tmpl")),
        ),
        (
            "sdk/Cargo.toml".into(),
            fill(include_str!("../template/sdk-Cargo.toml.tmpl")),
        ),
        // The versions this tenantctl was tested with; cargo drops what the plugin does not use.
        ("Cargo.lock".into(), include_str!("../../Cargo.lock").into()),
    ];
    for (path, source) in SDK_SOURCES {
        let mut source = source.to_string();
        for (ours, theirs) in WIT_PATHS {
            source = source.replace(ours, theirs);
        }
        files.push((path.to_string(), source));
    }
    for (path, content) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_copy_finds_its_contract_inside_the_new_crate() {
        let lib = SDK_SOURCES
            .iter()
            .find(|(path, _)| *path == "sdk/src/lib.rs")
            .unwrap()
            .1;
        for (ours, _) in WIT_PATHS {
            assert!(
                lib.contains(ours),
                "guest/sdk/src/lib.rs no longer contains {ours}; update WIT_PATHS"
            );
        }
    }

    #[test]
    fn the_template_names_the_contract_of_its_sdk_copy() {
        assert_eq!(contract_version(), "0.2.0");
        let lib = SDK_SOURCES[0].1;
        assert!(lib.contains(r#"pub const CONTRACT_VERSION: &str = "0.2.0";"#));
    }

    #[test]
    fn every_sdk_module_is_shipped() {
        let lib = SDK_SOURCES[0].1;
        for line in lib.lines() {
            let module = line
                .strip_prefix("mod ")
                .or_else(|| line.strip_prefix("pub mod "))
                .and_then(|rest| rest.strip_suffix(';'));
            if let Some(module) = module {
                let path = format!("sdk/src/{module}.rs");
                assert!(
                    SDK_SOURCES.iter().any(|(shipped, _)| *shipped == path),
                    "{path} is missing from SDK_SOURCES"
                );
            }
        }
    }

    #[test]
    fn refuses_bad_names_and_occupied_directories() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(&dir.path().join("x"), "Bad Name").is_err());
        std::fs::write(dir.path().join("taken"), "").unwrap();
        assert!(write(dir.path(), "fine").is_err());
    }
}
