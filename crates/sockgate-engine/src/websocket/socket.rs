//! The upgraded connection, read without a buffer of its own while idle.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Most frames handed to one vectored write.
const MAX_IOVECS: usize = 256;
/// Bytes read from the socket per wake-up into the thread's scratch buffer, then copied into
/// the connection's buffer.
const READ_CHUNK: usize = 16 * 1024;

/// The upgraded connection. A plain TCP stream is used directly; other streams (TLS,
/// in-memory) go through hyper's `Upgraded`. Neither holds a read buffer while idle: a read
/// goes into the worker thread's scratch buffer and only what arrived is copied out.
pub(super) enum Socket {
    Tcp(TcpStream),
    /// Boxed: inline, hyper's `Upgraded` (48 bytes) would make every plain TCP socket's task
    /// carry its size.
    Other(Box<TokioIo<Upgraded>>),
}

impl Socket {
    /// Returns the socket and any bytes hyper already read past the HTTP request.
    pub(super) fn new(upgraded: Upgraded) -> (Socket, Bytes) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Socket::Tcp(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => (
                Socket::Other(Box::new(TokioIo::new(upgraded))),
                Bytes::new(),
            ),
        }
    }

    /// Reads what is available into `buf`; `Ok(0)` means the peer closed.
    pub(super) async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// Reads what is available into `buf`, through the thread's scratch buffer; `Ok(0)`
    /// means the peer closed.
    ///
    /// A poll function rather than `readable().await` or an async read: that future carries
    /// a waiter node of its own, and this is what an idle socket's task waits in, so its size
    /// would be paid by every idle socket (the driver polls this in a `poll_fn` that holds
    /// two references). `poll_read` also clears readiness on a short read, which saves the
    /// `recv` that would only return EAGAIN.
    pub(super) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        match self {
            Socket::Tcp(stream) => poll_read_now(Pin::new(stream), cx, buf),
            Socket::Other(io) => poll_read_now(Pin::new(&mut **io), cx, buf),
        }
    }

    /// Writes what the kernel takes now, without waiting: [`Written::Part`] says how many
    /// bytes went out when the rest must wait for the socket to become writable (always
    /// `Part(0)` for streams other than plain TCP, which are only written asynchronously).
    pub(super) fn try_write_now(&mut self, frames: &[&Bytes]) -> io::Result<Written> {
        let Socket::Tcp(stream) = self else {
            return Ok(Written::Part(0));
        };
        let mut done = 0;
        if let [frame] = frames {
            while done < frame.len() {
                match stream.try_write(&frame[done..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(Written::Part(done))
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(Written::All);
        }
        for chunk in frames.chunks(MAX_IOVECS) {
            let mut slices: Vec<IoSlice<'_>> = chunk.iter().map(|f| IoSlice::new(f)).collect();
            let mut remaining: &mut [IoSlice<'_>] = &mut slices;
            while !remaining.is_empty() {
                match stream.try_write_vectored(remaining) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        done += n;
                        IoSlice::advance_slices(&mut remaining, n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(Written::Part(done))
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Written::All)
    }

    /// Writes whole frames, gathering many into each system call; waits while the kernel's
    /// buffer is full. (The write path tries [`Socket::try_write_now`] first and comes here
    /// only with what it could not write.)
    pub(super) async fn write_frames(&mut self, frames: &[&Bytes]) -> io::Result<()> {
        match self {
            Socket::Tcp(_) => {
                let mut rest: Vec<Bytes> = frames.iter().map(|frame| (*frame).clone()).collect();
                loop {
                    if let Socket::Tcp(stream) = self {
                        stream.writable().await?;
                    }
                    let pending: Vec<&Bytes> = rest.iter().collect();
                    match self.try_write_now(&pending)? {
                        Written::All => return Ok(()),
                        Written::Part(done) => {
                            let next = rest_of(&pending, done);
                            rest = next;
                        }
                    }
                }
            }
            Socket::Other(io) => {
                for frame in frames {
                    io.write_all(frame).await?;
                }
                io.flush().await
            }
        }
    }

    pub(super) async fn shutdown(&mut self) {
        let _ = match self {
            Socket::Tcp(stream) => stream.shutdown().await,
            Socket::Other(io) => io.shutdown().await,
        };
    }
}

/// What [`Socket::try_write_now`] wrote.
pub(super) enum Written {
    /// Every byte.
    All,
    /// This many bytes; the rest waits for the socket.
    Part(usize),
}

/// The frames left of `frames` once their first `done` bytes are written (cheap: `Bytes`
/// slices share the frames' memory).
pub(super) fn rest_of(frames: &[&Bytes], mut done: usize) -> Vec<Bytes> {
    let mut rest = Vec::with_capacity(frames.len());
    for frame in frames {
        if done >= frame.len() {
            done -= frame.len();
            continue;
        }
        rest.push(frame.slice(done..));
        done = 0;
    }
    rest
}

thread_local! {
    /// One read buffer per worker thread, shared by every socket the thread serves: zeroed
    /// once, never per read (zeroing a fresh 16 KiB array on every read was a third of the
    /// server's instructions during connects).
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; READ_CHUNK].into_boxed_slice());
}

/// Reads what is available into the thread's scratch buffer and appends it to `buf`, so an
/// idle socket holds no buffer of its own (TLS and in-memory streams too: they are read the
/// same way, one copy, instead of reserving 16 KiB in `buf` while they wait).
///
/// Through tokio's `poll_read`, not `readable()` + `try_read`: a read that does not fill the
/// scratch buffer has drained the socket, and `poll_read` then clears the readiness, so the
/// next read waits for epoll instead of first trying a `recv` that can only say `EAGAIN`
/// (one wasted system call per request/response round trip otherwise).
fn poll_read_now<S: AsyncRead>(
    stream: Pin<&mut S>,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let mut read = ReadBuf::new(&mut scratch);
        ready!(stream.poll_read(cx, &mut read))?;
        let n = read.filled().len();
        buf.extend_from_slice(read.filled());
        Poll::Ready(Ok(n))
    })
}
