//! Minimal decoding of Kubernetes protobuf bodies (spec §2.6), enough for
//! `kubectl create namespace|configmap|secret`: the `k8s\0` envelope, a `runtime.Unknown`
//! and the object's metadata and data. Never panics on hostile input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic.
    #[error("the body does not start with the Kubernetes protobuf magic")]
    MissingMagic,
    /// The protobuf stream is cut short or malformed.
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    /// A string field is not valid UTF-8.
    #[error("a string field is not valid UTF-8")]
    InvalidUtf8,
    /// The envelope names a kind this decoder does not know.
    #[error("protobuf decoding of {api_version}/{kind} is not supported; send JSON")]
    UnsupportedKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
}

impl ProtobufError {
    /// A stable label for the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingMagic => "missing_magic",
            Self::Malformed(_) => "malformed",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::UnsupportedKind { .. } => "unsupported_kind",
        }
    }
}

/// One decoded field.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// Iterates over the fields of one message.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let (&byte, rest) = self
                .buf
                .split_first()
                .ok_or(ProtobufError::Malformed("truncated varint"))?;
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        if n > self.buf.len() {
            return Err(ProtobufError::Malformed("length beyond the end of the message"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn next_field(&mut self) -> Result<Option<(u64, Field<'a>)>, ProtobufError> {
        loop {
            if self.buf.is_empty() {
                return Ok(None);
            }
            let tag = self.varint()?;
            let number = tag >> 3;
            if number == 0 {
                return Err(ProtobufError::Malformed("field number 0"));
            }
            match tag & 7 {
                0 => return Ok(Some((number, Field::Varint(self.varint()?)))),
                1 => {
                    self.take(8)?;
                }
                2 => {
                    let len =
                        usize::try_from(self.varint()?).map_err(|_| ProtobufError::Malformed("length too large"))?;
                    return Ok(Some((number, Field::Bytes(self.take(len)?))));
                }
                5 => {
                    self.take(4)?;
                }
                _ => return Err(ProtobufError::Malformed("unsupported wire type")),
            }
        }
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtobufError> {
    let mut reader = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = reader.next_field()? {
        out.push(f);
    }
    Ok(out)
}

fn string(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::InvalidUtf8)
}

fn bytes_of<'a>(field: &Field<'a>) -> Result<&'a [u8], ProtobufError> {
    match field {
        Field::Bytes(b) => Ok(b),
        Field::Varint(_) => Err(ProtobufError::Malformed("expected a length-delimited field")),
    }
}

/// A map entry `{1: key, 2: value}`; `binary` values become base64.
fn map_entry(buf: &[u8], binary: bool) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value = Value::String(String::new());
    for (n, f) in fields(buf)? {
        match n {
            1 => key = string(bytes_of(&f)?)?,
            2 if binary => value = Value::String(STANDARD.encode(bytes_of(&f)?)),
            2 => value = Value::String(string(bytes_of(&f)?)?),
            _ => {}
        }
    }
    Ok((key, value))
}

fn insert_entry(target: &mut Map<String, Value>, name: &str, buf: &[u8], binary: bool) -> Result<(), ProtobufError> {
    let (k, v) = map_entry(buf, binary)?;
    let slot = target.entry(name).or_insert_with(|| Value::Object(Map::new()));
    if let Some(m) = slot.as_object_mut() {
        m.insert(k, v);
    }
    Ok(())
}

fn metadata(buf: &[u8]) -> Result<Value, ProtobufError> {
    let mut meta = Map::new();
    for (n, f) in fields(buf)? {
        let name = match n {
            1 => "name",
            2 => "generateName",
            3 => "namespace",
            5 => "uid",
            6 => "resourceVersion",
            7 => {
                if let Field::Varint(v) = f
                    && v != 0
                {
                    meta.insert("generation".into(), json!(v));
                }
                continue;
            }
            11 => {
                insert_entry(&mut meta, "labels", bytes_of(&f)?, false)?;
                continue;
            }
            12 => {
                insert_entry(&mut meta, "annotations", bytes_of(&f)?, false)?;
                continue;
            }
            _ => continue,
        };
        let value = string(bytes_of(&f)?)?;
        if !value.is_empty() {
            meta.insert(name.into(), Value::String(value));
        }
    }
    Ok(Value::Object(meta))
}

