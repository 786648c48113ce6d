//! The socket under every connection, with the answer deadline: once the
//! client has sent something, the server must send something back within
//! the deadline, or reads fail with `TimedOut` and the connection is
//! dropped as broken. A server that is merely slow is stopped first by its
//! own `statement_timeout` (which the deadline exceeds); a server that is
//! gone behind a proxy that keeps the socket open (or a network that drops
//! packets before TCP's own timers notice) is given up here.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;
use tokio::time::{Instant, Sleep};

/// A TCP or Unix socket to PostgreSQL.
pub(crate) enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

/// A socket with an optional answer deadline.
pub(crate) struct Stream {
    socket: Socket,
    /// The deadline and its timer (made once, reset per request).
    answer: Option<(Duration, Pin<Box<Sleep>>)>,
    /// Whether something was sent that nothing has answered yet.
    armed: bool,
}

impl Stream {
    /// `socket`, failing reads when nothing came back within `answer` of
    /// a write (none: no deadline).
    pub(crate) fn new(socket: Socket, answer: Option<Duration>) -> Stream {
        Stream {
            socket,
            answer: answer.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
            armed: false,
        }
    }

    fn socket(&mut self) -> Pin<&mut (dyn AsyncReadWrite + Send + Unpin)> {
        match &mut self.socket {
            Socket::Tcp(s) => Pin::new(s),
            #[cfg(unix)]
            Socket::Unix(s) => Pin::new(s),
        }
    }

    /// Arms the deadline after a write, unless it is armed already (the
    /// earliest unanswered write counts), and registers the task's waker
    /// with its timer: the reader may be parked on the socket alone.
    fn arm(&mut self, cx: &mut Context<'_>) {
        if self.armed {
            return;
        }
        if let Some((limit, timer)) = &mut self.answer {
            self.armed = true;
            timer.as_mut().reset(Instant::now() + *limit);
            let _ = timer.as_mut().poll(cx);
        }
    }

    /// Whether the armed deadline has passed (registering the waker if not).
    fn overdue(&mut self, cx: &mut Context<'_>) -> Option<Duration> {
        if !self.armed {
            return None;
        }
        let (limit, timer) = self.answer.as_mut()?;
        timer.as_mut().poll(cx).is_ready().then_some(*limit)
    }
}

trait AsyncReadWrite: AsyncRead + AsyncWrite {}
impl<T: AsyncRead + AsyncWrite> AsyncReadWrite for T {}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match self.socket().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    // An answer (or part of one): the server is there.
                    self.armed = false;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match self.overdue(cx) {
                Some(limit) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the server sent nothing back within {limit:?}"),
                ))),
                None => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = self.socket().poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.arm(cx);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket().poll_shutdown(cx)
    }
}
