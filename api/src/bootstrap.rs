//! The admin credential: created on the first start of an empty database, or taken from
//! `broker.pak_hash`.

use brokkr_schema::config::Settings;
use brokkr_schema::pak::Pak;
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::Channels;
use brokkr_schema::store::{StoreResult, auth};
use sqlx::PgPool;

/// Makes sure an admin exists. On the first start without `broker.pak_hash`, generates the admin
/// PAK and prints it once on stdout (it is never stored or shown again). With `broker.pak_hash`,
/// the configured hash is the admin key on every start.
pub async fn ensure_admin(pool: &PgPool, settings: &Settings) -> StoreResult<()> {
    let channels = Channels::for_schema(settings.database.schema.as_deref());
    let mut tx = brokkr_schema::store::begin(pool).await?;
    let first_start = auth::claim_first_start(&mut tx).await?;
    let configured = settings
        .broker
        .pak_hash
        .as_deref()
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase);
    let current = auth::admin_hash(&mut tx).await?;
    let mut new_pak = None;
    let new_hash = match configured {
        Some(hash) if current.as_deref() != Some(hash.as_str()) => Some(hash),
        Some(_) => None,
        None if first_start || current.is_none() => {
            let pak = Pak::generate(&settings.pak);
            let hash = pak.hash();
            new_pak = Some(pak);
            Some(hash)
        }
        None => None,
    };
    if let Some(hash) = &new_hash {
        auth::set_admin_hash(&mut tx, hash).await?;
        if current.is_some() {
            changes::record(
                &mut tx,
                &channels,
                &Actor::system(),
                Change::AdminPakRotated,
            )
            .await?;
        }
    }
    tx.commit().await?;
    if let Some(pak) = new_pak {
        tracing::info!("first start: admin PAK created and printed on stdout (shown only once)");
        println!("Admin PAK: {}", pak.as_str());
    } else if new_hash.is_some() {
        tracing::info!("admin PAK hash set from broker.pak_hash");
    }
    Ok(())
}
