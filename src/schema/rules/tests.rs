use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::super::value::IntervalSet;
use super::super::{Schema, SchemaProblem};
use super::*;

/// A small registry: relapse and death times, flags, arms, sex and ward, a lab value.
const BASE: &str = r#"
[[columns]]
name = "id"
kind = "id"

[[columns]]
name = "rtime"
kind = "integer"
min = 0
max = 100
bin_width = 10

[[columns]]
name = "dtime"
kind = "integer"
min = 0
max = 100
bin_width = 10

[[columns]]
name = "recur"
kind = "categorical"
values = [0, 1]

[[columns]]
name = "death"
kind = "categorical"
values = [0, 1]

[[columns]]
name = "treat"
kind = "categorical"
values = [0, 1]

[[columns]]
name = "arms"
kind = "categorical"
values = [0, 1, 2]

[[columns]]
name = "sex"
kind = "categorical"
values = ["F", "M"]

[[columns]]
name = "ward"
kind = "categorical"
values = ["medicine", "maternity"]

[[columns]]
name = "creatinine"
kind = "float"
min = 0.1
max = 200.0
bin_edges = [1.0, 5.0, 10.0, 50.0]
decimals = 2
missing = "category"

[[columns]]
name = "admitted"
kind = "date"
min = "2020-01-01"
max = "2020-12-31"
unit = "month"

[[columns]]
name = "discharged"
kind = "date"
min = "2020-01-01"
max = "2021-03-31"
unit = "month"

[[columns]]
name = "notes"
kind = "skip"

[[columns]]
name = "sample.yr"
kind = "integer"
min = 1990
max = 2020
bin_width = 10
"#;

fn with_rules(rules: &[&str]) -> String {
    let mut s = BASE.to_string();
    for r in rules {
        s.push_str(&format!("\n[[rules]]\n{r}\n"));
    }
    s
}

