//! `/metrics` in the Prometheus text format: HTTP requests by route, method and code (counted
//! as they are answered), how long the stages of this replica's builds took and how late its
//! scheduler started builds (histograms), and, read from the store at each scrape, builds by
//! product and status, the build queue's depth, deliveries by state and active clusters.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::ApiState;
use super::problem::Problem;
use crate::engine::events::{BuildEvent, Observer};
use crate::resources::build::Stage;

/// The media type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
}

/// The counters and histograms kept in memory between scrapes. As an [`Observer`] of the builds
/// this replica runs, it times their stages.
#[derive(Debug, Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    stage_seconds: Family<StageLabels, Histogram, fn() -> Histogram>,
    scheduler_lag: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            // 0.5 s to about 1.2 hours.
            stage_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.5, 2.0, 14))
            }),
            // 10 ms to about 80 s.
            scheduler_lag: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
        }
    }
}

impl Metrics {
    /// A build of this replica's scheduler was queued `seconds` after its fire time.
    pub fn scheduled(&self, seconds: f64) {
        self.scheduler_lag.observe(seconds);
    }

    fn stage_ended(&self, stage: Stage, seconds: f64) {
        self.stage_seconds
            .get_or_create(&StageLabels {
                stage: stage.as_str().to_owned(),
            })
            .observe(seconds);
    }
}

impl Observer for Metrics {
    fn event(&self, event: &BuildEvent) {
        if let BuildEvent::StageEnded { stage, seconds, .. } = event {
            self.stage_ended(*stage, *seconds);
        }
    }
}

/// Count every answer by its route (the template, e.g. `/api/v1/builds/{id}`), method and code.
pub async fn count_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            code: response.status().as_u16().to_string(),
        })
        .inc();
    response
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    product: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    state: String,
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<ApiState>) -> Result<Response, Problem> {
    let counts = state
        .context
        .store
        .counts()
        .await
        .map_err(crate::errors::Error::from)?;
    let mut registry = Registry::with_prefix("chorale");
    registry.register(
        "http_requests",
        "HTTP requests answered, by route, method and status code",
        state.metrics.requests.clone(),
    );
    registry.register(
        "stage_duration_seconds",
        "How long the stages of the builds this replica ran took, by stage",
        state.metrics.stage_seconds.clone(),
    );
    registry.register(
        "scheduler_lag_seconds",
        "From a fire time to its build queued by this replica's scheduler",
        state.metrics.scheduler_lag.clone(),
    );
    let builds = Family::<BuildLabels, Gauge>::default();
    let mut queued = 0;
    for (product, status, n) in counts.builds {
        if status == "pending" {
            queued += n;
        }
        builds
            .get_or_create(&BuildLabels { product, status })
            .set(n);
    }
    registry.register("builds", "Recorded builds, by product and status", builds);
    let depth = Gauge::<i64>::default();
    depth.set(queued);
    registry.register(
        "build_queue_depth",
        "Builds queued and not yet claimed",
        depth,
    );
    let deliveries = Family::<DeliveryLabels, Gauge>::default();
    for (delivery_state, n) in counts.deliveries {
        deliveries
            .get_or_create(&DeliveryLabels {
                state: delivery_state,
            })
            .set(n);
    }
    registry.register(
        "deliveries",
        "Notification deliveries, by state",
        deliveries,
    );
    let clusters = Gauge::<i64>::default();
    clusters.set(counts.active_clusters);
    registry.register(
        "active_clusters",
        "Test clusters provisioned and not torn down",
        clusters,
    );
    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    let mut response = (StatusCode::OK, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    Ok(response)
}
