//! `gc-plot`: SVG charts of benchmark results.
//!
//! ```text
//! gc-plot runs --out docs/img --name pausebench RUN.json[=LABEL]...
//! gc-plot peers --out docs/img benches/results/peers-DATE.md
//! ```
//!
//! `runs` reads the `--json` of `pausebench` or `gc-stress` runs (their
//! timeline: every pause and the heap in use over time) and writes
//! `NAME-pauses.svg` (pause timeline), `NAME-pause-cdf.svg` (pause-duration
//! CDF), `NAME-mmu.svg` (MMU over windows from 0.1 ms to 1 s) and
//! `NAME-heap.svg` (heap use over time), one series per run, labelled by
//! its mode unless `=LABEL` says otherwise. `peers` reads the peer kit's
//! results table (`benches/peers-kit.sh` writes it to benches/results; the
//! kit's own `report.md` or `results.json` do too) and
//! writes `peers-WORKLOAD.svg` per workload: wall time, longest pause,
//! worst mutator batch and peak RSS per collector.
//!
//! Exit codes: 0 done, 1 a file could not be read, parsed or written,
//! 2 bad usage.

use std::path::{Path, PathBuf};

use benches::plot::{self, RunJson, Series};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "gc-plot",
    version,
    about = "SVG charts of pausebench/gc-stress runs and of the peer kit's results"
)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Pause timeline, pause CDF, MMU curve and heap use of runs.
    Runs {
        /// Folder for the SVGs (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// File name prefix of the SVGs.
        #[arg(long, default_value = "run")]
        name: String,
        /// `--json` files of pausebench or gc-stress, each optionally
        /// `=LABEL` (default label: the mode it ran).
        #[arg(required = true, value_name = "RUN.json[=LABEL]")]
        runs: Vec<String>,
    },
    /// One comparison chart per workload of the peer kit's results table.
    Peers {
        /// Folder for the SVGs (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The kit's results: a Markdown file holding its table (e.g.
        /// benches/results/peers-2026-11-30-s5.md, or the kit's
        /// report.md) or its results.json.
        #[arg(value_name = "TABLE.md|results.json")]
        table: PathBuf,
        /// Only these workloads (default: every one in the table).
        #[arg(long, value_delimiter = ',')]
        workloads: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("gc-plot: {e}");
        std::process::exit(1);
    }
}

fn write(out: &Path, name: &str, svg: &str) -> Result<(), String> {
    let path = out.join(name);
    std::fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

fn load(arg: &str) -> Result<Series, String> {
    let (file, label) = match arg.rsplit_once('=') {
        Some((f, l)) if !l.contains('/') => (f, Some(l.to_string())),
        _ => (arg, None),
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let json: RunJson = serde_json::from_str(&text).map_err(|e| {
        format!("{file}: not a pausebench or gc-stress --json with a timeline: {e}")
    })?;
    let label = label
        .or_else(|| match (&json.mode, &json.mode_requested) {
            (Some(m), Some(r)) if m != r => Some(format!("{r} (running {m})")),
            (Some(m), _) => Some(m.clone()),
            _ => None,
        })
        .unwrap_or_else(|| file.to_string());
    Ok(Series {
        label,
        timeline: json.timeline,
    })
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.what {
        What::Runs { out, name, runs } => {
            let series = runs
                .iter()
                .map(|r| load(r))
                .collect::<Result<Vec<_>, _>>()?;
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            let e = |e: plot::PlotError| e.to_string();
            write(
                &out,
                &format!("{name}-pauses.svg"),
                &plot::pause_timeline(&series).map_err(e)?,
            )?;
            write(
                &out,
                &format!("{name}-pause-cdf.svg"),
                &plot::pause_cdf(&series).map_err(e)?,
            )?;
            write(
                &out,
                &format!("{name}-mmu.svg"),
                &plot::mmu_curve(&series).map_err(e)?,
            )?;
            write(
                &out,
                &format!("{name}-heap.svg"),
                &plot::heap_over_time(&series).map_err(e)?,
            )?;
        }
        What::Peers {
            out,
            table,
            workloads,
        } => {
            let text =
                std::fs::read_to_string(&table).map_err(|e| format!("{}: {e}", table.display()))?;
            let rows = if table.extension().is_some_and(|e| e == "json") {
                plot::parse_peer_json(&text).map_err(|e| format!("{}: {e}", table.display()))?
            } else {
                plot::parse_peer_table(&text)
            };
            if rows.is_empty() {
                return Err(format!(
                    "{}: no table with workload and collector columns",
                    table.display()
                ));
            }
            let mut names: Vec<String> = Vec::new();
            for r in &rows {
                if !names.contains(&r.workload)
                    && (workloads.is_empty() || workloads.contains(&r.workload))
                {
                    names.push(r.workload.clone());
                }
            }
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            for w in names {
                let svg = plot::peer_comparison(&w, &rows).map_err(|e| e.to_string())?;
                write(&out, &format!("peers-{w}.svg"), &svg)?;
            }
        }
    }
    Ok(())
}
