//! Labels and annotations, one implementation for the three resources that carry them: agents,
//! stacks and template versions. Each resource names its tables, its id column, its wire types
//! and its change records once, in an [`Owner`] implementation; the queries are assembled from
//! those constant names only (values are always bound as parameters).

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::changes::{Change, Labelled};
use super::{StoreError, StoreResult};
use crate::models::{
    AgentAnnotation, AgentLabel, StackAnnotation, StackLabel, TemplateAnnotation, TemplateLabel,
};

/// A resource that carries labels and annotations (implemented below with `owner!`).
pub trait Owner {
    /// The label table (`agent_labels`).
    const LABELS: &'static str;
    /// The annotation table (`agent_annotations`).
    const ANNOTATIONS: &'static str;
    /// The column holding the resource's id in both tables (`agent_id`).
    const ID: &'static str;
    /// Columns returned after the wire type's own, each with a leading comma (`""` or
    /// `", created_at"`).
    const EXTRA: &'static str;
    /// A label as the wire shows it.
    type Label: Entry<Self>;
    /// An annotation as the wire shows it.
    type Annotation: Entry<Self>;

    /// Which resource, in the change records.
    const LABELLED: Labelled;
}

/// A row of one of `O`'s label or annotation tables, as the wire shows it.
pub trait Entry<O: Owner + ?Sized>: for<'r> FromRow<'r, PgRow> + Send + Unpin {
    /// Which table.
    const KIND: Kind;
}

/// Labels or annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Label,
    Annotation,
}

/// The change record of adding `label` to `O`'s resource `id`.
pub fn label_added<O: Owner + ?Sized>(id: Uuid, label: &str) -> Change<'_> {
    Change::LabelAdded {
        on: O::LABELLED,
        id,
        label,
    }
}

/// The change record of adding the annotation `key` = `value` to `O`'s resource `id`.
pub fn annotation_added<'a, O: Owner + ?Sized>(
    id: Uuid,
    key: &'a str,
    value: &'a str,
) -> Change<'a> {
    Change::AnnotationAdded {
        on: O::LABELLED,
        id,
        key,
        value,
    }
}

/// The change record of removing the label or annotation (`kind`) named `name` from `O`'s
/// resource `id`.
pub fn removed<O: Owner + ?Sized>(kind: Kind, id: Uuid, name: &str) -> Change<'_> {
    let on = O::LABELLED;
    match kind {
        Kind::Label => Change::LabelRemoved {
            on,
            id,
            label: name,
        },
        Kind::Annotation => Change::AnnotationRemoved { on, id, key: name },
    }
}

impl Kind {
    /// What a missing one is called in a 404 (`Label not found`).
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Label => "Label",
            Kind::Annotation => "Annotation",
        }
    }

    /// The table of `O`'s labels or annotations.
    fn table<O: Owner>(self) -> &'static str {
        match self {
            Kind::Label => O::LABELS,
            Kind::Annotation => O::ANNOTATIONS,
        }
    }

    /// The column that names one (a label, an annotation's key).
    fn name_column(self) -> &'static str {
        match self {
            Kind::Label => "label",
            Kind::Annotation => "key",
        }
    }

    /// The columns written on adding one, and their parameters (after the id's `$1`).
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Kind::Label => ("label", "$2"),
            Kind::Annotation => ("key, value", "$2, $3"),
        }
    }
}

/// Implements [`Owner`] for `$owner`: id column, extra columns, the two tables with their
/// wire types, and the resource in change records.
macro_rules! owner {
    ($owner:ident: $id:ident, $extra:literal,
     $labels:literal => $label:ty, $annotations:literal => $annotation:ty, $labelled:ident) => {
        impl Owner for $owner {
            const LABELS: &'static str = $labels;
            const ANNOTATIONS: &'static str = $annotations;
            const ID: &'static str = stringify!($id);
            const EXTRA: &'static str = $extra;
            const LABELLED: Labelled = Labelled::$labelled;
            type Label = $label;
            type Annotation = $annotation;
        }
        impl Entry<$owner> for $label {
            const KIND: Kind = Kind::Label;
        }
        impl Entry<$owner> for $annotation {
            const KIND: Kind = Kind::Annotation;
        }
    };
}

