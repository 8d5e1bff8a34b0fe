//! The Socket.IO Admin UI for the chat: the `/admin` namespace when `ADMIN_PASSWORD` is set,
//! and the UI itself (the `ui/dist` folder of the npm package `@socket.io/admin-ui`) at
//! `/admin/` when that package is installed (`npm ci --prefix e2e/admin`), as Node users
//! serve it with `serveStatic`.
//!
//! Environment: `ADMIN_PASSWORD` (the password of user `admin`; hashed with bcrypt at
//! start-up), `ADMIN_MODE` (`development`, the default, or `production`), `ADMIN_READONLY`
//! (`1`/`true`), `ADMIN_SERVER_ID` (the name the UI lists this node under; default the host
//! name: give each node of a cluster on one host its own), `ADMIN_UI_DIR` (where `ui/dist`
//! is, instead of looking for `node_modules/@socket.io/admin-ui`).

use std::path::{Component, Path, PathBuf};

use axum::extract::Path as UrlPath;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use sockgate::admin::{hash_password, AdminAuth, AdminMode, AdminOptions};

/// The admin user's name.
pub const ADMIN_USERNAME: &str = "admin";

/// A wrong admin setting: says which variable to fix.
#[derive(Debug)]
pub struct AdminSettingError(String);

impl std::fmt::Display for AdminSettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AdminSettingError {}

/// The admin options from the environment: `None` when `ADMIN_PASSWORD` is not set.
pub fn options_from_env() -> Result<Option<AdminOptions>, AdminSettingError> {
    let Ok(password) = std::env::var("ADMIN_PASSWORD") else {
        return Ok(None);
    };
    if password.is_empty() {
        return Err(AdminSettingError(
            "ADMIN_PASSWORD is empty: set a password, or unset it to turn the admin UI off".into(),
        ));
    }
    let hash =
        hash_password(&password).map_err(|e| AdminSettingError(format!("ADMIN_PASSWORD: {e}")))?;
    let auth =
        AdminAuth::basic(ADMIN_USERNAME, hash).map_err(|e| AdminSettingError(e.to_string()))?;
    let mut options = AdminOptions::new(auth);
    match std::env::var("ADMIN_MODE").as_deref() {
        Err(_) | Ok("") | Ok("development") => {}
        Ok("production") => options = options.mode(AdminMode::Production),
        Ok(other) => {
            return Err(AdminSettingError(format!(
                "ADMIN_MODE is {other:?}: use development or production"
            )))
        }
    }
    if let Ok(readonly) = std::env::var("ADMIN_READONLY") {
        options = options.readonly(matches!(readonly.as_str(), "1" | "true"));
    }
    if let Ok(id) = std::env::var("ADMIN_SERVER_ID") {
        if !id.is_empty() {
            options = options.server_id(id);
        }
    }
    Ok(Some(options))
}

/// Where the built UI is: `ADMIN_UI_DIR`, else `node_modules/@socket.io/admin-ui/ui/dist`
/// (or `e2e/admin/node_modules/...`) in the current directory or a parent.
pub fn locate_ui() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ADMIN_UI_DIR") {
        let dir = PathBuf::from(dir);
        return dir.join("index.html").is_file().then_some(dir);
    }
    let mut dir = std::env::current_dir().ok()?;
    loop {
        for candidate in [
            dir.join("node_modules/@socket.io/admin-ui/ui/dist"),
            dir.join("e2e/admin/node_modules/@socket.io/admin-ui/ui/dist"),
        ] {
            if candidate.join("index.html").is_file() {
                return Some(candidate);
            }
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// The routes serving the UI from `dir`: `/admin` redirects to `/admin/` (the UI's files
/// are referenced relatively), `/admin/` is its `index.html`.
pub fn ui_routes(dir: PathBuf) -> Router {
    let index = dir.clone();
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route(
            "/admin/",
            get(move || {
                let index = index.clone();
                async move { file(&index, "index.html").await }
            }),
        )
        .route(
            "/admin/{*path}",
            get(move |UrlPath(path): UrlPath<String>| {
                let dir = dir.clone();
                async move { file(&dir, &path).await }
            }),
        )
}

/// A file under `dir`; 404 for anything else, `..` and absolute paths included.
async fn file(dir: &Path, path: &str) -> Response {
    let relative = Path::new(path);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dir.join(relative)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(path))], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "application/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("json" | "map") => "application/json",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_outside_the_folder_are_not_served() {
        let dir = std::env::temp_dir().join(format!("chat-admin-ui-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("js")).unwrap();
        std::fs::write(dir.join("js/app.js"), "ok").unwrap();
        assert_eq!(file(&dir, "js/app.js").await.status(), StatusCode::OK);
        assert_eq!(
            file(&dir, "js/app.js").await.headers()[header::CONTENT_TYPE],
            "application/javascript; charset=utf-8"
        );
        assert_eq!(
            file(&dir, "../etc/passwd").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            file(&dir, "/etc/passwd").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            file(&dir, "missing.js").await.status(),
            StatusCode::NOT_FOUND
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
