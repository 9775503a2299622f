//! A small RFC 4180 CSV reader and writer.
//!
//! Written here rather than taken from a crate for two reasons: an
//! unterminated quote must be an error naming the line where the field began
//! (common readers silently run to the end of the file), and every cell
//! buffer holding a secret must be wiped when it is dropped.
//!
//! Reading accepts LF, CRLF and lone CR line ends, `""` inside quoted
//! fields, line breaks inside quoted fields (kept as they are), and a stray
//! `"` inside an unquoted field (kept literally). Blank lines are skipped.

use zeroize::Zeroize;

use crate::error::ImportError;

/// One CSV record and the line it starts on. Its cells are wiped on drop.
pub(crate) struct Record {
    /// 1-based line number of the record's first character.
    pub line: usize,
    /// The cells, unquoted.
    pub cells: Vec<String>,
}

impl Drop for Record {
    fn drop(&mut self) {
        self.cells.zeroize();
    }
}

impl Record {
    /// `line N`, for error locations.
    pub fn location(&self) -> String {
        format!("line {}", self.line)
    }
}

/// Splits `text` into records.
pub(crate) fn read(text: &str) -> Result<Vec<Record>, ImportError> {
    let bytes = text.as_bytes();
    let mut records = Vec::new();
    let mut pos = 0;
    let mut line = 1;
    while pos < bytes.len() {
        let start_line = line;
        let mut cells: Vec<String> = Vec::new();
        // One iteration per cell.
        loop {
            let mut cell = String::new();
            if bytes.get(pos) == Some(&b'"') {
                let field_line = line;
                pos += 1;
                loop {
                    let Some(off) = bytes[pos..].iter().position(|&b| b == b'"') else {
                        cell.zeroize();
                        cells.zeroize();
                        return Err(ImportError::malformed(
                            format!("line {field_line}"),
                            format!(
                                "the quoted value of column {} is never closed (unterminated quote)",
                                cells.len() + 1
                            ),
                        ));
                    };
                    let chunk = &text[pos..pos + off];
                    line += chunk.matches('\n').count() + lone_crs(chunk);
                    cell.push_str(chunk);
                    pos += off + 1;
                    if bytes.get(pos) == Some(&b'"') {
                        cell.push('"');
                        pos += 1;
                    } else {
                        break;
                    }
                }
                match bytes.get(pos) {
                    None | Some(b',' | b'\r' | b'\n') => {}
                    Some(_) => {
                        cell.zeroize();
                        cells.zeroize();
                        return Err(ImportError::malformed(
                            format!("line {line}"),
                            format!(
                                "unexpected text after the closing quote of column {}",
                                cells.len() + 1
                            ),
                        ));
                    }
                }
            } else {
                let end = bytes[pos..]
                    .iter()
                    .position(|&b| matches!(b, b',' | b'\r' | b'\n'))
                    .map_or(bytes.len(), |off| pos + off);
                cell.push_str(&text[pos..end]);
                pos = end;
            }
            cells.push(cell);
            match bytes.get(pos) {
                Some(b',') => pos += 1,
                Some(b'\r') => {
                    pos += 1;
                    if bytes.get(pos) == Some(&b'\n') {
                        pos += 1;
                    }
                    line += 1;
                    break;
                }
                Some(b'\n') => {
                    pos += 1;
                    line += 1;
                    break;
                }
                _ => break,
            }
        }
        let blank = cells.len() == 1 && cells[0].is_empty();
        if !blank {
            records.push(Record {
                line: start_line,
                cells,
            });
        }
    }
    Ok(records)
}

/// Carriage returns not followed by a line feed (old Mac line ends).
fn lone_crs(s: &str) -> usize {
    let b = s.as_bytes();
    b.iter()
        .enumerate()
        .filter(|&(i, &c)| c == b'\r' && b.get(i + 1) != Some(&b'\n'))
        .count()
}

/// Appends one record, every cell quoted, ended by CRLF.
pub(crate) fn write_record<'a>(out: &mut Vec<u8>, cells: impl IntoIterator<Item = &'a str>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        for part in cell.split('"').enumerate() {
            if part.0 > 0 {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(part.1.as_bytes());
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
}

/// The cells of a header row, trimmed and lower-cased, for column lookup.
pub(crate) fn normalized_header(record: &Record) -> Vec<String> {
    record
        .cells
        .iter()
        .map(|c| c.trim().to_lowercase())
        .collect()
}

/// Checks that a data row has exactly as many cells as the header.
pub(crate) fn check_width(record: &Record, expected: usize) -> Result<(), ImportError> {
    if record.cells.len() == expected {
        Ok(())
    } else {
        Err(ImportError::malformed(
            record.location(),
            format!(
                "has {} columns but the header has {expected}",
                record.cells.len()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(text: &str) -> Vec<(usize, Vec<String>)> {
        read(text)
            .unwrap()
            .iter()
            .map(|r| (r.line, r.cells.clone()))
            .collect()
    }

    #[test]
    fn reads_quotes_and_line_ends() {
        let got = cells("a,\"b,\"\"c\"\"\",\r\n\r\n\"multi\nline\",x\ry,\"\"\n");
        assert_eq!(
            got,
            vec![
                (1, vec!["a".into(), "b,\"c\"".into(), String::new()]),
                (3, vec!["multi\nline".into(), "x".into()]),
                (5, vec!["y".into(), String::new()]),
            ]
        );
    }

    #[test]
    fn stray_quote_in_unquoted_cell_is_literal() {
        assert_eq!(
            cells("ab\"c,d"),
            vec![(1, vec!["ab\"c".into(), "d".into()])]
        );
    }

    #[test]
    fn unterminated_quote_names_its_line() {
        let err = read("h1,h2\nok,fine\nx,\"never\nclosed\n").err().unwrap();
        assert_eq!(err.location(), "line 3");
        assert!(err.reason().contains("unterminated"), "{err}");
    }

    #[test]
    fn text_after_closing_quote_is_an_error() {
        let err = read("a\n\"x\"y,z\n").err().unwrap();
        assert_eq!(err.location(), "line 2");
    }

    #[test]
    fn writer_output_reads_back() {
        let rows: [&[&str]; 2] = [&["t", "p\"w,1", ""], &["line\r\nbreak", "ü", " sp "]];
        let mut out = Vec::new();
        for row in rows {
            write_record(&mut out, row.iter().copied());
        }
        let text = String::from_utf8(out).unwrap();
        let back = cells(&text);
        assert_eq!(back.len(), 2);
        for (got, want) in back.iter().zip(rows) {
            assert_eq!(got.1, want);
        }
        assert_eq!(back[1].0, 2);
    }
}
