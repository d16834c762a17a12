//! The table on Amazon DynamoDB (or any DynamoDB-compatible server): one table, keys `pk`/`sk`, index `gsi1`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    KeysAndAttributes, Projection, ProjectionType, PutRequest, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableStatus, TimeToLiveSpecification, WriteRequest,
};

use super::*;

mod writes;

use writes::transact_item;

/// BatchGetItem takes at most this many keys per call.
const BATCH_GET_MAX: usize = 100;
/// BatchWriteItem takes at most this many items per call.
const BATCH_WRITE_MAX: usize = 25;

pub struct DynamoTable {
    client: Client,
    name: String,
    stats: TableStats,
}

impl DynamoTable {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into(), stats: TableStats::default() }
    }
}

type Attrs = HashMap<String, AttributeValue>;

fn attr_value(value: &Value) -> AttributeValue {
    match value {
        Value::S(s) => AttributeValue::S(s.clone()),
        Value::N(n) => AttributeValue::N(n.to_string()),
    }
}

fn to_attrs(item: &Item) -> Attrs {
    item.iter().map(|(name, value)| (name.clone(), attr_value(value))).collect()
}

fn from_attrs(attrs: Attrs) -> TableResult<Item> {
    attrs
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                AttributeValue::S(s) => Value::S(s),
                AttributeValue::N(n) => {
                    Value::N(n.parse().map_err(|e| internal(anyhow::anyhow!("attribute {name}: {e}")))?)
                }
                other => return Err(internal(anyhow::anyhow!("attribute {name} has an unexpected type: {other:?}"))),
            };
            Ok((name, value))
        })
        .collect()
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(key.pk.clone())),
        (SK.to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

fn internal(e: impl Into<anyhow::Error>) -> TableError {
    TableError::Internal(e.into())
}

/// Network trouble, throttling and server errors are `Unavailable` (worth a retry); the rest is a bug.
fn sdk_error<E>(error: SdkError<E, HttpResponse>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if crate::aws::is_transient(&error) {
        TableError::Unavailable(DisplayErrorContext(&error).to_string())
    } else {
        internal(anyhow::anyhow!("{}", DisplayErrorContext(&error)))
    }
}
#[async_trait::async_trait]
impl Table for DynamoTable {
    async fn ensure_created(&self) -> TableResult<()> {
        let string_attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(internal)
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(internal)
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key(GSI1_PK, KeyType::Hash)?)
            .key_schema(key(GSI1_SK, KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(internal)?;
        let created = self
            .client
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attr(PK)?)
            .attribute_definitions(string_attr(SK)?)
            .attribute_definitions(string_attr(GSI1_PK)?)
            .attribute_definitions(string_attr(GSI1_SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(index)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .map_err(internal)?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => return Ok(()),
            Err(e) => return Err(sdk_error(e)),
        }
        for _ in 0..120 {
            let described = self.client.describe_table().table_name(&self.name).send().await.map_err(sdk_error)?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.client
            .update_time_to_live()
            .table_name(&self.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().enabled(true).attribute_name(TTL).build().map_err(internal)?,
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn get(&self, key: &Key) -> TableResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        self.stats.record(TableOp::Get, output.item.is_some() as usize);
        output.item.map(from_attrs).transpose()
    }

    async fn batch_get(&self, keys: &[Key]) -> TableResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        let mut unique: Vec<&Key> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|k| key_attrs(k)).collect()))
                    .consistent_read(true)
                    .build()
                    .map_err(internal)?,
            );
            let mut backoff = Duration::from_millis(20);
            while let Some(request) = pending.take() {
                let output =
                    self.client.batch_get_item().request_items(&self.name, request).send().await.map_err(sdk_error)?;
                let items = output.responses.and_then(|mut r| r.remove(&self.name)).unwrap_or_default();
                self.stats.record(TableOp::BatchGet, items.len());
                for attrs in items {
                    found.push(from_attrs(attrs)?);
                }
                // Keys DynamoDB left unprocessed (throttling) are asked again after a short pause.
                pending = output.unprocessed_keys.and_then(|mut u| u.remove(&self.name)).filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
        Ok(found)
    }

    async fn query(&self, query: &Query) -> TableResult<Vec<Item>> {
        let (pk_name, sk_name, index_name) = match query.index {
            Index::Table => (PK, SK, None),
            Index::Gsi1 => (GSI1_PK, GSI1_SK, Some(GSI1)),
        };
        let mut values = HashMap::from([(":pk".to_string(), AttributeValue::S(query.pk.clone()))]);
        let sk_condition = match (&query.sk_from, &query.sk_to) {
            (Some(from), Some(to)) => {
                values.insert(":from".into(), AttributeValue::S(from.clone()));
                values.insert(":to".into(), AttributeValue::S(to.clone()));
                " AND #sk BETWEEN :from AND :to"
            }
            (Some(from), None) => {
                values.insert(":from".into(), AttributeValue::S(from.clone()));
                " AND #sk >= :from"
            }
            (None, Some(to)) => {
                values.insert(":to".into(), AttributeValue::S(to.clone()));
                " AND #sk <= :to"
            }
            (None, None) => "",
        };
        let mut names = HashMap::from([("#pk".to_string(), pk_name.to_string())]);
        if !sk_condition.is_empty() {
            names.insert("#sk".into(), sk_name.into());
        }
        let limit = query.limit.max(1);
        let mut found = Vec::new();
        let mut start = query.start_after.as_ref().map(to_attrs);
        // A query page stops at 1 MB; keep going until `limit` items or the end of the range.
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.name)
                .set_index_name(index_name.map(str::to_string))
                .key_condition_expression(format!("#pk = :pk{sk_condition}"))
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!query.descending)
                .limit(i32::try_from(limit - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            self.stats.record(TableOp::Query, usize::try_from(output.scanned_count).unwrap_or(0));
            for attrs in output.items.unwrap_or_default() {
                found.push(from_attrs(attrs)?);
            }
            match output.last_evaluated_key {
                Some(last) if found.len() < limit => start = Some(last),
                _ => return Ok(found),
            }
        }
    }

    async fn transact(&self, writes: Vec<Write>) -> TableResult<()> {
        let items = writes.into_iter().map(|w| transact_item(&self.name, w)).collect::<TableResult<Vec<_>>>()?;
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        self.stats.record(TableOp::Transact, 0);
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons: Vec<String> = match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => {
                        c.cancellation_reasons().iter().filter_map(|r| r.code().map(str::to_string)).collect()
                    }
                    _ => return Err(sdk_error(e)),
                };
                if reasons.iter().any(|r| r == "ConditionalCheckFailed") {
                    Err(TableError::ConditionFailed)
                } else if reasons.iter().any(|r| r == "TransactionConflict") {
                    Err(TableError::Conflict)
                } else {
                    Err(TableError::Unavailable(DisplayErrorContext(&e).to_string()))
                }
            }
        }
    }

    async fn put_many(&self, items: Vec<Item>) -> TableResult<()> {
        for chunk in items.chunks(BATCH_WRITE_MAX) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(to_attrs(item))).build().map_err(internal)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<TableResult<_>>()?;
            let mut backoff = Duration::from_millis(20);
            while !pending.is_empty() {
                let output =
                    self.client.batch_write_item().request_items(&self.name, std::mem::take(&mut pending)).send().await;
                // Counted before the outcome: a failed call may still have written.
                self.stats.record(TableOp::PutMany, 0);
                let output = output.map_err(sdk_error)?;
                // Items DynamoDB left unprocessed (throttling) are sent again after a short pause.
                pending = output.unprocessed_items.and_then(|mut u| u.remove(&self.name)).unwrap_or_default();
                if !pending.is_empty() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
        Ok(())
    }

    async fn add(&self, key: &Key, attr: &str, by: i64) -> TableResult<()> {
        let output = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key_attrs(key)))
            .update_expression("ADD #attr :by")
            .expression_attribute_names("#attr", attr)
            .expression_attribute_values(":by", AttributeValue::N(by.to_string()))
            .send()
            .await;
        self.stats.record(TableOp::Add, 0);
        output.map(drop).map_err(sdk_error)
    }

    fn stats(&self) -> &TableStats {
        &self.stats
    }
}
