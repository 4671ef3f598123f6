//! SVG charts of benchmark results (`gc-plot`): from the timelines of
//! `pausebench` and `gc-stress` runs (their `--json`), a pause timeline, a
//! pause-duration CDF, the MMU curve over windows from 0.1 ms to 1 s and
//! heap use over time, one series per run; from the peer kit's results
//! table, one comparison chart per workload (wall time, max pause, worst
//! mutator batch, peak RSS per collector).
//!
//! Drawn with `plotters`' SVG backend without its font features: text is
//! `<text>` elements the viewer renders with its own fonts, so nothing
//! needs fontconfig or freetype.

use std::time::Duration;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Deserialize;

use crate::mmu::{mmu, windows};
use crate::timeline::Timeline;

/// Width and height of every chart, pixels.
pub const SIZE: (u32, u32) = (900, 520);

/// A drawing error (plotters' errors carry the backend's type; kept as
/// text).
#[derive(Debug, thiserror::Error)]
#[error("drawing {what}: {message}")]
pub struct PlotError {
    /// Which chart.
    pub what: String,
    /// What failed.
    pub message: String,
}

fn err(what: &str) -> impl Fn(String) -> PlotError + '_ {
    move |message| PlotError {
        what: what.to_string(),
        message,
    }
}

/// One run to draw: its label and timeline.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text (e.g. the mode).
    pub label: String,
    /// What the run recorded.
    pub timeline: Timeline,
}

/// The parts of a `pausebench` or `gc-stress` JSON that `gc-plot` reads.
#[derive(Debug, Deserialize)]
pub struct RunJson {
    /// The mode that ran.
    pub mode: Option<String>,
    /// The mode asked for.
    pub mode_requested: Option<String>,
    /// Pauses and heap use.
    pub timeline: Timeline,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The colour of a pause kind in a single run's timeline.
fn kind_color(kind: &str) -> RGBColor {
    match kind {
        "mark-start" => PALETTE[2],
        "remark" => PALETTE[3],
        "flip" => PALETTE[0],
        "full" => PALETTE[1],
        _ => PALETTE[4],
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The axis range of a log scale holding `values` (positive), with room.
fn log_range(values: impl Iterator<Item = f64>, floor: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi <= 0.0 {
        return (floor, floor * 1000.0);
    }
    let lo = 10f64.powf((lo.max(floor)).log10().floor());
    let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
    // A hair wider than the powers of ten, so both get a tick label.
    (lo * 0.99, hi * 1.01)
}

/// The length of the longest run in seconds, covering its last pause and
/// sample (the last pause may end after the measured run).
fn run_seconds(series: &[Series]) -> f64 {
    series
        .iter()
        .flat_map(|s| {
            let t = &s.timeline;
            t.pause_events
                .iter()
                .map(|p| p.start_ns + p.duration_ns)
                .chain(t.heap_samples.iter().map(|h| h.t_ns))
                .chain([t.run_ns])
        })
        .max()
        .unwrap_or(0) as f64
        / 1e9
}

fn svg_root(buf: &mut String) -> DrawingArea<SVGBackend<'_>, Shift> {
    let root = SVGBackend::with_string(buf, SIZE).into_drawing_area();
    let _ = root.fill(&WHITE);
    root
}

fn title_font() -> TextStyle<'static> {
    ("sans-serif", 22).into_font().into()
}

/// Pauses over time: one point per pause at its start, its length on a log
/// scale (one run: coloured by kind; several: by run).
pub fn pause_timeline(series: &[Series]) -> Result<String, PlotError> {
    let what = "the pause timeline";
    let mut buf = String::new();
    {
        let root = svg_root(&mut buf);
        let run_s = run_seconds(series).max(1e-3);
        let (lo, hi) = log_range(
            series
                .iter()
                .flat_map(|s| s.timeline.pause_events.iter().map(|p| ms(p.duration_ns))),
            1e-3,
        );
        let caption = match series {
            [one] => format!("Pauses over time: {}", one.label),
            _ => "Pauses over time".to_string(),
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, title_font())
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..run_s * 1.02, (lo..hi).log_scale())
            .map_err(|e| err(what)(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("time since the start of the run (s)")
            .y_desc("pause (ms, log scale)")
            .y_label_formatter(&|v| format!("{v}"))
            .draw()
            .map_err(|e| err(what)(e.to_string()))?;
        let single = series.len() == 1;
        if single {
            let kinds = ["mark-start", "remark", "flip", "full", "stall"];
            for kind in kinds {
                let points: Vec<(f64, f64)> = series[0]
                    .timeline
                    .pause_events
                    .iter()
                    .filter(|p| p.kind == kind)
                    .map(|p| (p.start_ns as f64 / 1e9, ms(p.duration_ns).max(lo)))
                    .collect();
                if points.is_empty() {
                    continue;
                }
                let c = kind_color(kind);
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(|e| err(what)(e.to_string()))?
                    .label(format!("{kind} ({})", points.len()))
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
            }
        } else {
            for (i, s) in series.iter().enumerate() {
                let c = color(i);
                let points: Vec<(f64, f64)> = s
                    .timeline
                    .pause_events
                    .iter()
                    .map(|p| (p.start_ns as f64 / 1e9, ms(p.duration_ns).max(lo)))
                    .collect();
                chart
                    .draw_series(
                        points
                            .iter()
                            .map(|&p| Circle::new(p, 3, c.mix(0.7).filled())),
                    )
                    .map_err(|e| err(what)(e.to_string()))?
                    .label(format!("{} ({} pauses)", s.label, points.len()))
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
            }
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, what)?;
        root.present().map_err(|e| err(what)(e.to_string()))?;
    }
    Ok(buf)
}

fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
    what: &str,
) -> Result<(), PlotError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| err(what)(e.to_string()))
}

