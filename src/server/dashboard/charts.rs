//! The dashboard's charts, drawn as SVG in Rust (plotters): no script, no
//! image files, nothing fetched by the browser.

use plotters::prelude::*;

const SIZE: (u32, u32) = (460, 220);
const FONT: &str = "sans-serif";

/// A line through `(n, value)` points, the n-th deployment's value; `unit`
/// names the y axis.
pub fn line(caption: &str, unit: &str, points: &[(usize, f64)]) -> String {
    let mut svg = String::new();
    let drawn = draw_line(&mut svg, caption, unit, points);
    finished(svg, drawn, caption)
}

fn draw_line(svg: &mut String, caption: &str, unit: &str, points: &[(usize, f64)]) -> Drawn {
    {
        let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let n = points.iter().map(|p| p.0).max().unwrap_or(0) + 1;
        let top = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, (FONT, 15))
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(44)
            .build_cartesian_2d(0..n, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("deployment")
            .y_desc(unit)
            .light_line_style(WHITE)
            .draw()?;
        chart.draw_series(LineSeries::new(points.iter().copied(), &BLUE))?;
        chart.draw_series(
            points
                .iter()
                .map(|point| Circle::new(*point, 3, BLUE.filled())),
        )?;
        root.present()?;
    }
    Ok(())
}

/// A canary's weight over time: green's percent of the traffic (a step
/// line), `(seconds since the deployment started, percent)`, from 0 % at
/// the first step to where it ended.
pub fn weight(points: &[(f64, u8)]) -> String {
    let mut svg = String::new();
    let drawn = draw_weight(&mut svg, points);
    finished(svg, drawn, "green's weight")
}

fn draw_weight(svg: &mut String, points: &[(f64, u8)]) -> Drawn {
    {
        let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let end = points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption("green's weight", (FONT, 15))
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..end, 0.0..105.0)?;
        chart
            .configure_mesh()
            .x_desc("s")
            .y_desc("% of the traffic")
            .light_line_style(WHITE)
            .draw()?;
        // A step line: each weight holds until the next one is set.
        let mut stepped = Vec::with_capacity(points.len() * 2);
        for (i, (at, percent)) in points.iter().enumerate() {
            if i > 0 {
                stepped.push((*at, f64::from(points[i - 1].1)));
            }
            stepped.push((*at, f64::from(*percent)));
        }
        chart.draw_series(LineSeries::new(stepped, &GREEN))?;
        chart.draw_series(
            points
                .iter()
                .map(|(at, percent)| Circle::new((*at, f64::from(*percent)), 3, GREEN.filled())),
        )?;
        root.present()?;
    }
    Ok(())
}

/// One analysis metric over its measurements: a point per measurement
/// (x its number, coloured by its verdict, an error drawn at 0 in grey),
/// the line through the values, and the baseline's in grey where there is
/// one.
pub fn measurements(caption: &str, points: &[Measured]) -> String {
    let mut svg = String::new();
    let drawn = draw_measurements(&mut svg, caption, points);
    finished(svg, drawn, caption)
}

/// A measurement as a chart sees it.
pub struct Measured<'a> {
    pub index: u32,
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    pub verdict: &'a str,
}

fn verdict_colour(verdict: &str) -> RGBColor {
    match verdict {
        "successful" => RGBColor(0x1b, 0x7f, 0x3a),
        "failed" => RGBColor(0xb4, 0x23, 0x18),
        "inconclusive" => RGBColor(0xe0, 0xb0, 0x00),
        _ => RGBColor(0x88, 0x88, 0x99),
    }
}

fn draw_measurements(svg: &mut String, caption: &str, points: &[Measured]) -> Drawn {
    {
        let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let n = points.iter().map(|p| p.index).max().unwrap_or(0) + 1;
        let top = points
            .iter()
            .flat_map(|p| [p.value, p.baseline])
            .flatten()
            .fold(0.0, f64::max);
        let top = if top > 0.0 { top * 1.15 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, (FONT, 15))
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(48)
            .build_cartesian_2d(0..n, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("measurement")
            .light_line_style(WHITE)
            .draw()?;
        let baseline = points.iter().filter_map(|p| Some((p.index, p.baseline?)));
        chart.draw_series(LineSeries::new(baseline, &RGBColor(0x99, 0x99, 0xaa)))?;
        let values = points.iter().filter_map(|p| Some((p.index, p.value?)));
        chart.draw_series(LineSeries::new(values, &BLUE.mix(0.5)))?;
        chart.draw_series(points.iter().map(|p| {
            Circle::new(
                (p.index, p.value.unwrap_or(0.0)),
                4,
                verdict_colour(p.verdict).filled(),
            )
        }))?;
        root.present()?;
    }
    Ok(())
}

/// One bar per label.
pub fn bars(caption: &str, bars: &[(String, u64)]) -> String {
    let mut svg = String::new();
    let drawn = draw_bars(&mut svg, caption, bars);
    finished(svg, drawn, caption)
}

fn draw_bars(svg: &mut String, caption: &str, bars: &[(String, u64)]) -> Drawn {
    {
        let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let top = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1) + 1;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, (FONT, 15))
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(36)
            // A segmented range holds both its ends: the last bar is len - 1.
            .build_cartesian_2d((0..bars.len().saturating_sub(1)).into_segmented(), 0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(bars.len().max(1))
            .x_label_formatter(&|value| match value {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(BLUE.mix(0.7).filled())
                .margin(6)
                .data(bars.iter().enumerate().map(|(i, b)| (i, b.1))),
        )?;
        root.present()?;
    }
    Ok(())
}

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// The SVG, or a line saying why there is none.
fn finished(svg: String, drawn: Drawn, caption: &str) -> String {
    match drawn {
        Ok(()) => svg,
        Err(e) => {
            let why = e.to_string();
            format!(
                "<p class=\"muted\">{caption}: not drawn ({})</p>",
                escape(&why)
            )
        }
    }
}

fn escape(text: &str) -> String {
    maud::html! { (text) }.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_captions() {
        let line = line("Duration", "seconds", &[(0, 1.5), (1, 3.0), (2, 0.4)]);
        assert!(line.starts_with("<svg"), "{line}");
        assert!(line.contains("Duration") && line.contains("seconds"));
        let bars = bars(
            "Outcomes",
            &[("promoted".into(), 4), ("rolled_back".into(), 1)],
        );
        assert!(bars.starts_with("<svg"));
        assert!(bars.contains("promoted") && bars.contains("rolled_back"));
        let measured = measurements(
            "error_rate",
            &[
                Measured {
                    index: 0,
                    value: Some(0.0),
                    baseline: None,
                    verdict: "successful",
                },
                Measured {
                    index: 1,
                    value: Some(0.3),
                    baseline: Some(0.0),
                    verdict: "failed",
                },
                Measured {
                    index: 2,
                    value: None,
                    baseline: None,
                    verdict: "error",
                },
            ],
        );
        assert!(measured.starts_with("<svg") && measured.contains("error_rate"));
        assert!(
            measured.contains("#B42318") || measured.contains("#b42318"),
            "a failed point is red"
        );
        // Nothing to draw is still a chart.
        assert!(self::line("Empty", "s", &[]).starts_with("<svg"));
    }
}
