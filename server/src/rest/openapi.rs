//! `/openapi.json` and the index page, written from two sources that already
//! exist: the route table ([`super::ROUTES`]) and the descriptor set compiled
//! from the .proto files (the same bytes reflection serves). Message schemas,
//! field names, enum values and every description come from the descriptors and
//! their comments, so the document cannot drift from the .proto.

use super::{ROUTES, Route};
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

/// The descriptors, decoded once.
static PROTOS: LazyLock<Protos> = LazyLock::new(Protos::load);

/// The document, built once: its inputs are compiled in.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let doc = document(&PROTOS, ROUTES);
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
});

pub fn document_json() -> String {
    DOCUMENT.clone()
}

/// What the descriptors say, indexed by full name (`.kefu.v1.AskRequest`).
struct Protos {
    messages: BTreeMap<String, (DescriptorProto, Comments)>,
    enums: BTreeMap<String, (EnumDescriptorProto, Comments)>,
    /// `kefu.v1.Answers/Ask` → (input type, output type, comment).
    methods: HashMap<String, (String, String, String)>,
}

/// Leading comments of one declaration and its members (fields or enum values), by index.
#[derive(Default, Clone)]
struct Comments {
    own: String,
    members: HashMap<i32, String>,
}

// Field numbers in descriptor.proto that locate a declaration in SourceCodeInfo paths.
const FILE_MESSAGE: i32 = 4;
const FILE_ENUM: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED: i32 = 3;
const MESSAGE_ENUM: i32 = 4;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

impl Protos {
    fn load() -> Self {
        let set = FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set is written by protoc at build time");
        let mut p = Protos {
            messages: BTreeMap::new(),
            enums: BTreeMap::new(),
            methods: HashMap::new(),
        };
        for file in set.file {
            let comments: HashMap<Vec<i32>, String> = file
                .source_code_info
                .iter()
                .flat_map(|i| &i.location)
                .filter_map(|l| Some((l.path.clone(), clean(l.leading_comments.as_deref()?))))
                .collect();
            let package = format!(".{}", file.package());
            for (i, m) in file.message_type.iter().enumerate() {
                p.add_message(&package, m, vec![FILE_MESSAGE, i as i32], &comments);
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                p.add_enum(&package, e, vec![FILE_ENUM, i as i32], &comments);
            }
            for (s, service) in file.service.iter().enumerate() {
                for (m, method) in service.method.iter().enumerate() {
                    let path = vec![FILE_SERVICE, s as i32, SERVICE_METHOD, m as i32];
                    p.methods.insert(
                        format!("{}.{}/{}", file.package(), service.name(), method.name()),
                        (
                            method.input_type().to_string(),
                            method.output_type().to_string(),
                            comments.get(&path).cloned().unwrap_or_default(),
                        ),
                    );
                }
            }
        }
        p
    }

    fn add_message(
        &mut self,
        scope: &str,
        m: &DescriptorProto,
        path: Vec<i32>,
        comments: &HashMap<Vec<i32>, String>,
    ) {
        let name = format!("{scope}.{}", m.name());
        for (i, nested) in m.nested_type.iter().enumerate() {
            self.add_message(
                &name,
                nested,
                [&path[..], &[MESSAGE_NESTED, i as i32]].concat(),
                comments,
            );
        }
        for (i, e) in m.enum_type.iter().enumerate() {
            self.add_enum(
                &name,
                e,
                [&path[..], &[MESSAGE_ENUM, i as i32]].concat(),
                comments,
            );
        }
        let c = members(&path, MESSAGE_FIELD, m.field.len(), comments);
        self.messages.insert(name, (m.clone(), c));
    }

    fn add_enum(
        &mut self,
        scope: &str,
        e: &EnumDescriptorProto,
        path: Vec<i32>,
        comments: &HashMap<Vec<i32>, String>,
    ) {
        let c = members(&path, ENUM_VALUE, e.value.len(), comments);
        self.enums.insert(format!("{scope}.{}", e.name()), (e.clone(), c));
    }

    /// The schema of one field's value in the proto3 JSON mapping.
    fn field_schema(&self, f: &FieldDescriptorProto) -> Value {
        if f.label() == Label::Repeated
            && let Some((entry, _)) = self.messages.get(f.type_name())
            && entry.options.as_ref().and_then(|o| o.map_entry) == Some(true)
        {
            // map<K, V>: a JSON object; keys are strings whatever K is.
            let value = entry
                .field
                .iter()
                .find(|v| v.number() == 2)
                .expect("a map entry has a value");
            return json!({"type": "object", "additionalProperties": self.scalar_schema(value)});
        }
        let one = self.scalar_schema(f);
        if f.label() == Label::Repeated {
            json!({"type": "array", "items": one})
        } else {
            one
        }
    }

