//! A sink over any `Write`: each line and a newline with `write_all`, then `flush`. For
//! stdout that hands the page to the reader of the pipe; a closed pipe is a failed send.

use std::io::Write;

use async_trait::async_trait;

use super::{Batch, Sink, SinkError};

/// Writes NDJSON to `W`.
#[derive(Debug)]
pub struct WriterSink<W> {
    name: String,
    out: W,
    buf: Vec<u8>,
}

impl<W: Write + Send> WriterSink<W> {
    /// A sink called `name` writing to `out`.
    pub fn new(name: &str, out: W) -> Self {
        Self { name: name.to_owned(), out, buf: Vec::new() }
    }

    /// The writer (tests read what was written).
    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

#[async_trait]
impl<W: Write + Send> Sink for WriterSink<W> {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        // One buffer, one write: a page reaches the pipe whole or the send fails.
        self.buf.clear();
        for l in &batch.lines {
            self.buf.extend_from_slice(l.json.as_bytes());
            self.buf.push(b'\n');
        }
        let err = |source| SinkError::Io { sink: self.name.clone(), source };
        self.out.write_all(&self.buf).map_err(err)?;
        self.out.flush().map_err(|source| SinkError::Io { sink: self.name.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::testkit::{events, line};

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn batch() -> Batch {
        events(vec![line("a", r#"{"a":1}"#), line("b", r#"{"b":"x\ny"}"#)])
    }

    #[tokio::test]
    async fn writes_ndjson() {
        let mut s = WriterSink::new("mem", Vec::new());
        s.send(&batch()).await.unwrap();
        assert_eq!(String::from_utf8(s.get_ref().clone()).unwrap(), "{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
    }

    #[tokio::test]
    async fn broken_writer_fails_the_send() {
        let mut s = WriterSink::new("broken", Broken);
        let e = s.send(&batch()).await.unwrap_err();
        assert!(e.to_string().contains("broken"));
    }
}
