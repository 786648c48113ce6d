//! The board's integration tests, in one binary: the real `ingest`,
//! `worker` and `board` binaries against a fresh database per test; HTTP
//! from Rust, and pages in a real browser (Debian's chromium, driven over
//! WebDriver by chromedriver). The phone systems' APIs the board acts
//! through are FAKES on loopback (`fake_pbx`).

mod actions;
mod api_stream;
mod api_stream_load;
mod bad_input;
mod browser;
mod callcentre_api;
mod callcentre_browser;
mod callcentre_history;
mod callcentre_screens;
mod cc;
mod console;
mod fake_pbx;
mod helpers;
mod http;
mod login_flood;
mod openapi;
mod silent_streams;
mod webdriver;

// Call control (issue 23).
mod browser_control;
mod control;
mod fake_control;
