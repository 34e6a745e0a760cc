//! Credentials for private registries, from where the other tools keep
//! them: the environment, or a docker-style config file
//! (`{"auths": {"REGISTRY": {"auth": base64("user:password")}}}`) as
//! `docker login` and `podman login` write it. Credential helpers
//! (credsStore) are not run.

use anyhow::{Context, Result};
use base64::Engine;
use std::path::PathBuf;

pub const HOW_TO_LOG_IN: &str = "set STEP7_REGISTRY_USER and STEP7_REGISTRY_PASSWORD, \
     or log in with `docker login` / `podman login` (step7 reads their config files)";

// ANCHOR: credentials
/// User and password for `registry`, if any are configured.
pub fn credentials(registry: &str) -> Result<Option<(String, String)>> {
    if let (Ok(user), Ok(password)) = (std::env::var("STEP7_REGISTRY_USER"), std::env::var("STEP7_REGISTRY_PASSWORD")) {
        return Ok(Some((user, password)));
    }
    for file in config_files() {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let config: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", file.display()))?;
        let Some(auths) = config["auths"].as_object() else { continue };
        // Docker Hub is filed under its old API address.
        let keys = [registry, "https://index.docker.io/v1/"];
        let entry = auths.iter().find(|(key, _)| {
            let host = key.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
            host == registry || (registry == crate::reference::DOCKER_HUB && key.as_str() == keys[1])
        });
        if let Some(encoded) = entry.and_then(|(_, value)| value["auth"].as_str()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .with_context(|| {
                    format!("the auth entry for {registry} in {} is not base64 of user:password", file.display())
                })?;
            let (user, password) =
                decoded.split_once(':').context("an auth entry without a colon between user and password")?;
            return Ok(Some((user.to_string(), password.to_string())));
        }
    }
    Ok(None)
}
// ANCHOR_END: credentials

/// Where podman and docker keep logins, in the order they look.
fn config_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(file));
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        files.push(PathBuf::from(dir).join("containers/auth.json"));
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        files.push(PathBuf::from(dir).join("config.json"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        files.push(PathBuf::from(home).join(".docker/config.json"));
    }
    files
}
