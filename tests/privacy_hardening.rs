//! End-to-end checks of the privacy hardening of issue #13: huge budgets (item 9), the
//! budget-spent message (item 5), the CSPRNG rule (item 6) and the stricter verify (item 7).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use dpsynth::data::EncodedTable;
use dpsynth::marginal::{
    Clique, Domain, InMemoryOracle, MarginalOracle, MarginalTable, OracleError,
};
use dpsynth::mechanism::{aim, mst, AimOptions, MechanismError, MstOptions, NoProgress, Workload};
use dpsynth::model::EstimationOptions;
use dpsynth::privacy::{Budget, Delta, Rho};

/// A small public schema and a 600-row table over it (four categorical columns with a
/// little dependence), written into `dir`.
fn small_table(dir: &Path) -> (PathBuf, PathBuf) {
    let schema = dir.join("s.toml");
    fs::write(
        &schema,
        r#"
[[columns]]
name = "a"
kind = "categorical"
values = ["x", "y", "z"]

[[columns]]
name = "b"
kind = "categorical"
values = ["p", "q"]

[[columns]]
name = "c"
kind = "categorical"
values = ["0", "1", "2", "3"]

[[columns]]
name = "d"
kind = "categorical"
values = ["u", "v"]
"#,
    )
    .unwrap();
    let mut csv = String::from("a,b,c,d\n");
    for i in 0..600u32 {
        let a = ["x", "y", "z"][(i % 3) as usize];
        let b = if i % 7 < 4 { "p" } else { "q" };
        let c = ["0", "1", "2", "3"][((i / 3 + i % 2) % 4) as usize];
        let d = if (i % 3 == 0) ^ (i % 11 == 0) {
            "u"
        } else {
            "v"
        };
        csv += &format!("{a},{b},{c},{d}\n");
    }
    let data = dir.join("d.csv");
    fs::write(&data, csv).unwrap();
    (data, schema)
}

fn dpsynth() -> Command {
    Command::cargo_bin("dpsynth").unwrap()
}

fn synth(data: &Path, schema: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    dpsynth()
        .args(["synth", "-q", "--data"])
        .arg(data)
        .arg("--schema")
        .arg(schema)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

/// Share of each value of each column.
fn one_way_shares(csv: &Path) -> BTreeMap<(String, String), f64> {
    let mut rdr = csv::Reader::from_path(csv).unwrap();
    let names: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let mut counts = BTreeMap::new();
    let mut n = 0.0;
    for r in rdr.records() {
        let r = r.unwrap();
        n += 1.0;
        for (name, v) in names.iter().zip(r.iter()) {
            *counts.entry((name.clone(), v.to_string())).or_insert(0.0) += 1.0;
        }
    }
    counts.values_mut().for_each(|c| *c /= n);
    counts
}

/// Largest one-way L1 distance between the two files' value shares, over the columns.
fn worst_one_way_l1(real: &Path, synthetic: &Path) -> f64 {
    let (r, s) = (one_way_shares(real), one_way_shares(synthetic));
    let keys: std::collections::BTreeSet<_> = r.keys().chain(s.keys()).collect();
    let mut per_column: BTreeMap<&str, f64> = BTreeMap::new();
    for key in keys {
        let d = (r.get(key).unwrap_or(&0.0) - s.get(key).unwrap_or(&0.0)).abs();
        *per_column.entry(&key.0).or_insert(0.0) += d;
    }
    per_column.values().copied().fold(0.0, f64::max)
}

/// Item 9: a statistician's huge budget works for both mechanisms (it failed with an opendp
/// overflow after spending the budget), the certificate verifies and states the epsilon
/// asked for, and the release is as close to the data as the method gets.
#[test]
fn huge_budgets_release_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (data, schema) = small_table(dir.path());
    for mech in ["mst", "aim"] {
        let out = dir.path().join(format!("r-{mech}"));
        synth(
            &data,
            &schema,
            &out,
            &["--mechanism", mech, "--epsilon", "100000"],
        )
        .success();
        dpsynth().arg("verify").arg(&out).assert().success();
        let cert = read_json(&out.join("certificate.json"));
        let eps = cert["guarantee"]["epsilon"].as_f64().unwrap();
        assert!(
            eps <= 1e5 && eps > 1e5 * (1.0 - 1e-6),
            "{mech}: epsilon {eps}"
        );
        let l1 = worst_one_way_l1(&data, &out.join("synthetic.csv"));
        assert!(l1 < 0.01, "{mech}: worst one-way L1 {l1}");
    }
}

