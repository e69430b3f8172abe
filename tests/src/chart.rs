//! Bar charts as SVG, drawn by hand so the benchmarks need no plotting crate: one panel per
//! measure, a group of bars per run, a bar per series, plain text labels.

use std::fmt::Write;

/// One panel: a title, a unit, series names and one value per (group, series).
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title above the panel.
    pub title: String,
    /// Unit of the values (axis label).
    pub unit: String,
    /// Series names, one colour each.
    pub series: Vec<String>,
    /// Group label and its values, one per series.
    pub groups: Vec<(String, Vec<f64>)>,
}

const COLOURS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b07aa1",
];
const PANEL_W: f64 = 460.0;
const PANEL_H: f64 = 300.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// Panels side by side in one SVG document, with a caption under them.
pub fn svg(panels: &[Panel], caption: &str) -> String {
    let width = PANEL_W * panels.len() as f64;
    let height = PANEL_H + 40.0;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    );
    for (i, panel) in panels.iter().enumerate() {
        draw(&mut out, panel, PANEL_W * i as f64);
    }
    let _ = writeln!(
        out,
        r##"<text x="10" y="{}" fill="#555">{}</text>"##,
        height - 12.0,
        escape(caption)
    );
    out.push_str("</svg>\n");
    out
}

fn draw(out: &mut String, panel: &Panel, x0: f64) {
    let plot_w = PANEL_W - LEFT - 20.0;
    let plot_h = PANEL_H - TOP - BOTTOM;
    let max = panel
        .groups
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max);
    let top = nice_ceiling(max);
    let y = |v: f64| TOP + plot_h - plot_h * (v / top).clamp(0.0, 1.0);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="20" font-size="13" font-weight="bold">{}</text>"#,
        x0 + 10.0,
        escape(&panel.title)
    );
    for step in 0..=4 {
        let value = top * f64::from(step) / 4.0;
        let yy = y(value);
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{yy}" x2="{}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            x0 + LEFT,
            x0 + LEFT + plot_w,
            x0 + LEFT - 4.0,
            yy + 4.0,
            label(value)
        );
    }
    let _ = writeln!(
        out,
        r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        x0 + 14.0,
        TOP + plot_h / 2.0,
        escape(&panel.unit)
    );
    let groups = panel.groups.len().max(1) as f64;
    let group_w = plot_w / groups;
    let bar_w = (group_w * 0.8) / panel.series.len().max(1) as f64;
    for (g, (name, values)) in panel.groups.iter().enumerate() {
        let gx = x0 + LEFT + group_w * g as f64 + group_w * 0.1;
        for (s, value) in values.iter().enumerate() {
            let top_y = y(*value);
            let _ = writeln!(
                out,
                r#"<rect x="{:.1}" y="{top_y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                gx + bar_w * s as f64,
                bar_w * 0.92,
                (TOP + plot_h - top_y).max(0.0),
                COLOURS[s % COLOURS.len()],
                escape(name),
                escape(&panel.series[s]),
                label(*value)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            gx + group_w * 0.4,
            TOP + plot_h + 16.0,
            escape(name)
        );
    }
    for (s, name) in panel.series.iter().enumerate() {
        let lx = x0 + LEFT + 4.0 + 72.0 * s as f64;
        let ly = TOP + plot_h + 36.0;
        let _ = writeln!(
            out,
            r#"<rect x="{lx}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{ly}">{}</text>"#,
            ly - 9.0,
            COLOURS[s % COLOURS.len()],
            lx + 13.0,
            escape(name)
        );
    }
}

/// The smallest 1, 2 or 5 × 10^k at or above `v` (axis top).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

fn label(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round_and_cover_the_largest_value() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(480.0), 500.0);
        assert_eq!(nice_ceiling(500.0), 500.0);
    }

    #[test]
    fn a_chart_has_one_bar_per_value_and_escapes_labels() {
        let panel = Panel {
            title: "latency".into(),
            unit: "ms".into(),
            series: vec!["p50".into(), "p99".into()],
            groups: vec![
                ("1k <msg/s>".into(), vec![10.0, 40.0]),
                ("2k".into(), vec![12.0, 55.0]),
            ],
        };
        let doc = svg(&[panel], "caption & more");
        assert_eq!(doc.matches("<rect x=").count(), 4 + 2); // bars + legend swatches
        assert!(doc.contains("1k &lt;msg/s&gt;"));
        assert!(doc.contains("caption &amp; more"));
        assert!(doc.starts_with("<svg") && doc.ends_with("</svg>\n"));
    }
}
