//! The one way a stage is recorded: the build saved and the event sent together, so what the
//! store shows is what the observers were told.

use crate::errors::Error;
use crate::resources::build::{Build, Stage, Status};
use crate::store::Store;

use super::events::{BuildEvent, Observer};

/// Saves a build and tells its observer.
#[derive(Clone, Copy)]
pub struct Recorder<'a> {
    /// Where builds are saved.
    pub store: &'a Store,
    /// Who is told.
    pub observer: &'a dyn Observer,
}

impl Recorder<'_> {
    /// Tell the observer something that changes nothing in the build.
    pub fn tell(&self, event: &BuildEvent) {
        self.observer.event(event);
    }

    /// Save the build as it is (a component or test changed; its own event says so).
    pub async fn save(&self, build: &Build) -> Result<(), Error> {
        Ok(self.store.save_build(build).await?)
    }

    /// The build was created: save it and announce it.
    pub async fn started(&self, build: &Build) -> Result<(), Error> {
        self.save(build).await?;
        self.tell(&BuildEvent::Started {
            build: build.id.clone(),
            product: build.product.clone(),
            candidate: build.candidate_version.clone(),
        });
        Ok(())
    }

    /// Start `stage`.
    pub async fn begin(&self, build: &mut Build, stage: Stage) -> Result<(), Error> {
        build.begin_stage(stage);
        self.save(build).await?;
        self.tell(&BuildEvent::StageStarted { stage });
        Ok(())
    }

    /// End `stage` with `status` and its one-line `message`.
    pub async fn end(
        &self,
        build: &mut Build,
        stage: Stage,
        status: Status,
        message: String,
    ) -> Result<(), Error> {
        build.end_stage(stage, status, Some(message.clone()));
        self.save(build).await?;
        self.tell(&BuildEvent::StageEnded {
            stage,
            status,
            message: Some(message),
            seconds: build
                .stage(stage)
                .and_then(crate::resources::build::StageRun::seconds)
                .unwrap_or_default(),
        });
        Ok(())
    }

    /// End the build with `status` (stages not run become skipped).
    pub async fn finish(
        &self,
        build: &mut Build,
        status: Status,
        error: Option<String>,
    ) -> Result<(), Error> {
        build.finish(status, error.clone());
        self.save(build).await?;
        self.tell(&BuildEvent::Ended { status, error });
        Ok(())
    }

    /// Record `stage` and the build as failed with `error`, and return the error.
    pub async fn fail<T>(&self, build: &mut Build, stage: Stage, error: Error) -> Result<T, Error> {
        let message = error.to_string();
        self.end(build, stage, Status::Failed, message.clone())
            .await?;
        self.finish(build, Status::Failed, Some(format!("{stage}: {message}")))
            .await?;
        Err(error)
    }
}