/// Item 9: any finite budget works. Past the noise-free ceiling (rho 1e12 per K^2) dpsynth
/// spends only the ceiling, says so, and the certificate states that smaller rho.
#[test]
fn budgets_past_the_noise_free_ceiling_spend_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let (data, schema) = small_table(dir.path());
    for (i, budget) in [["--epsilon", "1e300"], ["--rho", "1.7e308"]]
        .iter()
        .enumerate()
    {
        let out = dir.path().join(format!("r{i}"));
        let a = synth(
            &data,
            &schema,
            &out,
            &["--mechanism", "mst", budget[0], budget[1]],
        )
        .success();
        let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(stderr.contains("spends only that"), "{stderr}");
        dpsynth().arg("verify").arg(&out).assert().success();
        let cert = read_json(&out.join("certificate.json"));
        let rho = cert["guarantee"]["rho"].as_f64().unwrap();
        assert!(rho <= 1e12 && rho > 1e12 * (1.0 - 1e-9), "rho {rho}");
        assert!(cert["guarantee"]["budget_rho"].as_f64().unwrap() > 1e12);
        let l1 = worst_one_way_l1(&data, &out.join("synthetic.csv"));
        assert!(l1 < 0.01, "worst one-way L1 {l1}");
    }
}

/// A random-ish table over `sizes` with some dependence between neighbouring columns.
fn coded_table(sizes: &[usize], rows: usize) -> EncodedTable {
    let data: Vec<Vec<u32>> = (0..rows)
        .map(|i| {
            let mut row: Vec<u32> = Vec::with_capacity(sizes.len());
            for (j, &s) in sizes.iter().enumerate() {
                let v = if j > 0 && (i * 31 + j * 7) % 3 != 0 {
                    row[j - 1] % s as u32
                } else {
                    ((i * 2654435761 + j * 40503) >> 7) as u32 % s as u32
                };
                row.push(v);
            }
            row
        })
        .collect();
    let names = (0..sizes.len()).map(|i| format!("c{i}")).collect();
    EncodedTable::from_rows(names, sizes.to_vec(), &data).unwrap()
}

fn rho_budget(rho: f64) -> Budget {
    Budget::from_rho(Rho::new(rho).unwrap(), Delta::new(1e-9).unwrap())
}

/// Item 5: AIM's candidate filter and its fits use one size cap. Before, the filter used
/// `max_model_size_mb` and the fits `estimation.max_cells`; whenever the two differed (the
/// defaults were 10,485,760 and 10,000,000 cells) a late round could pass the filter and
/// then fail with TooLarge after most of the budget was spent. Here they differ on purpose.
#[test]
fn aim_filter_and_fits_share_one_size_cap() {
    let table = coded_table(&[6, 6, 6, 6, 6], 2000);
    let opts = AimOptions {
        max_model_size_mb: 0.05, // 6,553 cells
        estimation: EstimationOptions {
            max_cells: 1000,
            ..AimOptions::default().estimation
        },
        rounds: Some(40),
        ..AimOptions::default()
    };
    let workload = Workload::all_k_way(5, 3);
    let fitted = aim(
        &InMemoryOracle::new(&table),
        rho_budget(50.0),
        &workload,
        &opts,
        &NoProgress,
    )
    .unwrap();
    let cap = (0.05f64 * 1024.0 * 1024.0 / 8.0) as usize;
    assert!(fitted.model.size_cells() <= cap);
    // The model did grow past the estimator default the options carried.
    assert!(
        fitted.model.size_cells() > 1000,
        "{}",
        fitted.model.size_cells()
    );
}

/// Fails every marginal of two or more columns: a stand-in for any failure in the middle of
/// a run (a database gone, a marginal too large to count).
struct PairsFail<'a>(InMemoryOracle<'a>);

impl MarginalOracle for PairsFail<'_> {
    fn domain(&self) -> &Domain {
        self.0.domain()
    }
    fn marginal(&self, clique: &Clique) -> Result<MarginalTable, OracleError> {
        if clique.len() >= 2 {
            return Err(OracleError::TooLarge(clique.describe(self.0.domain()), 0));
        }
        self.0.marginal(clique)
    }
}

