//! Keys that never leave a PKCS#11 token (a hardware security module, a smart card, SoftHSM):
//! [`Pkcs11Uri`] names the key as cosign does, with an RFC 7512 URI, and [`Pkcs11Key`] signs
//! with it through the token, as a [`Signer`].
//!
//! ```text
//! pkcs11:token=release;object=signing-key;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/secrets/pin
//! ```
//!
//! * The token is chosen by `token` (its label), `serial`, `manufacturer`, `model` and
//!   `slot-id`; the key by `object` (its `CKA_LABEL`) and `id` (its `CKA_ID`, bytes), at least
//!   one of the two. `type=private` is allowed; `x-` vendor attributes are ignored; any other
//!   attribute is refused by name, so a URI never selects less than it says.
//! * The module is `module-path`, else the environment variable `VOUCH_PKCS11_MODULE_PATH`,
//!   else cosign's `COSIGN_PKCS11_MODULE_PATH`. `module-name` alone is refused: vouch loads a
//!   module by its path only.
//! * The PIN is `pin-value` or `pin-source` (a file, or a `file:` URI), else
//!   `VOUCH_PKCS11_PIN`, else cosign's `COSIGN_PKCS11_PIN`. vouch never prompts for it. It is
//!   held zeroized-on-drop and never shown: `Display` and `Debug` of a URI print
//!   `pin-value=<redacted>`, and no error carries it.
//!
//! Supported keys: ECDSA P-256, P-384 and P-521 (hashed in software with the key type's hash,
//! SHA-256/384/512, signed with `CKM_ECDSA`; the token's raw `r || s` is written as the ASN.1
//! DER signature cosign writes) and RSA 2048 to 4096 bits (`CKM_SHA256_RSA_PKCS`).
//! [`Pkcs11Key::open`] signs a probe and checks it with the public key it found, so a key pair
//! whose halves do not belong together is refused before anything is signed with it.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::RawAuthPin;
use zeroize::Zeroizing;

use crate::der::{self, AlgorithmIdentifier, oids};
use crate::{KeyError, KeyType, PublicKey, Signer};

/// The environment variable naming the PKCS#11 module when the URI has no `module-path`.
pub const MODULE_PATH_ENV: &str = "VOUCH_PKCS11_MODULE_PATH";
/// cosign's variable for the module, read when [`MODULE_PATH_ENV`] is not set.
pub const COSIGN_MODULE_PATH_ENV: &str = "COSIGN_PKCS11_MODULE_PATH";
/// The environment variable holding the token's user PIN when the URI has none.
pub const PIN_ENV: &str = "VOUCH_PKCS11_PIN";
/// cosign's variable for the PIN, read when [`PIN_ENV`] is not set.
pub const COSIGN_PIN_ENV: &str = "COSIGN_PKCS11_PIN";

/// The largest `pin-source` file read: a PIN is a few characters; 1 KiB is no PIN.
pub const MAX_PIN_FILE_BYTES: u64 = 1024;

/// What `Display` writes in place of a PIN.
const REDACTED: &str = "<redacted>";

/// The message signed and verified when a key is opened, to prove that the public key found
/// belongs to the private key (the token's objects are linked only by label and id).
const PROBE: &[u8] = b"vouch: does the public key found on the token belong to this private key?";

/// What kind of PKCS#11 failure a [`KeyError::Pkcs11`] is: the user's input, or the token's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pkcs11ErrorKind {
    /// The URI is malformed or names what vouch does not support, or no module or PIN is given.
    Uri,
    /// The module could not be loaded or initialized.
    Module,
    /// No token or no key matches the URI, or more than one does.
    NotFound,
    /// The token refused the PIN (wrong, locked, expired).
    Login,
    /// The key cannot be used: a type vouch does not sign with, a public half that is missing
    /// or does not match the private key.
    Key,
    /// The token or module failed an operation the URI and PIN were right for.
    Token,
}

impl Pkcs11ErrorKind {
    /// Whether the user's input caused it (a URI, PIN, module path or key to correct), rather
    /// than the token or the machine.
    pub fn is_input_error(self) -> bool {
        !matches!(self, Pkcs11ErrorKind::Token)
    }
}

fn error(
    kind: Pkcs11ErrorKind,
    operation: impl Into<String>,
    reason: impl Into<String>,
) -> KeyError {
    KeyError::Pkcs11 {
        kind,
        operation: operation.into(),
        reason: reason.into(),
    }
}

fn uri_error(reason: impl Into<String>) -> KeyError {
    error(Pkcs11ErrorKind::Uri, "PKCS#11 URI", reason)
}

/// The `CKR_...` name of a PKCS#11 return value (`PinIncorrect` is `CKR_PIN_INCORRECT`).
fn rv_name(rv: RvError) -> String {
    match rv {
        RvError::VendorDefined(code) => format!("vendor-defined CKR 0x{code:08x}"),
        RvError::UnknownErrorCode(code) => format!("CKR 0x{code:08x}"),
        named => {
            let camel = format!("{named:?}");
            let mut out = String::from("CKR");
            for c in camel.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
}

/// Names what a cryptoki call returned: `C_Login returned CKR_PIN_INCORRECT`.
fn describe_ck(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{} returned {}", c_name(*function), rv_name(*rv)),
        other => other.to_string(),
    }
}

fn c_name(function: Function) -> String {
    format!("C_{function:?}")
}

/// The return value of a failed PKCS#11 call, if that is what failed.
fn rv_of(e: &CkError) -> Option<RvError> {
    match e {
        CkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// Where the PIN comes from, as the URI says.
#[derive(Clone)]
enum PinSource {
    /// `pin-value`, percent-decoded.
    Value(Zeroizing<Vec<u8>>),
    /// `pin-source`: a file holding the PIN.
    File(PathBuf),
}

/// A PKCS#11 URI (RFC 7512) naming a key on a token, in cosign's form: path attributes
/// `token`, `manufacturer`, `model`, `serial`, `slot-id`, `object`, `id` (and `type=private`),
/// query attributes `module-path`, `module-name`, `pin-value`, `pin-source`.
///
/// Parsing refuses what RFC 7512 refuses (a bad percent escape, a character that must be
/// escaped, an attribute given twice) and what vouch does not support (an attribute it would
/// ignore), and requires `object` or `id`. `Display` writes the URI back with the PIN
/// replaced by `<redacted>`; `Debug` shows no PIN either.
#[derive(Clone, Default)]
pub struct Pkcs11Uri {
    token: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    slot_id: Option<u64>,
    object: Option<String>,
    id: Option<Vec<u8>>,
    module_path: Option<PathBuf>,
    module_name: Option<String>,
    pin: Option<PinSource>,
}

/// RFC 3986 unreserved characters.
fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// RFC 7512 section 2.3, `pk11-res-avail`: reserved characters allowed unescaped in values.
fn is_res_avail(c: u8) -> bool {
    matches!(
        c,
        b':' | b'[' | b']' | b'@' | b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'='
    )
}

/// Which part of the URI an attribute sits in: they allow different characters unescaped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// `pk11-path-res-avail = pk11-res-avail / "&"`.
    Path,
    /// `pk11-query-res-avail = pk11-res-avail / "/" / "?" / "|"`.
    Query,
}

impl Part {
    fn allows(self, c: u8) -> bool {
        is_unreserved(c)
            || is_res_avail(c)
            || match self {
                Part::Path => c == b'&',
                Part::Query => matches!(c, b'/' | b'?' | b'|'),
            }
    }
}

/// Percent-decodes an attribute value (RFC 3986 section 2.1), refusing malformed escapes and
/// characters RFC 7512 requires to be escaped in `part`. Errors name the attribute, never
/// the value (it may be the PIN). The decoded bytes are zeroized when dropped.
fn percent_decode(name: &str, value: &str, part: Part) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let bytes = value.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if c == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|&h| (h as char).to_digit(16));
            let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2)) else {
                return Err(uri_error(format!(
                    "{name}: malformed percent escape (% must be followed by two hex digits)"
                )));
            };
            // Two hex digits make at most 0xff.
            out.push(((high << 4) | low) as u8);
            i += 3;
        } else if part.allows(c) {
            out.push(c);
            i += 1;
        } else {
            let shown = if c.is_ascii_graphic() || c == b' ' {
                format!("'{}'", c as char)
            } else {
                "a non-ASCII or control character".to_owned()
            };
            let hint = if c.is_ascii() {
                format!(" (as %{c:02X})")
            } else {
                String::new()
            };
            return Err(uri_error(format!(
                "{name}: {shown} must be percent-encoded{hint}"
            )));
        }
    }
    Ok(out)
}