/// The fraction of pauses no longer than each length (stalls included).
pub fn pause_cdf(series: &[Series]) -> Result<String, PlotError> {
    let what = "the pause CDF";
    let mut buf = String::new();
    {
        let root = svg_root(&mut buf);
        let (lo, hi) = log_range(
            series
                .iter()
                .flat_map(|s| s.timeline.pause_events.iter().map(|p| ms(p.duration_ns))),
            1e-3,
        );
        let mut chart = ChartBuilder::on(&root)
            .caption("Pause durations (CDF)", title_font())
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.0)
            .map_err(|e| err(what)(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("pause (ms, log scale)")
            .y_desc("fraction of pauses at most this long")
            .x_label_formatter(&|v| format!("{v}"))
            .draw()
            .map_err(|e| err(what)(e.to_string()))?;
        for (i, s) in series.iter().enumerate() {
            let mut d: Vec<f64> = s
                .timeline
                .pause_events
                .iter()
                .map(|p| ms(p.duration_ns).max(lo))
                .collect();
            if d.is_empty() {
                continue;
            }
            d.sort_by(f64::total_cmp);
            let n = d.len() as f64;
            // A step up at each pause: (x, i/n) then (x, (i+1)/n).
            let mut points = Vec::with_capacity(2 * d.len() + 1);
            points.push((lo, 0.0));
            for (k, &x) in d.iter().enumerate() {
                points.push((x, k as f64 / n));
                points.push((x, (k + 1) as f64 / n));
            }
            points.push((hi, 1.0));
            let c = color(i);
            let max = d.last().copied().unwrap_or(0.0);
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(2)))
                .map_err(|e| err(what)(e.to_string()))?
                .label(format!("{} (max {max:.3} ms)", s.label))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, what)?;
        root.present().map_err(|e| err(what)(e.to_string()))?;
    }
    Ok(buf)
}

