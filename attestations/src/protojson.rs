//! The protobuf JSON mapping (protobuf's "JSON Mapping" of proto3), for the Sigstore documents
//! vouch reads: bundles ([`crate::bundle`]) and trusted roots (`vouch-verifier`'s
//! `trust_root`). Values are read from a tree that keeps every key of an object, so repeated
//! keys are seen and refused rather than silently overwritten; see [`crate::bundle`] for the
//! rules (camelCase or snake_case names, int64 as strings or numbers, base64 in either
//! alphabet, absent or `null` as the zero value).

use std::fmt;
use std::rc::Rc;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use vouch_keys::time::UnixTime;

use crate::{AttestationError, Document};

const INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, INDIFFERENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, INDIFFERENT);

/// A protobuf enum as the JSON mapping names it: known values by name and number, anything
/// else kept as text so that documents from newer clients still read.
pub trait ProtoEnum: Clone + PartialEq + Sized + 'static {
    /// Every known value with its name and number.
    fn table() -> &'static [(Self, &'static str, i64)];
    /// The value for a name or number this crate does not know.
    fn unknown(text: String) -> Self;
    /// The kept text, for an unknown value.
    fn unknown_text(&self) -> Option<&str>;

    /// The value with this name, else unknown.
    fn lookup_name(name: &str) -> Self {
        Self::table()
            .iter()
            .find(|(_, n, _)| *n == name)
            .map_or_else(|| Self::unknown(name.to_owned()), |(v, _, _)| v.clone())
    }

    /// The value with this number, else unknown (holding the decimal number).
    fn lookup_number(number: i64) -> Self {
        Self::table()
            .iter()
            .find(|(_, _, n)| *n == number)
            .map_or_else(|| Self::unknown(number.to_string()), |(v, _, _)| v.clone())
    }

    /// The name, or the kept text of an unknown value.
    fn proto_name(&self) -> &str {
        match self.unknown_text() {
            Some(text) => text,
            None => Self::table()
                .iter()
                .find(|(v, _, _)| v == self)
                .map_or("", |(_, n, _)| n),
        }
    }
}

/// A JSON value. Objects keep all their entries in order, duplicates included.
#[derive(Debug)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false` (the value itself is never needed).
    Bool,
    /// An integral number.
    Int(i128),
    /// Any other number.
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, every entry in document order, repeated keys included.
    Object(Vec<(String, Json)>),
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Int(_) | Json::Float(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Short JSON-ish text of a scalar, for error messages.
    fn preview(&self) -> String {
        let text = match self {
            Json::Int(i) => i.to_string(),
            Json::Float(f) => f.to_string(),
            Json::String(s) => format!("{s:?}"),
            other => other.kind().to_owned(),
        };
        text.chars().take(64).collect()
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Bool)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Json>()? {
            entries.push(entry);
        }
        Ok(Json::Object(entries))
    }
}

/// Parses a whole document (trailing data refused).
pub fn parse(document: Document, bytes: &[u8]) -> Result<Json, AttestationError> {
    serde_json::from_slice(bytes).map_err(|e| AttestationError::MalformedJson {
        document,
        reason: e.to_string(),
    })
}

/// One step of a JSON path.
#[derive(Clone, Copy)]
enum Step {
    /// The document's top level.
    Root,
    /// A field of an object, by its JSON name.
    Field(&'static str),
    /// An element of an array.
    Index(usize),
}

/// Where a value is in its document: the place of the value holding it and the step from
/// there. Reading a field builds no text; the path (`a.b[2].c`) is written out only when an
/// error or a caller asks for it.
#[derive(Clone)]
struct Place {
    parent: Option<Rc<Place>>,
    step: Step,
}

impl Place {
    const ROOT: Place = Place {
        parent: None,
        step: Step::Root,
    };

    fn is_root(&self) -> bool {
        matches!(self.step, Step::Root)
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The depth is the document's nesting, which serde_json bounds (128).
        let parent = self.parent.as_deref();
        if let Some(parent) = parent {
            parent.fmt(f)?;
        }
        match self.step {
            Step::Root => Ok(()),
            Step::Field(name) => {
                if parent.is_some_and(|parent| !parent.is_root()) {
                    f.write_str(".")?;
                }
                f.write_str(name)
            }
            Step::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A JSON value at a known path (never `null`: absent and `null` fields are `None`).
pub struct Val<'a> {
    document: Document,
    place: Place,
    json: &'a Json,
}

/// An enum value: its name or its number.
pub enum EnumValue<'a> {
    /// The value's name, as the proto file spells it.
    Name(&'a str),
    /// The value's number.
    Number(i64),
}

impl<'a> Val<'a> {
    /// The value's JSON path (`a.b[2].c`).
    pub fn path(&self) -> String {
        self.place.to_string()
    }

    fn wrong(&self, expected: &'static str) -> AttestationError {
        AttestationError::WrongJsonType {
            document: self.document,
            path: self.path(),
            expected,
        }
    }

    /// The value as a message.
    pub fn obj(&self) -> Result<Obj<'a>, AttestationError> {
        match self.json {
            Json::Object(entries) => Ok(Obj {
                document: self.document,
                place: Rc::new(self.place.clone()),
                entries,
            }),
            _ => Err(self.wrong("an object")),
        }
    }

    /// The value as a string.
    pub fn str(&self) -> Result<&'a str, AttestationError> {
        match self.json {
            Json::String(s) => Ok(s),
            _ => Err(self.wrong("a string")),
        }
    }

