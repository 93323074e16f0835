//! The proofs match the code (issue #13, item 10): proofs/README.md lists every proof file,
//! and every function or type a proof's "Covered functions" section names exists in the
//! file (or folder) it names, as does every `tests/FILE.rs::name` a proof cites. A
//! grep-level check: it catches renames and removals, not changed behaviour.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn proofs() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs::read_dir(root().join("proofs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The text of a source file, or of every `.rs` file under a folder.
fn source(path: &str) -> Option<String> {
    let p = root().join(path);
    if p.is_file() {
        return fs::read_to_string(p).ok();
    }
    if !p.is_dir() {
        return None;
    }
    fn walk(dir: &Path, out: &mut String) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                *out += &fs::read_to_string(&p).unwrap();
            }
        }
    }
    let mut s = String::new();
    walk(&p, &mut s);
    Some(s)
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Whether `src` defines `name` (a function, type, trait or constant, or a type made by a
/// macro such as `positive_param!(Rho, ..)`).
fn defines(src: &str, name: &str) -> bool {
    src.contains(&format!("!({name},"))
        || ["fn", "struct", "enum", "trait", "type", "const", "mod"]
            .iter()
            .any(|kw| {
                src.match_indices(&format!("{kw} {name}")).any(|(i, m)| {
                    let next = src[i + m.len()..].chars().next();
                    !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            })
}

/// Backticked tokens of `text`, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// (proof, path, name) for every name in the proofs' "Covered functions" sections: a
/// bullet (with its indented continuation lines) names paths (`src/...`) followed by the
/// names they define.
fn covered_names() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (file, text) in proofs() {
        let Some(start) = text.find("## Covered functions") else {
            continue;
        };
        let section = &text[start + "## Covered functions".len()..];
        let section = &section[..section.find("\n## ").unwrap_or(section.len())];
        let mut path: Option<String> = None;
        for line in section.lines() {
            if line.starts_with("- ") {
                path = None;
            }
            for tok in backticked(line) {
                if tok.starts_with("src/") {
                    path = Some(tok.to_string());
                } else if let Some(p) = &path {
                    let ok = match tok.split_once("::") {
                        Some((ty, f)) => is_ident(ty) && is_ident(f),
                        None => is_ident(tok),
                    };
                    if ok {
                        out.push((file.clone(), p.clone(), tok.to_string()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn the_proofs_readme_lists_every_proof() {
    let readme = fs::read_to_string(root().join("proofs/README.md")).unwrap();
    for (file, _) in proofs() {
        if file != "README.md" {
            assert!(
                readme.contains(&format!("]({file})")),
                "proofs/README.md does not list {file}"
            );
        }
    }
}

#[test]
fn every_function_a_proof_names_exists() {
    let names = covered_names();
    assert!(names.len() > 60, "only {} names parsed", names.len());
    let mut missing = Vec::new();
    for (file, path, name) in &names {
        let Some(src) = source(path) else {
            missing.push(format!("{file}: {path} does not exist"));
            continue;
        };
        let found = match name.split_once("::") {
            // A method: the type is defined or implemented there, and so is the method.
            Some((ty, f)) => {
                (defines(&src, ty) || src.contains(&format!("impl {ty}")))
                    && (defines(&src, f) || src.contains(&format!("{f}:")))
            }
            None => defines(&src, name),
        };
        if !found {
            missing.push(format!("{file}: {path} has no {name}"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_test_a_proof_cites_exists() {
    let mut missing = Vec::new();
    let mut n = 0;
    for (file, text) in proofs() {
        for tok in backticked(&text) {
            let Some((path, name)) = tok.split_once(".rs::") else {
                continue;
            };
            if !path.starts_with("tests/") {
                continue;
            }
            n += 1;
            match source(&format!("{path}.rs")) {
                Some(src) if defines(&src, name) => {}
                Some(_) => missing.push(format!("{file}: {path}.rs has no {name}")),
                None => missing.push(format!("{file}: {path}.rs does not exist")),
            }
        }
    }
    assert!(n > 0);
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The parser sees what a reader sees.
#[test]
fn covered_sections_parse() {
    let names = covered_names();
    assert!(names.contains(&(
        "mst.md".into(),
        "src/mechanism/compress.rs".into(),
        "Compression::decompress".into()
    )));
    assert!(names.contains(&(
        "accountant.md".into(),
        "src/privacy/accountant.rs".into(),
        "Accountant::spent".into()
    )));
    assert!(!defines(
        "fn selection_sensitivity_x()",
        "selection_sensitivity"
    ));
    assert!(defines(
        "pub fn selection_sensitivity(",
        "selection_sensitivity"
    ));
}
