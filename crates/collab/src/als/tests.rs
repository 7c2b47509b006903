//! iALS fits, folds histories in and scores like a direct solve.

use super::*;

/// Two tastes: users 0..20 like items a0..a9, users 20..40 like b0..b9;
/// each user misses one item of their side.
fn two_tastes() -> Interactions {
    let mut d = Interactions::new();
    for u in 0..40 {
        let side = if u < 20 { "a" } else { "b" };
        for i in 0..10 {
            if i != u % 10 {
                d.add(&format!("u{u}"), &format!("{side}{i}"), i64::from(i));
            }
        }
    }
    d
}

fn w(items: &[&'static str]) -> Vec<Weighted<'static>> {
    items
        .iter()
        .map(|i| Weighted {
            item: i,
            weight: 1.0,
        })
        .collect()
}

#[test]
fn a_history_on_one_side_scores_that_side_first() {
    let m = fit_als(
        &two_tastes(),
        &AlsParams {
            factors: 4,
            alpha: 10.0,
            regularization: 1.0,
            ..AlsParams::default()
        },
    )
    .unwrap();
    assert_eq!(m.items(), 20);
    let top = m.score(&w(&["a1", "a2", "a3"]), 7);
    assert_eq!(top.len(), 7);
    assert!(top.iter().all(|(id, _)| id.starts_with('a')), "{top:?}");
    assert!(
        !top.iter()
            .any(|(id, _)| ["a1", "a2", "a3"].contains(&id.as_str()))
    );
    let top = m.score(&w(&["b5", "b6"]), 3);
    assert!(top.iter().all(|(id, _)| id.starts_with('b')), "{top:?}");
    // Unknown items and empty histories give nothing, not an error.
    assert!(m.score(&w(&["zzz"]), 5).is_empty());
    assert!(m.score(&[], 5).is_empty());
}

#[test]
fn conjugate_gradient_approaches_the_exact_row_solution() {
    let f = 6;
    let p = AlsParams {
        factors: f,
        alpha: 5.0,
        cg_steps: 40,
        ..AlsParams::default()
    };
    let other: Vec<f32> = (0..10 * f)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0)
        .collect();
    let g = gram(&other, f, p.regularization);
    let row = [1u32, 4, 7];
    let mut x = vec![0.0f32; f];
    cg_row(&mut x, &other, &row, &g, f, &p, &mut Scratch::new(f));
    // The same system solved by Cholesky.
    let model = FactorModel::new(
        (0..10).map(|i| format!("i{i}")).collect(),
        f,
        other.clone(),
        g,
        p.alpha,
    );
    let exact = model.user_vector(&w(&["i1", "i4", "i7"])).unwrap();
    for (a, b) in x.iter().zip(&exact) {
        assert!((a - b).abs() < 1e-3, "{x:?} vs {exact:?}");
    }
}

#[test]
fn a_saved_model_loads_equal_and_a_torn_file_is_refused() {
    let m = fit_als(
        &two_tastes(),
        &AlsParams {
            factors: 4,
            iterations: 3,
            ..AlsParams::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("als.bin");
    m.save(&path).unwrap();
    assert_eq!(FactorModel::load(&path).unwrap(), m);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    assert!(FactorModel::load(&path).is_err());
}

#[test]
fn bad_settings_are_named() {
    let e = fit_als(
        &two_tastes(),
        &AlsParams {
            regularization: 0.0,
            ..AlsParams::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("regularization"), "{e}");
}