/// Decodes a `application/vnd.kubernetes.protobuf` body of a Namespace, ConfigMap or Secret
/// into its JSON object.
pub fn decode_protobuf(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::MissingMagic)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    for (n, f) in fields(rest)? {
        match n {
            1 => {
                for (tn, tf) in fields(bytes_of(&f)?)? {
                    match tn {
                        1 => api_version = string(bytes_of(&tf)?)?,
                        2 => kind = string(bytes_of(&tf)?)?,
                        _ => {}
                    }
                }
            }
            2 => raw = Some(bytes_of(&f)?),
            _ => {}
        }
    }
    let raw = raw.unwrap_or_default();
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => {
            for (n, f) in fields(raw)? {
                match n {
                    1 => {
                        obj.insert("metadata".into(), metadata(bytes_of(&f)?)?);
                    }
                    2 => {
                        let finalizers = fields(bytes_of(&f)?)?
                            .into_iter()
                            .filter(|(n, _)| *n == 1)
                            .map(|(_, f)| bytes_of(&f).and_then(string).map(Value::String))
                            .collect::<Result<Vec<_>, _>>()?;
                        if !finalizers.is_empty() {
                            obj.insert("spec".into(), json!({"finalizers": finalizers}));
                        }
                    }
                    _ => {}
                }
            }
        }
        ("v1", "ConfigMap") => {
            for (n, f) in fields(raw)? {
                match n {
                    1 => {
                        obj.insert("metadata".into(), metadata(bytes_of(&f)?)?);
                    }
                    2 => insert_entry(&mut obj, "data", bytes_of(&f)?, false)?,
                    3 => insert_entry(&mut obj, "binaryData", bytes_of(&f)?, true)?,
                    4 => {
                        if let Field::Varint(v) = f {
                            obj.insert("immutable".into(), json!(v != 0));
                        }
                    }
                    _ => {}
                }
            }
        }
        ("v1", "Secret") => {
            for (n, f) in fields(raw)? {
                match n {
                    1 => {
                        obj.insert("metadata".into(), metadata(bytes_of(&f)?)?);
                    }
                    2 => insert_entry(&mut obj, "data", bytes_of(&f)?, true)?,
                    3 => {
                        let t = string(bytes_of(&f)?)?;
                        if !t.is_empty() {
                            obj.insert("type".into(), json!(t));
                        }
                    }
                    4 => insert_entry(&mut obj, "stringData", bytes_of(&f)?, false)?,
                    5 => {
                        if let Field::Varint(v) = f {
                            obj.insert("immutable".into(), json!(v != 0));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => return Err(ProtobufError::UnsupportedKind { api_version, kind }),
    }
    obj.entry("metadata").or_insert_with(|| json!({}));
    Ok(Value::Object(obj))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A tiny protobuf encoder for building test bodies.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes(field: u64, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(field << 3 | 2, &mut out);
        varint(data.len() as u64, &mut out);
        out.extend_from_slice(data);
        out
    }

    fn number(field: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(field << 3, &mut out);
        varint(v, &mut out);
        out
    }

    fn entry(field: u64, k: &str, v: &[u8]) -> Vec<u8> {
        bytes(field, &[bytes(1, k.as_bytes()), bytes(2, v)].concat())
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [bytes(1, api_version.as_bytes()), bytes(2, kind.as_bytes())].concat();
        let unknown = [
            bytes(1, &type_meta),
            bytes(2, raw),
            bytes(3, b""),
            bytes(4, b"application/vnd.kubernetes.protobuf"),
        ]
        .concat();
        [MAGIC.to_vec(), unknown].concat()
    }

    fn meta(name: &str) -> Vec<u8> {
        // creationTimestamp (8) as an empty Time message, as kubectl sends it.
        bytes(
            1,
            &[
                bytes(1, name.as_bytes()),
                bytes(8, b""),
                entry(11, "app", b"web"),
                number(7, 0),
            ]
            .concat(),
        )
    }

    #[test]
    fn a_namespace_body_decodes_to_json() {
        let body = envelope(
            "v1",
            "Namespace",
            &[meta("team-b"), bytes(2, b""), bytes(3, b"")].concat(),
        );
        assert_eq!(
            decode_protobuf(&body).unwrap(),
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-b","labels":{"app":"web"}}})
        );
    }

    #[test]
    fn a_config_map_and_a_secret_decode_with_their_data() {
        let cm = envelope(
            "v1",
            "ConfigMap",
            &[
                meta("cfg"),
                entry(2, "a", b"1"),
                entry(2, "b", b"2"),
                entry(3, "bin", &[0, 255]),
            ]
            .concat(),
        );
        assert_eq!(
            decode_protobuf(&cm).unwrap(),
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","labels":{"app":"web"}},"data":{"a":"1","b":"2"},"binaryData":{"bin":"AP8="}})
        );
        let secret = envelope(
            "v1",
            "Secret",
            &[meta("s"), entry(2, "password", b"hunter2"), bytes(3, b"Opaque")].concat(),
        );
        assert_eq!(
            decode_protobuf(&secret).unwrap(),
            json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","labels":{"app":"web"}},"data":{"password":"aHVudGVyMg=="},"type":"Opaque"})
        );
    }

    #[test]
    fn other_kinds_are_refused_cleanly() {
        let body = envelope("apps/v1", "Deployment", &meta("web"));
        assert!(matches!(
            decode_protobuf(&body),
            Err(ProtobufError::UnsupportedKind { .. })
        ));
    }

    #[test]
    fn truncated_and_garbage_bodies_give_errors_not_panics() {
        let good = envelope("v1", "ConfigMap", &[meta("cfg"), entry(2, "a", b"1")].concat());
        for cut in 0..good.len() {
            let _ = decode_protobuf(&good[..cut]);
        }
        assert_eq!(decode_protobuf(b"{\"kind\":\"x\"}"), Err(ProtobufError::MissingMagic));
        assert!(
            decode_protobuf(
                &[
                    MAGIC,
                    &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
                ]
                .concat()
            )
            .is_err()
        );
        assert!(decode_protobuf(&[MAGIC, &[0x0f]].concat()).is_err());
        assert!(decode_protobuf(&[MAGIC, &[0x80; 12]].concat()).is_err());
        let bad_utf8 = envelope("v1", "ConfigMap", &bytes(1, &bytes(1, &[0xff, 0xfe])));
        assert_eq!(decode_protobuf(&bad_utf8), Err(ProtobufError::InvalidUtf8));
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let len = (state % 64) as usize;
            let mut junk = MAGIC.to_vec();
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                junk.push((state & 0xff) as u8);
            }
            let _ = decode_protobuf(&junk);
        }
    }
}
