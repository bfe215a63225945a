//! Geometry of the stage timeline drawn as inline SVG in the HTML report.

use serde::Serialize;

use crate::model::Report;

/// Width of the drawing area in SVG units.
const WIDTH: f64 = 960.0;
/// Width of the stage-name column.
const LABEL_WIDTH: f64 = 130.0;
/// Height of one stage row.
const ROW: f64 = 28.0;
/// Height of the time axis under the rows.
const AXIS: f64 = 24.0;

/// The timeline: one bar per stage on a shared time axis.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// Total width of the SVG.
    pub width: f64,
    /// Total height of the SVG.
    pub height: f64,
    /// X where bars start (after the stage names).
    pub left: f64,
    /// Y of the time axis.
    pub axis_y: f64,
    /// One row per stage, in stage order.
    pub bars: Vec<Bar>,
    /// Tick marks of the time axis.
    pub ticks: Vec<Tick>,
}

/// One stage's row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bar {
    /// The stage's name.
    pub name: String,
    /// The stage's status (`succeeded`, `failed`, …), used as CSS class.
    pub status: &'static str,
    /// Top of the row.
    pub y: f64,
    /// Left edge of the bar; `None` when the stage never started.
    pub x: Option<f64>,
    /// Width of the bar (at least 2 units so short stages stay visible).
    pub width: f64,
    /// Duration in milliseconds, when known.
    pub duration_ms: Option<u64>,
}

/// A tick of the time axis.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    /// X position.
    pub x: f64,
    /// Milliseconds since the first stage started.
    pub offset_ms: u64,
}

impl Timeline {
    /// Lays out the report's stages on one axis from the first start to the last end.
    pub fn of(report: &Report) -> Self {
        let start = report.stages.iter().filter_map(|s| s.started_at).min();
        let end = report
            .stages
            .iter()
            .filter_map(|s| s.finished_at.or(s.started_at))
            .max();
        let span_ms = match (start, end) {
            (Some(start), Some(end)) => end.duration_since(start).as_millis().max(1) as f64,
            _ => 1.0,
        };
        let scale = (WIDTH - LABEL_WIDTH - 10.0) / span_ms;
        let offset = |t: jiff::Timestamp| {
            start.map_or(0.0, |s| t.duration_since(s).as_millis().max(0) as f64)
        };
        let bars = report
            .stages
            .iter()
            .enumerate()
            .map(|(row, stage)| {
                let x = stage.started_at.map(|t| LABEL_WIDTH + offset(t) * scale);
                let bar_end = stage.finished_at.map(|t| LABEL_WIDTH + offset(t) * scale);
                let width = match (x, bar_end) {
                    (Some(x), Some(e)) => (e - x).max(2.0),
                    _ => 2.0,
                };
                Bar {
                    name: stage.name.clone(),
                    status: stage.status.as_str(),
                    y: row as f64 * ROW,
                    x: x.map(round),
                    width: round(width),
                    duration_ms: stage.duration_ms(),
                }
            })
            .collect::<Vec<_>>();
        let axis_y = bars.len() as f64 * ROW;
        let ticks = (0..=4)
            .map(|i| {
                let offset_ms = (span_ms * f64::from(i) / 4.0).round() as u64;
                Tick {
                    x: round(LABEL_WIDTH + offset_ms as f64 * scale),
                    offset_ms,
                }
            })
            .collect();
        Timeline {
            width: WIDTH,
            height: axis_y + AXIS,
            left: LABEL_WIDTH,
            axis_y,
            bars,
            ticks,
        }
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
