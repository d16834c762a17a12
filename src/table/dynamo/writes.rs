//! A `Write` as DynamoDB's transaction items: puts with their conditions, and updates as expressions (adds,
//! sets, and the checks they are made on).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use super::{attr_value, internal, key_attrs, to_attrs};
use crate::table::*;

pub(super) fn transact_item(table: &str, write: Write) -> TableResult<TransactWriteItem> {
    let builder = TransactWriteItem::builder();
    let built = match write {
        Write::Put(item) => {
            builder.put(Put::builder().table_name(table).set_item(Some(to_attrs(&item))).build().map_err(internal)?)
        }
        Write::PutIfAbsent(item) => builder.put(
            Put::builder()
                .table_name(table)
                .set_item(Some(to_attrs(&item)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(internal)?,
        ),
        Write::Update { key, add, set, checks } => {
            builder.update(update_expression(table, key, add, set, checks, true)?)
        }
        // UpdateItem creates an absent item, as `ADD` does an absent attribute.
        Write::Increment { key, attr, by } => {
            builder.update(update_expression(table, key, vec![(attr, by)], vec![], vec![], false)?)
        }
        Write::Delete(key) => builder
            .delete(Delete::builder().table_name(table).set_key(Some(key_attrs(&key))).build().map_err(internal)?),
        Write::DeleteExisting(key) => builder.delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key_attrs(&key)))
                .condition_expression("attribute_exists(pk)")
                .build()
                .map_err(internal)?,
        ),
    };
    Ok(built.build())
}

/// An `Update` as DynamoDB expressions: `SET … ADD …` on the condition that the item exists (if `must_exist`)
/// and every check holds. Each attribute name gets one placeholder, shared by the update and the condition.
fn update_expression(
    table: &str,
    key: Key,
    add: Vec<(String, i64)>,
    set: Vec<(String, Value)>,
    checks: Vec<Check>,
    must_exist: bool,
) -> TableResult<Update> {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut placeholder = |attr: &str| -> String {
        if let Some((placeholder, _)) = names.iter().find(|(_, name)| name.as_str() == attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#a{}", names.len());
        names.insert(placeholder.clone(), attr.to_string());
        placeholder
    };
    let mut values = HashMap::new();
    let mut value = |attribute: AttributeValue| -> String {
        let name = format!(":v{}", values.len());
        values.insert(name.clone(), attribute);
        name
    };
    let mut clauses = Vec::new();
    let sets: Vec<String> =
        set.iter().map(|(attr, v)| format!("{} = {}", placeholder(attr), value(attr_value(v)))).collect();
    if !sets.is_empty() {
        clauses.push(format!("SET {}", sets.join(", ")));
    }
    let adds: Vec<String> = add
        .iter()
        .map(|(attr, by)| format!("{} {}", placeholder(attr), value(AttributeValue::N(by.to_string()))))
        .collect();
    if !adds.is_empty() {
        clauses.push(format!("ADD {}", adds.join(", ")));
    }
    let mut condition: Vec<String> = must_exist.then(|| "attribute_exists(pk)".to_string()).into_iter().collect();
    for check in &checks {
        condition.push(match check {
            Check::Equals(attr, n) => format!("{} = {}", placeholder(attr), value(AttributeValue::N(n.to_string()))),
            Check::AtLeast(attr, n) => format!("{} >= {}", placeholder(attr), value(AttributeValue::N(n.to_string()))),
            Check::AbsentOrBefore(attr, bound) => {
                let attr = placeholder(attr);
                format!("(attribute_not_exists({attr}) OR {attr} < {})", value(AttributeValue::S(bound.clone())))
            }
            Check::Revision(attr, 0) => format!("attribute_not_exists({})", placeholder(attr)),
            Check::Revision(attr, n) => format!("{} = {}", placeholder(attr), value(AttributeValue::N(n.to_string()))),
            Check::StringIs(attr, None) => format!("attribute_not_exists({})", placeholder(attr)),
            Check::StringIs(attr, Some(s)) => {
                format!("{} = {}", placeholder(attr), value(AttributeValue::S(s.clone())))
            }
        });
    }
    Update::builder()
        .table_name(table)
        .set_key(Some(key_attrs(&key)))
        .update_expression(clauses.join(" "))
        .set_condition_expression((!condition.is_empty()).then(|| condition.join(" AND ")))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(internal)
}