/// The MMU of each run for windows from 0.1 ms to 1 s.
pub fn mmu_curve(series: &[Series]) -> Result<String, PlotError> {
    let what = "the MMU curve";
    let ws = windows(10);
    let mut buf = String::new();
    {
        let root = svg_root(&mut buf);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Minimum mutator utilisation over window length",
                title_font(),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((0.099f64..1010.0).log_scale(), 0f64..1.0)
            .map_err(|e| err(what)(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("window (ms, log scale)")
            .y_desc("MMU (worst fraction of a window the mutator ran)")
            .x_label_formatter(&|v| format!("{v}"))
            .draw()
            .map_err(|e| err(what)(e.to_string()))?;
        for (i, s) in series.iter().enumerate() {
            let pauses: Vec<(Duration, Duration)> = s
                .timeline
                .pause_events
                .iter()
                .map(|p| {
                    (
                        Duration::from_nanos(p.start_ns),
                        Duration::from_nanos(p.duration_ns),
                    )
                })
                .collect();
            let run = Duration::from_nanos(s.timeline.run_ns);
            let points: Vec<(f64, f64)> = ws
                .iter()
                .map(|&w| (w.as_secs_f64() * 1e3, mmu(&pauses, run, w)))
                .collect();
            let c = color(i);
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
                .map_err(|e| err(what)(e.to_string()))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 2, c.filled())))
                .map_err(|e| err(what)(e.to_string()))?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, what)?;
        root.present().map_err(|e| err(what)(e.to_string()))?;
    }
    Ok(buf)
}

/// Heap in use over time, with each run's heap limit dashed.
pub fn heap_over_time(series: &[Series]) -> Result<String, PlotError> {
    let what = "the heap-use chart";
    let mut buf = String::new();
    {
        let root = svg_root(&mut buf);
        let mib = |b: usize| b as f64 / (1u64 << 20) as f64;
        let run_s = run_seconds(series).max(1e-3);
        let top = series
            .iter()
            .flat_map(|s| {
                s.timeline
                    .heap_samples
                    .iter()
                    .map(|h| mib(h.used_bytes))
                    .chain([mib(s.timeline.heap_limit_bytes)])
            })
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption("Heap in use over time", title_font())
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..run_s * 1.02, 0f64..top * 1.08)
            .map_err(|e| err(what)(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("time since the start of the run (s)")
            .y_desc("heap in use (MiB)")
            .draw()
            .map_err(|e| err(what)(e.to_string()))?;
        for (i, s) in series.iter().enumerate() {
            let c = color(i);
            let points: Vec<(f64, f64)> = s
                .timeline
                .heap_samples
                .iter()
                .map(|h| (h.t_ns as f64 / 1e9, mib(h.used_bytes)))
                .collect();
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(2)))
                .map_err(|e| err(what)(e.to_string()))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
            let limit = mib(s.timeline.heap_limit_bytes);
            if limit > 0.0 {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(0.0, limit), (run_s * 1.02, limit)],
                        8,
                        6,
                        c.stroke_width(1),
                    ))
                    .map_err(|e| err(what)(e.to_string()))?
                    .label(format!("{} heap limit", s.label))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(1))
                    });
            }
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight, what)?;
        root.present().map_err(|e| err(what)(e.to_string()))?;
    }
    Ok(buf)
}

/// One collector's row of the peer kit's table for one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerRow {
    /// The workload (`gcbench`, `bt16`, `bt21`, `liveheap`).
    pub workload: String,
    /// The collector (`g1`, `z`, `project-uffd`, ...).
    pub collector: String,
    /// Wall time, s.
    pub wall_s: Option<f64>,
    /// Longest pause, ms.
    pub max_pause_ms: Option<f64>,
    /// The worst timed mutator batch, ms (liveheap only).
    pub worst_batch_ms: Option<f64>,
    /// Peak resident set, MiB.
    pub peak_rss_mib: Option<f64>,
}