    /// The value as base64-encoded bytes, decoded.
    pub fn bytes(&self) -> Result<Vec<u8>, AttestationError> {
        let Json::String(text) = self.json else {
            return Err(self.wrong("a base64 string"));
        };
        // The common case first, in one pass: standard-alphabet base64 on one line. Text it
        // refuses may still be good in the forms below, and text it takes has neither line
        // breaks nor URL-safe letters, so the forms below would read it the same.
        if let Ok(bytes) = STANDARD.decode(text.as_bytes()) {
            return Ok(bytes);
        }
        // Line breaks are skipped, as Go's and Python's decoders (which sigstore-go and
        // sigstore-python read bundles with) skip them: wrapped base64 is in real bundles.
        let text: std::borrow::Cow<'_, str> = if text.contains(['\r', '\n']) {
            text.replace(['\r', '\n'], "").into()
        } else {
            text.into()
        };
        let engine = if text.contains(['-', '_']) {
            &URL_SAFE
        } else {
            &STANDARD
        };
        engine
            .decode(text.as_bytes())
            .map_err(|_| AttestationError::InvalidBase64 {
                document: self.document,
                path: self.path(),
            })
    }

    /// The value as an int64: a decimal string, or an integral number.
    pub fn int64(&self) -> Result<i64, AttestationError> {
        let invalid = || AttestationError::InvalidInt64 {
            document: self.document,
            path: self.path(),
            value: self.json.preview(),
        };
        match self.json {
            Json::Int(i) => i64::try_from(*i).map_err(|_| invalid()),
            Json::Float(f) => {
                // 2^63 is exactly representable; anything at or beyond it is out of range.
                const LIMIT: f64 = 9_223_372_036_854_775_808.0;
                if f.fract() == 0.0 && *f >= -LIMIT && *f < LIMIT {
                    Ok(*f as i64)
                } else {
                    Err(invalid())
                }
            }
            Json::String(s) => {
                let digits = s.strip_prefix('-').unwrap_or(s);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                s.parse().map_err(|_| invalid())
            }
            _ => Err(self.wrong("an int64 (a decimal string or an integer)")),
        }
    }

    /// The value as a non-negative int64 (a count, an index or a time in seconds).
    pub fn uint64(&self) -> Result<u64, AttestationError> {
        u64::try_from(self.int64()?).map_err(|_| AttestationError::InvalidField {
            document: self.document,
            path: self.path(),
            reason: "must not be negative",
        })
    }

    /// The value as an enum name or number.
    pub fn enum_value(&self) -> Result<EnumValue<'a>, AttestationError> {
        match self.json {
            Json::String(name) => Ok(EnumValue::Name(name)),
            Json::Int(_) | Json::Float(_) => Ok(EnumValue::Number(
                self.int64()
                    .map_err(|_| self.wrong("an enum name or number"))?,
            )),
            _ => Err(self.wrong("an enum name or number")),
        }
    }

    /// The value as a `google.protobuf.Timestamp` (RFC 3339 text).
    pub fn timestamp(&self) -> Result<UnixTime, AttestationError> {
        UnixTime::parse_rfc3339(self.str()?).map_err(|reason| AttestationError::InvalidTimestamp {
            document: self.document,
            path: self.path(),
            reason,
        })
    }
}

/// A JSON object read as a protobuf message. Field paths are built from this object's.
pub struct Obj<'a> {
    document: Document,
    place: Rc<Place>,
    entries: &'a [(String, Json)],
}

impl<'a> Obj<'a> {
    /// The document's top level, which must be an object.
    pub fn root(document: Document, json: &'a Json) -> Result<Self, AttestationError> {
        match json {
            Json::Object(entries) => Ok(Self {
                document,
                place: Rc::new(Place::ROOT),
                entries,
            }),
            other => Err(AttestationError::MalformedJson {
                document,
                reason: format!("the top level is {}, not an object", other.kind()),
            }),
        }
    }

