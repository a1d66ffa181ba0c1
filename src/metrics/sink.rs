//! [`Metered`]: wraps a sink to time its sends and count what it confirmed, so no sink and
//! no line of the collector loop needs to know about metrics.

use std::time::Instant;

use async_trait::async_trait;

use crate::sinks::{Batch, Sink, SinkError};

/// A sink whose sends are timed and counted under its name.
pub struct Metered {
    inner: Box<dyn Sink>,
}

impl std::fmt::Debug for Metered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered").field("sink", &self.inner.name()).finish()
    }
}

/// Wraps every sink in [`Metered`].
pub fn instrument(sinks: Vec<Box<dyn Sink>>) -> Vec<Box<dyn Sink>> {
    sinks.into_iter().map(|inner| Box::new(Metered { inner }) as Box<dyn Sink>).collect()
}

#[async_trait]
impl Sink for Metered {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let started = Instant::now();
        let r = self.inner.send(batch).await;
        // A line's bytes as delivered: the JSON and its newline (sink wrappers not counted).
        let bytes = batch.lines.iter().map(|l| l.json.len() + 1).sum();
        super::sink_sent(self.inner.name(), batch.lines.len(), bytes, started.elapsed().as_secs_f64(), r.is_ok());
        r
    }
}
