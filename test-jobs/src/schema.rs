//! The JSON schema of a test plan entry, completed from the catalogue: `uses` lists the
//! entries and `with` is described per entry (`if uses is X then with is …`), so editors check
//! and complete parameters the way [`Catalogue::check_plan`](crate::Catalogue::check_plan) does.

use schemars::Schema;
use serde_json::{Map, Value, json};

use crate::catalogue::{Catalogue, Parameter};
use crate::parameters::ParameterType;

/// A schemars transform for [`TestPlanEntry`](crate::TestPlanEntry).
pub(crate) fn parameters_per_entry(schema: &mut Schema) {
    let catalogue = Catalogue::builtin();
    let names: Vec<&str> = catalogue
        .entries()
        .iter()
        .map(|entry| entry.name.as_str())
        .collect();
    if let Some(uses) = schema
        .get_mut("properties")
        .and_then(|properties| properties.get_mut("uses"))
        .and_then(Value::as_object_mut)
    {
        uses.insert("enum".to_owned(), json!(names));
    }
    let conditions: Vec<Value> = catalogue
        .entries()
        .iter()
        .map(|entry| {
            json!({
                "if": { "properties": { "uses": { "const": entry.name } }, "required": ["uses"] },
                "then": { "properties": { "with": object(&entry.parameters, &entry.description) } },
            })
        })
        .collect();
    schema.insert("allOf".to_owned(), Value::Array(conditions));
}

/// The schema of a map with these fields.
fn object(fields: &[Parameter], description: &str) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|field| {
            let mut schema = of_type(&field.kind);
            schema["description"] = json!(field.description);
            if let Some(default) = &field.default {
                schema["default"] = default.clone();
            }
            (field.name.clone(), schema)
        })
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|field| field.required)
        .map(|field| field.name.as_str())
        .collect();
    json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn of_type(kind: &ParameterType) -> Value {
    match kind {
        ParameterType::Duration => json!({ "type": "string", "examples": ["20s", "5m", "500ms"] }),
        ParameterType::Integer { minimum, maximum } => {
            let mut schema = json!({ "type": "integer" });
            if let Some(minimum) = minimum {
                schema["minimum"] = json!(minimum);
            }
            if let Some(maximum) = maximum {
                schema["maximum"] = json!(maximum);
            }
            schema
        }
        ParameterType::Boolean => json!({ "type": "boolean" }),
        ParameterType::String | ParameterType::Path => json!({ "type": "string", "minLength": 1 }),
        ParameterType::Status => json!({
            "anyOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": "^[1-5]([0-9]{2}|[xX]{2})$" },
            ],
        }),
        ParameterType::HttpUrl => {
            json!({ "type": "string", "pattern": "^[hH][tT][tT][pP]://[^~\\s]+$" })
        }
        ParameterType::Components => json!({
            "type": "array",
            "items": { "type": "string" },
            "minItems": 1,
            "uniqueItems": true,
        }),
        ParameterType::List { items, min_items } => json!({
            "type": "array",
            "items": of_type(items),
            "minItems": min_items,
        }),
        ParameterType::Object { fields } => {
            let mut schema = object(fields, "");
            schema.as_object_mut().map(|map| map.remove("description"));
            schema
        }
        ParameterType::Map => json!({ "type": "object" }),
    }
}