/// The rows of the first table in `markdown` with the peer kit's columns
/// (`workload`, `collector`, `wall s`, `max ms`, `mutator hiccup max ms`,
/// `peak RSS MiB`); cells that are not numbers are `None`.
pub fn parse_peer_table(markdown: &str) -> Vec<PeerRow> {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut rows = Vec::new();
    let mut header: Option<Vec<String>> = None;
    for line in markdown.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            if header.is_some() && !rows.is_empty() {
                break;
            }
            header = None;
            continue;
        }
        let c = cells(line);
        match &header {
            None => {
                if c.iter().any(|h| h == "workload") && c.iter().any(|h| h == "collector") {
                    header = Some(c);
                }
            }
            Some(h) => {
                if c.iter().all(|x| x.chars().all(|ch| ch == '-' || ch == ':')) {
                    continue;
                }
                let col = |name: &str| -> Option<&String> {
                    h.iter().position(|x| x == name).and_then(|i| c.get(i))
                };
                let num = |name: &str| -> Option<f64> {
                    col(name).and_then(|v| v.split_whitespace().next()?.parse().ok())
                };
                rows.push(PeerRow {
                    workload: col("workload").cloned().unwrap_or_default(),
                    collector: col("collector").cloned().unwrap_or_default(),
                    wall_s: num("wall s"),
                    max_pause_ms: num("max ms"),
                    worst_batch_ms: num("mutator hiccup max ms"),
                    peak_rss_mib: num("peak RSS MiB"),
                });
            }
        }
    }
    rows
}

/// One row of the kit's `results.json` (`peerstats.py table --json`).
#[derive(Deserialize)]
struct KitRow {
    workload: String,
    collector: String,
    wall_s: Option<f64>,
    max: Option<f64>,
    hiccup_max_ms: Option<f64>,
    rss_mib: Option<f64>,
}

#[derive(Deserialize)]
struct KitResults {
    rows: Vec<KitRow>,
}

/// The rows of the peer kit's `results.json` (what `run.sh` writes beside
/// its `report.md`).
pub fn parse_peer_json(text: &str) -> Result<Vec<PeerRow>, serde_json::Error> {
    let kit: KitResults = serde_json::from_str(text)?;
    Ok(kit
        .rows
        .into_iter()
        .map(|r| PeerRow {
            workload: r.workload,
            collector: r.collector,
            wall_s: r.wall_s,
            max_pause_ms: r.max,
            worst_batch_ms: r.hiccup_max_ms,
            peak_rss_mib: r.rss_mib,
        })
        .collect())
}

