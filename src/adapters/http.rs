//! Every HTTP client deployflow makes starts here: rustls needs its crypto
//! provider chosen once per process before the first client (reqwest is
//! built with rustls and no provider of its own, so it does not compile a
//! second one). And every answer from elsewhere is read through
//! `read_capped`, so no server can make deployflow hold (or log) more than
//! it chose to read.

/// A reqwest client builder, with the process's TLS provider in place.
pub fn client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Fails only when a provider is already installed: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// What `read_capped` read.
pub struct Capped {
    pub text: String,
    /// The body went on past the cap; `text` is its beginning.
    pub cut: bool,
}

/// The body of `response`, at most `max` bytes of it: the rest is not
/// read. Invalid UTF-8 is replaced.
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Capped, reqwest::Error> {
    let mut bytes: Vec<u8> = Vec::new();
    let mut cut = false;
    while let Some(chunk) = response.chunk().await? {
        let room = max - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Capped {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        cut,
    })
}

/// What a JSON API answered, at most `max` bytes of it, parsed; an
/// answer past the cap is refused whole (its end, which JSON needs, was
/// not read).
pub async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    max: usize,
) -> Result<T, String> {
    let read = read_capped(response, max)
        .await
        .map_err(|e| format!("the answer was cut off: {e}"))?;
    if read.cut {
        return Err(format!("the answer is longer than {} KiB", max / 1024));
    }
    serde_json::from_str(&read.text)
        .map_err(|e| format!("the answer is not the JSON expected: {e}"))
}