/// Item 5: a failure after the first charge says that the budget was spent (MST fails in its
/// tree selection, after the one-way marginals; AIM in its candidate counts, which come after
/// the one-ways); a failure before any charge does not (AIM's size check).
#[test]
fn failures_after_the_first_charge_say_the_budget_was_spent() {
    let table = coded_table(&[3, 4, 5], 300);
    let oracle = PairsFail(InMemoryOracle::new(&table));
    let e = mst(
        &oracle,
        rho_budget(1.0),
        &MstOptions::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(e.budget_spent(), "{e}");
    let MechanismError::BudgetSpent {
        steps,
        spent,
        budget,
        ..
    } = &e
    else {
        unreachable!()
    };
    assert_eq!(*steps, 3, "the three one-way marginals were charged");
    assert!(
        *spent > 0.3 && *spent < 0.34 && *budget == 1.0,
        "{spent} of {budget}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("after spending rho") && msg.contains("marginal"),
        "{msg}"
    );

    // AIM counts its candidates on the domain compressed from the noisy one-ways, so a
    // failure there comes after the d one-way measurements and says so.
    let e = aim(
        &oracle,
        rho_budget(1.0),
        &Workload::all_k_way(3, 2),
        &AimOptions::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert!(e.budget_spent(), "{e}");
    let MechanismError::BudgetSpent { steps, .. } = &e else {
        unreachable!()
    };
    assert!(*steps == 3 || *steps == 6, "{steps} one-way steps");
    // A failure before any charge does not say so: a model size cap too small for the
    // one-way model is refused before the first measurement.
    let e = aim(
        &InMemoryOracle::new(&table),
        rho_budget(1.0),
        &Workload::all_k_way(3, 2),
        &AimOptions {
            max_model_size_mb: 1e-7,
            ..AimOptions::default()
        },
        &NoProgress,
    )
    .unwrap_err();
    assert!(!e.budget_spent(), "{e}");
    assert!(!e.to_string().contains("spending"), "{e}");
}

/// Item 5, at the command line: a release that cannot be written after the model was
/// fitted says the budget was spent (here the output's parent is a file).
#[test]
fn cli_write_failure_after_fitting_says_the_budget_was_spent() {
    let dir = tempfile::tempdir().unwrap();
    let (data, schema) = small_table(dir.path());
    let blocker = dir.path().join("a-file");
    fs::write(&blocker, "not a directory").unwrap();
    let a = synth(
        &data,
        &schema,
        &blocker.join("release"),
        &["--mechanism", "mst", "--epsilon", "1"],
    )
    .failure();
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        stderr.contains("already spent rho") && stderr.contains("nothing was released"),
        "{stderr}"
    );
}

fn verify_text(dir: &Path) -> (bool, String) {
    let out = dpsynth().arg("verify").arg(dir).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// Copies a release directory (to tamper with the copy).
fn copy_release(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Rewrites a certificate's total rho (the exact sum of its steps, rounded up), epsilon and statement, so
/// that every arithmetic check still passes after an edit of its steps.
fn restate_total(c: &mut serde_json::Value) {
    let total = dpsynth::privacy::RhoSum::of(
        c["ledger"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["rho"].as_f64().unwrap()),
    )
    .unwrap()
    .upper();
    let g = &mut c["guarantee"];
    let delta = g["delta"].as_f64().unwrap();
    let eps = dpsynth::privacy::epsilon_for(Rho::new(total).unwrap(), Delta::new(delta).unwrap())
        .unwrap()
        .value();
    let unit: dpsynth::privacy::PrivacyUnit =
        serde_json::from_value(g["privacy_unit"].clone()).unwrap();
    g["rho"] = serde_json::json!(total);
    g["epsilon"] = serde_json::json!(eps);
    g["statement"] = serde_json::json!(dpsynth::release::statement(eps, delta, total, &unit));
}

/// Applies `edit` to a copy of `release`'s certificate and returns verify's failed checks.
fn failed_checks_after(
    release: &Path,
    copy: &Path,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<String> {
    copy_release(release, copy);
    let cert = copy.join("certificate.json");
    let mut c = read_json(&cert);
    edit(&mut c);
    fs::write(&cert, serde_json::to_string_pretty(&c).unwrap()).unwrap();
    let (ok, text) = verify_text(copy);
    let fails: Vec<String> = text
        .lines()
        .filter(|l| l.contains("[FAIL]"))
        .map(String::from)
        .collect();
    assert_eq!(ok, fails.is_empty(), "{text}");
    fails
}

/// Item 6: `verify` fails a certificate whose noise did not come from the CSPRNG (the text a
/// build without the `openssl-rng` feature writes), and only that check fails.
#[test]
fn verify_fails_noise_that_is_not_from_a_csprng() {
    let dir = tempfile::tempdir().unwrap();
    let (data, schema) = small_table(dir.path());
    let out = dir.path().join("r");
    synth(
        &data,
        &schema,
        &out,
        &["--mechanism", "mst", "--epsilon", "1"],
    )
    .success();
    let (ok, text) = verify_text(&out);
    assert!(ok && text.contains("[ ok ] noise source"), "{text}");
    let fails = failed_checks_after(&out, &dir.path().join("weak"), |c| {
        c["noise"]["rng"] = serde_json::json!(
            "rand::thread_rng (NOT a vetted CSPRNG: build with the default openssl-rng feature for releases)"
        );
    });
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(
        fails[0].contains("noise source") && fails[0].contains("openssl-rng"),
        "{fails:?}"
    );
}

/// Item 7: edits that keep every figure of the certificate consistent (each step's rho
/// re-derived from its scale, the total, epsilon and statement restated) but break the
/// mechanism's rules fail `verify`'s "mechanism rules" check, and only it: a monotone
/// selection, a one-way marginal with its own scale (the budget split), and AIM options
/// (selection share, planned rounds) that do not match the ledger.
#[test]
fn verify_checks_the_ledger_against_the_mechanism_and_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let (data, schema) = small_table(dir.path());
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let monotone: Edit = Box::new(|c| {
        let e = c["ledger"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["mechanism"] == "noisy_max")
            .unwrap();
        let (scale, s) = (
            e["scale"].as_f64().unwrap(),
            e["sensitivity"].as_f64().unwrap(),
        );
        e["monotone"] = serde_json::json!(true);
        e["rho"] = serde_json::json!(dpsynth::privacy::noisy_max_rho(scale, s, true).unwrap());
        restate_total(c);
    });
    let split: Edit = Box::new(|c| {
        let e = &mut c["ledger"][0];
        let (scale, s) = (
            e["scale"].as_f64().unwrap(),
            e["sensitivity"].as_f64().unwrap(),
        );
        e["scale"] = serde_json::json!(scale * 2.0);
        e["rho"] =
            serde_json::json!(dpsynth::privacy::gaussian_rho(scale * 2.0, s as u32).unwrap());
        restate_total(c);
    });
    let share: Edit = Box::new(|c| {
        c["mechanism"]["options"]["selection_share"] = serde_json::json!(0.2);
    });
    let rounds: Edit = Box::new(|c| {
        let t = c["mechanism"]["options"]["rounds_planned"]
            .as_u64()
            .unwrap();
        c["mechanism"]["options"]["rounds_planned"] = serde_json::json!(t * 2);
    });
    let cases: Vec<(&str, Vec<(&str, Edit)>)> = vec![
        ("mst", vec![("monotone", monotone), ("split", split)]),
        ("aim", vec![("share", share), ("rounds", rounds)]),
    ];
    for (mech, edits) in cases {
        let out = dir.path().join(format!("r-{mech}"));
        synth(
            &data,
            &schema,
            &out,
            &["--mechanism", mech, "--epsilon", "1"],
        )
        .success();
        let (ok, text) = verify_text(&out);
        assert!(ok && text.contains("[ ok ] mechanism rules"), "{text}");
        for (name, edit) in edits {
            let copy = dir.path().join(format!("{mech}-{name}"));
            let fails = failed_checks_after(&out, &copy, |c| edit(c));
            assert_eq!(fails.len(), 1, "{mech} {name}: {fails:?}");
            assert!(
                fails[0].contains("mechanism rules"),
                "{mech} {name}: {fails:?}"
            );
        }
    }
}