/// A horizontal bar chart of one metric per collector in `area`.
fn bars(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    unit: &str,
    rows: &[PeerRow],
    value: impl Fn(&PeerRow) -> Option<f64>,
    log: bool,
) -> Result<(), PlotError> {
    let what = title;
    let n = rows.len().max(1);
    let values: Vec<Option<f64>> = rows.iter().map(&value).collect();
    // The table's first row at the top.
    let names: Vec<String> = rows.iter().rev().map(|r| r.collector.clone()).collect();
    let label = move |y: &f64| -> String {
        let i = y.round();
        if (y - i).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let row_y = |i: usize| (n - 1 - i) as f64;
    let shown = |v: f64| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else if v >= 1.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.3}")
        }
    };
    let y_range = -0.6f64..(n as f64 - 0.4);
    let caption = format!("{title} ({unit})");
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .margin_right(36)
        .x_label_area_size(28)
        .y_label_area_size(150);
    let color_of = |r: &PeerRow| {
        if r.collector.starts_with("project") {
            PALETTE[1]
        } else {
            PALETTE[0]
        }
    };
    if !values.iter().any(|v| v.is_some()) {
        let mut chart = builder
            .build_cartesian_2d(0f64..1.0, y_range)
            .map_err(|e| err(what)(e.to_string()))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&label)
            .x_labels(0)
            .draw()
            .map_err(|e| err(what)(e.to_string()))?;
        chart
            .draw_series([Text::new(
                "not measured for this workload",
                (0.2, n as f64 / 2.0 - 0.5),
                ("sans-serif", 14),
            )])
            .map_err(|e| err(what)(e.to_string()))?;
        return Ok(());
    }
    let present = values.iter().flatten().copied();
    if log {
        let (lo, hi) = log_range(present, 1e-3);
        let mut chart = builder
            .build_cartesian_2d((lo..hi).log_scale(), y_range)
            .map_err(|e| err(what)(e.to_string()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&label)
            .x_label_formatter(&|v| format!("{v}"))
            .draw()
            .map_err(|e| err(what)(e.to_string()))?;
        for (i, (r, v)) in rows.iter().zip(&values).enumerate() {
            let y = row_y(i);
            match v {
                Some(v) => {
                    chart
                        .draw_series([Rectangle::new(
                            [(lo, y - 0.35), (v.max(lo), y + 0.35)],
                            color_of(r).filled(),
                        )])
                        .map_err(|e| err(what)(e.to_string()))?;
                    chart
                        .draw_series([Text::new(
                            shown(*v),
                            (v.max(lo) * 1.15, y + 0.2),
                            ("sans-serif", 11),
                        )])
                        .map_err(|e| err(what)(e.to_string()))?;
                }
                None => {
                    chart
                        .draw_series([Text::new("-", (lo * 1.2, y + 0.2), ("sans-serif", 12))])
                        .map_err(|e| err(what)(e.to_string()))?;
                }
            }
        }
    } else {
        let hi = present.fold(0.0, f64::max).max(1e-9) * 1.15;
        let mut chart = builder
            .build_cartesian_2d(0f64..hi, y_range)
            .map_err(|e| err(what)(e.to_string()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&label)
            .draw()
            .map_err(|e| err(what)(e.to_string()))?;
        for (i, (r, v)) in rows.iter().zip(&values).enumerate() {
            let y = row_y(i);
            if let Some(v) = v {
                chart
                    .draw_series([Rectangle::new(
                        [(0.0, y - 0.35), (*v, y + 0.35)],
                        color_of(r).filled(),
                    )])
                    .map_err(|e| err(what)(e.to_string()))?;
                chart
                    .draw_series([Text::new(
                        shown(*v),
                        (*v + hi * 0.01, y + 0.2),
                        ("sans-serif", 11),
                    )])
                    .map_err(|e| err(what)(e.to_string()))?;
            }
        }
    }
    Ok(())
}

/// The comparison chart of one workload: wall time, max pause, worst
/// mutator batch and peak RSS per collector (the project's rows in red).
pub fn peer_comparison(workload: &str, rows: &[PeerRow]) -> Result<String, PlotError> {
    let what = format!("the {workload} comparison");
    let rows: Vec<PeerRow> = rows
        .iter()
        .filter(|r| r.workload == workload)
        .cloned()
        .collect();
    let height = (140 + 2 * (rows.len() as u32 * 24 + 80)).max(SIZE.1);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (1100, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&what)(e.to_string()))?;
        let root = root
            .titled(
                &format!("{workload}: the project's collector (red) beside the peers"),
                ("sans-serif", 22),
            )
            .map_err(|e| err(&what)(e.to_string()))?;
        let panels = root.split_evenly((2, 2));
        bars(&panels[0], "wall time", "s", &rows, |r| r.wall_s, false)?;
        bars(
            &panels[1],
            "longest pause",
            "ms, log scale",
            &rows,
            |r| r.max_pause_ms,
            true,
        )?;
        bars(
            &panels[2],
            "worst 4096-operation mutator batch",
            "ms, log scale",
            &rows,
            |r| r.worst_batch_ms,
            true,
        )?;
        bars(
            &panels[3],
            "peak RSS",
            "MiB",
            &rows,
            |r| r.peak_rss_mib,
            false,
        )?;
        root.present().map_err(|e| err(&what)(e.to_string()))?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{HeapSample, PauseRecord};

    fn series(label: &str, scale: u64) -> Series {
        let pause_events = (0..50)
            .map(|i| PauseRecord {
                start_ns: i * 20_000_000,
                duration_ns: (i % 3 + 1) * 10_000 * scale,
                kind: ["mark-start", "remark", "flip"][(i % 3) as usize].into(),
                gc: Some(i / 3),
                cycle: Some("full".into()),
            })
            .collect();
        let heap_samples = (0..100)
            .map(|i| HeapSample {
                t_ns: i * 10_000_000,
                used_bytes: ((i % 20) as usize + 4) << 20,
            })
            .collect();
        Series {
            label: label.into(),
            timeline: Timeline {
                run_ns: 1_000_000_000,
                heap_limit_bytes: 32 << 20,
                pause_events,
                pause_events_dropped: 0,
                heap_samples,
                heap_sample_interval_ns: 10_000_000,
            },
        }
    }

    /// Parses `svg` as XML and returns its root's name and the number of
    /// `<text>` elements holding `needle`.
    fn parsed(svg: &str, needle: &str) -> (String, usize) {
        let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
        let root = doc.root_element().tag_name().name().to_string();
        let texts = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "text")
            .filter(|n| n.text().unwrap_or_default().contains(needle))
            .count();
        (root, texts)
    }

    #[test]
    fn every_timeline_chart_is_well_formed_svg_with_its_labels() {
        let one = [series("uffd", 1)];
        let two = [series("uffd", 1), series("stw", 100)];
        for (svg, needle) in [
            (pause_timeline(&one).unwrap(), "flip (16)"),
            (pause_timeline(&two).unwrap(), "stw (50 pauses)"),
            (pause_cdf(&two).unwrap(), "stw (max"),
            (mmu_curve(&two).unwrap(), "uffd"),
            (heap_over_time(&two).unwrap(), "stw heap limit"),
        ] {
            let (root, texts) = parsed(&svg, needle);
            assert_eq!(root, "svg");
            assert!(texts >= 1, "no text {needle:?} in\n{svg}");
        }
    }

    #[test]
    fn an_empty_run_still_draws() {
        let mut s = series("empty", 1);
        s.timeline.pause_events.clear();
        s.timeline.heap_samples.clear();
        for svg in [
            pause_timeline(std::slice::from_ref(&s)).unwrap(),
            pause_cdf(std::slice::from_ref(&s)).unwrap(),
            mmu_curve(std::slice::from_ref(&s)).unwrap(),
            heap_over_time(std::slice::from_ref(&s)).unwrap(),
        ] {
            assert_eq!(parsed(&svg, "").0, "svg");
        }
    }

    const TABLE: &str = "\
# Peers

