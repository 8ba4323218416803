//! `serve`: the built service behind its own listeners — callbacks on `server.listen`, and
//! `/healthz` and `/metrics` there too or on `server.admin_listen` — until a signal.

use std::net::SocketAddr;

use actix_web::{App, HttpServer, web};

use super::{Embedded, Handle, Service, ServiceError};
use crate::config::Config;

/// A running service.
pub struct Running {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    servers: Vec<Listener>,
    handle: Handle,
}

/// A started HTTP server: its handle and its task.
struct Listener {
    handle: actix_web::dev::ServerHandle,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Service {
    /// Build the service and bind its listeners. Returns once they accept connections.
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn start(self) -> Result<Running, ServiceError> {
        let config = self.config.clone();
        let embedded: Embedded = self.build().await?;
        let callbacks = embedded.actix();
        let admin = embedded.actix_admin();
        let admin_here = config.server.admin_listen.is_none();
        let (addr, main) = listen(&config, config.server.listen, move || {
            let app = App::new().configure(callbacks.clone());
            if admin_here {
                app.configure(admin.clone())
            } else {
                app
            }
        })?;
        let mut servers = vec![main];
        let mut admin_addr = None;
        if let Some(at) = config.server.admin_listen {
            let admin = embedded.actix_admin();
            let (bound, server) = listen(&config, at, move || {
                App::new()
                    .configure(admin.clone())
                    .default_service(web::to(crate::web::actix::not_found))
            })?;
            admin_addr = Some(bound);
            servers.push(server);
        }
        tracing::info!(listen = %addr, admin = ?admin_addr, apps = config.apps.len(), "serving");
        Ok(Running {
            addr,
            admin_addr,
            servers,
            handle: embedded.handle(),
        })
    }
}

fn listen<F, A>(
    config: &Config,
    addr: SocketAddr,
    factory: F,
) -> Result<(SocketAddr, Listener), ServiceError>
where
    F: Fn() -> App<A> + Send + Clone + 'static,
    A: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    let bind_error = |source| ServiceError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let mut server = HttpServer::new(factory)
        .disable_signals()
        .shutdown_timeout(config.server.shutdown_timeout.as_secs().max(1));
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let server = server.listen(listener).map_err(bind_error)?.run();
    let handle = server.handle();
    Ok((
        local,
        Listener {
            handle,
            join: tokio::spawn(server),
        },
    ))
}

impl Running {
    /// The bound callback address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound admin address (`/healthz`, `/metrics`) when `admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Stop accepting, let running handlers finish within `shutdown_timeout`, and release the
    /// deliveries still running so the next start takes them at once.
    pub async fn stop(self) {
        tracing::info!("shutting down");
        for server in &self.servers {
            server.handle.stop(true).await;
        }
        self.handle.stop().await;
        for server in self.servers {
            let _ = server.join.await;
        }
    }

    /// Serve until SIGTERM or SIGINT, then [`Running::stop`].
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        self.stop().await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
