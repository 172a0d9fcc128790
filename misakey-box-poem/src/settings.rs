use misakey_box::socket::SocketSettings;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `Origin`s allowed to open a WebSocket; requests without `Origin` (non-browser clients)
    /// always may. Compared exactly, e.g. `https://app.example.com`.
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body (413 above).
    pub max_body_bytes: usize,
    /// Heartbeat, idle timeout, inbound frame limit and send timeout of sockets.
    pub socket: SocketSettings,
    /// Set the `Secure` attribute on the CSRF cookie (behind HTTPS).
    pub secure_cookies: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            max_body_bytes: misakey_box::web::MAX_BODY_BYTES,
            socket: SocketSettings::default(),
            secure_cookies: false,
        }
    }
}