/// An agent's labels and annotations.
pub struct Agents;
owner!(Agents: agent_id, "", "agent_labels" => AgentLabel,
       "agent_annotations" => AgentAnnotation, Agent);

/// A stack's labels and annotations.
pub struct Stacks;
owner!(Stacks: stack_id, "", "stack_labels" => StackLabel,
       "stack_annotations" => StackAnnotation, Stack);

/// A template version's labels and annotations (carried over to its next version by
/// [`super::templates::create_version`]).
pub struct Templates;
owner!(Templates: template_id, ", created_at", "template_labels" => TemplateLabel,
       "template_annotations" => TemplateAnnotation, Template);

/// The labels or annotations (`E` says which) of resource `id`, by label or key.
pub async fn list<O: Owner, E: Entry<O>>(conn: &mut PgConnection, id: Uuid) -> StoreResult<Vec<E>> {
    Ok(sqlx::query_as(sqlf!(
        "SELECT id, {id_col}, {columns}{extra} FROM {table} WHERE {id_col} = $1 ORDER BY {name}",
        id_col = O::ID,
        columns = E::KIND.columns().0,
        extra = O::EXTRA,
        table = E::KIND.table::<O>(),
        name = E::KIND.name_column(),
    ))
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// Adds a label; `Conflict` when the resource already has it.
pub async fn add_label<O: Owner>(
    conn: &mut PgConnection,
    id: Uuid,
    label: &str,
) -> StoreResult<O::Label> {
    let conflict = format!("the {} already has this label", O::LABELLED.resource_type());
    insert::<O, O::Label>(conn, id, &[label], &conflict).await
}

/// Adds an annotation; `Conflict` when the resource already has one with this key.
pub async fn add_annotation<O: Owner>(
    conn: &mut PgConnection,
    id: Uuid,
    key: &str,
    value: &str,
) -> StoreResult<O::Annotation> {
    let conflict = format!(
        "the {} already has an annotation with this key",
        O::LABELLED.resource_type()
    );
    insert::<O, O::Annotation>(conn, id, &[key, value], &conflict).await
}

/// Inserts a row of `E`'s table for resource `id` with `values` for its columns.
async fn insert<O: Owner, E: Entry<O>>(
    conn: &mut PgConnection,
    id: Uuid,
    values: &[&str],
    conflict: &str,
) -> StoreResult<E> {
    let (columns, params) = E::KIND.columns();
    let mut query = sqlx::query_as(sqlf!(
        "INSERT INTO {table} ({id_col}, {columns}) VALUES ($1, {params})
         RETURNING id, {id_col}, {columns}{extra}",
        table = E::KIND.table::<O>(),
        id_col = O::ID,
        extra = O::EXTRA,
    ))
    .bind(id);
    for value in values {
        query = query.bind(*value);
    }
    query
        .fetch_one(conn)
        .await
        .map_err(|e| StoreError::classify(e, conflict))
}

/// Removes the label or annotation (by key) `name` of resource `id`; `NotFound` when it was not
/// there.
pub async fn remove<O: Owner>(
    conn: &mut PgConnection,
    kind: Kind,
    id: Uuid,
    name: &str,
) -> StoreResult<()> {
    let done = sqlx::query(sqlf!(
        "DELETE FROM {table} WHERE {id_col} = $1 AND {name_col} = $2",
        table = kind.table::<O>(),
        id_col = O::ID,
        name_col = kind.name_column(),
    ))
    .bind(id)
    .bind(name)
    .execute(conn)
    .await?;
    match done.rows_affected() {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}
