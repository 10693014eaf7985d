//! CORS that follows configuration reloads: the `cors.*` settings in effect are read on each
//! request, and the CORS endpoint is rebuilt only when they changed.

use std::sync::{Arc, RwLock};

use brokkr_schema::config::{CorsSettings, Settings};
use brokkr_schema::live::LiveSettings;
use poem::middleware::{Cors, CorsEndpoint};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

/// The middleware: wrap the application with it.
pub struct LiveCors {
    live: Arc<LiveSettings>,
}

impl LiveCors {
    pub fn new(live: Arc<LiveSettings>) -> Self {
        Self { live }
    }
}

fn cors_of(settings: &CorsSettings) -> Cors {
    let max_age = i32::try_from(settings.max_age_seconds).unwrap_or(i32::MAX);
    let mut cors = Cors::new().max_age(max_age);
    if !settings.allowed_origins.iter().any(|o| o == "*") {
        cors = cors.allow_origins(settings.allowed_origins.iter().map(String::as_str));
    }
    for method in &settings.allowed_methods {
        if let Ok(m) = method.parse::<poem::http::Method>() {
            cors = cors.allow_method(m);
        }
    }
    cors.allow_headers(settings.allowed_headers.iter().map(String::as_str))
}

type Built<E> = (Arc<Settings>, Arc<CorsEndpoint<Arc<E>>>);

/// The application behind CORS as currently configured.
pub struct LiveCorsEndpoint<E> {
    inner: Arc<E>,
    live: Arc<LiveSettings>,
    built: RwLock<Built<E>>,
}

impl<E: Endpoint> Middleware<E> for LiveCors {
    type Output = LiveCorsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        let inner = Arc::new(ep);
        let settings = self.live.current();
        let endpoint = Arc::new(cors_of(&settings.cors).transform(inner.clone()));
        LiveCorsEndpoint {
            inner,
            live: self.live.clone(),
            built: RwLock::new((settings, endpoint)),
        }
    }
}

impl<E: Endpoint> LiveCorsEndpoint<E> {
    fn current(&self) -> Arc<CorsEndpoint<Arc<E>>> {
        let settings = self.live.current();
        {
            let built = self.built.read().unwrap_or_else(|p| p.into_inner());
            if Arc::ptr_eq(&built.0, &settings) || built.0.cors == settings.cors {
                return built.1.clone();
            }
        }
        let endpoint = Arc::new(cors_of(&settings.cors).transform(self.inner.clone()));
        let mut built = self.built.write().unwrap_or_else(|p| p.into_inner());
        *built = (settings, endpoint.clone());
        endpoint
    }
}

impl<E: Endpoint> Endpoint for LiveCorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let endpoint = self.current();
        endpoint.call(req).await.map(IntoResponse::into_response)
    }
}
