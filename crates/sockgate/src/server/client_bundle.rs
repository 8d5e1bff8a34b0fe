//! Serving the official browser client (Node's `serveClient`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response};
use sockgate_engine::ResponseBody;

/// The official browser client files, loaded once and served from memory.
#[derive(Clone)]
pub struct ClientBundle {
    files: Arc<Vec<(String, Bytes)>>,
    dir: PathBuf,
}

impl fmt::Debug for ClientBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBundle")
            .field("dir", &self.dir)
            .finish()
    }
}

const BUNDLE_FILES: [&str; 6] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

impl ClientBundle {
    /// Loads the bundle from the `dist` folder of the npm package `socket.io-client`.
    pub fn from_dir(dir: impl AsRef<Path>) -> std::io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let mut files = Vec::new();
        for name in BUNDLE_FILES {
            if let Ok(content) = std::fs::read(dir.join(name)) {
                files.push((name.to_owned(), Bytes::from(content)));
            }
        }
        if !files.iter().any(|(n, _)| n == "socket.io.js") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no socket.io.js in {}: run `npm ci` where socket.io-client is a dependency",
                    dir.display()
                ),
            ));
        }
        Ok(ClientBundle {
            files: Arc::new(files),
            dir,
        })
    }

    /// Finds the npm package: `$SOCKGATE_CLIENT_DIST`, else `node_modules/socket.io-client/dist`
    /// (or `e2e/js/node_modules/...`) in the current directory or any parent.
    pub fn locate() -> std::io::Result<Self> {
        if let Some(dir) = std::env::var_os("SOCKGATE_CLIENT_DIST") {
            return Self::from_dir(dir);
        }
        let mut dir = std::env::current_dir()?;
        loop {
            for candidate in [
                dir.join("node_modules/socket.io-client/dist"),
                dir.join("e2e/js/node_modules/socket.io-client/dist"),
            ] {
                if candidate.join("socket.io.js").is_file() {
                    return Self::from_dir(candidate);
                }
            }
            if !dir.pop() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "socket.io-client not found in node_modules: run `npm ci --prefix e2e/js` or set SOCKGATE_CLIENT_DIST",
                ));
            }
        }
    }

    pub(super) fn response(
        &self,
        name: &str,
        request: &HeaderMap,
    ) -> Option<Response<ResponseBody>> {
        let (_, content) = self.files.iter().find(|(n, _)| n == name)?;
        let etag = format!("\"{:x}-{}\"", content.len(), self.files.len());
        let mut response = if request
            .get(http::header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes())
        {
            let mut r = Response::new(ResponseBody::new(Bytes::new()));
            *r.status_mut() = http::StatusCode::NOT_MODIFIED;
            r
        } else {
            Response::new(ResponseBody::new(content.clone()))
        };
        let content_type = if name.ends_with(".map") {
            "application/json"
        } else {
            "application/javascript; charset=utf-8"
        };
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("public, max-age=0"),
        );
        if let Ok(v) = http::HeaderValue::from_str(&etag) {
            headers.insert(http::header::ETAG, v);
        }
        Some(response)
    }
}
