//! docs/CHECKS.md is generated from the catalogue; this fails when the two
//! disagree. Regenerate with `vigil check --catalogue markdown > docs/CHECKS.md`
//! or `VIGIL_BLESS=1 cargo test -p vigil-check --test docs`.

use std::path::Path;

#[test]
fn checks_md_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CHECKS.md");
    let generated = vigil_check::render::markdown::catalogue();
    if std::env::var_os("VIGIL_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/CHECKS.md");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    if on_disk != generated {
        let line = on_disk
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| on_disk.lines().count().min(generated.lines().count()));
        panic!(
            "docs/CHECKS.md is out of date (first difference at line {}); regenerate it with \
             `vigil check --catalogue markdown > docs/CHECKS.md` or VIGIL_BLESS=1",
            line + 1
        );
    }
}

#[test]
fn every_check_is_documented_with_its_equivalents() {
    let page = vigil_check::render::markdown::catalogue();
    for c in vigil_check::catalogue::checks() {
        let anchor = format!("<a id=\"{}\"></a>", c.id.replace('.', "-"));
        assert!(page.contains(&anchor), "{} has no section", c.id);
        for p in c.polaris.iter().chain(c.kube_score) {
            assert!(
                page.contains(&format!("`{p}`")),
                "{}: equivalent {p} not shown",
                c.id
            );
        }
        assert!(
            page.contains(c.remediation),
            "{}: remediation missing",
            c.id
        );
    }
}
