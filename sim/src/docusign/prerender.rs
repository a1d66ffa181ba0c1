//! Rows of the initial backlog rendered once, at start, when [`SimConfig::prerender`] asks
//! for it: a benchmark then measures the collector, not the simulator's rendering. Rows are a
//! pure function of (seed, origin, ingestion time), so a rendered row is exactly what the
//! stream would render on demand. Only the org stream's generation is kept; the legacy
//! stream and appended events render on demand as always.
//!
//! [`SimConfig::prerender`]: super::SimConfig::prerender

use super::data::{Generation, write_row};
use super::events::{Entry, Origin};
use super::row::RowContext;

/// Rows per chunk: one allocation per chunk, chunks rendered in parallel.
const CHUNK: usize = 50_000;

/// Rendered rows of backlog entries `0..n`, in chunks of [`CHUNK`] rows.
#[derive(Debug, Default)]
pub(super) struct Prerendered {
    /// Each chunk: the rows' bytes back to back, and where each row ends.
    chunks: Vec<(Vec<u8>, Vec<usize>)>,
}

impl Prerendered {
    /// Renders every entry of `backlog` (the initial backlog, in index order) on all cores.
    pub(super) fn render(ctx: &RowContext<'_>, backlog: &[Entry]) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let parts: Vec<&[Entry]> = backlog.chunks(CHUNK).collect();
        let mut chunks: Vec<(Vec<u8>, Vec<usize>)> = Vec::with_capacity(parts.len());
        for group in parts.chunks(threads) {
            let rendered: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = group.iter().map(|part| s.spawn(|| render_chunk(ctx, part))).collect();
                handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
            });
            chunks.extend(rendered);
        }
        Self { chunks }
    }

    /// The rendered row of `origin`, if it is a pre-rendered backlog entry.
    pub(super) fn row(&self, origin: Origin) -> Option<&[u8]> {
        let Origin::Backlog(i) = origin else { return None };
        let i = usize::try_from(i).ok()?;
        let (bytes, ends) = self.chunks.get(i / CHUNK)?;
        let k = i % CHUNK;
        let end = *ends.get(k)?;
        let start = if k == 0 { 0 } else { ends[k - 1] };
        bytes.get(start..end).filter(|row| !row.is_empty())
    }
}

fn render_chunk(ctx: &RowContext<'_>, part: &[Entry]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::with_capacity(part.len() * 1400);
    let mut ends = Vec::with_capacity(part.len());
    for e in part {
        // Writing to a Vec cannot fail; a row that somehow did is rendered on demand instead.
        let before = bytes.len();
        if write_row(ctx, e.origin, e.key.at, Generation::Current, &mut bytes).is_err() {
            bytes.truncate(before);
        }
        ends.push(bytes.len());
    }
    (bytes, ends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docusign::events::Key;

    #[test]
    fn rendered_rows_equal_rows_rendered_on_demand() {
        let actors = vec!["u1".to_owned()];
        let ctx =
            RowContext { seed: 3, account_id: "acc", organization_id: "org", integration_key: "ik", actors: &actors };
        let backlog: Vec<Entry> = (0..(CHUNK as u64 + 7))
            .map(|i| Entry {
                key: Key { at: 1_767_225_600_000_000_000 + i.cast_signed() * 100, seq: i },
                origin: Origin::Backlog(i),
            })
            .collect();
        let p = Prerendered::render(&ctx, &backlog);
        for e in backlog.iter().step_by(997).chain(backlog.last()) {
            let mut expected = Vec::new();
            write_row(&ctx, e.origin, e.key.at, Generation::Current, &mut expected).unwrap();
            assert_eq!(p.row(e.origin), Some(&expected[..]), "{:?}", e.origin);
        }
        assert_eq!(p.row(Origin::Backlog(CHUNK as u64 + 7)), None);
        assert_eq!(p.row(Origin::Tick(0)), None);
        assert_eq!(Prerendered::default().row(Origin::Backlog(0)), None);
    }
}
