//! `acr-chaos report --html DIR...`: one self-contained HTML file (inline CSS, SVG and a
//! few lines of JS; nothing is fetched). For the newest run, a timeline per scenario
//! (stages, time-to-effect, time-to-recover, alert checks); given several runs, a trend
//! chart per scenario of time-to-effect and time-to-recover across runs, with each run's
//! verdict. Charts are drawn here as SVG, so they show without JS; the script only adds
//! the filter and marks the page ready.

use super::model::{RunModel, ScenarioRecord};
use super::text::{fmt_opt_duration, verdict_word};
use crate::events::{EventKind, Verdict};
use chrono::{DateTime, Utc};
use std::fmt::Write as _;

/// A run with the label it gets in the page (its folder name).
#[derive(Debug)]
pub struct RunInput {
    pub label: String,
    pub model: RunModel,
}

/// HTML-escape text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dde}
h3{font-size:14px;margin:16px 0 4px} .muted{color:#667} code{font-size:12px}
table{border-collapse:collapse;margin:8px 0} td,th{padding:3px 10px;border-bottom:1px solid #eef;text-align:left}
.v-passed{color:#1a7f37}.v-failed{color:#cf222e}.v-error{color:#9a6700}.v-skipped{color:#57606a}
.scenario{margin:10px 0 18px} svg{display:block;max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:14px} .sw{width:10px;height:10px;display:inline-block;margin-right:4px;vertical-align:middle}
#filter{margin:8px 0} .hidden{display:none}
"#;

const SCRIPT: &str = r#"
(function(){
  var box=document.getElementById('only-changed');
  function apply(){
    var only=box&&box.checked;
    document.querySelectorAll('.scenario').forEach(function(el){
      el.classList.toggle('hidden', only && el.getAttribute('data-ok')==='1');
    });
  }
  if(box){box.addEventListener('change',apply);}
  apply();
  document.body.setAttribute('data-ready', String(document.querySelectorAll('svg.chart').length));
})();
"#;

/// Colour of a stage band.
/// Stages in order: preflight (guards, baseline probe and alert checks), inject (journal,
/// change), observe (until asserted), alerts (checks while the fault holds), restore,
/// recover (fresh probe), resolve (alerts resolving, cleanup).
const STAGES: [(&str, &str); 7] = [
    ("preflight", "#c8d1dc"),
    ("inject", "#f0b400"),
    ("observe", "#e5534b"),
    ("alerts", "#fb8f44"),
    ("restore", "#6f42c1"),
    ("recover", "#2da44e"),
    ("resolve", "#8c959f"),
];

/// Render the page. `runs` are sorted oldest first by the caller (or not: they are
/// sorted here by start time).
pub fn render(runs: &mut [RunInput], generated: DateTime<Utc>) -> String {
    runs.sort_by_key(|r| r.model.started);
    let mut out = String::new();
    let last = runs.last();
    let title = match last {
        Some(r) if runs.len() == 1 => format!("acr-chaos run {}", r.model.run_id),
        Some(r) => format!("acr-chaos: {} runs of {}", runs.len(), r.model.target),
        None => "acr-chaos".to_string(),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        out,
        "<div class=\"muted\">generated {} by acr-chaos {}</div>",
        generated.format("%Y-%m-%d %H:%M UTC"),
        env!("CARGO_PKG_VERSION")
    );
    runs_table(&mut out, runs);
    let _ = writeln!(
        out,
        "<div id=\"filter\"><label><input type=\"checkbox\" id=\"only-changed\"> only scenarios that did not pass</label></div>"
    );
    if runs.len() > 1 {
        trends(&mut out, runs);
    }
    if let Some(r) = last {
        timelines(&mut out, r);
    }
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body></html>\n");
    out
}

fn runs_table(out: &mut String, runs: &[RunInput]) {
    let _ = writeln!(
        out,
        "<h2>Runs</h2><table><tr><th>run</th><th>started</th><th>target</th><th>passed</th><th>failed</th><th>errors</th><th>skipped</th><th>environment</th></tr>"
    );
    for r in runs {
        let t = r.model.totals();
        let env = r.model.environment.as_ref().map(environment_summary);
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"v-passed\">{}</td><td class=\"v-failed\">{}</td><td class=\"v-error\">{}</td><td class=\"v-skipped\">{}</td><td class=\"muted\">{}</td></tr>",
            esc(&r.label),
            r.model.started.map(|s| s.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default(),
            esc(&r.model.target),
            t.passed,
            t.failed,
            t.errors,
            t.skipped,
            esc(env.as_deref().unwrap_or("not recorded"))
        );
    }
    out.push_str("</table>\n");
}

/// `Kubernetes v1.33.2 · kubelet v1.33.2 · containerd://1.7.27 · <node image>`.
fn environment_summary(e: &crate::environment::Environment) -> String {
    let mut parts = Vec::new();
    if let Some(k) = &e.kubernetes {
        parts.push(format!("Kubernetes {}", k.server_version));
    }
    let distinct = |f: fn(&crate::environment::NodeFacts) -> String| {
        let mut v: Vec<String> = e.nodes.iter().map(f).filter(|s| !s.is_empty()).collect();
        v.sort();
        v.dedup();
        v.join("/")
    };
    for (prefix, v) in [
        ("kubelet ", distinct(|n| n.kubelet_version.clone())),
        ("", distinct(|n| n.container_runtime_version.clone())),
        ("", distinct(|n| n.node_image.clone().unwrap_or_default())),
    ] {
        if !v.is_empty() {
            parts.push(format!("{prefix}{v}"));
        }
    }
    parts.join(" · ")
}

/// Seconds for an axis: `850 ms` below a second, else `12.3 s`.
fn axis_secs(v: f64, max: f64) -> String {
    if max < 1.0 { format!("{:.0} ms", v * 1000.0) } else { format!("{v:.1} s") }
}

/// Stage boundaries of a scenario, as seconds since its start.
fn stage_spans(model: &RunModel, s: &ScenarioRecord) -> Vec<(&'static str, f64, f64)> {
    let Some(t0) = s.started else { return Vec::new() };
    let events: Vec<_> =
        model.events.iter().filter(|e| e.scenario.as_deref() == Some(s.name.as_str())).collect();
    let secs = |e: &crate::events::Event| (e.at - t0).num_milliseconds() as f64 / 1000.0;
    let at = |pick: fn(&EventKind) -> bool| events.iter().find(|e| pick(&e.kind)).map(|e| secs(e));
    let asserted =
        at(|k| matches!(k, EventKind::Asserted { .. } | EventKind::ScenarioError { .. }));
    let restored = at(|k| matches!(k, EventKind::RestoreFinished { .. }));
    // the last alert check between the assertion and the restore ends the alerts stage
    let alerts_done = match (asserted, restored) {
        (Some(a), Some(r)) => events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::AlertChecked { .. }))
            .map(|e| secs(e))
            .filter(|t| *t >= a && *t <= r)
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
            .or(Some(a)),
        _ => asserted,
    };
    let marks = [
        Some(0.0),
        at(|k| matches!(k, EventKind::PreflightPassed { .. })),
        at(|k| matches!(k, EventKind::FaultInjected { .. })),
        asserted,
        alerts_done,
        restored,
        at(|k| matches!(k, EventKind::RecoveryFinished { .. })),
        s.finished.map(|f| (f - t0).num_milliseconds() as f64 / 1000.0),
    ];
    let mut spans = Vec::new();
    for (i, (name, _)) in STAGES.iter().enumerate() {
        if let (Some(a), Some(b)) = (marks[i], marks[i + 1])
            && b >= a
        {
            spans.push((*name, a, b));
        }
    }
    spans
}

fn injected_offset(model: &RunModel, s: &ScenarioRecord) -> Option<f64> {
    let t0 = s.started?;
    model
        .events
        .iter()
        .filter(|e| e.scenario.as_deref() == Some(s.name.as_str()))
        .find(|e| matches!(e.kind, EventKind::FaultInjected { .. }))
        .map(|e| (e.at - t0).num_milliseconds() as f64 / 1000.0)
}

fn legend(out: &mut String) {
    out.push_str("<div class=\"legend\">");
    for (name, color) in STAGES {
        let _ = write!(out, "<span><i class=\"sw\" style=\"background:{color}\"></i>{name}</span>");
    }
    out.push_str(
        "<span>▼ fault effective</span><span>● recovered</span><span>◆ alert check (green passed, red failed)</span></div>\n",
    );
}

fn timelines(out: &mut String, r: &RunInput) {
    let _ = writeln!(out, "<h2>Timeline of run <code>{}</code></h2>", esc(&r.model.run_id));
    legend(out);
    for s in &r.model.scenarios {
        let ok = s.verdict == Verdict::Passed;
        let _ = writeln!(
            out,
            "<div class=\"scenario\" data-ok=\"{}\"><h3>{} <span class=\"v-{}\">{}</span> <span class=\"muted\">time-to-effect {}, time-to-recover {}</span></h3>",
            u8::from(ok),
            esc(&s.name),
            verdict_word(s.verdict),
            verdict_word(s.verdict),
            fmt_opt_duration(s.time_to_effect),
            fmt_opt_duration(s.time_to_recover())
        );
        out.push_str(&timeline_svg(&r.model, s));
        out.push_str("</div>\n");
    }
}

/// One scenario's timeline as SVG.
pub fn timeline_svg(model: &RunModel, s: &ScenarioRecord) -> String {
    let spans = stage_spans(model, s);
    let total = spans.iter().map(|x| x.2).fold(0.0_f64, f64::max).max(0.001);
    let (w, left, right) = (900.0, 10.0, 10.0);
    let x = |t: f64| left + (t / total) * (w - left - right);
    let mut svg = format!(
        "<svg class=\"chart timeline\" viewBox=\"0 0 {w} 64\" width=\"{w}\" height=\"64\" role=\"img\" aria-label=\"timeline of {}\">",
        esc(&s.name)
    );
    for (name, a, b) in &spans {
        let color = STAGES.iter().find(|(n, _)| n == name).map_or("#ccc", |(_, c)| c);
        let _ = write!(
            svg,
            "<rect class=\"stage stage-{name}\" x=\"{:.1}\" y=\"14\" width=\"{:.1}\" height=\"18\" fill=\"{color}\"><title>{name}: {:.2} s → {:.2} s</title></rect>",
            x(*a),
            (x(*b) - x(*a)).max(1.0),
            a,
            b
        );
    }
    let inj = injected_offset(model, s);
    if let (Some(i), Some(tte)) = (inj, s.time_to_effect) {
        let px = x(i + tte.as_secs_f64());
        let _ = write!(
            svg,
            "<path class=\"effect\" d=\"M{:.1} 4 l-5 -0 l5 9 l5 -9 z\" fill=\"#cf222e\"><title>fault effective after {:.2} s</title></path>",
            px,
            tte.as_secs_f64()
        );
    }
    if let Some(restored) = spans.iter().find(|x| x.0 == "recover").map(|x| (x.1, x.2)) {
        let _ = write!(
            svg,
            "<circle class=\"recovered\" cx=\"{:.1}\" cy=\"23\" r=\"5\" fill=\"#1a7f37\" stroke=\"#fff\"><title>recovered after {}</title></circle>",
            x(restored.1),
            fmt_opt_duration(s.time_to_recover())
        );
    }
    if let Some(t0) = s.started {
        for a in &s.alerts {
            let t = (a.at - t0).num_milliseconds() as f64 / 1000.0;
            let px = x(t.clamp(0.0, total));
            let color = if a.passed { "#1a7f37" } else { "#cf222e" };
            let _ = write!(
                svg,
                "<path class=\"alert\" d=\"M{px:.1} 36 l6 7 l-6 7 l-6 -7 z\" fill=\"{color}\"><title>alert {} {} at {t:.2} s</title></path>",
                esc(&a.name),
                if a.passed { "passed" } else { "failed" }
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"62\" font-size=\"10\" fill=\"#667\">0 s</text><text x=\"{:.1}\" y=\"62\" font-size=\"10\" fill=\"#667\" text-anchor=\"end\">{total:.1} s</text></svg>",
        w - right
    );
    svg
}

/// One point of a trend: a run's value for a scenario.
struct Point<'a> {
    run: &'a RunInput,
    verdict: Option<Verdict>,
    tte: Option<f64>,
    ttr: Option<f64>,
}

fn trends(out: &mut String, runs: &[RunInput]) {
    let _ = writeln!(
        out,
        "<h2>Trends across {} runs</h2><div class=\"legend\"><span><i class=\"sw\" style=\"background:#cf222e\"></i>time-to-effect</span><span><i class=\"sw\" style=\"background:#0969da\"></i>time-to-recover</span><span>strip: verdict per run</span></div>",
        runs.len()
    );
    let mut names: Vec<&str> = Vec::new();
    for r in runs {
        for s in &r.model.scenarios {
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
    }
    for name in names {
        let points: Vec<Point<'_>> = runs
            .iter()
            .map(|r| {
                let s = r.model.scenario(name);
                Point {
                    run: r,
                    verdict: s.map(|s| s.verdict),
                    tte: s.and_then(|s| s.time_to_effect).map(|d| d.as_secs_f64()),
                    ttr: s.and_then(|s| s.time_to_recover()).map(|d| d.as_secs_f64()),
                }
            })
            .collect();
        let ok = points.iter().all(|p| matches!(p.verdict, Some(Verdict::Passed) | None));
        let _ = writeln!(
            out,
            "<div class=\"scenario\" data-ok=\"{}\"><h3>{}</h3>{}</div>",
            u8::from(ok),
            esc(name),
            trend_svg(name, &points)
        );
    }
}

fn verdict_color(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Passed) => "#2da44e",
        Some(Verdict::Failed) => "#cf222e",
        Some(Verdict::Error) => "#bf8700",
        Some(Verdict::Skipped) => "#8c959f",
        None => "#eaeef2",
    }
}

/// The trend chart's geometry: where a run index and a value in seconds are drawn.
#[derive(Debug, Clone, Copy)]
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    top: f64,
    bottom: f64,
    /// Top of the value axis (seconds).
    max: f64,
    /// Number of x positions (at least 2, so one run still has a width).
    n: f64,
}