    /// The path of field `name` of this message.
    pub fn child(&self, name: &str) -> String {
        if self.place.is_root() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.place)
        }
    }

    /// This message's JSON path.
    fn path(&self) -> String {
        self.place.to_string()
    }

    /// The place of field `name` of this message.
    fn field(&self, name: &'static str) -> Place {
        Place {
            parent: Some(Rc::clone(&self.place)),
            step: Step::Field(name),
        }
    }

    /// The error for a required field that is absent.
    pub fn missing(&self, name: &str) -> AttestationError {
        AttestationError::MissingField {
            document: self.document,
            path: self.child(name),
        }
    }

    /// Field `json` (or its proto name `proto`), `None` when absent or `null`. Refuses a
    /// field given more than once.
    pub fn get(
        &self,
        json: &'static str,
        proto: &'static str,
    ) -> Result<Option<Val<'a>>, AttestationError> {
        let mut found = self
            .entries
            .iter()
            .filter(|(key, _)| key == json || key == proto);
        let first = found.next();
        if found.next().is_some() {
            return Err(AttestationError::DuplicateField {
                document: self.document,
                path: self.child(json),
            });
        }
        Ok(match first {
            None | Some((_, Json::Null)) => None,
            Some((_, value)) => Some(Val {
                document: self.document,
                place: self.field(json),
                json: value,
            }),
        })
    }

    /// A string field ("" when absent).
    pub fn string(
        &self,
        json: &'static str,
        proto: &'static str,
    ) -> Result<String, AttestationError> {
        Ok(match self.get(json, proto)? {
            Some(value) => value.str()?.to_owned(),
            None => String::new(),
        })
    }

    /// A string field that must be present and non-empty.
    pub fn require_string(
        &self,
        json: &'static str,
        proto: &'static str,
    ) -> Result<String, AttestationError> {
        let value = self.string(json, proto)?;
        if value.is_empty() {
            return Err(self.missing(json));
        }
        Ok(value)
    }

    /// A bytes field (empty when absent).
    pub fn bytes(
        &self,
        json: &'static str,
        proto: &'static str,
    ) -> Result<Vec<u8>, AttestationError> {
        Ok(match self.get(json, proto)? {
            Some(value) => value.bytes()?,
            None => Vec::new(),
        })
    }

    /// A bytes field that must be present and non-empty.
    pub fn require_bytes(
        &self,
        json: &'static str,
        proto: &'static str,
    ) -> Result<Vec<u8>, AttestationError> {
        let value = self.bytes(json, proto)?;
        if value.is_empty() {
            return Err(self.missing(json));
        }
        Ok(value)
    }

    /// A non-negative int64 field (0 when absent).
    pub fn uint64(&self, json: &'static str, proto: &'static str) -> Result<u64, AttestationError> {
        self.get(json, proto)?.map_or(Ok(0), |value| value.uint64())
    }

    /// A message field, `None` when absent.
    pub fn message(
        &self,
        json: &'static str,
        proto: &'static str,
    ) -> Result<Option<Obj<'a>>, AttestationError> {
        self.get(json, proto)?.map(|value| value.obj()).transpose()
    }

    /// A message field that must be present.
    pub fn require_message(
        &self,
        json: &'static str,
        proto: &'static str,
    ) -> Result<Obj<'a>, AttestationError> {
        self.message(json, proto)?.ok_or_else(|| self.missing(json))
    }

    /// A repeated field's elements (none when absent); `null` elements are refused.
    pub fn list(
        &self,
        json: &'static str,
        proto: &'static str,
    ) -> Result<Vec<Val<'a>>, AttestationError> {
        let Some(value) = self.get(json, proto)? else {
            return Ok(Vec::new());
        };
        let Json::Array(items) = value.json else {
            return Err(value.wrong("an array"));
        };
        let list = Rc::new(value.place);
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let element = Val {
                    document: self.document,
                    place: Place {
                        parent: Some(Rc::clone(&list)),
                        step: Step::Index(i),
                    },
                    json: item,
                };
                match item {
                    Json::Null => Err(element.wrong("a value, not null")),
                    _ => Ok(element),
                }
            })
            .collect()
    }

    /// The one member set of a `oneof` whose members are `(json, proto)` names: its index
    /// in `members` and its value. Refuses none set and more than one set.
    pub fn oneof(
        &self,
        members: &[(&'static str, &'static str)],
        choices: &'static str,
    ) -> Result<(usize, Val<'a>), AttestationError> {
        let mut set: Option<(usize, Val<'a>)> = None;
        for (i, (json, proto)) in members.iter().enumerate() {
            if let Some(value) = self.get(json, proto)? {
                if let Some((first, _)) = &set {
                    return Err(AttestationError::OneofConflict {
                        document: self.document,
                        path: self.path(),
                        first: members[*first].0,
                        second: json,
                        choices,
                    });
                }
                set = Some((i, value));
            }
        }
        set.ok_or_else(|| AttestationError::OneofMissing {
            document: self.document,
            path: self.path(),
            choices,
        })
    }
}
