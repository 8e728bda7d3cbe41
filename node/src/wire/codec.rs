//! Frame codec: unsigned-varint length prefix followed by that many bytes of JSON (WIRE.md §5).
//!
//! The reader checks the announced length against the limit *before* allocating, so an
//! oversize prefix costs nothing but the error.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use unsigned_varint::{decode, encode};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more bytes than the reader accepts; nothing was allocated.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced body length, in bytes.
        len: usize,
        /// The reader's limit, in bytes.
        max: usize,
    },
    /// The varint length prefix is malformed or overflows.
    #[error("malformed length prefix: {0}")]
    BadLength(decode::Error),
    /// The stream ended inside a length prefix or a body.
    #[error("stream closed in the middle of a frame")]
    Truncated,
    /// Reading from the stream failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads one frame. `Ok(None)` means the peer closed the stream cleanly between frames.
pub async fn read_frame<R>(reader: &mut R, max_len: usize) -> Result<Option<Vec<u8>>, FrameError>
where
    R: AsyncRead + Unpin,
{
    let Some(len) = read_length(reader).await? else {
        return Ok(None);
    };
    if len > max_len {
        return Err(FrameError::TooLarge { len, max: max_len });
    }
    let mut body = vec![0u8; len];
    reader
        .read_exact(&mut body)
        .await
        .map_err(eof_is_truncation)?;
    Ok(Some(body))
}

/// Reads the varint prefix byte by byte: a varint ends at the first byte without the high bit.
async fn read_length<R>(reader: &mut R) -> Result<Option<usize>, FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut buf = encode::usize_buffer();
    for i in 0..buf.len() {
        let mut byte = [0u8; 1];
        let n = reader.read(&mut byte).await?;
        if n == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        buf[i] = byte[0];
        if decode::is_last(byte[0]) {
            let (len, _) = decode::usize(&buf[..=i]).map_err(FrameError::BadLength)?;
            return Ok(Some(len));
        }
    }
    Err(FrameError::BadLength(decode::Error::Overflow))
}

fn eof_is_truncation(e: io::Error) -> FrameError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        FrameError::Truncated
    } else {
        FrameError::Io(e)
    }
}

/// Writes one frame and flushes it, so a streamed chunk leaves at once.
/// Prefix and body go out in one write: one muxer frame instead of two.
pub async fn write_frame<W>(writer: &mut W, body: &[u8]) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut prefix = encode::usize_buffer();
    let prefix = encode::usize(body.len(), &mut prefix);
    let mut out = Vec::with_capacity(prefix.len() + body.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(body);
    writer.write_all(&out).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    async fn roundtrip(body: &[u8]) -> Vec<u8> {
        let mut wire = Cursor::new(Vec::new());
        write_frame(&mut wire, body).await.unwrap();
        let mut reader = Cursor::new(wire.into_inner());
        read_frame(&mut reader, 1 << 20).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn frames_roundtrip_at_varint_boundaries() {
        for len in [0usize, 1, 127, 128, 16_383, 16_384, 300_000] {
            let body = vec![b'x'; len];
            assert_eq!(roundtrip(&body).await, body, "len {len}");
        }
    }

    #[tokio::test]
    async fn clean_eof_between_frames_is_none() {
        let mut reader = Cursor::new(Vec::new());
        assert!(read_frame(&mut reader, 10).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversize_prefix_is_refused_before_reading_the_body() {
        let mut prefix = encode::usize_buffer();
        let bytes = encode::usize(1 << 40, &mut prefix).to_vec();
        let mut reader = Cursor::new(bytes);
        match read_frame(&mut reader, 1024).await {
            Err(FrameError::TooLarge { len, max: 1024 }) => assert_eq!(len, 1 << 40),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn endless_varint_is_malformed() {
        let mut reader = Cursor::new(vec![0xffu8; 32]);
        assert!(matches!(
            read_frame(&mut reader, usize::MAX).await,
            Err(FrameError::BadLength(_))
        ));
    }

    #[tokio::test]
    async fn truncated_prefix_and_body_are_reported() {
        let mut reader = Cursor::new(vec![0x80u8]);
        assert!(matches!(
            read_frame(&mut reader, 10).await,
            Err(FrameError::Truncated)
        ));
        let mut reader = Cursor::new(vec![5u8, b'a', b'b']);
        assert!(matches!(
            read_frame(&mut reader, 10).await,
            Err(FrameError::Truncated)
        ));
    }
}