impl Frame {
    fn new(points: &[Point<'_>]) -> Self {
        let max = points.iter().flat_map(|p| [p.tte, p.ttr]).flatten().fold(0.0_f64, f64::max);
        let n = points.len().max(2) as f64;
        Self {
            w: 900.0,
            h: 170.0,
            left: 48.0,
            top: 10.0,
            bottom: 40.0,
            max: max.max(0.001) * 1.1,
            n,
        }
    }
    fn x(&self, i: usize) -> f64 {
        self.left + (i as f64) * (self.w - self.left - 12.0) / (self.n - 1.0)
    }
    fn y(&self, v: f64) -> f64 {
        self.top + (1.0 - v / self.max) * (self.h - self.top - self.bottom)
    }
}

fn trend_svg(name: &str, points: &[Point<'_>]) -> String {
    let f = Frame::new(points);
    let mut svg = format!(
        "<svg class=\"chart trend\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"trend of {}\">",
        esc(name),
        w = f.w,
        h = f.h
    );
    trend_grid(&mut svg, &f);
    trend_series(&mut svg, &f, points);
    trend_verdicts(&mut svg, &f, points);
    trend_dates(&mut svg, &f, points);
    svg.push_str("</svg>");
    svg
}

fn trend_grid(svg: &mut String, f: &Frame) {
    for frac in [0.0, 0.5, 1.0] {
        let v = f.max * frac;
        let _ = write!(
            svg,
            "<line x1=\"{}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eef\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#667\" text-anchor=\"end\">{}</text>",
            f.left,
            f.w - 12.0,
            f.y(v),
            f.y(v),
            f.left - 4.0,
            f.y(v) + 3.0,
            axis_secs(v, f.max)
        );
    }
}

/// Time-to-effect and time-to-recover: a line through the runs that have a value, and a
/// point with a tooltip per run.
fn trend_series(svg: &mut String, f: &Frame, points: &[Point<'_>]) {
    for (series, color, pick) in [
        ("time-to-effect", "#cf222e", (|p: &Point<'_>| p.tte) as fn(&Point<'_>) -> Option<f64>),
        ("time-to-recover", "#0969da", |p: &Point<'_>| p.ttr),
    ] {
        let pts: Vec<String> = points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| pick(p).map(|v| format!("{:.1},{:.1}", f.x(i), f.y(v))))
            .collect();
        if pts.len() > 1 {
            let _ = write!(
                svg,
                "<polyline class=\"series {series}\" points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
                pts.join(" ")
            );
        }
        for (i, p) in points.iter().enumerate() {
            if let Some(v) = pick(p) {
                let _ = write!(
                    svg,
                    "<circle class=\"point {series}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{}: {series} {v:.2} s</title></circle>",
                    f.x(i),
                    f.y(v),
                    esc(&p.run.label)
                );
            }
        }
    }
}

/// A strip of verdict colours under the chart, one cell per run.
fn trend_verdicts(svg: &mut String, f: &Frame, points: &[Point<'_>]) {
    let strip_y = f.h - f.bottom + 8.0;
    let cell = ((f.w - f.left - 12.0) / f.n).clamp(2.0, 24.0);
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            svg,
            "<rect class=\"verdict\" x=\"{:.1}\" y=\"{strip_y:.1}\" width=\"{:.1}\" height=\"10\" fill=\"{}\"><title>{}: {}</title></rect>",
            f.x(i) - cell / 2.0,
            cell * 0.9,
            verdict_color(p.verdict),
            esc(&p.run.label),
            p.verdict.map(verdict_word).unwrap_or("not run")
        );
    }
}

/// The first and the last run's start, at the chart's bottom corners.
fn trend_dates(svg: &mut String, f: &Frame, points: &[Point<'_>]) {
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return };
    let date = |p: &Point<'_>| {
        p.run.model.started.map(|s| s.format("%m-%d %H:%M").to_string()).unwrap_or_default()
    };
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{:.1}\" font-size=\"10\" fill=\"#667\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#667\" text-anchor=\"end\">{}</text>",
        f.left,
        f.h - 6.0,
        esc(&date(first)),
        f.w - 12.0,
        f.h - 6.0,
        esc(&date(last))
    );
}