fn schema(rules: &[&str]) -> Schema {
    Schema::from_toml_str(&with_rules(rules), "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// The problems of a schema whose rules are refused.
fn problems(rules: &[&str]) -> Vec<SchemaProblem> {
    Schema::from_toml_str(&with_rules(rules), "t.toml")
        .err()
        .map(|e| e.problems)
        .unwrap_or_default()
}

/// Asserts that the rule named `name` is refused with a message containing `needle`.
fn refused(rule: &str, name: &str, needle: &str) {
    let p = problems(&[&format!("name = {name:?}\ncheck = {rule:?}")]);
    assert!(
        p.iter()
            .any(|p| matches!(p, SchemaProblem::BadRule { rule, message }
            if rule.contains(name) && message.contains(needle))),
        "{rule}: {p:?}"
    );
    // The message names the rule when printed too.
    let text = Schema::from_toml_str(
        &with_rules(&[&format!("name = {name:?}\ncheck = {rule:?}")]),
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(text.contains(name) && text.contains(needle), "{text}");
}

#[test]
fn issue_examples_parse_and_round_trip() {
    let s = schema(&[
        "name = \"death not before relapse\"\ncheck = \"dtime >= rtime\"",
        "check = \"recur == 0 and death == 0 implies dtime == rtime\"",
        "check = \"treat == 1 iff arms != 0\"",
        "check = \"not (sex == 'M' and ward == 'maternity')\"",
        "check = \"creatinine is missing or creatinine <= 15\"",
        "check = \"`sample.yr` >= 2000 or sex == 'F'\"",
    ]);
    assert_eq!(s.rules().len(), 6);
    assert_eq!(s.rules()[0].name(), Some("death not before relapse"));
    let back = Schema::from_toml_str(&s.to_toml_string(), "back").unwrap();
    assert_eq!(back, s);
}

#[test]
fn unknown_column_is_refused() {
    refused("dtme >= rtime", "typo", "unknown column \"dtme\"");
}

#[test]
fn id_and_skipped_columns_are_refused() {
    refused("id == 'P1'", "uses the id", "id column");
    refused("notes == 'x'", "uses notes", "skip");
}

#[test]
fn comparing_a_date_with_a_string_is_refused() {
    refused("admitted >= 'last spring'", "date vs text", "not a date");
    refused("admitted >= 3", "date vs number", "write a date");
    refused("rtime == 'ten'", "number vs text", "string");
    refused("ward == 'icu'", "not a ward", "not one of its values");
    refused(
        "sex < 'M'",
        "ordered text",
        "order comparisons need numbers",
    );
    refused("admitted <= rtime", "date vs integer", "same kind");
    refused("creatinine >= rtime", "float vs integer", "same kind");
}

#[test]
fn a_rule_no_record_can_satisfy_is_refused() {
    refused("rtime > 100", "beyond the bound", "no record can satisfy");
    refused(
        "sex == 'F' and sex == 'M'",
        "contradiction",
        "no record can satisfy",
    );
    refused("recur is missing", "never missing", "no record can satisfy");
    refused("false", "false", "no record can satisfy");
}

#[test]
fn rules_that_together_leave_a_column_no_value_are_refused() {
    let p = problems(&[
        "name = \"late\"\ncheck = \"rtime >= 60\"",
        "name = \"early\"\ncheck = \"rtime < 60 or death == 1\"",
        "name = \"alive\"\ncheck = \"death == 0\"",
    ]);
    assert!(
        p.iter()
            .any(|p| matches!(p, SchemaProblem::BadRule { rule, message }
            if rule.contains("late") && rule.contains("early") && rule.contains("alive")
                && message.contains("no possible value"))),
        "{p:?}"
    );
}

#[test]
fn syntax_errors_name_the_rule_and_the_position() {
    let p = problems(&["name = \"broken\"\ncheck = \"dtime >= \""]);
    assert!(
        matches!(&p[..], [SchemaProblem::BadRule { rule, message }]
            if rule.contains("broken") && message.contains("at character")),
        "{p:?}"
    );
    // Without a name the rule is named by its text.
    let p = problems(&["check = \"dtime >> rtime\""]);
    assert!(
        matches!(&p[..], [SchemaProblem::BadRule { rule, .. }] if rule.contains("dtime >> rtime")),
        "{p:?}"
    );
    let p = problems(&["checks = \"dtime > 1\""]);
    assert!(
        p.iter().any(|p| p.to_string().contains("unknown field")),
        "{p:?}"
    );
}

/// The cell index of codes in a mask over `columns`.
fn cell(rules: &CompiledRules, columns: &[usize], codes: &[u32]) -> usize {
    columns
        .iter()
        .zip(codes)
        .fold(0, |acc, (&c, &k)| acc * rules.cards[c] + k as usize)
}

#[test]
fn structural_zeros_are_exact_for_categories_and_bins() {
    let s = schema(&[
        "check = \"dtime >= rtime\"",
        "check = \"not (sex == 'M' and ward == 'maternity')\"",
        "check = \"creatinine is missing or creatinine <= 15\"",
    ]);
    let r = s.compiled_rules().unwrap();
    let masks = r.zero_masks();
    assert_eq!(masks.len(), 3);
    let idx = |n: &str| s.modelled().iter().position(|c| c.name() == n).unwrap();
    let (rt, dt) = (idx("rtime"), idx("dtime"));
    let m = masks.iter().find(|m| m.columns == vec![rt, dt]).unwrap();
    // dtime's bin below rtime's: impossible; the same bin: possible (dtime >= rtime inside it).
    assert!(!m.allowed[cell(&r, &m.columns, &[3, 2])]);
    assert!(m.allowed[cell(&r, &m.columns, &[3, 3])]);
    assert!(m.allowed[cell(&r, &m.columns, &[3, 9])]);
    let (sx, wd) = (idx("sex"), idx("ward"));
    let m = masks.iter().find(|m| m.columns == vec![sx, wd]).unwrap();
    assert_eq!(m.allowed, vec![true, true, true, false]);
    // Creatinine bins: [0.1,1) [1,5) [5,10) [10,50) [50,200] missing: the bin straddling 15
    // stays possible, the one above is a zero.
    let m = masks
        .iter()
        .find(|m| m.columns == vec![idx("creatinine")])
        .unwrap();
    assert_eq!(m.allowed, vec![true, true, true, true, false, true]);
}

#[test]
fn values_drawn_inside_a_cell_obey_the_rules() {
    let s = schema(&[
        "check = \"dtime >= rtime\"",
        "check = \"recur == 0 and death == 0 implies dtime == rtime\"",
        "check = \"creatinine is missing or creatinine <= 15\"",
        "check = \"discharged >= admitted\"",
    ]);
    let r = s.compiled_rules().unwrap();
    let names = s.modelled_names();
    let idx = |n: &str| names.iter().position(|c| c == n).unwrap();
    let cards = s.modelled_cardinalities();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut checked = 0;
    for _ in 0..4000 {
        let codes: Vec<u32> = cards.iter().map(|&k| rng.gen_range(0..k as u32)).collect();
        // Only cells the structural zeros allow.
        let mut sol = match r.solve_record(&codes) {
            Ok(s) => s,
            Err(_) => continue,
        };
        let drawn = sol.draw(|_, allowed: &IntervalSet| {
            assert!(!allowed.is_empty());
            let p = allowed.parts[rng.gen_range(0..allowed.parts.len())];
            if p.lo == p.hi {
                p.lo
            } else {
                p.lo.max(-1e9) + ((p.hi.min(1e9) - p.lo.max(-1e9)) * rng.gen::<f64>()).floor()
            }
        });
        let mut texts: Vec<String> = Vec::new();
        for (j, col) in s.modelled().iter().enumerate() {
            let v = match drawn.iter().find(|(c, _)| *c == j) {
                Some((_, x)) => col.format_axis(*x),
                None => col.decode(codes[j], &mut rng).unwrap(),
            };
            texts.push(v);
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        r.check_written(&refs)
            .unwrap_or_else(|e| panic!("{e}: {texts:?} from {codes:?}"));
        checked += 1;
        // dtime == rtime when neither recurred nor died, in the same bin or not at all.
        if texts[idx("recur")] == "0" && texts[idx("death")] == "0" {
            assert_eq!(texts[idx("dtime")], texts[idx("rtime")]);
        }
    }
    assert!(checked > 500, "{checked}");
}

#[test]
fn the_final_check_reads_written_text() {
    let s = schema(&["name = \"cap\"\ncheck = \"creatinine is missing or creatinine <= 15\""]);
    let r = s.compiled_rules().unwrap();
    let mut rec: Vec<&str> = vec![
        "1",
        "1",
        "0",
        "0",
        "0",
        "0",
        "F",
        "medicine",
        "15.00",
        "2020-01-01",
        "2020-01-02",
        "2000",
    ];
    assert!(r.check_written(&rec).is_ok());
    rec[8] = "15.01";
    assert_eq!(r.check_written(&rec).unwrap_err(), "rule \"cap\"");
    rec[8] = "";
    assert!(r.check_written(&rec).is_ok());
}

/// Whether every mask allows the record `codes` (one code per modelled column).
fn masks_allow(rules: &CompiledRules, masks: &[ZeroMask], codes: &[u32]) -> bool {
    masks.iter().all(|m| {
        let at: Vec<u32> = m.columns.iter().map(|&c| codes[c]).collect();
        m.allowed[cell(rules, &m.columns, &at)]
    })
}

#[test]
fn rules_on_a_hub_column_factor_into_masks_that_decide_exactly() {
    // Every rule ties one column to rtime (bins of 10). Those that compare rtime on a bin
    // edge are decided code by code there and get one mask each; the two that both cut the
    // bin 40-50 are decided together. Before factoring they formed one component of over
    // 40 M cells (more than the 4 M limit): the schema was refused.
    let s = schema(&[
        "check = \"treat == 1 iff rtime >= 30\"",
        "check = \"dtime >= 50 implies rtime >= 10\"",
        "check = \"admitted >= '2020-07-01' implies rtime >= 30\"",
        "check = \"creatinine is missing implies rtime < 90\"",
        "check = \"arms == 2 implies rtime >= 20\"",
        "check = \"`sample.yr` >= 2010 implies rtime >= 40\"",
        "check = \"discharged < '2021-01-01' implies rtime < 90\"",
        "name = \"maternity early\"\ncheck = \"ward == 'maternity' implies rtime < 45\"",
        "name = \"death late\"\ncheck = \"death == 1 implies rtime >= 42\"",
        "check = \"recur == 1 implies sex == 'F'\"",
    ]);
    let r = s.compiled_rules().unwrap();
    let idx = |n: &str| s.modelled().iter().position(|c| c.name() == n).unwrap();
    let sizes: Vec<usize> = r.components().iter().map(|c| c.rules.len()).collect();
    assert_eq!(
        sizes,
        vec![1, 1, 1, 1, 1, 1, 1, 2, 1],
        "{:?}",
        r.components()
    );
    let joint = r.components().iter().find(|c| c.rules.len() == 2).unwrap();
    assert_eq!(
        joint.columns,
        vec![idx("rtime"), idx("death"), idx("ward")]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    let masks = r.zero_masks();
    assert_eq!(masks.len(), 9);
    // The masks decide exactly: on random cells of the whole domain, every mask allows a
    // cell exactly when some record in it obeys all the rules together.
    let all: Vec<usize> = (0..r.rules.len()).collect();
    let cards = s.modelled_cardinalities();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (mut yes, mut no) = (0, 0);
    for _ in 0..3000 {
        let codes: Vec<u32> = cards.iter().map(|&k| rng.gen_range(0..k as u32)).collect();
        let exact = r.cell_allowed(&all, &codes);
        assert_eq!(masks_allow(&r, &masks, &codes), exact, "{codes:?}");
        if exact {
            yes += 1;
            // Decoding finds values for it that pass the final check.
            let mut sol = r.solve_record(&codes).unwrap();
            let drawn = sol.draw(|_, allowed: &IntervalSet| {
                let p = allowed.parts[0];
                if p.lo.is_finite() {
                    p.lo.ceil()
                } else {
                    p.hi.floor()
                }
            });
            let texts: Vec<String> = s
                .modelled()
                .iter()
                .enumerate()
                .map(|(j, col)| match drawn.iter().find(|(c, _)| *c == j) {
                    Some((_, x)) => col.format_axis(*x),
                    None => col.decode(codes[j], &mut rng).unwrap(),
                })
                .collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            r.check_written(&refs)
                .unwrap_or_else(|e| panic!("{e}: {texts:?} from {codes:?}"));
        } else {
            no += 1;
        }
    }
    assert!(yes > 100 && no > 100, "{yes} {no}");
    // In the bin 40-50, maternity and death together need rtime in 42..44: possible; the
    // same with a rule that also needs rtime >= 45 is not, and only a joint decision sees it.
    let p = problems(&[
        "name = \"maternity early\"\ncheck = \"ward == 'maternity' implies rtime < 45\"",
        "name = \"death late\"\ncheck = \"death == 1 implies rtime >= 45\"",
        "name = \"all\"\ncheck = \"ward == 'maternity' and death == 1\"",
    ]);
    assert!(
        p.iter()
            .any(|p| matches!(p, SchemaProblem::BadRule { rule, message }
            if rule.contains("maternity early") && rule.contains("death late")
                && message.contains("no possible value"))),
        "{p:?}"
    );
}
