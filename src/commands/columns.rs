//! Plain-text tables for the commands that print one (`get-events`, `status`): columns as wide
//! as their widest cell, two spaces apart, no trailing blanks.

/// The header line and one line per row.
pub(super) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let start = out.len();
        for (i, (c, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            out.extend(std::iter::repeat_n(' ', w.saturating_sub(c.chars().count())));
        }
        out.truncate(start + out[start..].trim_end().len());
        out.push('\n');
    };
    let mut out = String::new();
    line(&mut headers.iter().copied(), &mut out);
    for r in rows {
        line(&mut r.iter().map(String::as_str), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_without_trailing_blanks() {
        let rows = vec![vec!["a".to_owned(), "ü-long".to_owned()], vec!["bbb".to_owned(), String::new()]];
        assert_eq!(super::render(&["X", "Y"], &rows), "X    Y\na    ü-long\nbbb\n");
    }
}
