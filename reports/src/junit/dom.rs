//! A minimal element tree read with quick-xml: enough structure for JUnit, nothing more.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::errors::JunitError;

/// An element: its local name, attributes, direct text (text and CDATA concatenated) and
/// child elements.
#[derive(Debug, Default)]
pub(super) struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The value of an attribute, if present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// An attribute parsed as a number of seconds; unparsable values read as absent.
    pub fn seconds(&self, name: &str) -> Option<f64> {
        self.attribute(name)
            .and_then(|value| value.trim().replace(',', "").parse::<f64>().ok())
            .filter(|value| value.is_finite())
    }

    /// The direct children with the given local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |child| child.name == name)
    }

    /// The text of the first child with the given name, if it has any.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.children_named(name)
            .next()
            .map(|child| child.text.clone())
            .filter(|text| !text.trim().is_empty())
    }
}

/// Reads `source` into its root element.
pub(super) fn read(origin: &str, source: &str) -> Result<Element, JunitError> {
    let mut reader = Reader::from_str(source);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|err| error_at(origin, source, reader.error_position(), &err.to_string()))?;
        match event {
            Event::Start(start) => {
                stack.push(open(origin, source, &reader, &start)?);
            }
            Event::Empty(start) => {
                let element = open(origin, source, &reader, &start)?;
                if let Some(root) = close(&mut stack, element) {
                    return Ok(root);
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| {
                    error_at(
                        origin,
                        source,
                        reader.buffer_position(),
                        "closing tag without an opening tag",
                    )
                })?;
                if let Some(root) = close(&mut stack, element) {
                    return Ok(root);
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&data.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(ch)) => ch.to_string(),
                    Ok(None) => resolve_predefined_entity(&reference)
                        .ok_or_else(|| {
                            error_at(
                                origin,
                                source,
                                reader.buffer_position(),
                                &format!("unknown entity `&{};`", &*reference),
                            )
                        })?
                        .to_owned(),
                    Err(err) => {
                        return Err(error_at(
                            origin,
                            source,
                            reader.buffer_position(),
                            &err.to_string(),
                        ));
                    }
                };
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&resolved);
                }
            }
            Event::Eof => {
                let what = if stack.is_empty() {
                    "the document has no root element"
                } else {
                    "the document ends before its root element is closed"
                };
                return Err(error_at(origin, source, reader.buffer_position(), what));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
}

fn open(
    origin: &str,
    source: &str,
    reader: &Reader<&[u8]>,
    start: &BytesStart<'_>,
) -> Result<Element, JunitError> {
    let mut element = Element {
        name: start.local_name().as_ref().to_owned(),
        ..Element::default()
    };
    for attribute in start.attributes() {
        let attribute = attribute
            .map_err(|err| error_at(origin, source, reader.buffer_position(), &err.to_string()))?;
        let key = attribute.key.local_name().as_ref().to_owned();
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| error_at(origin, source, reader.buffer_position(), &err.to_string()))?
            .into_owned();
        element.attributes.push((key, value));
    }
    Ok(element)
}

/// Attaches a finished element to its parent; returns it when it is the root.
fn close(stack: &mut [Element], element: Element) -> Option<Element> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(element);
            None
        }
        None => Some(element),
    }
}

fn error_at(origin: &str, source: &str, position: u64, message: &str) -> JunitError {
    let offset = usize::try_from(position)
        .unwrap_or(usize::MAX)
        .min(source.len());
    let before = &source.as_bytes()[..offset];
    let line = before.split(|b| *b == b'\n').count();
    let column = offset
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    JunitError::Malformed {
        origin: origin.to_owned(),
        line,
        column,
        message: message.to_owned(),
    }
}
