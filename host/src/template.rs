//! `tenantctl plugins new`: a new vendor plugin crate that builds wherever it is copied,
//! with a copy of the SDK and the contract inside.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

/// The files of the SDK and the contract, as this tenantctl was built with them.
const SDK_SOURCES: &[(&str, &str)] = &[
    ("sdk/src/lib.rs", include_str!("../../guest/sdk/src/lib.rs")),
    (
        "sdk/src/http.rs",
        include_str!("../../guest/sdk/src/http.rs"),
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
        "sdk/src/testing.rs",
        include_str!("../../guest/sdk/src/testing.rs"),
    ),
    (
        "sdk/wit/types.wit",
        include_str!("../../wit/v0.1.0/types.wit"),
    ),
    (
        "sdk/wit/plugin.wit",
        include_str!("../../wit/v0.1.0/plugin.wit"),
    ),
    (
        "sdk/wit/world.wit",
        include_str!("../../wit/v0.1.0/world.wit"),
    ),
];

/// Where the SDK finds the contract in this repository, and in a generated crate.
const WIT_PATHS: [(&str, &str); 2] = [
    (r#"path: "../../wit/v0.1.0""#, r#"path: "wit""#),
    (
        r#"include_str!("../../../wit/v0.1.0/world.wit")"#,
        r#"include_str!("../wit/world.wit")"#,
    ),
];

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
            .replace("{{contract}}", crate::plugin::CONTRACT_VERSION)
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
    fn refuses_bad_names_and_occupied_directories() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(&dir.path().join("x"), "Bad Name").is_err());
        std::fs::write(dir.path().join("taken"), "").unwrap();
        assert!(write(dir.path(), "fine").is_err());
    }
}
