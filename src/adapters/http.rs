//! Every HTTP client deployflow makes starts here: rustls needs its crypto
//! provider chosen once per process before the first client (reqwest is
//! built with rustls and no provider of its own, so it does not compile a
//! second one).

/// A reqwest client builder, with the process's TLS provider in place.
pub fn client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Fails only when a provider is already installed: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}
