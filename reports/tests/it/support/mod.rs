//! Shared test support: sample reports, notifier configurations, a webhook receiver and an
//! SMTP sink.

pub mod config;
pub mod receiver;
pub mod sample;
pub mod smtp;
