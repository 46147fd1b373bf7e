//! `events.jsonl`: every (redacted) event, one JSON object per line, appended and flushed as
//! it happens. If the process dies before the reports are written (CI agent killed,
//! `kill -9`), `acr-chaos report <dir>` rebuilds `junit.xml`, `report.json` and
//! `summary.md` from it ([`rebuild`]).

use super::model::RunModel;
use super::{JSON_FILE, ReportError, write_reports};
use crate::events::Event;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The event log's file name inside `reports/<run-id>/`.
pub const EVENT_LOG_FILE: &str = "events.jsonl";

/// Appends events to `events.jsonl`, flushing after each so a crash loses nothing.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    /// The first write error; reported by [`EventLog::finish`], never panics.
    error: Option<std::io::Error>,
}

impl EventLog {
    /// A log at `path`; the file (and its folder) is created at the first event.
    pub fn new(path: PathBuf) -> Self {
        Self { path, file: None, error: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one event (callers pass it redacted).
    pub fn append(&mut self, event: &Event) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.try_append(event) {
            self.error = Some(e);
        }
    }

    fn try_append(&mut self, event: &Event) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                if let Some(parent) = self.path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let f = File::options().create(true).append(true).open(&self.path)?;
                self.file.insert(BufWriter::new(f))
            }
        };
        serde_json::to_writer(&mut *file, event)?;
        file.write_all(b"\n")?;
        file.flush()
    }

    /// Flush, and report the first write error if there was one.
    pub fn finish(&mut self) -> Result<(), ReportError> {
        if let Some(f) = &mut self.file
            && let Err(e) = f.flush()
        {
            self.error.get_or_insert(e);
        }
        match self.error.take() {
            Some(source) => Err(ReportError::Write { path: self.path.clone(), source }),
            None => Ok(()),
        }
    }
}

/// The longest line an event log may have: an event is a few KiB at most (its strings are
/// redacted and bounded); a longer line is not an event log (e.g. a binary file).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Open `path` for reading only if it is a regular file (a FIFO, a device such as
/// `/dev/zero` or a directory would hang or never end).
pub fn open_regular(path: &Path) -> Result<File, ReportError> {
    let read_err = |source| ReportError::Read { path: path.to_owned(), source };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(ReportError::NotAFile { path: path.to_owned() });
    }
    File::open(path).map_err(read_err)
}

/// Read an event log. A bad line is reported with `file:line:column` and what was wrong.
pub fn read_event_log(path: &Path) -> Result<Vec<Event>, ReportError> {
    let read_err = |source| ReportError::Read { path: path.to_owned(), source };
    let mut reader = BufReader::new(open_regular(path)?);
    let mut events = Vec::new();
    let mut buf = Vec::new();
    for i in 0.. {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(read_err)?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(ReportError::Parse {
                path: path.to_owned(),
                line: i + 1,
                column: 1,
                message: format!(
                    "line longer than {MAX_LINE_BYTES} bytes: not an acr-chaos event log"
                ),
            });
        }
        let line = std::str::from_utf8(&buf).map_err(|e| ReportError::Parse {
            path: path.to_owned(),
            line: i + 1,
            column: column_of(&buf, e.valid_up_to()),
            message: "not UTF-8".to_owned(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str::<Event>(line).map_err(|e| ReportError::Parse {
            path: path.to_owned(),
            line: i + 1,
            column: e.column(),
            message: without_location(&e),
        })?;
        events.push(event);
    }
    Ok(events)
}

/// 1-based column (in characters) of byte `offset` in a line.
fn column_of(line: &[u8], offset: usize) -> usize {
    String::from_utf8_lossy(&line[..offset]).chars().count() + 1
}

/// serde_json's message without its own ` at line N column M` (we print `file:line:col`).
fn without_location(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Read the events of `report.json` (its `events` array).
pub fn read_report_events(path: &Path) -> Result<Vec<Event>, ReportError> {
    let mut text = String::new();
    open_regular(path)?
        .read_to_string(&mut text)
        .map_err(|source| ReportError::Read { path: path.to_owned(), source })?;
    #[derive(serde::Deserialize)]
    struct EventsOnly {
        #[serde(rename = "schemaVersion")]
        schema_version: String,
        events: Vec<Event>,
    }
    let doc: EventsOnly = serde_json::from_str(&text).map_err(|e| ReportError::Parse {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        message: without_location(&e),
    })?;
    if !super::json::READABLE_VERSIONS.contains(&doc.schema_version.as_str()) {
        return Err(ReportError::Parse {
            path: path.to_owned(),
            line: 1,
            column: 1,
            message: format!(
                "schemaVersion is {:?}; this acr-chaos reads {}",
                doc.schema_version,
                super::json::READABLE_VERSIONS.map(|v| format!("{v:?}")).join(" and ")
            ),
        });
    }
    Ok(doc.events)
}

/// The events of a run, from a report folder (`events.jsonl`, else `report.json`), an
/// `events.jsonl` file, or a `report.json` file.
pub fn load_events(path: &Path) -> Result<(PathBuf, Vec<Event>), ReportError> {
    if path.is_dir() {
        let log = path.join(EVENT_LOG_FILE);
        if log.is_file() {
            return Ok((path.to_owned(), read_event_log(&log)?));
        }
        let json = path.join(JSON_FILE);
        if json.is_file() {
            return Ok((path.to_owned(), read_report_events(&json)?));
        }
        return Err(ReportError::NoEvents { path: path.to_owned() });
    }
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    if path.extension().is_some_and(|e| e == "json") {
        Ok((dir, read_report_events(path)?))
    } else {
        Ok((dir, read_event_log(path)?))
    }
}

/// Rebuild the report files of a run from its recorded events; writes them into the run's
/// folder when `write` is set. Returns the model and the files written.
pub fn rebuild(path: &Path, write: bool) -> Result<(RunModel, Vec<PathBuf>), ReportError> {
    let (dir, events) = load_events(path)?;
    let pending = journal_pending(&dir)?;
    if events.is_empty() && pending.is_empty() {
        return Err(ReportError::NoEvents { path: path.to_owned() });
    }
    let mut model = RunModel::from_events(&events);
    model.journal_pending = pending;
    let written = if write { write_reports(&dir, &model)? } else { Vec::new() };
    Ok((model, written))
}

/// Unfinished undos of the run's own `journal.json`, when the folder has one: the journal
/// is written before every change, so it knows of changes the event log may not (a run
/// killed between the two writes). A journal that cannot be read is an error: it may hide
/// a change left behind.
fn journal_pending(dir: &Path) -> Result<Vec<String>, ReportError> {
    let path = dir.join("journal.json");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let doc = crate::engine::journal::read_file(&path).map_err(|e| ReportError::Parse {
        path: path.clone(),
        line: 1,
        column: 1,
        message: e.to_string(),
    })?;
    Ok(doc.unfinished().map(|e| crate::report::redact(&e.undo.describe()).into_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;

    #[test]
    fn bad_line_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENT_LOG_FILE);
        let mut log = EventLog::new(path.clone());
        log.append(&Event::run(EventKind::Note { message: "hello".into() }));
        log.finish().unwrap();
        let mut f = File::options().append(true).open(&path).unwrap();
        writeln!(f, "{{\"at\": \"2026-11-24T04:19:07Z\", \"event\": \"no-such-event\"}}").unwrap();
        let err = read_event_log(&path).unwrap_err().to_string();
        assert!(err.contains("events.jsonl:2:"), "{err}");
        assert!(err.contains("no-such-event"), "{err}");
    }
}