| workload | collector | ok/reps | wall s | peak RSS MiB | max ms | mutator hiccup max ms | status |
|---|---|---|---|---|---|---|---|
| liveheap | g1 | 1/1 | 20.5 | 2100 | 35.1 | 40.2 | ok |
| liveheap | malloc | 1/1 | 9.0 | 1100 | - | 1.2 | ok |
| liveheap | project-uffd | 1/1 | 11.2 | 2300 | 0.4 | 82.0 | ok |
| bt16 | z | 3/3 | 0.27 | 140 | 0.012 | - | ok |

Later text.
";

    #[test]
    fn the_peer_table_parses_by_column_name() {
        let rows = parse_peer_table(TABLE);
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[2],
            PeerRow {
                workload: "liveheap".into(),
                collector: "project-uffd".into(),
                wall_s: Some(11.2),
                max_pause_ms: Some(0.4),
                worst_batch_ms: Some(82.0),
                peak_rss_mib: Some(2300.0),
            }
        );
        assert_eq!(rows[1].max_pause_ms, None);
    }

    #[test]
    fn the_kits_results_json_gives_the_same_rows() {
        let json = r#"{"rows": [
            {"workload": "liveheap", "collector": "project-uffd", "reps": "1/1",
             "wall_s": 11.2, "max": 0.4, "hiccup_max_ms": 82.0, "rss_mib": 2300,
             "p50": 0.003},
            {"workload": "liveheap", "collector": "malloc", "wall_s": 9.0,
             "max": null, "hiccup_max_ms": 1.2, "rss_mib": 1100}
        ], "runs": []}"#;
        let rows = parse_peer_json(json).expect("parses");
        assert_eq!(rows[0], parse_peer_table(TABLE)[2]);
        assert_eq!(rows[1].max_pause_ms, None);
        assert!(parse_peer_json("{}").is_err());
    }

    #[test]
    fn a_peer_comparison_is_well_formed_svg_naming_every_collector() {
        let rows = parse_peer_table(TABLE);
        let svg = peer_comparison("liveheap", &rows).unwrap();
        for name in ["g1", "malloc", "project-uffd"] {
            let (root, texts) = parsed(&svg, name);
            assert_eq!(root, "svg");
            assert!(texts >= 4, "{name} labelled {texts} times");
        }
        let svg = peer_comparison("bt16", &rows).unwrap();
        assert!(parsed(&svg, "not measured").1 >= 1);
    }
}
