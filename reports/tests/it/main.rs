//! Integration tests of chorale-reports, in one binary: JUnit, the model, rendering, the
//! notifiers against real receivers and a real SMTP server, and the report in a browser.

mod browser;
mod delivery;
mod email;
mod junit;
mod messages;
mod model;
mod render;
mod secrets;
mod support;