/// Writes `bytes` percent-encoded where RFC 7512 requires it.
fn percent_encode(out: &mut String, bytes: &[u8], part: Part) {
    for &b in bytes {
        if part.allows(b) && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// `%01%02...`: how `id` is written (it is bytes, usually not text).
fn hex_escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02x}")).collect()
}

fn text(name: &str, bytes: Zeroizing<Vec<u8>>) -> Result<String, KeyError> {
    if bytes.is_empty() {
        return Err(uri_error(format!("{name} is empty")));
    }
    String::from_utf8(bytes.to_vec())
        .map_err(|_| uri_error(format!("{name} is not UTF-8 text once percent-decoded")))
}

/// The attributes RFC 7512 defines that vouch does not use: refused by name rather than
/// ignored, since a URI that selects less than it says could pick another key.
const UNSUPPORTED_PATH: &[&str] = &[
    "library-manufacturer",
    "library-description",
    "library-version",
    "slot-description",
    "slot-manufacturer",
];

impl Pkcs11Uri {
    /// Whether `text` is a PKCS#11 URI (starts with the scheme `pkcs11:`, in any case), as
    /// opposed to a key file's path.
    pub fn is_pkcs11_uri(text: &str) -> bool {
        text.get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("pkcs11:"))
    }

    /// Parses a PKCS#11 URI (RFC 7512). See the [type docs](Pkcs11Uri) for what is
    /// accepted; every error is a [`KeyError::Pkcs11`] of kind [`Pkcs11ErrorKind::Uri`] that
    /// names the attribute at fault and never shows the PIN.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        if !Self::is_pkcs11_uri(text) {
            return Err(uri_error(
                "not a PKCS#11 URI: it must start with \"pkcs11:\" (RFC 7512)",
            ));
        }
        let rest = &text[7..];
        if rest.contains('#') {
            return Err(uri_error(
                "a PKCS#11 URI has no fragment ('#' must be percent-encoded as %23)",
            ));
        }
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        let mut seen = HashSet::new();
        for (index, attribute) in path.split(';').enumerate() {
            if attribute.is_empty() {
                continue;
            }
            let (name, value) = split_attribute(attribute, "path", index)?;
            if name.starts_with("x-") {
                continue;
            }
            if !seen.insert(name) {
                return Err(uri_error(format!("{name} is given twice")));
            }
            uri.set_path_attribute(name, value)?;
        }
        for (index, attribute) in query.unwrap_or_default().split('&').enumerate() {
            if attribute.is_empty() {
                continue;
            }
            let (name, value) = split_attribute(attribute, "query", index)?;
            if name.starts_with("x-") {
                continue;
            }
            if !seen.insert(name) {
                return Err(uri_error(format!("{name} is given twice")));
            }
            uri.set_query_attribute(name, value)?;
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(uri_error(
                "the URI names no key: add object=LABEL or id=%XX (the private key's \
                 CKA_LABEL or CKA_ID)",
            ));
        }
        Ok(uri)
    }

    fn set_path_attribute(&mut self, name: &str, value: &str) -> Result<(), KeyError> {
        let decoded = || percent_decode(name, value, Part::Path);
        match name {
            "token" => self.token = Some(text(name, decoded()?)?),
            "manufacturer" => self.manufacturer = Some(text(name, decoded()?)?),
            "model" => self.model = Some(text(name, decoded()?)?),
            "serial" => self.serial = Some(text(name, decoded()?)?),
            "object" => self.object = Some(text(name, decoded()?)?),
            "id" => {
                let id = decoded()?;
                if id.is_empty() {
                    return Err(uri_error("id is empty"));
                }
                self.id = Some(id.to_vec());
            }
            "slot-id" => {
                let digits = text(name, decoded()?)?;
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(uri_error("slot-id must be a decimal number"));
                }
                let slot = digits
                    .parse()
                    .map_err(|_| uri_error("slot-id is out of range"))?;
                self.slot_id = Some(slot);
            }
            "type" => {
                let kind = text(name, decoded()?)?;
                if kind != "private" {
                    return Err(uri_error(format!(
                        "type={kind}: vouch signs with a private key; use type=private or \
                         leave type out"
                    )));
                }
            }
            "pin-value" | "pin-source" | "module-path" | "module-name" => {
                return Err(uri_error(format!(
                    "{name} is a query attribute: put it after '?' (pkcs11:...?{name}=...)"
                )));
            }
            _ if UNSUPPORTED_PATH.contains(&name) => {
                return Err(uri_error(format!(
                    "attribute {name} is not supported by vouch (it selects tokens by token, \
                     serial, manufacturer, model and slot-id)"
                )));
            }
            _ => return Err(uri_error(format!("unknown path attribute {name}"))),
        }
        Ok(())
    }

    fn set_query_attribute(&mut self, name: &str, value: &str) -> Result<(), KeyError> {
        let decoded = || percent_decode(name, value, Part::Query);
        match name {
            "module-path" => {
                let path = PathBuf::from(text(name, decoded()?)?);
                if !path.is_absolute() {
                    return Err(uri_error(
                        "module-path must be an absolute path (a bare name would be searched \
                         for in the library path)",
                    ));
                }
                self.module_path = Some(path);
            }
            "module-name" => self.module_name = Some(text(name, decoded()?)?),
            "pin-value" => {
                if self.pin.is_some() {
                    return Err(uri_error("give pin-value or pin-source, not both"));
                }
                self.pin = Some(PinSource::Value(decoded()?));
            }
            "pin-source" => {
                if self.pin.is_some() {
                    return Err(uri_error("give pin-value or pin-source, not both"));
                }
                let source = text(name, decoded()?)?;
                self.pin = Some(PinSource::File(pin_source_path(&source)?));
            }
            "token" | "manufacturer" | "model" | "serial" | "slot-id" | "object" | "id"
            | "type" => {
                return Err(uri_error(format!(
                    "{name} is a path attribute: put it before '?' (pkcs11:{name}=...;...)"
                )));
            }
            _ => return Err(uri_error(format!("unknown query attribute {name}"))),
        }
        Ok(())
    }

    /// The token's label (`token`).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The token's manufacturer (`manufacturer`).
    pub fn manufacturer(&self) -> Option<&str> {
        self.manufacturer.as_deref()
    }

    /// The token's model (`model`).
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The token's serial number (`serial`).
    pub fn serial(&self) -> Option<&str> {
        self.serial.as_deref()
    }

    /// The slot's number (`slot-id`).
    pub fn slot_id(&self) -> Option<u64> {
        self.slot_id
    }

    /// The key's label, `CKA_LABEL` (`object`).
    pub fn object(&self) -> Option<&str> {
        self.object.as_deref()
    }

    /// The key's identifier, `CKA_ID` (`id`), as bytes.
    pub fn id(&self) -> Option<&[u8]> {
        self.id.as_deref()
    }

    /// The module's path as the URI gives it (`module-path`).
    pub fn module_path(&self) -> Option<&Path> {
        self.module_path.as_deref()
    }

    /// The module's name as the URI gives it (`module-name`); informative only.
    pub fn module_name(&self) -> Option<&str> {
        self.module_name.as_deref()
    }

    /// Whether the URI itself carries a PIN or names a file holding one.
    pub fn has_pin(&self) -> bool {
        self.pin.is_some()
    }

    /// The module to load: `module-path`, else [`MODULE_PATH_ENV`], else
    /// [`COSIGN_MODULE_PATH_ENV`]. An error says how to give one.
    pub fn resolve_module_path(&self) -> Result<PathBuf, KeyError> {
        self.resolve_module_path_with(&|name| std::env::var_os(name))
    }

    fn resolve_module_path_with(
        &self,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<PathBuf, KeyError> {
        if let Some(path) = &self.module_path {
            return Ok(path.clone());
        }
        for variable in [MODULE_PATH_ENV, COSIGN_MODULE_PATH_ENV] {
            if let Some(value) = env(variable).filter(|v| !v.is_empty()) {
                let path = PathBuf::from(value);
                if !path.is_absolute() {
                    return Err(uri_error(format!(
                        "{variable} must be an absolute path to the PKCS#11 module"
                    )));
                }
                return Ok(path);
            }
        }
        Err(uri_error(match &self.module_name {
            Some(name) => format!(
                "module-name={name} names a module, but vouch loads modules by path: add \
                 module-path=/path/to/the/module.so to the URI, or set {MODULE_PATH_ENV}"
            ),
            None => format!(
                "no PKCS#11 module: add module-path=/path/to/the/module.so to the URI, or set \
                 {MODULE_PATH_ENV} (or {COSIGN_MODULE_PATH_ENV})"
            ),
        }))
    }

    /// The PIN: `pin-value`, the contents of `pin-source` (without a final newline), else
    /// [`PIN_ENV`], else [`COSIGN_PIN_ENV`]; `None` when none is given.
    fn resolve_pin_with(
        &self,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        match &self.pin {
            Some(PinSource::Value(pin)) => Ok(Some(pin.clone())),
            Some(PinSource::File(path)) => read_pin_file(path).map(Some),
            None => Ok([PIN_ENV, COSIGN_PIN_ENV]
                .into_iter()
                .filter_map(env)
                .find(|v| !v.is_empty())
                .map(|v| Zeroizing::new(v.into_encoded_bytes()))),
        }
    }

    /// How the URI names its token, for messages: `token "L"`, else its other selectors.
    fn token_selector(&self) -> String {
        let mut parts = Vec::new();
        if let Some(token) = &self.token {
            parts.push(format!("token=\"{token}\""));
        }
        if let Some(serial) = &self.serial {
            parts.push(format!("serial=\"{serial}\""));
        }
        if let Some(manufacturer) = &self.manufacturer {
            parts.push(format!("manufacturer=\"{manufacturer}\""));
        }
        if let Some(model) = &self.model {
            parts.push(format!("model=\"{model}\""));
        }
        if let Some(slot) = self.slot_id {
            parts.push(format!("slot-id={slot}"));
        }
        parts.join(" ")
    }

    /// How the URI names its key, for messages: `object "O" id %01`.
    fn key_selector(&self) -> String {
        let mut parts = Vec::new();
        if let Some(object) = &self.object {
            parts.push(format!("object=\"{object}\""));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", hex_escaped(id)));
        }
        parts.join(" ")
    }

    fn matches(&self, slot: Slot, info: &TokenInfo) -> bool {
        self.token.as_deref().is_none_or(|t| t == info.label())
            && self
                .serial
                .as_deref()
                .is_none_or(|s| s == info.serial_number())
            && self
                .manufacturer
                .as_deref()
                .is_none_or(|m| m == info.manufacturer_id())
            && self.model.as_deref().is_none_or(|m| m == info.model())
            && self.slot_id.is_none_or(|id| id == slot.id())
    }
}

