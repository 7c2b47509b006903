//! The HTTP server: a thin axum layer that extracts a request, calls the engine
//! once (on a blocking thread when it touches the disk) and converts the answer.
//! Errors are mapped to HTTP in one place, [`error`].

pub mod access;
mod conn;
pub mod error;
mod json_errors;
pub mod openapi;
mod routes;
mod ui;

use axum::Router;
use sommelier_engine::{Engine, Refit};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Shared state of every handler.
pub type AppState = Arc<Engine>;

/// The router with every route behind the access middleware.
pub fn router(engine: AppState, access: Arc<access::Access>) -> Router {
    routes::router(engine, access)
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish (up to
/// `server.shutdown_grace_secs`). A background task folds events written by other
/// processes into the online features every `server.tail_interval_secs`, and
/// applies their catalog changes, experiments and the models they fitted.
pub async fn serve(
    engine: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if engine.config().server.exposure_log {
        engine.start_exposure_log();
    }
    // A stream that cannot be reached, or refuses the credentials, stops
    // the start with the reason: events would have nowhere durable to go.
    {
        let e = engine.clone();
        match tokio::task::spawn_blocking(move || e.connect_stream()).await {
            Ok(Ok(true)) => {
                let s = &engine.config().stream;
                tracing::info!(
                    url = %sommelier_stream::redact(&s.url),
                    stream = %s.name,
                    consumer = %s.consumer,
                    "events go through the NATS JetStream stream"
                );
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                return Err(std::io::Error::other(format!(
                    "cannot use the event stream: {e}"
                )));
            }
            Err(e) => return Err(std::io::Error::other(e)),
        }
    }
    // The vector index and catalog snapshot are built in the background,
    // beside the online features, so the first requests do not pay for
    // them (seconds on a large catalog).
    {
        let e = engine.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(err) = e.warm_up_index() {
                tracing::warn!(error = %err, "could not build the vector index at start");
            }
            // The LLM layer too (loading a local model takes a moment); a
            // failure here is reported again on the first chat turn.
            if let Err(err) = e.llm() {
                tracing::warn!(error = %err, "could not load the LLM layer at start");
            }
        });
    }
    {
        let e = engine.clone();
        match tokio::task::spawn_blocking(move || e.warm_up()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(std::io::Error::other(format!(
                    "cannot build the online features or load the experiments: {e}"
                )));
            }
            Err(e) => return Err(std::io::Error::other(e)),
        }
    }
    let local = listener.local_addr()?;
    let access = Arc::new(
        access::Access::new(&engine, local)
            .map_err(|e| std::io::Error::other(format!("cannot set up access control: {e}")))?,
    );
    if engine.config().auth.enabled && access.key_count() == 0 {
        tracing::warn!(
            "authentication is on and there is no API key yet: create one with `sommelier keys create --name NAME --scopes read,ingest,admin`"
        );
    }
    if !engine.config().auth.enabled {
        tracing::warn!(
            "authentication is OFF (auth.enabled = false): anyone who reaches the port can do anything"
        );
    }
    let tail = {
        let engine = engine.clone();
        let access = access.clone();
        let every = Duration::from_secs_f64(engine.config().server.tail_interval_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let e = engine.clone();
                let a = access.clone();
                match tokio::task::spawn_blocking(move || {
                    a.refresh(&e);
                    let n = e.catch_up();
                    if let Err(err) = e.save_features(false) {
                        tracing::warn!(error = %err, "could not save the online features");
                    }
                    if let Err(err) = e.follow_catalog() {
                        tracing::warn!(error = %err, "could not apply catalog changes from the log");
                    }
                    match e.follow_experiments() {
                        Ok(true) => tracing::info!("experiments changed by another process: reloaded"),
                        Ok(false) => {}
                        Err(err) => {
                            tracing::warn!(error = %err, "could not follow the stored experiments")
                        }
                    }
                    match e.follow_models() {
                        Ok(Some(version)) => {
                            tracing::info!(%version, "loaded models fitted by another process")
                        }
                        Ok(None) => {}
                        Err(err) => {
                            tracing::warn!(error = %err, "could not load the models fitted by another process")
                        }
                    }
                    n
                })
                .await
                {
                    Ok(Ok(n)) if n > 0 => {
                        tracing::info!(events = n, "followed new events from the log")
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "could not follow the event log"),
                    _ => {}
                }
            }
        })
    };
    let stream = engine
        .streaming()
        .then(|| tokio::spawn(stream_loop(engine.clone())));
    let refit = tokio::spawn(refit_loop(engine.clone()));
    let backlog = tokio::spawn(backlog_loop(engine.clone()));
    let catalog = tokio::spawn(catalog_save_loop(engine.clone()));
    let grace = Duration::from_secs(engine.config().server.shutdown_grace_secs);
    let limits = conn::Limits {
        header_timeout: Duration::from_secs(engine.config().server.header_timeout_secs),
        idle_timeout: Duration::from_secs(engine.config().server.idle_timeout_secs),
        max_connections: engine.config().server.max_connections,
    };
    let app = router(engine.clone(), access);
    let result = conn::serve(
        listener,
        app,
        limits,
        async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
        },
        grace,
    )
    .await;
    tail.abort();
    if let Some(stream) = stream {
        stream.abort();
    }
    refit.abort();
    backlog.abort();
    catalog.abort();
    // The next start follows the logs from here instead of reading them
    // whole.
    let saved = tokio::task::spawn_blocking(move || {
        // What the exposure log still queues is committed first.
        engine.flush_exposures(std::time::Duration::from_secs(5));
        (engine.save_features(true), engine.save_catalog(true))
    })
    .await;
    match saved {
        Ok((features, catalog)) => {
            match features {
                Ok(Some(saved)) => tracing::info!(
                    events = saved.events,
                    bytes = saved.bytes,
                    ms = saved.ms,
                    "online features saved"
                ),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "could not save the online features"),
            }
            if let Err(err) = catalog {
                tracing::warn!(error = %err, "could not save the catalog snapshot");
            }
        }
        Err(err) => tracing::warn!(error = %err, "the final saves did not finish"),
    }
    result
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Consumes this replica's share of the event stream
/// ([`Engine::follow_stream`]) without pause while messages come; when the
/// stream or the store cannot be reached, retries every second (the
/// messages wait in the stream, unacknowledged).
async fn stream_loop(engine: AppState) {
    let mut failing = false;
    loop {
        let e = engine.clone();
        match tokio::task::spawn_blocking(move || e.follow_stream(Duration::from_secs(1))).await {
            Ok(Ok(pass)) => {
                if failing {
                    tracing::info!("following the event stream again");
                    failing = false;
                }
                if pass.messages > 0 {
                    tracing::debug!(
                        messages = pass.messages,
                        written = pass.written,
                        duplicates = pass.duplicates,
                        rejected = pass.rejected,
                        "followed the event stream"
                    );
                }
            }
            Ok(Err(err)) => {
                if !failing {
                    tracing::warn!(error = %err, "cannot follow the event stream; retrying every second");
                }
                failing = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// Embeds items left without vectors ([`Engine::embed_backlog`]): once at
/// start, then whenever an ingest left some behind, checked every 5 s.
async fn backlog_loop(engine: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let e = engine.clone();
        match tokio::task::spawn_blocking(move || e.embed_backlog()).await {
            Ok(Ok(Some(r))) if r.embedded + r.removed > 0 => tracing::info!(
                embedded = r.embedded,
                removed = r.removed,
                seconds = r.seconds,
                "embedding backlog done"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "embedding backlog failed; retrying"),
            _ => {}
        }
    }
}

/// Saves the catalog snapshot when it is due (`server.catalog_save_secs`),
/// beside the tail loop: a save at 1M items takes seconds of writing, and
/// events keep being followed meanwhile.
async fn catalog_save_loop(engine: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let e = engine.clone();
        if let Ok(Err(err)) = tokio::task::spawn_blocking(move || e.save_catalog(false)).await {
            tracing::warn!(error = %err, "could not save the catalog snapshot");
        }
    }
}

/// Keeps the collaborative models current on the engine's schedule
/// ([`Engine::refit_at_start`], then [`Engine::refit_if_due`] every
/// `models.refit_interval_secs`); fits run on a blocking thread, and
/// requests keep the models they started with.
async fn refit_loop(engine: AppState) {
    async fn run(engine: &AppState, step: fn(&Engine) -> sommelier_engine::Result<Option<Refit>>) {
        let e = engine.clone();
        match tokio::task::spawn_blocking(move || step(&e)).await {
            Ok(Ok(Some(Refit { reason, report }))) => tracing::info!(
                version = %report.version,
                seconds = report.seconds,
                why = reason.as_str(),
                "models refitted"
            ),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "model fit failed; serving the previous models")
            }
            Err(e) => tracing::warn!(error = %e, "model fit panicked"),
        }
    }
    run(&engine, Engine::refit_at_start).await;
    let Some(every) = engine.refit_interval() else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        run(&engine, Engine::refit_if_due).await;
    }
}
