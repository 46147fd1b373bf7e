//! `acr-chaos classify`: messages → causes, as text or JSON.

use super::{Cause, CauseDetail, classify};
use crate::ExitCode;
use serde::Serialize;
use std::io::{self, IsTerminal, Read, Write};

#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// Messages to classify; read from stdin, one per line, when none are given.
    pub messages: Vec<String>,
    /// Output format: `text` (message, then its causes) or `json` (an array, one object
    /// per input line, in order).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Text output: also print each cause's explanation and first remediation step.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// One input line in `--output json`.
#[derive(Debug, Serialize)]
pub struct Classified<'a> {
    pub message: &'a str,
    /// Cause ids, in order of first appearance.
    pub causes: Vec<Cause>,
    /// The same causes with their explanation and first remediation step.
    pub details: Vec<CauseDetail>,
}

impl<'a> Classified<'a> {
    pub fn new(message: &'a str) -> Self {
        let causes = classify(message);
        let details = causes.iter().map(|c| c.detail()).collect();
        Classified { message, causes, details }
    }
}

/// Longest message shown in text output, in characters.
const SHOWN_CHARS: usize = 160;

pub fn run(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let stdin_text;
    let lines: Vec<&str> = if args.messages.is_empty() {
        if io::stdin().is_terminal() {
            eprintln!("classify: reading messages from stdin, one per line (end with Ctrl-D)");
        }
        let mut bytes = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| anyhow::anyhow!("classify: cannot read messages from stdin: {e}"))?;
        stdin_text = String::from_utf8_lossy(&bytes).into_owned();
        stdin_text.lines().collect()
    } else {
        args.messages.iter().map(String::as_str).collect()
    };
    let results: Vec<Classified<'_>> = lines.iter().map(|m| Classified::new(m)).collect();

    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = match args.output {
        OutputFormat::Json => write_json(&mut out, &results),
        OutputFormat::Text => write_text(&mut out, &results, args.explain),
    }
    .and_then(|()| out.flush());
    match written {
        // `acr-chaos classify … | head` closing the pipe is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::Success),
        Err(e) => Err(anyhow::anyhow!("classify: cannot write to stdout: {e}")),
        Ok(()) => Ok(ExitCode::Success),
    }
}

fn write_json(out: &mut impl Write, results: &[Classified<'_>]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, results)?;
    writeln!(out)
}

fn write_text(out: &mut impl Write, results: &[Classified<'_>], explain: bool) -> io::Result<()> {
    for r in results {
        writeln!(out, "{}", shorten(r.message, SHOWN_CHARS))?;
        if r.causes.is_empty() {
            writeln!(out, "  → (no cause)")?;
            continue;
        }
        let ids: Vec<&str> = r.causes.iter().map(|c| c.id()).collect();
        writeln!(out, "  → {}", ids.join(", "))?;
        if explain {
            for d in &r.details {
                writeln!(out, "    {}: {}", d.cause, d.explanation)?;
                writeln!(out, "      fix: {}", d.remediation)?;
            }
        }
    }
    Ok(())
}

/// `s` cut to at most `max` characters (on a character boundary), with `…` when cut.
pub fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if max == 0 || s.chars().nth(max).is_none() {
        return s.into();
    }
    let cut = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
    format!("{}…", &s[..cut]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_cuts_on_char_boundaries() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééééé", 4), "ééé…");
        assert_eq!(shorten("", 3), "");
        assert_eq!(shorten("ab", 0), "ab");
    }

    #[test]
    fn text_output_lists_causes_or_none() {
        let rs = [
            Classified::new("Failed to pull image \"a\": pull QPS exceeded."),
            Classified::new("Error: ErrImagePull"),
        ];
        let mut buf = Vec::new();
        write_text(&mut buf, &rs, true).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.contains("  → rate-limited\n"), "{text}");
        assert!(text.contains("    rate-limited: "), "{text}");
        assert!(text.contains("Error: ErrImagePull\n  → (no cause)\n"), "{text}");
    }
}
