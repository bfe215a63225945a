//! Shared test support: sample reports, notifier configurations and an SMTP sink (the
//! webhook receiver is `chorale_testkit::webhook`, shared with the pipeline's tests).

pub mod config;
pub mod sample;
pub mod smtp;
