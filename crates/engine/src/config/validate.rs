//! The checks of values that types alone cannot express.

use super::{Config, ConfigError};

impl Config {
    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.server.addr.parse::<std::net::SocketAddr>().is_err() {
            return bad(format!(
                "server.addr `{}` is not host:port (e.g. 127.0.0.1:8080)",
                self.server.addr
            ));
        }
        if self.server.max_body_mib == 0 || self.server.max_batch == 0 {
            return bad("server.max_body_mib and server.max_batch must be at least 1".into());
        }
        if let Some(m) = self.stream.problem() {
            return bad(m);
        }
        if !self.server.tail_interval_secs.is_finite() || self.server.tail_interval_secs <= 0.0 {
            return bad("server.tail_interval_secs must be positive".into());
        }
        if self.server.header_timeout_secs == 0
            || self.server.idle_timeout_secs == 0
            || self.server.max_connections == 0
        {
            return bad(
                "server.header_timeout_secs, server.idle_timeout_secs and server.max_connections must be at least 1"
                    .into(),
            );
        }
        if !(self.auth.rate_per_sec.is_finite() && self.auth.rate_per_sec > 0.0)
            || self.auth.burst == 0
        {
            return bad("auth.rate_per_sec must be positive and auth.burst at least 1".into());
        }
        if !self.auth.token_secret.is_empty() && self.auth.token_secret.len() < 32 {
            return bad("auth.token_secret must be at least 32 bytes (or empty: derived from the data folder's secret)".into());
        }
        if self.ingest.max_field_bytes < 256
            || self.ingest.max_record_bytes < self.ingest.max_field_bytes
        {
            return bad(
                "ingest.max_field_bytes must be ≥ 256 and ingest.max_record_bytes ≥ it".into(),
            );
        }
        match self.store.backend.as_str() {
            "sqlite" => {}
            "postgres" if self.store.url.is_empty() => {
                return bad("store.backend is `postgres` but store.url is empty; give the database as postgres://user:password@host:port/db (SOMMELIER__STORE__URL)".into());
            }
            "postgres" => {}
            other => {
                return bad(format!(
                    "store.backend is `{other}`; expected `sqlite` or `postgres`"
                ));
            }
        }
        if self.vectors.index == super::VectorIndexKind::Pgvector
            && self.store.backend != "postgres"
        {
            return bad(format!(
                "vectors.index is `pgvector` but store.backend is `{}`; the vectors are searched inside PostgreSQL, so set store.backend = \"postgres\" (or vectors.index = \"memory\")",
                self.store.backend
            ));
        }
        if !matches!(self.store.durability.as_str(), "full" | "normal") {
            return bad(format!(
                "store.durability is `{}`; expected `full` or `normal`",
                self.store.durability
            ));
        }
        if self.ingest.batch_size == 0 || self.ingest.max_line_bytes < 64 {
            return bad("ingest.batch_size must be ≥ 1 and ingest.max_line_bytes ≥ 64".into());
        }
        self.decode_options()
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("ingest: {e}")))?;
        sommelier_types::ItemKind::new(&self.ingest.default_item_kind)
            .map_err(|e| ConfigError::Invalid(format!("ingest.default_item_kind {e}")))?;
        self.feature_config()
            .validate()
            .map_err(ConfigError::Invalid)?;
        let f = &self.fusion;
        let weights = [
            f.semantic,
            f.lexical,
            f.user_profile,
            f.collaborative,
            f.sequential,
            f.popular,
            f.popular_cold,
            f.trending,
            f.fresh,
        ];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0)
            || f.rrf_k.is_nan()
            || f.rrf_k < 0.0
            || f.per_source == 0
            || f.pool == 0
            || f.candidates.values().any(|n| *n == 0)
        {
            return bad(
                "fusion weights must be ≥ 0, fusion.rrf_k ≥ 0, fusion.per_source, fusion.candidates.* and fusion.pool ≥ 1"
                    .into(),
            );
        }
        let r = &self.rerank;
        if !(0.0..=1.0).contains(&r.mmr_lambda) || r.pool_factor == 0 {
            return bad(format!(
                "rerank.mmr_lambda must be in [0, 1] and rerank.pool_factor ≥ 1 (got {}, {})",
                r.mmr_lambda, r.pool_factor
            ));
        }
        for (name, v) in [
            ("launch_boost", r.launch_boost),
            ("launch_window_days", r.launch_window_days),
            ("explore_boost", r.explore_boost),
            ("margin_boost", r.margin_boost),
        ] {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("rerank.{name} must be ≥ 0 (got {v})"));
            }
        }
        let m = &self.models;
        if !(m.ease_lambda.is_finite() && m.ease_lambda > 0.0) {
            return bad(format!(
                "models.ease_lambda must be > 0 (got {})",
                m.ease_lambda
            ));
        }
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if !positive(m.als_regularization) || !positive(m.als_alpha) {
            return bad(format!(
                "models.als_regularization and als_alpha must be > 0 (got {} and {})",
                m.als_regularization, m.als_alpha
            ));
        }
        if !(1..=1024).contains(&m.als_factors) || m.als_iterations == 0 {
            return bad(format!(
                "models.als_factors must be 1..=1024 and als_iterations ≥ 1 (got {} and {})",
                m.als_factors, m.als_iterations
            ));
        }
        if m.ease_neighbors == 0
            || m.sequential_window == 0
            || m.sequential_neighbors == 0
            || m.fit_threads == 0
        {
            return bad("models.ease_neighbors, sequential_window, sequential_neighbors and fit_threads must be ≥ 1".into());
        }
        let mut experiments = self.experiments.clone();
        sommelier_experiments::check_all(&mut experiments)
            .map_err(|e| ConfigError::Invalid(format!("[[experiments]]: {e}")))?;
        crate::experiments::check_overrides(self, &experiments)
            .map_err(|e| ConfigError::Invalid(format!("[[experiments]]: {e}")))?;
        Ok(())
    }
}
