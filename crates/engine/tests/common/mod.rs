//! Set-up shared by the engine tests.

use sommelier_engine::{Config, Engine};
use std::path::Path;

/// An engine with `config` holding the committed ml-latest-small (catalog,
/// users and ratings; no vectors, no fitted models).
pub fn with_ml_latest_small(config: Config) -> Engine {
    let e = Engine::open(config).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ml-latest-small");
    sommelier_datasets::import(
        e.store(),
        sommelier_engine::Dataset::MovieLensSmall,
        &fixture,
        &mut |_| {},
    )
    .unwrap();
    e
}
