//! The HubSpot sandbox against HubSpot's official Python client: `infra/scripts/
//! hubspot_conformance.py` calls every endpoint the service uses, on both path families, and
//! parses each answer with the SDK's generated models (client-side validation on) plus a
//! strict type and field check. Zero parse failures, or the sandbox is not answering as
//! HubSpot does and the other suites prove less than they seem to.

use sandboxes::hubspot::HubSpotSandbox;
use std::path::PathBuf;

#[tokio::test]
async fn sandbox_answers_parse_with_hubspots_official_python_client() {
    let sbx = HubSpotSandbox::start(Default::default()).await.unwrap();
    let cfg = sbx.with(|s| s.cfg.clone());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "the tool venv is missing: run infra/scripts/setup-tools.sh"
    );
    let out = tokio::process::Command::new(python)
        .arg(root.join("infra/scripts/hubspot_conformance.py"))
        .args(["--base", &sbx.base_url])
        .args(["--client-id", &cfg.client_id])
        .args(["--client-secret", &cfg.client_secret])
        .output()
        .await
        .expect("run the conformance script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("conformance:"))
        .unwrap_or("no summary line");
    println!("{summary}");
    assert!(
        out.status.success(),
        "conformance failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(summary.ends_with(" 0 parse failures"), "{stdout}");
}
