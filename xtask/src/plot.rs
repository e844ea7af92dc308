//! The scaling plot of `cargo xtask bench`: time against rows for backup, restore and sync, dba solid and
//! its reference dashed and lighter in the same colour, drawn from the backup bench's
//! `target/dba-bench/backup.json` into an SVG. Log-log axes when there are more than two sizes.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// One line of the plot: seconds against rows.
struct Line {
    label: String,
    color: RGBAColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// The cases plotted, their colours, and the reference each is measured beside.
const CASES: &[(&str, RGBColor)] = &[
    ("backup", RGBColor(31, 119, 180)),
    ("restore", RGBColor(214, 39, 40)),
    ("sync", RGBColor(44, 160, 44)),
];

/// The lines of `report` (the backup bench's JSON): per case, dba's and the reference's seconds by rows.
fn lines(report: &serde_json::Value) -> Result<Vec<Line>> {
    let sizes = report["sizes"]
        .as_array()
        .ok_or_else(|| anyhow!("no \"sizes\" array"))?;
    let mut lines = Vec::new();
    for &(case, color) in CASES {
        let reference = report["references"][case].as_str().unwrap_or("reference");
        for (side, label, dashed) in [
            ("dba_seconds", format!("{case}, dba"), false),
            ("reference_seconds", format!("{case}, {reference}"), true),
        ] {
            let points = sizes
                .iter()
                .map(|size| {
                    let rows = size["rows"].as_f64();
                    let seconds = size["cases"][case][side].as_f64();
                    rows.zip(seconds)
                        .ok_or_else(|| anyhow!("a size without rows or {case}'s {side}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let color = if dashed {
                color.mix(0.55)
            } else {
                color.to_rgba()
            };
            lines.push(Line {
                label,
                color,
                dashed,
                points,
            });
        }
    }
    Ok(lines)
}

/// Draws the plot of `report` into the SVG file `path`.
pub(crate) fn draw(path: &Path, report: &serde_json::Value) -> Result<()> {
    let lines = lines(report)?;
    let points = || lines.iter().flat_map(|l| l.points.iter().copied());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, 0.0_f64, f64::MAX, 0.0_f64);
    for (x, y) in points() {
        (x_min, x_max) = (x_min.min(x), x_max.max(x));
        (y_min, y_max) = (y_min.min(y), y_max.max(y));
    }
    if x_max <= 0.0 || y_max <= 0.0 {
        return Err(anyhow!("nothing to plot"));
    }
    let sizes = lines.first().map_or(0, |l| l.points.len());
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    if sizes > 2 {
        chart(
            &root,
            (x_min / 1.5..x_max * 1.5).log_scale(),
            (y_min / 1.5..y_max * 1.5).log_scale(),
            &lines,
            "log-log",
        )?;
    } else {
        chart(&root, 0.0..x_max * 1.05, 0.0..y_max * 1.1, &lines, "linear")?;
    }
    root.present()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn chart<X, Y>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    x: X,
    y: Y,
    lines: &[Line],
    axes: &str,
) -> Result<()>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Backup, restore and sync: time against rows ({axes} axes)"),
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc("rows")
        .y_desc("wall time (s)")
        .x_label_formatter(&|v| rows_label(*v))
        .y_label_formatter(&|v| seconds_label(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for line in lines {
        let style = line.color.stroke_width(2);
        let points = line.points.clone();
        let series = if line.dashed {
            chart.draw_series(DashedLineSeries::new(points, 8, 6, style))?
        } else {
            chart.draw_series(LineSeries::new(points, style))?
        };
        if line.dashed {
            series.label(&line.label).legend(move |(x, y)| {
                DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, style)
            });
        } else {
            series
                .label(&line.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        chart.draw_series(
            line.points
                .iter()
                .map(|&p| Circle::new(p, 3, line.color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// 10k, 100k, 1M, 10M.
fn rows_label(rows: f64) -> String {
    if rows >= 1e6 {
        format!("{}M", trim(rows / 1e6))
    } else if rows >= 1e3 {
        format!("{}k", trim(rows / 1e3))
    } else {
        trim(rows)
    }
}

fn seconds_label(seconds: f64) -> String {
    if seconds >= 1.0 || seconds == 0.0 {
        trim(seconds)
    } else {
        format!("{seconds:.2}")
    }
}

/// A number without a trailing `.0`, with at most one decimal.
fn trim(v: f64) -> String {
    let text = format!("{v:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(sizes: &[u64]) -> serde_json::Value {
        let sizes: Vec<_> = sizes
            .iter()
            .map(|&rows| {
                let s = rows as f64 / 1e6;
                serde_json::json!({"rows": rows, "cases": {
                    "backup": {"dba_seconds": 1.4 * s, "reference_seconds": s},
                    "restore": {"dba_seconds": 17.0 * s, "reference_seconds": 9.0 * s},
                    "sync": {"dba_seconds": 14.0 * s, "reference_seconds": 8.0 * s},
                }})
            })
            .collect();
        serde_json::json!({"sizes": sizes, "references": {"backup": "pg_dump --data-only"}})
    }

    #[test]
    fn six_lines_with_labels_from_the_report() {
        let lines = lines(&report(&[100_000, 1_000_000])).unwrap();
        let labels: Vec<_> = lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "backup, dba",
                "backup, pg_dump --data-only",
                "restore, dba",
                "restore, reference",
                "sync, dba",
                "sync, reference"
            ]
        );
        assert_eq!(lines[2].points[1], (1_000_000.0, 17.0));
        assert_eq!(lines[3].points[1], (1_000_000.0, 9.0));
        assert!(lines[1].dashed && !lines[0].dashed);
    }

    #[test]
    fn a_size_without_a_case_is_an_error() {
        let bad = serde_json::json!({"sizes": [{"rows": 10, "cases": {}}]});
        assert!(lines(&bad).is_err());
    }

    #[test]
    fn draws_log_log_with_three_sizes_and_linear_with_two() {
        let dir = std::env::temp_dir().join(format!("xtask-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (sizes, axes) in [
            (&[100_000, 1_000_000, 10_000_000][..], "log-log"),
            (&[100_000, 1_000_000][..], "linear"),
        ] {
            let path = dir.join(format!("{axes}.svg"));
            draw(&path, &report(sizes)).unwrap();
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.contains(&format!("({axes} axes)")), "{svg}");
            assert!(svg.contains("restore, dba") && svg.contains("rows"));
            assert!(svg.contains("\n1M\n"), "{svg}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn labels() {
        assert_eq!(rows_label(10_000.0), "10k");
        assert_eq!(rows_label(1_000_000.0), "1M");
        assert_eq!(rows_label(2_500_000.0), "2.5M");
        assert_eq!(seconds_label(0.25), "0.25");
        assert_eq!(seconds_label(20.0), "20");
    }
}
