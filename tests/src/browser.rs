//! Debian's Chromium, headless, for tests of pages: the DOM after scripts ran, screenshots.
//! Flags from the machine notes: without the background-networking ones Chromium keeps trying
//! hosts this closed network refuses.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The browser binary (`CHROMIUM` overrides `/usr/bin/chromium`).
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

fn run(url: &str, extra: &[String]) -> Result<String> {
    let profile = std::env::temp_dir().join(format!(
        "attrib-chromium-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            // Let the page's fetches finish before the DOM is taken.
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .with_context(|| format!("cannot run {} (apt install chromium)", chromium().display()))?;
    let _ignored = std::fs::remove_dir_all(&profile);
    if !out.status.success() {
        bail!(
            "chromium failed on {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The page's DOM (serialised) once its scripts and fetches are done.
pub fn dom(url: &str) -> Result<String> {
    run(url, &["--dump-dom".to_string()])
}

/// A PNG of the page at `width`×`height` CSS pixels, written to `path`.
pub fn screenshot(url: &str, path: &Path, width: u32, height: u32) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    run(
        url,
        &[
            format!("--screenshot={}", path.display()),
            format!("--window-size={width},{height}"),
        ],
    )?;
    if !path.exists() {
        bail!("chromium wrote no screenshot to {}", path.display());
    }
    Ok(())
}

/// Where tests keep what they produce for people to look at: `target/test-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/test-artifacts
    exe.ancestors().nth(3).map_or_else(
        || std::env::temp_dir().join("attrib-test-artifacts"),
        |t| t.join("test-artifacts"),
    )
}
