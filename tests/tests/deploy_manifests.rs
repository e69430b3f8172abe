//! The production deploy files agree with the code: `deploy/check_manifests.py` parses every
//! Kubernetes manifest, the Prometheus config and rules and the Grafana dashboard, and checks
//! them against each service binary's `env` table (variables, admin port, consumer group, input
//! topic) and the metrics the services export.

use std::path::Path;
use std::process::Command;

#[test]
fn manifests_parse_and_agree_with_every_service_config_and_metric() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = tests::binary("ingest")
        .parent()
        .expect("binaries live in a directory")
        .to_path_buf();
    let out = Command::new("python3")
        .arg(root.join("deploy/check_manifests.py"))
        .arg(&bin_dir)
        .output()
        .expect("python3 runs (deploy/local/install.sh installs PyYAML)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "deploy/check_manifests.py found problems:\n{text}"
    );
    assert!(text.contains("0 problem(s)"), "{text}");
}
