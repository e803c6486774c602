//! Reading batch input as a stream: CSV with a header row, or JSON Lines.

use std::io::{BufRead, BufReader, Read};

use serde::Deserialize;

/// One row as written in the input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The vendor id, e.g. `acronis`.
    #[serde(default)]
    pub vendor: Option<String>,
    /// `status`, `disable`, `enable` or `offboard`.
    #[serde(default)]
    pub action: Option<String>,
    /// The tenant's id.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The tenant's name.
    #[serde(default)]
    pub tenant_name: Option<String>,
    /// Fail unless the tenant's name is exactly this.
    #[serde(default)]
    pub expect_name: Option<String>,
    /// Why, recorded in the audit journal (overrides `--reason`).
    #[serde(default)]
    pub reason: Option<String>,
    /// Ignored: the column `tenantctl list --output csv` writes, so its output can be fed
    /// back as it is.
    #[serde(default)]
    pub enabled: Option<String>,
}

/// A row and where it was: its line in the file (the CSV header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRow {
    /// The line number.
    pub line: u64,
    /// The row, or why it could not be read.
    pub row: Result<Row, String>,
}

/// Rows read one at a time, so memory stays flat however long the input is.
pub struct Rows {
    inner: RowsInner,
}

enum RowsInner {
    Csv(csv::DeserializeRecordsIntoIter<Box<dyn Read + Send>, Row>),
    JsonLines {
        lines: std::io::Lines<BufReader<Box<dyn Read + Send>>>,
        line: u64,
    },
}

impl Rows {
    /// Reads `input`, deciding the format from its first non-blank character: `{` means
    /// JSON Lines, anything else CSV with a header row.
    pub fn new(input: Box<dyn Read + Send>) -> std::io::Result<Rows> {
        let mut reader = BufReader::new(input);
        let json = loop {
            let buffer = reader.fill_buf()?;
            match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(at) => break buffer[at] == b'{',
                None if buffer.is_empty() => break false,
                None => {
                    let len = buffer.len();
                    reader.consume(len);
                }
            }
        };
        let inner: Box<dyn Read + Send> = Box::new(reader);
        Ok(Rows {
            inner: if json {
                RowsInner::JsonLines {
                    lines: BufReader::new(inner).lines(),
                    line: 0,
                }
            } else {
                let reader = csv::ReaderBuilder::new()
                    .trim(csv::Trim::All)
                    .flexible(false)
                    .from_reader(inner);
                RowsInner::Csv(reader.into_deserialize())
            },
        })
    }
}

impl Iterator for Rows {
    type Item = InputRow;

    fn next(&mut self) -> Option<InputRow> {
        match &mut self.inner {
            RowsInner::Csv(records) => {
                let record = records.next()?;
                Some(match record {
                    Ok(row) => InputRow {
                        line: 0,
                        row: Ok(row),
                    },
                    Err(err) => InputRow {
                        line: err.position().map(|p| p.line()).unwrap_or(0),
                        row: Err(format!("not a valid CSV row: {err}")),
                    },
                })
                .map(|mut input| {
                    if input.line == 0 {
                        input.line = records.reader().position().line().saturating_sub(1).max(2);
                    }
                    input
                })
            }
            RowsInner::JsonLines { lines, line } => loop {
                *line += 1;
                match lines.next()? {
                    Err(err) => {
                        return Some(InputRow {
                            line: *line,
                            row: Err(format!("cannot read the line: {err}")),
                        });
                    }
                    Ok(text) if text.trim().is_empty() => continue,
                    Ok(text) => {
                        return Some(InputRow {
                            line: *line,
                            row: serde_json::from_str(&text)
                                .map_err(|err| format!("not a valid JSON object: {err}")),
                        });
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &'static str) -> Vec<InputRow> {
        Rows::new(Box::new(text.as_bytes())).unwrap().collect()
    }

    #[test]
    fn csv_rows_carry_their_line_numbers_and_empty_fields_are_absent() {
        let read = rows(
            "vendor,action,tenant,tenant_name,expect_name\nacronis,disable,,Acme Corp,\ncommvault, offboard ,42,,Acme\n",
        );
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].line, 2);
        let first = read[0].row.as_ref().unwrap();
        assert_eq!(first.tenant_name.as_deref(), Some("Acme Corp"));
        assert_eq!(first.tenant, None);
        assert_eq!(read[1].line, 3);
        assert_eq!(
            read[1].row.as_ref().unwrap().action.as_deref(),
            Some("offboard")
        );
    }

    #[test]
    fn csv_columns_may_be_left_out_and_bad_rows_are_reported_in_place() {
        let read =
            rows("vendor,action,tenant\nacronis,status,a\nacronis,status\nacronis,status,b\n");
        assert_eq!(read.len(), 3);
        assert!(read[0].row.is_ok());
        assert_eq!(read[1].line, 3);
        assert!(read[1].row.is_err());
        assert_eq!(
            (
                read[2].line,
                read[2].row.as_ref().unwrap().tenant.as_deref()
            ),
            (4, Some("b"))
        );
    }

    #[test]
    fn json_lines_skip_blank_lines_and_report_bad_ones() {
        let read = rows(
            "\n{\"vendor\":\"acronis\",\"action\":\"status\",\"tenant\":\"x\"}\n\nnot json\n{\"vendor\":\"commvault\",\"action\":\"disable\",\"tenant_name\":\"Acme\"}\n",
        );
        assert_eq!(
            read.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![2, 4, 5]
        );
        assert!(read[1].row.is_err());
        assert_eq!(
            read[2].row.as_ref().unwrap().tenant_name.as_deref(),
            Some("Acme")
        );
    }

    #[test]
    fn unknown_fields_are_errors_not_silently_ignored() {
        let read = rows("{\"vendor\":\"acronis\",\"action\":\"status\",\"tenantid\":\"x\"}\n");
        assert!(read[0].row.as_ref().unwrap_err().contains("tenantid"));
    }
}
