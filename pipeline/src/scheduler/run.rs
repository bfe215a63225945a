//! One look of the scheduler at every registered product: its fire times since the last one
//! recorded, each claimed once in the store; the newest within the starting deadline queues a
//! build (or is skipped by the concurrency policy), the older ones are recorded as missed.

use std::collections::HashMap;

use jiff::Timestamp;

use super::{ConcurrencyPolicy, Schedule};
use crate::context::Context;
use crate::engine::RunRequest;
use crate::errors::Error;
use crate::ops::builds::queue_build;
use crate::ops::products::read_schedule;
use crate::resources::access::{AuditEvent, Identity, Role};
use crate::resources::occurrence::{Occurrence, OccurrenceState};
use crate::resources::product::ProductRecord;

/// Who the scheduler acts as in the audit log.
pub fn scheduler_identity() -> Identity {
    Identity {
        actor: "scheduler".to_owned(),
        role: Role::Developer,
    }
}

/// The schedules of registered products, read once per generation.
#[derive(Debug, Default)]
pub struct Schedules {
    read: HashMap<String, (i64, Option<Schedule>)>,
}

impl Schedules {
    /// The schedule of generation `generation` of `name`.
    fn get(
        &mut self,
        context: &Context,
        record: &ProductRecord,
    ) -> Result<Option<Schedule>, Error> {
        if let Some((read, schedule)) = self.read.get(&record.name)
            && *read == record.generation
        {
            return Ok(schedule.clone());
        }
        let schedule = read_schedule(context, record)?;
        self.read
            .insert(record.name.clone(), (record.generation, schedule.clone()));
        Ok(schedule)
    }
}

/// How many products one look handles at once: a look at 200 due products is a few queries and
/// one small transaction each, mostly waiting on the database.
const LOOK_CONCURRENCY: usize = 16;

/// Look at every registered product at the database's time; returns the occurrences this
/// replica recorded.
pub async fn tick(
    context: &Context,
    defaults: &RunRequest,
    schedules: &mut Schedules,
) -> Result<Vec<Recorded>, Error> {
    use futures::StreamExt;

    let now = context.store.now().await?;
    let looked = std::time::Instant::now();
    let mut scheduled = Vec::new();
    for record in context.store.products().await? {
        match schedules.get(context, &record) {
            Ok(Some(schedule)) => scheduled.push((record, schedule)),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(product = %record.name, %error, "its schedule cannot be read");
            }
        }
    }
    // A product whose look fails (the database, a manifest that no longer loads) holds up none
    // of the others; it is looked at again at the next tick.
    let recorded: Vec<Vec<Recorded>> = futures::stream::iter(scheduled)
        .map(|(record, schedule)| async move {
            let name = record.name.clone();
            look(context, defaults, record, schedule, now, looked)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(product = %name, %error, "the scheduler's look at it failed");
                    Vec::new()
                })
        })
        .buffer_unordered(LOOK_CONCURRENCY)
        .collect()
        .await;
    Ok(recorded.into_iter().flatten().collect())
}

/// The look at one product whose schedule is `schedule`, at `now` (the database's time, read
/// when the look began at `looked`).
async fn look(
    context: &Context,
    defaults: &RunRequest,
    record: ProductRecord,
    schedule: Schedule,
    now: Timestamp,
    looked: std::time::Instant,
) -> Result<Vec<Recorded>, Error> {
    let mut recorded = Vec::new();
    // Nothing is caught up from before the product was registered.
    let last = context
        .store
        .last_occurrence(&record.name)
        .await?
        .unwrap_or(record.created_at);
    let due = schedule.due(last, now);
    let occurrence =
        |fire_at: Timestamp, state: OccurrenceState, reason: Option<String>| Occurrence {
            product: record.name.clone(),
            fire_at,
            state,
            build_id: None,
            reason,
            recorded_at: now,
        };
    for fire_at in due.missed {
        let missed = occurrence(
            fire_at,
            OccurrenceState::Missed,
            Some("not started within its starting deadline".to_owned()),
        );
        if context.store.claim_occurrence(&missed).await? {
            recorded.push(Recorded::of(missed));
        }
    }
    let Some(fire_at) = due.start else {
        return Ok(recorded);
    };
    let busy = schedule.concurrency == ConcurrencyPolicy::Forbid
        && context.store.active_builds(&record.name).await? > 0;
    if busy {
        let skipped = occurrence(
            fire_at,
            OccurrenceState::Skipped,
            Some(
                "concurrencyPolicy Forbid: a build of the product was still queued or running"
                    .to_owned(),
            ),
        );
        if context.store.claim_occurrence(&skipped).await? {
            recorded.push(Recorded::of(skipped));
        }
        return Ok(recorded);
    }
    let mut started = occurrence(fire_at, OccurrenceState::Started, None);
    if !context.store.claim_occurrence(&started).await? {
        return Ok(recorded);
    }
    if schedule.concurrency == ConcurrencyPolicy::Replace {
        for mut build in context.store.active_builds_of(&record.name).await? {
            crate::clusters::mark_interrupted(
                &mut build,
                &format!(
                    "replaced by the build of the fire time {fire_at} (concurrencyPolicy Replace)"
                ),
            );
            context.store.save_build(&build).await?;
        }
    }
    let identity = scheduler_identity();
    let audit = AuditEvent::new(
        &identity,
        "builds.create",
        format!("products/{}/builds", record.name),
    );
    match queue_build(
        context,
        &identity,
        defaults,
        &record.name,
        "schedule",
        schedule.skip_unchanged,
        audit,
    )
    .await
    {
        Ok(build) => {
            context
                .store
                .settle_occurrence(&record.name, fire_at, Some(&build.id), None)
                .await?;
            started.build_id = Some(build.id);
        }
        Err(error) => {
            let reason = format!("the build could not be queued: {error}");
            context
                .store
                .settle_occurrence(&record.name, fire_at, None, Some(&reason))
                .await?;
            started.reason = Some(reason);
        }
    }
    let queued_at = now + looked.elapsed();
    let lag = (started.build_id.is_some()).then(|| queued_at.duration_since(fire_at).as_secs_f64());
    recorded.push(Recorded {
        occurrence: started,
        lag,
    });
    Ok(recorded)
}

/// A fire time the scheduler recorded, and for one whose build it queued, how late: from the
/// fire time to the build queued, in seconds (the database's clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The fire time and what became of it.
    pub occurrence: Occurrence,
    /// Seconds from the fire time to its build queued.
    pub lag: Option<f64>,
}

impl Recorded {
    fn of(occurrence: Occurrence) -> Self {
        Self {
            occurrence,
            lag: None,
        }
    }
}