    fn scalar_schema(&self, f: &FieldDescriptorProto) -> Value {
        match f.r#type() {
            Type::String => json!({"type": "string"}),
            Type::Bool => json!({"type": "boolean"}),
            Type::Bytes => json!({"type": "string", "format": "byte"}),
            Type::Float => json!({"type": "number", "format": "float"}),
            Type::Double => json!({"type": "number", "format": "double"}),
            Type::Int32 | Type::Sint32 | Type::Sfixed32 => json!({"type": "integer", "format": "int32"}),
            Type::Uint32 | Type::Fixed32 => json!({"type": "integer", "format": "int32", "minimum": 0}),
            // The JSON mapping writes 64-bit integers as decimal strings (numbers are accepted too).
            Type::Int64 | Type::Sint64 | Type::Sfixed64 => json!({"type": "string", "format": "int64"}),
            Type::Uint64 | Type::Fixed64 => json!({"type": "string", "format": "uint64"}),
            Type::Enum | Type::Message | Type::Group => {
                json!({"$ref": format!("#/components/schemas/{}", schema_name(f.type_name()))})
            }
        }
    }

    fn message_schema(&self, m: &DescriptorProto, c: &Comments) -> Value {
        let mut properties = Map::new();
        for (i, f) in m.field.iter().enumerate() {
            let mut s = self.field_schema(f);
            let mut description = c.members.get(&(i as i32)).cloned().unwrap_or_default();
            if let Some(o) = f.oneof_index
                && !f.proto3_optional()
            {
                let group = m.oneof_decl[o as usize].name();
                let note = format!("One of `{group}`: set at most one of its fields.");
                description = [description, note].join("\n").trim().to_string();
            }
            if !description.is_empty() {
                s = with_description(s, &description);
            }
            properties.insert(json_name(f), s);
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if !c.own.is_empty() {
            schema["description"] = c.own.clone().into();
        }
        schema
    }

    fn enum_schema(&self, e: &EnumDescriptorProto, c: &Comments) -> Value {
        let values: Vec<&str> = e.value.iter().map(|v| v.name()).collect();
        let mut lines: Vec<String> = Vec::new();
        if !c.own.is_empty() {
            lines.push(c.own.clone());
        }
        for (i, v) in e.value.iter().enumerate() {
            if let Some(d) = c.members.get(&(i as i32)) {
                lines.push(format!("- `{}`: {d}", v.name()));
            }
        }
        let mut s = json!({"type": "string", "enum": values});
        if !lines.is_empty() {
            s["description"] = lines.join("\n").into();
        }
        s
    }
}

fn members(path: &[i32], kind: i32, n: usize, comments: &HashMap<Vec<i32>, String>) -> Comments {
    Comments {
        own: comments.get(path).cloned().unwrap_or_default(),
        members: (0..n as i32)
            .filter_map(|i| Some((i, comments.get(&[path, &[kind, i]].concat())?.clone())))
            .collect(),
    }
}

/// A .proto comment as one paragraph of text.
fn clean(c: &str) -> String {
    c.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `.kefu.v1.Agent` → `Agent`; a nested type keeps its parent: `Outer.Inner`.
fn schema_name(full: &str) -> String {
    full.trim_start_matches('.')
        .strip_prefix("kefu.v1.")
        .unwrap_or(full)
        .to_string()
}

/// The field's name in JSON: protoc's `json_name` (lowerCamelCase of the .proto name).
fn json_name(f: &FieldDescriptorProto) -> String {
    match &f.json_name {
        Some(n) if !n.is_empty() => n.clone(),
        _ => {
            let mut out = String::new();
            let mut upper = false;
            for ch in f.name().chars() {
                if ch == '_' {
                    upper = true;
                } else if upper {
                    out.extend(ch.to_uppercase());
                    upper = false;
                } else {
                    out.push(ch);
                }
            }
            out
        }
    }
}

fn with_description(schema: Value, description: &str) -> Value {
    if schema.get("$ref").is_some() {
        // OpenAPI 3.0 ignores siblings of $ref; wrap it so the description shows.
        json!({"allOf": [schema], "description": description})
    } else {
        let mut s = schema;
        s["description"] = description.into();
        s
    }
}

/// The OpenAPI 3 document for `routes`, with every kefu.v1 message and enum as a schema.
fn document(p: &Protos, routes: &[Route]) -> Value {
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for r in routes {
        let (input, output, comment) = p.methods.get(r.rpc).unwrap_or_else(|| {
            panic!(
                "route {} names {}, which the .proto does not declare",
                r.path, r.rpc
            )
        });
        let (service, method) = r.rpc.rsplit_once('/').expect("rpc is Service/Method");
        let service = service.rsplit('.').next().unwrap_or(service);
        let mut op = json!({
            "operationId": format!("{service}_{method}"),
            "summary": format!("{} (gRPC {})", method, r.rpc),
            "description": comment,
            "tags": [service],
            "responses": {
                "200": {
                    "description": format!("The {} message.", schema_name(output)),
                    "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(output))}}},
                },
                "default": {"$ref": "#/components/responses/Error"},
            },
        });
        if r.has_body() {
            op["requestBody"] = json!({
                "description": format!("The {} message; an empty body is the empty message.", schema_name(input)),
                "required": false,
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(input))}}},
            });
        }
        if let Some(field) = r.id_field {
            // Checked against the .proto here, so a renamed field fails the build's tests.
            let camel = p.messages[input]
                .0
                .field
                .iter()
                .find(|f| f.name() == field)
                .map(json_name)
                .unwrap_or_else(|| panic!("route {} fills {field}, which {input} lacks", r.path));
            op["parameters"] = json!([{
                "name": "id",
                "in": "path",
                "required": true,
                "schema": {"type": "string"},
                "description": format!("Fills `{camel}` of the {} message.", schema_name(input)),
            }]);
        }
        paths
            .entry(r.path)
            .or_default()
            .insert(r.method.as_str().to_ascii_lowercase(), op);
    }

    let mut schemas = Map::new();
    for (name, (m, c)) in &p.messages {
        if name.starts_with(".kefu.v1.") && m.options.as_ref().and_then(|o| o.map_entry) != Some(true) {
            schemas.insert(schema_name(name), p.message_schema(m, c));
        }
    }
    for (name, (e, c)) in &p.enums {
        if name.starts_with(".kefu.v1.") {
            schemas.insert(schema_name(name), p.enum_schema(e, c));
        }
    }
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "description": "A refused call: the gRPC status code's name and what was wrong.",
            "properties": {
                "code": {"type": "string", "example": "INVALID_ARGUMENT"},
                "message": {"type": "string", "example": "question is empty"},
            },
            "required": ["code", "message"],
        }),
    );

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "kefu REST/JSON API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The unary RPCs of kefu.v1 Answers, Admin and Routing over HTTP. Bodies are the \
                proto3 JSON mapping of the same messages (lowerCamelCase names, enums by name, 64-bit \
                integers as strings). Errors map gRPC codes to HTTP statuses: INVALID_ARGUMENT 400, \
                NOT_FOUND 404, ALREADY_EXISTS and FAILED_PRECONDITION 409, RESOURCE_EXHAUSTED 429 \
                (413 for a body over max_message_bytes), UNAVAILABLE 503, DEADLINE_EXCEEDED 504, \
                UNIMPLEMENTED 501, INTERNAL 500. Routing/WatchAssignments is a stream: gRPC only.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Error": {
                    "description": "The call was refused; the body says why.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        },
    })
}

