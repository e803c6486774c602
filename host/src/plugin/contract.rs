//! Which contract a plugin file was built for, read from the component's export names before
//! anything is compiled or instantiated.
//!
//! A plugin exports the interface `tenantctl:plugin/plugin@X.Y.Z`; the version in that name is
//! the contract it speaks. Reading it from the raw bytes lets the host refuse a file it cannot
//! speak to (or one that is not a component at all) with a message naming both sides, instead
//! of failing somewhere inside the linker.

use anyhow::{Result, bail};
use wasmparser::{Encoding, Parser, Payload};

/// The interface every plugin exports, without its version.
pub const INTERFACE: &str = "tenantctl:plugin/plugin";

/// The contract versions this host speaks: one binding per minor version.
pub const SUPPORTED: &[&str] = &["0.1", "0.2"];

/// The contract version `bytes` was built for, after checking that it is a component this
/// host can speak to.
pub fn read(bytes: &[u8]) -> Result<semver::Version> {
    let exported = exported_interfaces(bytes)?;
    let versions: Vec<&str> = exported
        .iter()
        .filter_map(|name| name.strip_prefix(INTERFACE)?.strip_prefix('@'))
        .collect();
    let version = match versions.as_slice() {
        [] => bail!(
            "the component does not export the {INTERFACE} interface (it exports: {}); it is not \
             a tenantctl plugin",
            if exported.is_empty() {
                "nothing".to_string()
            } else {
                exported.join(", ")
            }
        ),
        [one] => *one,
        several => bail!(
            "the component exports {INTERFACE} more than once ({}); a plugin exports one contract \
             version",
            several.join(", ")
        ),
    };
    let version = semver::Version::parse(version).map_err(|err| {
        anyhow::anyhow!(
            "the component exports {INTERFACE}@{version}, which is not a semantic version: {err}"
        )
    })?;
    if !is_supported(&version) {
        bail!(
            "the plugin was built for contract {version}, and this tenantctl speaks {}; use a \
             plugin built for one of those, or a tenantctl that speaks {version}",
            SUPPORTED
                .iter()
                .map(|minor| format!("{minor}.x"))
                .collect::<Vec<_>>()
                .join(" and ")
        );
    }
    Ok(version)
}

/// True when the host has a binding for `version` (same major and minor; for 0.x the minor is
/// what breaks compatibility).
pub fn is_supported(version: &semver::Version) -> bool {
    SUPPORTED
        .iter()
        .any(|minor| *minor == format!("{}.{}", version.major, version.minor))
}

/// The names of the component's own (top-level) exports.
fn exported_interfaces(bytes: &[u8]) -> Result<Vec<String>> {
    if !bytes.starts_with(b"\0asm") {
        bail!("the file is not WebAssembly (it does not start with the \\0asm magic number)");
    }
    let mut names = Vec::new();
    // Nested modules and components report their own sections; only depth 1 is the plugin's.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|err| {
            anyhow::anyhow!(
                "the file is not a valid WebAssembly component (truncated or corrupt?): {err}"
            )
        })?;
        match payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    bail!(
                        "the file is a core WebAssembly module, not a component; build the plugin \
                         for wasm32-wasip2 (or wrap the module with `wasm-tools component new`)"
                    );
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(|err| {
                        anyhow::anyhow!("the component's export section is corrupt: {err}")
                    })?;
                    names.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        bail!("the file is not a valid WebAssembly component: it ends before its last section");
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component exporting an (empty) instance under `name`.
    fn component_exporting(name: &str) -> Vec<u8> {
        let mut component = wasm_encoder::Component::new();
        let mut instance = wasm_encoder::ComponentInstanceSection::new();
        instance.export_items(Vec::<(&str, wasm_encoder::ComponentExportKind, u32)>::new());
        component.section(&instance);
        let mut exports = wasm_encoder::ComponentExportSection::new();
        exports.export(name, wasm_encoder::ComponentExportKind::Instance, 0, None);
        component.section(&exports);
        component.finish()
    }

    #[test]
    fn reads_the_version_from_the_export_name() {
        let bytes = component_exporting("tenantctl:plugin/plugin@0.1.0");
        assert_eq!(read(&bytes).unwrap(), semver::Version::new(0, 1, 0));
        let bytes = component_exporting("tenantctl:plugin/plugin@0.1.7");
        assert_eq!(read(&bytes).unwrap(), semver::Version::new(0, 1, 7));
        let bytes = component_exporting("tenantctl:plugin/plugin@0.2.0");
        assert_eq!(read(&bytes).unwrap(), semver::Version::new(0, 2, 0));
    }

    #[test]
    fn refuses_unknown_contracts_naming_both_versions() {
        let err = read(&component_exporting("tenantctl:plugin/plugin@9.0.0"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("9.0.0") && err.contains("0.1.x and 0.2.x"),
            "{err}"
        );
        let err = read(&component_exporting("tenantctl:plugin/plugin@0.9.0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("0.9.0"), "{err}");
    }

    #[test]
    fn refuses_files_that_are_not_plugin_components() {
        let err = read(b"random bytes, not wasm").unwrap_err().to_string();
        assert!(err.contains("not WebAssembly"), "{err}");

        let core_module = wasm_encoder::Module::new().finish();
        let err = read(&core_module).unwrap_err().to_string();
        assert!(err.contains("core WebAssembly module"), "{err}");

        let bytes = component_exporting("tenantctl:plugin/plugin@0.1.0");
        let err = read(&bytes[..bytes.len() - 3]).unwrap_err().to_string();
        assert!(err.contains("not a valid"), "{err}");

        let err = read(&component_exporting("other:thing/api@1.0.0"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not export") && err.contains("other:thing/api"),
            "{err}"
        );
    }
}
