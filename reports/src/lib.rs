//! Chorale's reports: test results in and out (JUnit), the report model of a build, its
//! rendering (Markdown, HTML, JUnit, JSON) from minijinja templates, and the notifiers that
//! tell people in chat and e-mail.
//!
//! The pipeline builds a [`Report`] from its build record, renders it with [`render()`] and
//! delivers [`Message`]s with [`deliver`]. Nothing here touches the build store.

pub mod errors;
pub mod junit;
pub mod model;
pub mod notify;
pub mod render;
mod text;

pub use errors::{ConfigError, DeliveryError, JunitError, RenderError};
pub use model::Report;
pub use notify::{
    AttemptEvent, ChannelKind, DeliveryOutcome, Event, Message, Notifier, NotifierConfig, Payload,
    RetryPolicy, deliver,
};
pub use render::{ApprovalFact, Format, ReleaseFacts, Templates, release_notes, render};
