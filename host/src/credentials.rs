//! Reading a vendor's URL and credentials from the environment, never from the command line.
//!
//! Field `client-secret` of vendor `acronis` is read from `TENANTCTL_ACRONIS_CLIENT_SECRET`,
//! or from the file named by `TENANTCTL_ACRONIS_CLIENT_SECRET_FILE`.

use crate::config::VendorConfig;
use crate::http::HttpSettings;
use crate::plugin::bindings::PluginInfo;

/// Everything needed to reach one vendor account: where, with which values, over which HTTP.
#[derive(Debug)]
pub struct Reach {
    /// The base URL (`--url`, else the environment, else the configuration file).
    pub url: String,
    /// The configuration values the plugin declares (credentials included).
    pub values: Vec<(String, String)>,
    /// The HTTP settings, with the vendor's private CA when one is configured.
    pub http: HttpSettings,
}

/// How to reach the account of the vendor `info` describes: its URL (refusing plain
/// `http://` to a remote host unless `allow_http`), its configuration values, and `http`
/// with the vendor's CA certificates (`TENANTCTL_<VENDOR>_CA_CERT` or `ca_cert`) unless
/// `http` already has some (`--ca-cert` wins). The error names what to set.
pub fn reach(
    info: &PluginInfo,
    url_flag: Option<&str>,
    settings: &VendorConfig,
    env: impl Fn(&str) -> Option<String>,
    mut http: HttpSettings,
) -> Result<Reach, String> {
    let url = base_url(info, url_flag, &env, settings.url.as_deref())?;
    crate::http::check_plain_http(&url, &info.vendor, settings.allow_http)?;
    let values = config_values(info, &env, |path: &str| std::fs::read_to_string(path))?;
    if http.ca_certs.is_empty()
        && let Some((path, named_by)) =
            ca_cert(&info.vendor, None, &env, settings.ca_cert.as_deref())
    {
        http.ca_certs = crate::http::load_ca_certs(&path, &named_by)?;
    }
    http.plain_http_only = url::Url::parse(&url).is_ok_and(|url| url.scheme() == "http");
    Ok(Reach { url, values, http })
}

/// The environment variable holding `field` of `vendor`, e.g. `TENANTCTL_ACRONIS_CLIENT_ID`.
pub fn env_var(vendor: &str, field: &str) -> String {
    format!("TENANTCTL_{vendor}_{field}")
        .to_ascii_uppercase()
        .replace('-', "_")
}

/// The vendor's base URL: the `--url` flag, else `TENANTCTL_<VENDOR>_URL`, else `url` in
/// the configuration file's `[vendors.NAME]`.
pub fn base_url(
    info: &PluginInfo,
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    file: Option<&str>,
) -> Result<String, String> {
    let var = env_var(&info.vendor, "url");
    let given = |value: Option<String>| value.filter(|url| !url.trim().is_empty());
    match given(flag.map(str::to_string))
        .or_else(|| given(env(&var)))
        .or_else(|| given(file.map(str::to_string)))
    {
        Some(url) => Ok(url.trim().to_string()),
        None => Err(format!(
            "no URL for {vendor}: pass --url, set {var} or url under [vendors.{vendor}] in the \
             configuration file (for example {})",
            info.url_hint,
            vendor = info.vendor
        )),
    }
}

/// The private CA file for `vendor`, and what named it: the `--ca-cert` flag, else
/// `TENANTCTL_<VENDOR>_CA_CERT`, else `ca_cert` in the configuration file.
pub fn ca_cert(
    vendor: &str,
    flag: Option<&std::path::Path>,
    env: impl Fn(&str) -> Option<String>,
    file: Option<&std::path::Path>,
) -> Option<(std::path::PathBuf, String)> {
    let var = env_var(vendor, "ca-cert");
    if let Some(path) = flag {
        return Some((path.to_path_buf(), "--ca-cert".into()));
    }
    if let Some(path) = env(&var).filter(|p| !p.is_empty()) {
        return Some((path.into(), var));
    }
    file.map(|path| (path.to_path_buf(), format!("ca_cert in [vendors.{vendor}]")))
}