/// `pin-source` is a path, or a `file:` URI (`file:/p`, `file:///p`, `file://localhost/p`).
fn pin_source_path(source: &str) -> Result<PathBuf, KeyError> {
    if source.starts_with('|') {
        return Err(uri_error(
            "pin-source: vouch reads the PIN from a file, never by running a command",
        ));
    }
    let Some(rest) = source.strip_prefix("file:") else {
        return Ok(PathBuf::from(source));
    };
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => authority_and_path
            .strip_prefix("localhost")
            .unwrap_or(authority_and_path),
        None => rest,
    };
    if !path.starts_with('/') {
        return Err(uri_error(
            "pin-source: a file: URI needs an absolute path (file:/path or file:///path)",
        ));
    }
    Ok(PathBuf::from(path))
}

/// Reads a PIN file: a regular file of at most [`MAX_PIN_FILE_BYTES`], one final newline
/// (LF or CRLF) dropped, as written by `echo PIN > file`.
fn read_pin_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let mut pin = Zeroizing::new(
        crate::files::read_capped(path, MAX_PIN_FILE_BYTES)
            .map_err(|e| uri_error(format!("pin-source: {e}")))?,
    );
    if pin.last() == Some(&b'\n') {
        pin.pop();
        if pin.last() == Some(&b'\r') {
            pin.pop();
        }
    }
    if pin.is_empty() {
        return Err(uri_error(format!(
            "pin-source: {} is empty",
            path.display()
        )));
    }
    Ok(pin)
}

/// Splits `name=value`; the error does not show the attribute (it may hold the PIN).
fn split_attribute<'a>(
    attribute: &'a str,
    part: &str,
    index: usize,
) -> Result<(&'a str, &'a str), KeyError> {
    let Some((name, value)) = attribute.split_once('=') else {
        return Err(uri_error(format!(
            "{part} attribute {} is not name=value",
            index + 1
        )));
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(uri_error(format!(
            "{part} attribute {} has no valid name (letters, digits and '-')",
            index + 1
        )));
    }
    Ok((name, value))
}

impl FromStr for Pkcs11Uri {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        Self::parse(text)
    }
}

impl fmt::Display for Pkcs11Uri {
    /// The URI, attributes in a fixed order, the PIN (if any) as `pin-value=<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut path = Vec::new();
        let mut attribute = |name: &str, value: &[u8]| {
            let mut out = format!("{name}=");
            percent_encode(&mut out, value, Part::Path);
            path.push(out);
        };
        for (name, value) in [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
        ] {
            if let Some(value) = value {
                attribute(name, value.as_bytes());
            }
        }
        if let Some(slot) = self.slot_id {
            attribute("slot-id", slot.to_string().as_bytes());
        }
        if let Some(object) = &self.object {
            attribute("object", object.as_bytes());
        }
        if let Some(id) = &self.id {
            path.push(format!("id={}", hex_escaped(id)));
        }
        let mut query = Vec::new();
        let mut attribute = |name: &str, value: &[u8]| {
            let mut out = format!("{name}=");
            percent_encode(&mut out, value, Part::Query);
            query.push(out);
        };
        if let Some(path) = &self.module_path {
            attribute("module-path", path.as_os_str().as_encoded_bytes());
        }
        if let Some(name) = &self.module_name {
            attribute("module-name", name.as_bytes());
        }
        match &self.pin {
            Some(PinSource::File(path)) => {
                attribute("pin-source", path.as_os_str().as_encoded_bytes())
            }
            Some(PinSource::Value(_)) => query.push(format!("pin-value={REDACTED}")),
            None => {}
        }
        write!(f, "pkcs11:{}", path.join(";"))?;
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Pkcs11Uri {
    /// The URI as `Display` writes it: the PIN redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({self})")
    }
}

/// The attributes whose values hold no secret, shown by [`redact_pin`].
const PUBLIC_ATTRIBUTES: &[&str] = &[
    "token",
    "manufacturer",
    "model",
    "serial",
    "slot-id",
    "object",
    "id",
    "type",
    "library-manufacturer",
    "library-description",
    "library-version",
    "slot-description",
    "slot-manufacturer",
    "module-path",
    "module-name",
    "pin-source",
];

/// `text`, a PKCS#11 URI that may not parse, fit to show: the values of the attributes known
/// to hold no secret (`token`, `object`, `id`, `module-path`, `pin-source`, ...) are kept,
/// `pin-value`'s and every other value (a misspelt `pin=`, a vendor attribute) become
/// `<redacted>`, and so does a component that is not `name=value` at all (a bare PIN). For
/// naming a URI that did not parse: a parsed one shows itself redacted (`Display`).
pub fn redact_pin(text: &str) -> String {
    if !Pkcs11Uri::is_pkcs11_uri(text) {
        return REDACTED.to_owned();
    }
    let rest = &text[7..];
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, _)) => (rest, true),
        None => (rest, false),
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let redact = |component: &str| match component.split_once('=') {
        _ if component.is_empty() => String::new(),
        Some((name, _)) if PUBLIC_ATTRIBUTES.contains(&name) => component.to_owned(),
        // An attribute name is shown (the parser's errors name it too), its value is not.
        Some((name, _))
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            format!("{name}={REDACTED}")
        }
        _ => REDACTED.to_owned(),
    };
    let mut out = format!(
        "{}{}",
        &text[..7],
        path.split(';').map(redact).collect::<Vec<_>>().join(";")
    );
    if let Some(query) = query {
        out.push('?');
        out.push_str(&query.split('&').map(redact).collect::<Vec<_>>().join("&"));
    }
    if fragment {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

/// One loaded module per path for the whole process, initialized once and never finalized:
/// `C_Initialize` is per process, and finalizing while another key still uses the module
/// would close its sessions.
fn load_module(path: &Path) -> Result<Pkcs11, KeyError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(module) = modules.get(path) {
        return Ok(module.clone());
    }
    let operation = || format!("load PKCS#11 module {}", path.display());
    if !path.exists() {
        return Err(error(Pkcs11ErrorKind::Module, operation(), "no such file"));
    }
    let module = Pkcs11::new(path)
        .map_err(|e| error(Pkcs11ErrorKind::Module, operation(), describe_ck(&e)))?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Another part of the process (another PKCS#11 user) initialized it first: fine.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(error(Pkcs11ErrorKind::Module, operation(), describe_ck(&e))),
    }
    modules.insert(path.to_owned(), module.clone());
    Ok(module)
}

