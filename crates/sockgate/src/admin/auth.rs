//! Who may connect to the admin namespace: [`AdminAuth`], and the connect middleware that
//! checks a session id or the username and bcrypt-hashed password.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::{sessions, Admin, NewSession};

/// Password checks running at once, per admin namespace.
pub(super) const MAX_CONCURRENT_CHECKS: usize = 2;
use crate::namespace::MiddlewareError;
use crate::SocketRef;

/// How the admin namespace authenticates the UI.
#[derive(Clone)]
pub enum AdminAuth {
    /// Anyone who reaches the server may connect: say so explicitly (Node's `auth: false`).
    None,
    /// A username and the bcrypt hash of the password (build it with [`AdminAuth::basic`],
    /// which checks the hash).
    Basic {
        /// The expected `auth.username`.
        username: String,
        /// The bcrypt hash (`$2a$`, `$2b$` or `$2y$`) of the password.
        password_hash: String,
    },
}

impl fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminAuth::None => f.write_str("None"),
            AdminAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

impl AdminAuth {
    /// Basic authentication; fails if `password_hash` is not a bcrypt hash (a plain password
    /// passed by mistake, a truncated hash): hash the password with [`hash_password`],
    /// `bcryptjs` or `htpasswd -nbBC 10 user password`.
    pub fn basic(
        username: impl Into<String>,
        password_hash: impl Into<String>,
    ) -> Result<AdminAuth, AdminError> {
        let password_hash = password_hash.into();
        // Verifying any password parses the hash: an unparsable one is an error, not a
        // mismatch.
        if bcrypt::verify("", &password_hash).is_err() {
            return Err(AdminError::InvalidPasswordHash);
        }
        Ok(AdminAuth::Basic {
            username: username.into(),
            password_hash,
        })
    }
}

/// The bcrypt hash of `password` at cost 10 (what `bcryptjs` uses by default), for
/// [`AdminAuth::basic`]. Takes tens of milliseconds: call it once at start-up.
pub fn hash_password(password: &str) -> Result<String, AdminError> {
    bcrypt::hash(password, 10).map_err(|_| AdminError::InvalidPassword)
}

/// Why the admin namespace could not be configured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminError {
    /// The password hash is not a bcrypt hash: pass the *hash* of the password (see
    /// [`hash_password`]), not the password itself.
    InvalidPasswordHash,
    /// The password cannot be hashed (it contains a NUL byte): choose another.
    InvalidPassword,
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::InvalidPasswordHash => f.write_str(
                "the admin password must be a valid bcrypt hash (hash it with sockgate::admin::hash_password or bcryptjs)",
            ),
            AdminError::InvalidPassword => {
                f.write_str("the admin password cannot be hashed: it must not contain a NUL byte")
            }
        }
    }
}

impl std::error::Error for AdminError {}

/// The middleware: a live session id, or the username and a password matching the hash.
pub(super) async fn authenticate(
    admin: Arc<Admin>,
    socket: SocketRef,
) -> Result<(), MiddlewareError> {
    let (username, password_hash) = match &admin.options.auth {
        AdminAuth::None => return Ok(()),
        AdminAuth::Basic {
            username,
            password_hash,
        } => (username.clone(), password_hash.clone()),
    };
    let auth = &socket.handshake().auth;
    if let Some(session_id) = auth.get("sessionId").and_then(Value::as_str) {
        if admin.sessions.lock().is_valid(session_id, Instant::now()) {
            return Ok(());
        }
    }
    let given_user = auth.get("username").and_then(Value::as_str);
    let given_password = auth.get("password").and_then(Value::as_str);
    if let (Some(user), Some(password)) = (given_user, given_password) {
        if user == username {
            let password = password.to_owned();
            // bcrypt costs tens of milliseconds of CPU by design: not on a runtime thread,
            // and at most `MAX_CONCURRENT_CHECKS` at once, so a flood of logins queues
            // instead of taking every core from the server's clients.
            let Ok(_permit) = admin.password_checks.acquire().await else {
                return Err(MiddlewareError::new("invalid credentials"));
            };
            let matches = tokio::task::spawn_blocking(move || {
                bcrypt::verify(password, &password_hash).unwrap_or(false)
            })
            .await
            .unwrap_or(false);
            if matches {
                let id = sessions::new_session_id();
                admin.sessions.lock().insert(id.clone(), Instant::now());
                socket.extensions.insert(NewSession(id));
                return Ok(());
            }
        }
    }
    tracing::debug!(target: "sockgate::admin", "admin UI login refused: invalid credentials");
    Err(MiddlewareError::new("invalid credentials"))
}
