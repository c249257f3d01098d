//! An upgraded session (a WebSocket) spliced between the client and the
//! upstream. It ends when either side closes, or when neither has sent a
//! byte for the idle timeout: an abandoned session would otherwise hold two
//! connections, and count as in flight for a drain, forever.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Splices `client` and `upstream` until one closes or the session idles
/// for `idle`.
pub async fn splice<C, U>(client: C, upstream: U, idle: Duration)
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let activity = Arc::new(Activity::new());
    let mut client = Tracked {
        inner: client,
        activity: activity.clone(),
    };
    let mut upstream = Tracked {
        inner: upstream,
        activity: activity.clone(),
    };
    let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
    tokio::pin!(copy);
    loop {
        let deadline = activity.last() + idle;
        tokio::select! {
            _ = &mut copy => return,
            () = tokio::time::sleep_until(deadline) => {
                // Bytes may have moved while this slept; only a deadline
                // that still holds ends the session.
                if activity.last() + idle <= Instant::now() {
                    tracing::debug!("an upgraded session idle for {idle:?} closed");
                    return;
                }
            }
        }
    }
}

/// When a byte last came from either side, as milliseconds since `start`
/// (an atomic, so both directions stamp it without a lock).
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn stamp(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A stream that stamps the session's activity whenever a read brings bytes.
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.stamp();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_flow_both_ways_and_keep_the_session_open() {
        let (mut client, client_end) = tokio::io::duplex(64);
        let (upstream_end, mut upstream) = tokio::io::duplex(64);
        let idle = Duration::from_millis(300);
        let session = tokio::spawn(splice(client_end, upstream_end, idle));
        // Five exchanges spaced 100 ms apart: 500 ms in all, longer than the
        // idle timeout, and the session stays open because bytes keep moving.
        for round in 0..5u8 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client.write_all(&[round]).await.unwrap();
            let mut got = [0u8; 1];
            upstream.read_exact(&mut got).await.unwrap();
            assert_eq!(got, [round]);
            upstream.write_all(&[round + 100]).await.unwrap();
            client.read_exact(&mut got).await.unwrap();
            assert_eq!(got, [round + 100]);
        }
        assert!(!session.is_finished());
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), session)
            .await
            .expect("a closed client ends the session")
            .unwrap();
    }

    #[tokio::test]
    async fn a_silent_session_is_closed_after_the_idle_timeout() {
        let (mut client, client_end) = tokio::io::duplex(64);
        let (upstream_end, mut upstream) = tokio::io::duplex(64);
        let session = tokio::spawn(splice(client_end, upstream_end, Duration::from_millis(50)));
        tokio::time::timeout(Duration::from_secs(5), session)
            .await
            .expect("an idle session ends")
            .unwrap();
        // Both sides see the session closed.
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
        assert_eq!(upstream.read_to_end(&mut rest).await.unwrap(), 0);
    }
}