/// The key's algorithm, as far as signing needs it.
#[derive(Clone, Copy)]
enum Algorithm {
    /// ECDSA: the digest is computed here, `CKM_ECDSA` signs it; `field` is the byte length
    /// of r and of s.
    Ecdsa {
        hash: &'static aws_lc_rs::digest::Algorithm,
        field: usize,
    },
    /// `CKM_SHA256_RSA_PKCS`: the token hashes.
    RsaPkcs1Sha256,
}

impl Algorithm {
    fn of(key_type: KeyType) -> Option<Algorithm> {
        use aws_lc_rs::digest::{SHA256, SHA384, SHA512};
        Some(match key_type {
            KeyType::EcdsaP256 => Algorithm::Ecdsa {
                hash: &SHA256,
                field: 32,
            },
            KeyType::EcdsaP384 => Algorithm::Ecdsa {
                hash: &SHA384,
                field: 48,
            },
            KeyType::EcdsaP521 => Algorithm::Ecdsa {
                hash: &SHA512,
                field: 66,
            },
            KeyType::Rsa { .. } => Algorithm::RsaPkcs1Sha256,
            KeyType::Ed25519 => return None,
        })
    }
}

/// Messages longer than this are fed to `CKM_SHA256_RSA_PKCS` in parts (`C_SignUpdate`), so
/// a token with a small buffer signs a large blob too.
const SINGLE_PART_MAX: usize = 64 * 1024;

/// A key on a PKCS#11 token, signing through the token: the private key never leaves it.
/// Its one session (logged in as the user) sits behind a mutex, so the key is `Send + Sync`
/// and signatures are made one at a time.
pub struct Pkcs11Key {
    session: Mutex<Session>,
    private: ObjectHandle,
    public: PublicKey,
    algorithm: Algorithm,
    token_label: String,
    object_label: Option<String>,
    id: Vec<u8>,
}

impl fmt::Debug for Pkcs11Key {
    /// Where the key is and what it is; no PIN, no module internals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("token", &self.token_label)
            .field("object", &self.object_label)
            .field("id", &hex_escaped(&self.id))
            .field("key_type", &self.public.key_type())
            .field("fingerprint", &self.public.fingerprint())
            .finish_non_exhaustive()
    }
}

/// What was found on the token while opening a key, for messages.
struct Found<'a> {
    token: &'a str,
    uri: &'a Pkcs11Uri,
}

impl Found<'_> {
    fn on_token(&self) -> String {
        format!("on PKCS#11 token \"{}\"", self.token)
    }
}

impl Pkcs11Key {
    /// Opens the key `uri` names: loads the module (once per process), picks the one token
    /// matching the URI's token attributes, opens a read-only session, logs in as the user
    /// with the PIN (see [`Pkcs11Uri`] for where it comes from), finds exactly one private key
    /// by `object` and/or `id`, then its public half: a public-key object with the same
    /// `CKA_ID` (else the same label), else a certificate's, else (RSA) the private key
    /// object's own modulus and exponent. Finally signs a probe and verifies it with that
    /// public key.
    ///
    /// Errors are [`KeyError::Pkcs11`]: no token matches (listing the tokens present), more
    /// than one does, a wrong PIN (`wrong PIN for token "L"`), no or several keys match, an
    /// unsupported key type, a public key that does not belong to the private key.
    pub fn open(uri: &Pkcs11Uri) -> Result<Pkcs11Key, KeyError> {
        Self::open_with_env(uri, &|name| std::env::var_os(name))
    }

    fn open_with_env(
        uri: &Pkcs11Uri,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Pkcs11Key, KeyError> {
        let module_path = uri.resolve_module_path_with(env)?;
        let pin = uri.resolve_pin_with(env)?;
        let module = load_module(&module_path)?;
        let (slot, info) = select_token(&module, &module_path, uri)?;
        let found = Found {
            token: info.label(),
            uri,
        };
        let token_failed = |operation: &str| {
            let operation = format!("{operation} {}", found.on_token());
            move |e: CkError| error(Pkcs11ErrorKind::Token, operation, describe_ck(&e))
        };
        let session = module
            .open_ro_session(slot)
            .map_err(token_failed("open a session"))?;
        login(&session, &info, pin)?;
        let private = find_private_key(&session, &found)?;
        let attributes = session
            .get_attributes(
                private,
                &[
                    AttributeType::KeyType,
                    AttributeType::Label,
                    AttributeType::Id,
                    AttributeType::EcParams,
                ],
            )
            .map_err(token_failed("read the private key's attributes"))?;
        let mut ck_key_type = None;
        let mut label = None;
        let mut id = Vec::new();
        let mut private_curve = None;
        for attribute in attributes {
            match attribute {
                Attribute::KeyType(kt) => ck_key_type = Some(kt),
                Attribute::EcParams(params) => private_curve = Some(params),
                Attribute::Label(l) => {
                    label = Some(String::from_utf8_lossy(&l).into_owned()).filter(|l| !l.is_empty())
                }
                Attribute::Id(i) => id = i,
                _ => {}
            }
        }
        let object_name = label
            .clone()
            .map(|l| format!("object \"{l}\""))
            .unwrap_or_else(|| format!("object id={}", hex_escaped(&id)));
        match ck_key_type {
            Some(kt) if kt == CkKeyType::EC || kt == CkKeyType::RSA => {}
            other => {
                let what = other.map_or_else(|| "unknown".to_owned(), |kt| kt.to_string());
                return Err(error(
                    Pkcs11ErrorKind::Key,
                    format!("use {object_name} {}", found.on_token()),
                    format!(
                        "its key type is {what}; vouch signs with ECDSA (P-256, P-384, P-521) \
                         and RSA keys on tokens"
                    ),
                ));
            }
        }
        let public = find_public_key(
            &session,
            private,
            &id,
            label.as_deref(),
            &found,
            &object_name,
        )?;
        let mismatch = || {
            error(
                Pkcs11ErrorKind::Key,
                format!("check {object_name} {}", found.on_token()),
                format!("the public key found for {object_name} does not match its private key"),
            )
        };
        // A public key on another curve would have the token sign a hash of the wrong size:
        // compare the curves first (the probe below compares the keys).
        if let Some(params) = &private_curve {
            let public_curve = der::tlv(der::OID, public_curve_oid(&public).unwrap_or_default());
            if ck_key_type == Some(CkKeyType::EC) && params != &public_curve {
                return Err(mismatch());
            }
        }
        let Some(algorithm) = Algorithm::of(public.key_type()) else {
            return Err(error(
                Pkcs11ErrorKind::Key,
                format!("use {object_name} {}", found.on_token()),
                format!("{} keys on tokens are not supported", public.key_type()),
            ));
        };
        let key = Pkcs11Key {
            session: Mutex::new(session),
            private,
            public,
            algorithm,
            token_label: info.label().to_owned(),
            object_label: label,
            id,
        };
        // The objects are linked by label and id only: prove that they belong together.
        let probe = key.sign(PROBE)?;
        if key.public.verify(PROBE, &probe).is_err() {
            return Err(mismatch());
        }
        Ok(key)
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// The private key's label (`CKA_LABEL`), if it has one.
    pub fn object_label(&self) -> Option<&str> {
        self.object_label.as_deref()
    }

    /// The private key's identifier (`CKA_ID`); empty if it has none.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    fn sign_failed(&self, e: CkError) -> KeyError {
        let kind = match rv_of(&e) {
            // The token logged out or was removed: to correct by the user.
            Some(RvError::UserNotLoggedIn | RvError::DeviceRemoved | RvError::TokenNotPresent) => {
                Pkcs11ErrorKind::Login
            }
            _ => Pkcs11ErrorKind::Token,
        };
        error(
            kind,
            format!("sign with {}", self.describe()),
            describe_ck(&e),
        )
    }
}

impl Signer for Pkcs11Key {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        match self.algorithm {
            Algorithm::Ecdsa { hash, field } => {
                let digest = aws_lc_rs::digest::digest(hash, message);
                let raw = session
                    .sign(&Mechanism::Ecdsa, self.private, digest.as_ref())
                    .map_err(|e| self.sign_failed(e))?;
                ecdsa_raw_to_der(&raw, field).ok_or_else(|| {
                    error(
                        Pkcs11ErrorKind::Token,
                        format!("sign with {}", self.describe()),
                        format!(
                            "the token returned a {}-byte ECDSA signature; r || s of {} bytes \
                             was expected",
                            raw.len(),
                            2 * field
                        ),
                    )
                })
            }
            Algorithm::RsaPkcs1Sha256 => {
                let mechanism = Mechanism::Sha256RsaPkcs;
                if message.len() <= SINGLE_PART_MAX {
                    session
                        .sign(&mechanism, self.private, message)
                        .map_err(|e| self.sign_failed(e))
                } else {
                    session
                        .sign_init(&mechanism, self.private)
                        .map_err(|e| self.sign_failed(e))?;
                    for part in message.chunks(SINGLE_PART_MAX) {
                        session.sign_update(part).map_err(|e| self.sign_failed(e))?;
                    }
                    session.sign_final().map_err(|e| self.sign_failed(e))
                }
            }
        }
    }

