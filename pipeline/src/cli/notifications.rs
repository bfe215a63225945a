//! Text output of `chorale notifications list`, for people.

use std::fmt::Write;

use crate::resources::delivery::Delivery;

/// Deliveries as a table: where each went, what it announced, how it ended and why.
pub fn deliveries(deliveries: &[Delivery]) -> String {
    if deliveries.is_empty() {
        return "no notifications recorded\n".to_owned();
    }
    let width = deliveries
        .iter()
        .map(|d| d.notifier.len())
        .max()
        .unwrap_or(0)
        .max("NOTIFIER".len());
    let mut out = format!(
        "{:20}  {:width$}  {:8}  {:15}  {:9}  {:>8}  {:23}  LAST ERROR\n",
        "BUILD", "NOTIFIER", "CHANNEL", "EVENT", "STATE", "ATTEMPTS", "UPDATED"
    );
    for d in deliveries {
        let _ = writeln!(
            out,
            "{:20}  {:width$}  {:8}  {:15}  {:9}  {:>8}  {:23}  {}",
            d.build_id,
            d.notifier,
            d.channel.as_str(),
            d.event.as_str(),
            d.state.as_str(),
            d.attempts,
            d.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
            d.last_error.as_deref().unwrap_or("-")
        );
    }
    out
}