/// The page at `/`: what this port serves, with a link to the OpenAPI document.
pub fn index_html() -> String {
    let p = &*PROTOS;
    let mut rows = String::new();
    for r in ROUTES {
        let (input, output, comment) = &p.methods[r.rpc];
        rows.push_str(&format!(
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td>\
             <td>{} → {}</td><td>{}</td></tr>\n",
            r.method,
            html(r.path),
            html(r.rpc),
            html(&schema_name(input)),
            html(&schema_name(output)),
            html(comment),
        ));
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>kefu</title></head><body>\n\
         <h1>kefu {version}</h1>\n\
         <p>REST/JSON over the same handlers as gRPC. Schemas: <a href=\"/openapi.json\">/openapi.json</a> \
         (OpenAPI 3). Bodies use the proto3 JSON mapping of the kefu.v1 messages. \
         <code>Routing/WatchAssignments</code> is a stream and is served over gRPC only.</p>\n\
         <table border=\"1\" cellpadding=\"4\">\n\
         <tr><th>method</th><th>path</th><th>gRPC</th><th>request → response</th><th>what it does</th></tr>\n\
         {rows}</table>\n\
         <p>Also: <a href=\"/metrics\">/metrics</a> (Prometheus), <a href=\"/healthz\">/healthz</a>, \
         <a href=\"/readyz\">/readyz</a>.</p>\n</body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_names_a_declared_rpc_and_its_messages_have_schemas() {
        let doc: Value = serde_json::from_str(&document_json()).unwrap();
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} is missing", r.method, r.path);
            assert!(
                !op["description"].as_str().unwrap().is_empty(),
                "{} has no description",
                r.rpc
            );
            let out = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap();
            let name = out.rsplit('/').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{name}");
        }
    }

    #[test]
    fn schemas_follow_the_proto3_json_mapping() {
        let doc: Value = serde_json::from_str(&document_json()).unwrap();
        let s = &doc["components"]["schemas"];
        let ask = &s["AskRequest"]["properties"];
        assert_eq!(ask["question"]["type"], "string");
        assert_eq!(ask["locales"]["type"], "array");
        assert!(
            ask["question"]["description"]
                .as_str()
                .unwrap()
                .contains("Required")
        );
        assert_eq!(s["AskResponse"]["properties"]["indexVersion"]["type"], "string");
        assert_eq!(s["Agent"]["properties"]["skills"]["type"], "object");
        assert_eq!(
            s["Agent"]["properties"]["skills"]["additionalProperties"]["type"],
            "integer"
        );
        assert_eq!(s["InfoResponse"]["properties"]["articles"]["type"], "string");
        assert_eq!(s["Presence"]["enum"][1], "ONLINE");
        assert!(s.get("Agent.SkillsEntry").is_none(), "map entries are inlined");
        assert!(
            s["SearchRequest"]["properties"]["text"]["description"]
                .as_str()
                .unwrap()
                .contains("One of `query`")
        );
    }
}