    fn describe(&self) -> String {
        let object = match &self.object_label {
            Some(label) => format!("object \"{label}\""),
            None => format!("object id={}", hex_escaped(&self.id)),
        };
        format!(
            "PKCS#11 token \"{}\" {object} ({} key {})",
            self.token_label,
            self.public.key_type(),
            self.public.fingerprint()
        )
    }
}

/// The one initialized token the URI's token attributes match.
fn select_token(
    module: &Pkcs11,
    module_path: &Path,
    uri: &Pkcs11Uri,
) -> Result<(Slot, TokenInfo), KeyError> {
    let operation = || format!("find a token in PKCS#11 module {}", module_path.display());
    let failed = |e: CkError| error(Pkcs11ErrorKind::Token, operation(), describe_ck(&e));
    let mut present = Vec::new();
    for slot in module.get_slots_with_initialized_token().map_err(failed)? {
        let info = module.get_token_info(slot).map_err(failed)?;
        present.push((slot, info));
    }
    let list = |tokens: &[&(Slot, TokenInfo)]| {
        tokens
            .iter()
            .map(|(slot, info)| {
                format!(
                    "\"{}\" (slot-id={}, serial={})",
                    info.label(),
                    slot.id(),
                    info.serial_number()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut matching: Vec<&(Slot, TokenInfo)> = present
        .iter()
        .filter(|(slot, info)| uri.matches(*slot, info))
        .collect();
    let selector = uri.token_selector();
    match matching.len() {
        1 => {
            let (slot, info) = matching.remove(0);
            Ok((*slot, info.clone()))
        }
        0 if present.is_empty() => Err(error(
            Pkcs11ErrorKind::NotFound,
            operation(),
            "the module has no initialized token",
        )),
        0 => Err(error(
            Pkcs11ErrorKind::NotFound,
            operation(),
            format!(
                "no token matches {selector}; tokens present: {}",
                list(&present.iter().collect::<Vec<_>>())
            ),
        )),
        n => Err(error(
            Pkcs11ErrorKind::NotFound,
            operation(),
            format!(
                "{n} tokens match{}: {}; name one with token=, serial= or slot-id=",
                if selector.is_empty() {
                    String::new()
                } else {
                    format!(" {selector}")
                },
                list(&matching)
            ),
        )),
    }
}

/// Logs the session in as the user. Without a PIN, a token that needs none, or has its own
/// PIN pad (a protected authentication path), is logged in without one; any other is an
/// error that says how to give a PIN.
fn login(
    session: &Session,
    info: &TokenInfo,
    pin: Option<Zeroizing<Vec<u8>>>,
) -> Result<(), KeyError> {
    let token = info.label();
    let operation = format!("log in to PKCS#11 token \"{token}\"");
    let result = match pin {
        Some(pin) => {
            let pin = RawAuthPin::new(Box::new(pin.to_vec()));
            session.login_with_raw(UserType::User, &pin)
        }
        None if !info.login_required() => return Ok(()),
        None if info.protected_authentication_path() => session.login(UserType::User, None),
        None => {
            return Err(error(
                Pkcs11ErrorKind::Uri,
                operation,
                format!(
                    "no PIN given: add pin-value=... or pin-source=FILE to the URI's query, or \
                     set {PIN_ENV} (or {COSIGN_PIN_ENV})"
                ),
            ));
        }
    };
    let Err(e) = result else { return Ok(()) };
    let name = describe_ck(&e);
    let (kind, reason) = match rv_of(&e) {
        // Another session of this process logged in already: the login is per application.
        Some(RvError::UserAlreadyLoggedIn) => return Ok(()),
        Some(RvError::PinIncorrect) => (
            Pkcs11ErrorKind::Login,
            format!("wrong PIN for token \"{token}\" ({name})"),
        ),
        Some(RvError::PinLocked) => (
            Pkcs11ErrorKind::Login,
            format!("the PIN of token \"{token}\" is locked ({name})"),
        ),
        Some(RvError::PinExpired | RvError::PinInvalid | RvError::PinLenRange) => (
            Pkcs11ErrorKind::Login,
            format!("the PIN is not accepted by token \"{token}\" ({name})"),
        ),
        Some(RvError::UserPinNotInitialized) => (
            Pkcs11ErrorKind::Login,
            format!("token \"{token}\" has no user PIN set ({name})"),
        ),
        _ => (Pkcs11ErrorKind::Token, name),
    };
    Err(error(kind, operation, reason))
}

/// Label and id of an object, for listing the keys a token holds.
fn object_names(session: &Session, objects: &[ObjectHandle]) -> String {
    let names: Vec<String> = objects
        .iter()
        .take(20)
        .map(|&object| {
            let attributes = session
                .get_attributes(object, &[AttributeType::Label, AttributeType::Id])
                .unwrap_or_default();
            let mut parts = Vec::new();
            for attribute in attributes {
                match attribute {
                    Attribute::Label(l) if !l.is_empty() => {
                        parts.push(format!("object=\"{}\"", String::from_utf8_lossy(&l)))
                    }
                    Attribute::Id(i) if !i.is_empty() => {
                        parts.push(format!("id={}", hex_escaped(&i)))
                    }
                    _ => {}
                }
            }
            if parts.is_empty() {
                "(no label, no id)".to_owned()
            } else {
                parts.join(" ")
            }
        })
        .collect();
    let more = objects.len().saturating_sub(names.len());
    if more > 0 {
        format!("{} and {more} more", names.join(", "))
    } else {
        names.join(", ")
    }
}

/// The one private key the URI's `object` and `id` select.
fn find_private_key(session: &Session, found: &Found<'_>) -> Result<ObjectHandle, KeyError> {
    let uri = found.uri;
    let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    if let Some(object) = &uri.object {
        template.push(Attribute::Label(object.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let selector = uri.key_selector();
    let operation = format!("find the private key {selector} {}", found.on_token());
    let failed = |e: CkError| error(Pkcs11ErrorKind::Token, operation.clone(), describe_ck(&e));
    let keys = session.find_objects(&template).map_err(failed)?;
    match keys.len() {
        1 => Ok(keys[0]),
        0 => {
            let all = session
                .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
                .map_err(failed)?;
            let present = if all.is_empty() {
                "the token holds no private key".to_owned()
            } else {
                format!("private keys present: {}", object_names(session, &all))
            };
            Err(error(
                Pkcs11ErrorKind::NotFound,
                operation.clone(),
                format!("no private key matches {selector}; {present}"),
            ))
        }
        n => Err(error(
            Pkcs11ErrorKind::NotFound,
            operation.clone(),
            format!(
                "{n} private keys match {selector} ({}); add {} to pick one",
                object_names(session, &keys),
                if uri.id.is_none() { "id=" } else { "object=" }
            ),
        )),
    }
}

/// Finds the public half of `private`: see [`Pkcs11Key::open`].
fn find_public_key(
    session: &Session,
    private: ObjectHandle,
    id: &[u8],
    label: Option<&str>,
    found: &Found<'_>,
    object_name: &str,
) -> Result<PublicKey, KeyError> {
    let operation = format!("find the public key of {object_name} {}", found.on_token());
    let failed = |e: CkError| error(Pkcs11ErrorKind::Token, operation.clone(), describe_ck(&e));
    let unusable = |e: KeyError| {
        error(
            Pkcs11ErrorKind::Key,
            operation.clone(),
            format!("the token's public key cannot be used: {e}"),
        )
    };
    // The objects of one key pair share CKA_ID (PKCS#11 v2.40 section 4.6.1); the label is
    // the fallback for tokens whose tools leave the id empty.
    let mut selectors: Vec<Attribute> = Vec::new();
    if !id.is_empty() {
        selectors.push(Attribute::Id(id.to_vec()));
    }
    if let Some(label) = label {
        selectors.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    let find = |class: ObjectClass| -> Result<Option<ObjectHandle>, KeyError> {
        for selector in &selectors {
            let objects = session
                .find_objects(&[Attribute::Class(class), selector.clone()])
                .map_err(failed)?;
            match objects.len() {
                0 => continue,
                1 => return Ok(Some(objects[0])),
                _ => {
                    // Several share the id: the one with the label too, if exactly one.
                    if let (Attribute::Id(_), Some(label)) = (selector, label) {
                        let narrowed = session
                            .find_objects(&[
                                Attribute::Class(class),
                                selector.clone(),
                                Attribute::Label(label.as_bytes().to_vec()),
                            ])
                            .map_err(failed)?;
                        if narrowed.len() == 1 {
                            return Ok(Some(narrowed[0]));
                        }
                    }
                    return Err(error(
                        Pkcs11ErrorKind::NotFound,
                        operation.clone(),
                        format!(
                            "{} objects of class {class} share its id and label; give each \
                             key pair its own id",
                            objects.len()
                        ),
                    ));
                }
            }
        }
        Ok(None)
    };

    if let Some(public) = find(ObjectClass::PUBLIC_KEY)? {
        return public_key_from_object(session, public)
            .map_err(failed)?
            .ok_or_else(|| {
                error(
                    Pkcs11ErrorKind::Key,
                    operation.clone(),
                    "the public key object has neither EC_PARAMS and EC_POINT nor MODULUS and \
                     PUBLIC_EXPONENT",
                )
            })?
            .map_err(unusable);
    }
    if let Some(certificate) = find(ObjectClass::CERTIFICATE)? {
        let value = session
            .get_attributes(certificate, &[AttributeType::Value])
            .map_err(failed)?;
        let Some(Attribute::Value(der)) = value.into_iter().next() else {
            return Err(error(
                Pkcs11ErrorKind::Key,
                operation.clone(),
                "its certificate has no value",
            ));
        };
        let spki = certificate_spki(&der).map_err(|e| {
            error(
                Pkcs11ErrorKind::Key,
                operation.clone(),
                format!("its certificate cannot be read: {e}"),
            )
        })?;
        return PublicKey::from_spki_der(spki).map_err(unusable);
    }
    // An RSA private key object carries its public modulus and exponent.
    if let Some(public) = public_key_from_object(session, private).map_err(failed)? {
        return public.map_err(unusable);
    }
    Err(error(
        Pkcs11ErrorKind::Key,
        operation.clone(),
        "the token holds no public key or certificate with the same id or label",
    ))
}

/// A public key from an object's EC_PARAMS and EC_POINT, or MODULUS and PUBLIC_EXPONENT;
/// `Ok(None)` if it has neither pair.
fn public_key_from_object(
    session: &Session,
    object: ObjectHandle,
) -> Result<Option<Result<PublicKey, KeyError>>, CkError> {
    let attributes = session.get_attributes(
        object,
        &[
            AttributeType::EcParams,
            AttributeType::EcPoint,
            AttributeType::Modulus,
            AttributeType::PublicExponent,
        ],
    )?;
    let (mut params, mut point, mut modulus, mut exponent) = (None, None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::EcParams(v) => params = Some(v),
            Attribute::EcPoint(v) => point = Some(v),
            Attribute::Modulus(v) => modulus = Some(v),
            Attribute::PublicExponent(v) => exponent = Some(v),
            _ => {}
        }
    }
    Ok(match (params, point, modulus, exponent) {
        (Some(params), Some(point), _, _) => Some(ec_public_key(&params, &point)),
        (_, _, Some(modulus), Some(exponent)) => Some(rsa_public_key(&modulus, &exponent)),
        _ => None,
    })
}

/// The named-curve OID (contents) of an EC public key; `None` for other keys.
fn public_curve_oid(public: &PublicKey) -> Option<&'static [u8]> {
    match public.key_type() {
        KeyType::EcdsaP256 => Some(oids::P256),
        KeyType::EcdsaP384 => Some(oids::P384),
        KeyType::EcdsaP521 => Some(oids::P521),
        KeyType::Ed25519 | KeyType::Rsa { .. } => None,
    }
}

/// SubjectPublicKeyInfo from CKA_EC_PARAMS (the curve's DER OID) and CKA_EC_POINT (a DER
/// OCTET STRING wrapping the uncompressed point, PKCS#11 v2.40 section 2.3.3; some tokens
/// give the bare point, which is accepted too).
fn ec_public_key(params: &[u8], point: &[u8]) -> Result<PublicKey, KeyError> {
    let structure = "PKCS#11 EC public key";
    let curve = der::parse_single(params, der::OID)
        .map_err(|_| KeyError::Malformed {
            structure,
            reason: "EC_PARAMS is not a named curve",
        })?
        .remaining();
    let wrapped = der::parse_single(point, der::OCTET_STRING)
        .ok()
        .map(|r| r.remaining())
        .filter(|p| p.first() == Some(&0x04));
    let point = match wrapped {
        Some(inner) => inner,
        None if point.first() == Some(&0x04) && point.len() % 2 == 1 => point,
        None => {
            return Err(KeyError::Malformed {
                structure,
                reason: "EC_POINT is not an uncompressed point",
            });
        }
    };
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    let mut body = AlgorithmIdentifier::encode(oids::EC_PUBLIC_KEY, Some(curve));
    body.extend(der::tlv(der::BIT_STRING, &bits));
    PublicKey::from_spki_der(&der::tlv(der::SEQUENCE, &body))
}

/// A DER INTEGER for the unsigned big-endian `bytes`: minimal, with a 0x00 before a high bit.
fn der_unsigned(bytes: &[u8]) -> Vec<u8> {
    let significant = match bytes.iter().position(|&b| b != 0) {
        Some(first) => &bytes[first..],
        None => &[0u8][..],
    };
    let mut value = Vec::with_capacity(significant.len() + 1);
    if significant[0] & 0x80 != 0 {
        value.push(0);
    }
    value.extend_from_slice(significant);
    der::tlv(der::INTEGER, &value)
}

/// PKCS#1 RSAPublicKey (RFC 8017 appendix A.1.1) from CKA_MODULUS and CKA_PUBLIC_EXPONENT.
fn rsa_public_key(modulus: &[u8], exponent: &[u8]) -> Result<PublicKey, KeyError> {
    let mut body = der_unsigned(modulus);
    body.extend(der_unsigned(exponent));
    PublicKey::from_pkcs1_der(&der::tlv(der::SEQUENCE, &body))
}

/// ECDSA's raw `r || s` (PKCS#11 v2.40 section 2.3.1) as the ASN.1 `Ecdsa-Sig-Value`
/// (RFC 5480 section 2.2) cosign writes; `None` unless `raw` is two `field`-byte halves.
fn ecdsa_raw_to_der(raw: &[u8], field: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * field {
        return None;
    }
    let (r, s) = raw.split_at(field);
    let mut body = der_unsigned(r);
    body.extend(der_unsigned(s));
    Some(der::tlv(der::SEQUENCE, &body))
}

/// The SubjectPublicKeyInfo of an X.509 certificate (RFC 5280 section 4.1), as encoded.
fn certificate_spki(certificate: &[u8]) -> Result<&[u8], der::DerError> {
    let mut outer = der::parse_single(certificate, der::SEQUENCE)?;
    let mut tbs = outer.sequence()?;
    // version [0] EXPLICIT, optional.
    tbs.optional(der::CONTEXT_0)?;
    tbs.expect(der::INTEGER)?; // serialNumber
    tbs.expect(der::SEQUENCE)?; // signature
    tbs.expect(der::SEQUENCE)?; // issuer
    tbs.expect(der::SEQUENCE)?; // validity
    tbs.expect(der::SEQUENCE)?; // subject
    let (tag, _, raw) = tbs.any_raw()?;
    if tag != der::SEQUENCE {
        return Err(der::DerError("no subjectPublicKeyInfo"));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

    fn parse(text: &str) -> Pkcs11Uri {
        Pkcs11Uri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn parse_error(text: &str) -> String {
        match Pkcs11Uri::parse(text) {
            Ok(uri) => panic!("{text} parsed as {uri}"),
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        KeyError::Pkcs11 {
                            kind: Pkcs11ErrorKind::Uri,
                            ..
                        }
                    ),
                    "{e:?}"
                );
                e.to_string()
            }
        }
    }

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    #[test]
    fn cosign_form_parses() {
        let uri = parse(
            "pkcs11:token=release%20keys;slot-id=12;object=signer;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234",
        );
        assert_eq!(uri.token(), Some("release keys"));
        assert_eq!(uri.slot_id(), Some(12));
        assert_eq!(uri.object(), Some("signer"));
        assert_eq!(uri.id(), Some(&[1u8, 2][..]));
        assert_eq!(uri.module_path(), Some(Path::new(SOFTHSM)));
        assert!(uri.has_pin());
        let pin = uri.resolve_pin_with(&no_env).unwrap().unwrap();
        assert_eq!(&pin[..], b"1234");
    }

    #[test]
    fn every_supported_attribute_is_read() {
        let uri = parse(
            "PKCS11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=98ad;type=private;\
             object=a=b;x-vendor=anything?module-name=softhsm2&x-other=1&pin-source=file:///run/pin",
        );
        assert_eq!(uri.manufacturer(), Some("SoftHSM project"));
        assert_eq!(uri.model(), Some("SoftHSM v2"));
        assert_eq!(uri.serial(), Some("98ad"));
        // '=' is allowed unescaped in a value (pk11-res-avail).
        assert_eq!(uri.object(), Some("a=b"));
        assert_eq!(uri.module_name(), Some("softhsm2"));
        assert!(matches!(&uri.pin, Some(PinSource::File(p)) if p == Path::new("/run/pin")));
    }

    #[test]
    fn pin_source_forms() {
        for (source, path) in [
            ("/run/pin", "/run/pin"),
            ("pin.txt", "pin.txt"),
            ("file:/run/pin", "/run/pin"),
            ("file:///run/pin", "/run/pin"),
            ("file://localhost/run/pin", "/run/pin"),
        ] {
            assert_eq!(
                pin_source_path(source).unwrap(),
                Path::new(path),
                "{source}"
            );
        }
        assert!(pin_source_path("|/bin/get-pin").is_err());
        assert!(pin_source_path("file:relative").is_err());
    }

    #[test]
    fn id_is_bytes_and_may_be_any_byte() {
        let uri = parse("pkcs11:id=%00%ff%FE%41B");
        assert_eq!(uri.id(), Some(&[0x00, 0xff, 0xfe, b'A', b'B'][..]));
        assert_eq!(uri.to_string(), "pkcs11:id=%00%ff%fe%41%42");
    }

    #[test]
    fn malformed_percent_escapes_are_refused() {
        for text in [
            "pkcs11:object=a%",
            "pkcs11:object=a%4",
            "pkcs11:object=a%G1",
            "pkcs11:object=%%41",
            "pkcs11:id=%0x",
        ] {
            let message = parse_error(text);
            assert!(
                message.contains("malformed percent escape"),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn characters_that_must_be_escaped_are_refused() {
        let message = parse_error("pkcs11:object=my key");
        assert!(
            message.contains("' ' must be percent-encoded (as %20)"),
            "{message}"
        );
        // '/' is allowed in the query (paths) but not in the path part.
        let message = parse_error("pkcs11:object=a/b");
        assert!(
            message.contains("object: '/' must be percent-encoded"),
            "{message}"
        );
        parse_error("pkcs11:object=\u{e9}t\u{e9}");
        // '&' separates query attributes, but is an ordinary character in the path part.
        assert_eq!(parse("pkcs11:object=a&b").object(), Some("a&b"));
    }

    #[test]
    fn non_utf8_text_is_refused_but_an_id_is_bytes() {
        let message = parse_error("pkcs11:object=%ff");
        assert!(message.contains("object is not UTF-8"), "{message}");
    }

    #[test]
    fn duplicate_attributes_are_refused() {
        for (text, name) in [
            ("pkcs11:object=a;object=b", "object"),
            ("pkcs11:id=%01;token=t;id=%02", "id"),
            ("pkcs11:object=a?pin-value=1&pin-value=2", "pin-value"),
            (
                "pkcs11:object=a?module-path=/a&module-path=/b",
                "module-path",
            ),
        ] {
            let message = parse_error(text);
            assert!(
                message.contains(&format!("{name} is given twice")),
                "{message}"
            );
            assert!(
                !message.contains("=1") && !message.contains("=2"),
                "{message}"
            );
        }
        // pin-value and pin-source are one PIN given twice.
        let message = parse_error("pkcs11:object=a?pin-value=1&pin-source=/p");
        assert!(message.contains("not both"), "{message}");
        // Vendor attributes are not ours to judge.
        parse("pkcs11:object=a;x-a=1;x-a=2");
    }

    #[test]
    fn the_scheme_is_required() {
        for text in [
            "object=a",
            "pkcs11/object=a",
            "file:pkcs11:object=a",
            "",
            "pkcs1:object=a",
        ] {
            let message = parse_error(text);
            assert!(message.contains("must start with \"pkcs11:\""), "{message}");
        }
        assert!(Pkcs11Uri::is_pkcs11_uri("PkCs11:object=a"));
        assert!(!Pkcs11Uri::is_pkcs11_uri("pkcs11"));
        assert!(!Pkcs11Uri::is_pkcs11_uri("./pkcs11:x"));
    }

    #[test]
    fn a_key_selector_is_required() {
        for text in [
            "pkcs11:",
            "pkcs11:token=t",
            "pkcs11:token=t;slot-id=1?pin-value=1",
            "pkcs11:x-object=a",
        ] {
            let message = parse_error(text);
            assert!(message.contains("add object=LABEL or id=%XX"), "{message}");
        }
    }

    #[test]
    fn unknown_and_unsupported_attributes_are_named() {
        let message = parse_error("pkcs11:object=a;colour=blue");
        assert!(
            message.contains("unknown path attribute colour"),
            "{message}"
        );
        assert!(!message.contains("blue"), "{message}");
        let message = parse_error("pkcs11:object=a?pin=1234");
        assert!(message.contains("unknown query attribute pin"), "{message}");
        assert!(!message.contains("1234"), "{message}");
        let message = parse_error("pkcs11:object=a;library-version=2");
        assert!(
            message.contains("library-version is not supported"),
            "{message}"
        );
        let message = parse_error("pkcs11:object=a;type=cert");
        assert!(message.contains("type=cert"), "{message}");
        let message = parse_error("pkcs11:object=a;pin-value=1234");
        assert!(
            message.contains("pin-value is a query attribute"),
            "{message}"
        );
        assert!(!message.contains("1234"), "{message}");
        let message = parse_error("pkcs11:id=%01?object=a");
        assert!(message.contains("object is a path attribute"), "{message}");
    }

    #[test]
    fn malformed_attributes_do_not_echo_their_text() {
        let message = parse_error("pkcs11:object=a?pin-value");
        assert!(
            message.contains("query attribute 1 is not name=value"),
            "{message}"
        );
        let message = parse_error("pkcs11:object=a?secret9876");
        assert!(!message.contains("secret9876"), "{message}");
        let message = parse_error("pkcs11:object=a;=x");
        assert!(message.contains("no valid name"), "{message}");
        let message = parse_error("pkcs11:object=a?pin-value=12%3");
        assert!(
            message.contains("pin-value: malformed percent escape"),
            "{message}"
        );
        assert!(!message.contains("12"), "{message}");
    }

    #[test]
    fn values_are_checked() {
        assert!(parse_error("pkcs11:object=").contains("object is empty"));
        assert!(parse_error("pkcs11:id=").contains("id is empty"));
        assert!(parse_error("pkcs11:object=a;slot-id=x1").contains("slot-id must be a decimal"));
        assert!(
            parse_error("pkcs11:object=a;slot-id=99999999999999999999999").contains("out of range")
        );
        assert!(
            parse_error("pkcs11:object=a?module-path=libsofthsm2.so").contains("absolute path")
        );
        assert!(parse_error("pkcs11:object=a#frag").contains("no fragment"));
    }

    #[test]
    fn display_round_trips_and_redacts_the_pin() {
        let text = "pkcs11:token=my%20token;slot-id=3;object=key%3b1;id=%0a?module-path=/usr/lib/x.so&pin-value=Sup3r%26Secret";
        let uri = parse(text);
        let shown = uri.to_string();
        assert_eq!(
            shown,
            "pkcs11:token=my%20token;slot-id=3;object=key%3B1;id=%0a?module-path=/usr/lib/x.so&pin-value=<redacted>"
        );
        let debug = format!("{uri:?}");
        for output in [&shown, &debug] {
            assert!(!output.contains("Sup3r"), "{output}");
            assert!(!output.contains("Secret"), "{output}");
        }
        // What Display writes (without the PIN) reads back as the same selection.
        let again = parse(&shown.replace("&pin-value=<redacted>", ""));
        assert_eq!(again.token(), uri.token());
        assert_eq!(again.object(), Some("key;1"));
        assert_eq!(again.id(), uri.id());
        assert_eq!(again.slot_id(), uri.slot_id());
        let with_file = parse("pkcs11:object=a?pin-source=/run/my%20pin");
        assert_eq!(
            with_file.to_string(),
            "pkcs11:object=a?pin-source=/run/my%20pin"
        );
    }

    #[test]
    fn redact_pin_hides_every_pin_value() {
        assert_eq!(
            redact_pin("pkcs11:object=a?pin-value=1234&module-path=/m.so"),
            "pkcs11:object=a?pin-value=<redacted>&module-path=/m.so"
        );
        assert_eq!(
            redact_pin("pkcs11:object=a?PIN-VALUE=12;34?x&pin-value=56"),
            "pkcs11:object=a?PIN-VALUE=<redacted>&pin-value=<redacted>"
        );
        // A PIN given as a bare component, under a misspelt name or in the path part.
        assert_eq!(
            redact_pin("pkcs11:token=t;object=a;pin-value=1&2?1234&pin=99&x-pin=5"),
            "pkcs11:token=t;object=a;pin-value=<redacted>?<redacted>&pin=<redacted>&x-pin=<redacted>"
        );
        assert_eq!(
            redact_pin("pkcs11:object=a#1234"),
            "pkcs11:object=a#<redacted>"
        );
        assert_eq!(redact_pin("pkcs11:object=a"), "pkcs11:object=a");
        assert_eq!(redact_pin("cosign.key"), "<redacted>");
    }

    #[test]
    fn the_module_comes_from_the_uri_then_vouch_then_cosign() {
        let env = |vouch: Option<&str>, cosign: Option<&str>| {
            let (vouch, cosign) = (vouch.map(OsString::from), cosign.map(OsString::from));
            move |name: &str| match name {
                MODULE_PATH_ENV => vouch.clone(),
                COSIGN_MODULE_PATH_ENV => cosign.clone(),
                _ => None,
            }
        };
        let with_path = parse("pkcs11:object=a?module-path=/uri.so");
        let without = parse("pkcs11:object=a");
        assert_eq!(
            with_path
                .resolve_module_path_with(&env(Some("/v.so"), Some("/c.so")))
                .unwrap(),
            Path::new("/uri.so")
        );
        assert_eq!(
            without
                .resolve_module_path_with(&env(Some("/v.so"), Some("/c.so")))
                .unwrap(),
            Path::new("/v.so")
        );
        assert_eq!(
            without
                .resolve_module_path_with(&env(Some(""), Some("/c.so")))
                .unwrap(),
            Path::new("/c.so")
        );
        let message = without
            .resolve_module_path_with(&no_env)
            .unwrap_err()
            .to_string();
        assert!(message.contains("add module-path="), "{message}");
        assert!(message.contains(MODULE_PATH_ENV), "{message}");
        let named = parse("pkcs11:object=a?module-name=softhsm2");
        let message = named
            .resolve_module_path_with(&no_env)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("module-name=softhsm2 names a module"),
            "{message}"
        );
        assert!(
            without
                .resolve_module_path_with(&env(Some("rel.so"), None))
                .is_err()
        );
    }

    #[test]
    fn the_pin_comes_from_the_uri_then_vouch_then_cosign() {
        let env = |vouch: Option<&str>, cosign: Option<&str>| {
            let (vouch, cosign) = (vouch.map(OsString::from), cosign.map(OsString::from));
            move |name: &str| match name {
                PIN_ENV => vouch.clone(),
                COSIGN_PIN_ENV => cosign.clone(),
                _ => None,
            }
        };
        let pin = |uri: &Pkcs11Uri, env: &dyn Fn(&str) -> Option<OsString>| {
            uri.resolve_pin_with(env)
                .unwrap()
                .map(|p| String::from_utf8(p.to_vec()).unwrap())
        };
        let with_pin = parse("pkcs11:object=a?pin-value=%31%32");
        let without = parse("pkcs11:object=a");
        assert_eq!(
            pin(&with_pin, &env(Some("v"), Some("c"))).as_deref(),
            Some("12")
        );
        assert_eq!(
            pin(&without, &env(Some("v"), Some("c"))).as_deref(),
            Some("v")
        );
        assert_eq!(
            pin(&without, &env(Some(""), Some("c"))).as_deref(),
            Some("c")
        );
        assert_eq!(pin(&without, &no_env), None);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, "9876\r\n").unwrap();
        let from_file = parse(&format!("pkcs11:object=a?pin-source={}", file.display()));
        assert_eq!(pin(&from_file, &no_env).as_deref(), Some("9876"));
        std::fs::write(&file, "").unwrap();
        let message = from_file.resolve_pin_with(&no_env).unwrap_err().to_string();
        assert!(message.contains("is empty"), "{message}");
        std::fs::write(&file, vec![b'1'; 2000]).unwrap();
        let message = from_file.resolve_pin_with(&no_env).unwrap_err().to_string();
        assert!(message.contains("pin-source"), "{message}");
        assert!(!message.contains("1111"), "{message}");
        let missing = parse("pkcs11:object=a?pin-source=/nonexistent/pin");
        let message = missing.resolve_pin_with(&no_env).unwrap_err().to_string();
        assert!(message.contains("/nonexistent/pin"), "{message}");
    }

    #[test]
    fn a_missing_module_is_named() {
        let uri = parse("pkcs11:object=a?module-path=/nonexistent/module.so&pin-value=1");
        let e = Pkcs11Key::open_with_env(&uri, &no_env).unwrap_err();
        assert!(
            matches!(
                e,
                KeyError::Pkcs11 {
                    kind: Pkcs11ErrorKind::Module,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("/nonexistent/module.so: no such file"),
            "{e}"
        );
    }

    #[test]
    fn return_values_are_named_as_in_the_standard() {
        assert_eq!(rv_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(rv_name(RvError::SlotIdInvalid), "CKR_SLOT_ID_INVALID");
        assert_eq!(rv_name(RvError::UserNotLoggedIn), "CKR_USER_NOT_LOGGED_IN");
        assert_eq!(
            describe_ck(&CkError::Pkcs11(RvError::PinIncorrect, Function::Login)),
            "C_Login returned CKR_PIN_INCORRECT"
        );
    }

    #[test]
    fn raw_ecdsa_signatures_become_minimal_der() {
        // High bit set: a 0x00 is prepended; leading zeros are dropped.
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80;
        raw[32] = 0x00;
        raw[33] = 0x00;
        raw[34] = 0x7f;
        let der = ecdsa_raw_to_der(&raw, 32).unwrap();
        let mut seq = der::parse_single(&der, der::SEQUENCE).unwrap();
        let r = seq.expect(der::INTEGER).unwrap();
        let s = seq.expect(der::INTEGER).unwrap();
        assert!(seq.is_empty());
        assert_eq!(r.len(), 33);
        assert_eq!(&r[..2], &[0x00, 0x80]);
        assert_eq!(s.len(), 30);
        assert_eq!(s[0], 0x7f);
        // Zero is one zero byte.
        assert_eq!(der_unsigned(&[0, 0]), vec![der::INTEGER, 1, 0]);
        assert!(ecdsa_raw_to_der(&raw, 48).is_none());
    }

    #[test]
    fn a_software_signature_converted_verifies() {
        // aws-lc's fixed-length signature, converted as a token's would be, verifies as DER.
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let raw = pair.sign(&rng, b"message").unwrap();
        let der = ecdsa_raw_to_der(raw.as_ref(), 48).unwrap();
        // The public point, as a token's EC_POINT (wrapped in an OCTET STRING) and bare.
        let point = pair.public_key().as_ref();
        let params = der::tlv(der::OID, oids::P384);
        for ec_point in [der::tlv(der::OCTET_STRING, point), point.to_vec()] {
            let public = ec_public_key(&params, &ec_point).unwrap();
            assert_eq!(public.key_type(), KeyType::EcdsaP384);
            public.verify(b"message", &der).unwrap();
        }
        assert!(ec_public_key(&der::tlv(der::OID, oids::P224), point).is_err());
        assert!(ec_public_key(&params, &[0x02, 1, 2, 3]).is_err());
    }
}