/// The configuration values `info` declares, read through `env` (and `read_file` for the
/// `_FILE` variants). Every missing required field is named in one error.
pub fn config_values(
    info: &PluginInfo,
    env: impl Fn(&str) -> Option<String>,
    read_file: impl Fn(&str) -> std::io::Result<String>,
) -> Result<Vec<(String, String)>, String> {
    let mut values = Vec::new();
    let mut problems = Vec::new();
    for field in &info.config {
        let var = env_var(&info.vendor, &field.name);
        let file_var = format!("{var}_FILE");
        let direct = env(&var).filter(|v| !v.is_empty());
        let from_file = env(&file_var).filter(|v| !v.is_empty());
        let value = match (direct, from_file) {
            (Some(_), Some(_)) => {
                problems.push(format!("both {var} and {file_var} are set; keep one"));
                continue;
            }
            (Some(value), None) => Some(value),
            (None, Some(path)) => match read_file(&path) {
                Ok(content) => Some(content.trim_end_matches(['\n', '\r']).to_string()),
                Err(err) => {
                    problems.push(format!(
                        "{file_var} names {path:?}, which cannot be read: {err}"
                    ));
                    continue;
                }
            },
            (None, None) => None,
        };
        match value {
            Some(value) => values.push((field.name.clone(), value)),
            None if field.required => problems.push(format!(
                "set {var} (or {file_var} naming a file that holds it): {}",
                field.description
            )),
            None => {}
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(format!(
            "missing or unusable credentials for {}:\n  {}",
            info.vendor,
            problems.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::ConfigField;
    use std::collections::HashMap;

    fn info() -> PluginInfo {
        let field = |name: &str, secret, required| ConfigField {
            name: name.into(),
            description: format!("the {name}"),
            secret,
            required,
        };
        PluginInfo {
            vendor: "acronis".into(),
            display_name: "Acronis".into(),
            version: "0.1.0".into(),
            contract: "0.1.0".into(),
            url_hint: "https://eu2-cloud.acronis.com".into(),
            actions: vec![],
            config: vec![
                field("client-id", false, true),
                field("client-secret", true, true),
                field("region", false, false),
            ],
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn no_files(path: &str) -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{path} not found"),
        ))
    }

    #[test]
    fn variable_names_follow_vendor_and_field() {
        assert_eq!(
            env_var("acronis", "client-id"),
            "TENANTCTL_ACRONIS_CLIENT_ID"
        );
        assert_eq!(env_var("veeam-spc", "url"), "TENANTCTL_VEEAM_SPC_URL");
    }

    #[test]
    fn reads_values_and_files_and_skips_unset_optional_fields() {
        let env = env(&[
            ("TENANTCTL_ACRONIS_CLIENT_ID", "id"),
            ("TENANTCTL_ACRONIS_CLIENT_SECRET_FILE", "/run/secret"),
        ]);
        let values = config_values(&info(), env, |path| {
            assert_eq!(path, "/run/secret");
            Ok("from-file\n".into())
        })
        .unwrap();
        assert_eq!(
            values,
            vec![
                ("client-id".into(), "id".into()),
                ("client-secret".into(), "from-file".into())
            ]
        );
    }

    #[test]
    fn names_every_missing_variable() {
        let err = config_values(&info(), env(&[]), no_files).unwrap_err();
        assert!(err.contains("TENANTCTL_ACRONIS_CLIENT_ID"), "{err}");
        assert!(
            err.contains("TENANTCTL_ACRONIS_CLIENT_SECRET_FILE"),
            "{err}"
        );
        assert!(!err.contains("REGION"), "{err}");
    }

    #[test]
    fn refuses_both_forms_and_unreadable_files() {
        let both = env(&[
            ("TENANTCTL_ACRONIS_CLIENT_ID", "a"),
            ("TENANTCTL_ACRONIS_CLIENT_ID_FILE", "/x"),
            ("TENANTCTL_ACRONIS_CLIENT_SECRET_FILE", "/nope"),
        ]);
        let err = config_values(&info(), both, no_files).unwrap_err();
        assert!(
            err.contains("keep one") && err.contains("cannot be read"),
            "{err}"
        );
    }

    #[test]
    fn url_from_flag_then_environment_then_file() {
        let env_with_url = env(&[("TENANTCTL_ACRONIS_URL", "https://env")]);
        let file = Some("https://file");
        assert_eq!(
            base_url(&info(), Some("https://flag"), &env_with_url, file).unwrap(),
            "https://flag"
        );
        assert_eq!(
            base_url(&info(), None, &env_with_url, file).unwrap(),
            "https://env"
        );
        assert_eq!(
            base_url(&info(), None, env(&[]), file).unwrap(),
            "https://file"
        );
        let err = base_url(&info(), None, env(&[]), None).unwrap_err();
        assert!(
            err.contains("--url")
                && err.contains("TENANTCTL_ACRONIS_URL")
                && err.contains("[vendors.acronis]"),
            "{err}"
        );
    }

    #[test]
    fn ca_cert_from_flag_then_environment_then_file() {
        use std::path::Path;
        let env_with = env(&[("TENANTCTL_ACRONIS_CA_CERT", "/env.pem")]);
        let file = Some(Path::new("/file.pem"));
        let pick = |flag: Option<&Path>, env: &dyn Fn(&str) -> Option<String>| {
            ca_cert("acronis", flag, env, file).map(|(path, _)| path)
        };
        assert_eq!(
            pick(Some(Path::new("/flag.pem")), &env_with),
            Some("/flag.pem".into())
        );
        assert_eq!(pick(None, &env_with), Some("/env.pem".into()));
        assert_eq!(pick(None, &env(&[])), Some("/file.pem".into()));
        assert_eq!(ca_cert("acronis", None, env(&[]), None), None);
    }

    #[test]
    fn only_an_account_reached_over_plain_http_goes_without_tls() {
        let reach_at = |url: &str| {
            let pairs = [
                ("TENANTCTL_ACRONIS_URL", url),
                ("TENANTCTL_ACRONIS_CLIENT_ID", "id"),
                ("TENANTCTL_ACRONIS_CLIENT_SECRET", "secret-value"),
            ];
            let env = env(&pairs);
            reach(
                &info(),
                None,
                &VendorConfig::default(),
                env,
                HttpSettings::default(),
            )
            .unwrap()
        };
        assert!(reach_at("http://127.0.0.1:8080").http.plain_http_only);
        assert!(
            !reach_at("https://eu2-cloud.acronis.com")
                .http
                .plain_http_only
        );
    }
}
