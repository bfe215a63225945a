//! The HTML report opened in headless Chromium: it renders, and a screenshot is kept under
//! `target/test-artefacts/` for people to look at.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chorale_reports::{Format, Templates, render};
use tokio::process::Command;

use crate::support::sample::{Sample, report as sample};

const CHROMIUM: &str = "/usr/bin/chromium";
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2400;

fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Renders `sample_kind` as HTML, screenshots it with Chromium and returns the decoded
/// image (width, height, RGBA pixels).
async fn screenshot(sample_kind: Sample, name: &str) -> (u32, u32, Vec<u8>) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Chromium at {CHROMIUM} (Debian package `chromium`)"
    );
    let work = tempfile::tempdir().unwrap();
    let page = work.path().join(format!("{name}.html"));
    std::fs::write(
        &page,
        render(&sample(sample_kind), Format::Html, &Templates::builtin()).unwrap(),
    )
    .unwrap();
    let png_path = artefacts().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png_path);
    let profile = work.path().join("profile");
    let run = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("--screenshot={}", png_path.display()))
        .arg(format!("file://{}", page.display()))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("Chromium did not finish within 90 s")
        .expect("start Chromium");
    assert!(
        output.status.success() && png_path.exists(),
        "Chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => pixels,
        png::ColorType::Rgb => pixels
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (info.width, info.height, rgba)
}

fn pixel(image: &(u32, u32, Vec<u8>), x: u32, y: u32) -> [u8; 3] {
    let at = ((y * image.0 + x) * 4) as usize;
    [image.2[at], image.2[at + 1], image.2[at + 2]]
}

fn distinct_colours(image: &(u32, u32, Vec<u8>)) -> usize {
    let mut colours: Vec<[u8; 3]> = image.2.chunks(4).map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    colours.len()
}

#[tokio::test]
async fn the_red_report_renders_in_chromium() {
    let image = screenshot(Sample::Red, "report-red").await;
    assert_eq!((image.0, image.1), (WIDTH, HEIGHT));
    assert!(distinct_colours(&image) > 50, "the page is not blank");
    // The header band carries the verdict colour (#cf222e).
    assert_eq!(pixel(&image, 5, 5), [0xcf, 0x22, 0x2e]);
}

#[tokio::test]
async fn the_green_report_renders_in_chromium() {
    let image = screenshot(Sample::Green, "report-green").await;
    assert!(distinct_colours(&image) > 50, "the page is not blank");
    assert_eq!(pixel(&image, 5, 5), [0x1a, 0x7f, 0x37]);
}
