//! HTTP routes of a release, and the translation between HTTP and handler
//! events: nubo's neutral request/response, or API Gateway's REST proxy
//! shape for `handler_style: native`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::manifest::{Event, HandlerStyle, HttpMethod};

#[derive(Debug, Clone)]
enum Seg {
    Lit(String),
    Param(String),
    /// `{name+}`: the rest of the path.
    Greedy(String),
}

#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub method: HttpMethod,
    pub path: String,
    segs: Vec<Seg>,
    pub function: String,
}

/// The routes of one release, most specific first.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<RouteEntry>);

pub enum Match<'a> {
    Found(&'a RouteEntry, BTreeMap<String, String>),
    /// The path exists, not with this method.
    WrongMethod,
    None,
}

impl Routes {
    pub fn new<'a>(functions: impl Iterator<Item = (&'a str, &'a [Event])>) -> Routes {
        let mut out = Vec::new();
        for (function, events) in functions {
            for e in events {
                let Event::Http(h) = e else { continue };
                let segs = h
                    .path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(p) => match p.strip_suffix('+') {
                                Some(g) => Seg::Greedy(g.to_owned()),
                                None => Seg::Param(p.to_owned()),
                            },
                            None => Seg::Lit(s.to_owned()),
                        },
                    )
                    .collect();
                out.push(RouteEntry {
                    method: h.method,
                    path: h.path.clone(),
                    segs,
                    function: function.to_owned(),
                });
            }
        }
        // Literal segments beat parameters, parameters beat greedy ones; ANY last.
        let rank = |r: &RouteEntry| {
            let kinds: Vec<u8> = r
                .segs
                .iter()
                .map(|s| match s {
                    Seg::Lit(_) => 0,
                    Seg::Param(_) => 1,
                    Seg::Greedy(_) => 2,
                })
                .collect();
            (kinds, r.method == HttpMethod::Any)
        };
        out.sort_by_key(rank);
        Routes(out)
    }

    pub fn find(&self, method: &str, path: &str) -> Match<'_> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut wrong_method = false;
        for r in &self.0 {
            let Some(params) = matches(&r.segs, &parts) else {
                continue;
            };
            if r.method == HttpMethod::Any
                || r.method.as_str() == method
                || (method == "HEAD" && r.method == HttpMethod::Get)
            {
                return Match::Found(r, params);
            }
            wrong_method = true;
        }
        if wrong_method {
            Match::WrongMethod
        } else {
            Match::None
        }
    }
}

fn matches(segs: &[Seg], parts: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let mut i = 0;
    for (k, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Greedy(name) => {
                if k != segs.len() - 1 || i >= parts.len() {
                    return None;
                }
                params.insert(name.clone(), parts[i..].join("/"));
                return Some(params);
            }
            Seg::Lit(l) => {
                if parts.get(i) != Some(&l.as_str()) {
                    return None;
                }
            }
            Seg::Param(name) => {
                let v = parts.get(i)?;
                params.insert(name.clone(), percent_decode(v));
            }
        }
        i += 1;
    }
    (i == parts.len()).then_some(params)
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A request as the gateway received it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: BTreeMap<String, String>,
    pub body: &'a [u8],
}

fn query_map(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// The handler event for an HTTP request.
pub fn event(
    style: HandlerStyle,
    req: &Request<'_>,
    route: &RouteEntry,
    params: &BTreeMap<String, String>,
    release: &str,
) -> Value {
    let (body, b64) = match std::str::from_utf8(req.body) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(req.body),
            true,
        ),
    };
    let query = query_map(req.query);
    match style {
        HandlerStyle::Neutral => json!({
            "method": req.method,
            "path": req.path,
            "route": route.path,
            "params": params,
            "query": query,
            "headers": req.headers,
            "body": body,
            "isBase64Encoded": b64,
            "release": release,
        }),
        HandlerStyle::Native => json!({
            "resource": route.path,
            "path": req.path,
            "httpMethod": req.method,
            "headers": req.headers,
            "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
            "pathParameters": if params.is_empty() { Value::Null } else { json!(params) },
            "stageVariables": { "release": release },
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": req.method,
                "path": req.path,
                "stage": release,
                "requestId": super::worker::request_id(),
            },
            "body": if req.body.is_empty() { Value::Null } else { json!(body) },
            "isBase64Encoded": b64,
        }),
    }
}

/// The event for a check's `with` against an HTTP function: a request.
pub fn check_event(style: HandlerStyle, with: &Value, events: &[Event], release: &str) -> Value {
    let first = events.iter().find_map(|e| match e {
        Event::Http(h) => Some(h),
        _ => None,
    });
    let method = with["method"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| first.map(|h| h.method.as_str().to_owned()))
        .unwrap_or_else(|| "GET".to_owned());
    let path = with["path"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| first.map(|h| h.path.clone()))
        .unwrap_or_else(|| "/".to_owned());
    let body = match &with["body"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let headers: BTreeMap<String, String> = with["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| {
                    (
                        k.to_lowercase(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let query: String = with["query"]
        .as_object()
        .map(|q| {
            q.iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    )
                })
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    let routes = Routes::new(std::iter::once(("check", events)));
    let (route, params) = match routes.find(&method, &path) {
        Match::Found(r, p) => (r.clone(), p),
        _ => (
            RouteEntry {
                method: HttpMethod::Any,
                path: path.clone(),
                segs: Vec::new(),
                function: String::new(),
            },
            BTreeMap::new(),
        ),
    };
    event(
        style,
        &Request {
            method: &method,
            path: &path,
            query: &query,
            headers,
            body: body.as_bytes(),
        },
        &route,
        &params,
        release,
    )
}

/// An HTTP response from a handler's return value.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Read a handler's result as an HTTP response; `Err` says why it is not one.
pub fn response(style: HandlerStyle, result: &str) -> Result<HttpResponse, String> {
    let v: Value = serde_json::from_str(result)
        .map_err(|e| format!("the handler's result is not JSON: {e}"))?;
    let (status_key, body_key) = match style {
        HandlerStyle::Neutral => ("status", "body"),
        HandlerStyle::Native => ("statusCode", "body"),
    };
    let Value::Object(map) = &v else {
        return Err(format!(
            "the handler returned {} instead of an object with `{status_key}`",
            kind(&v)
        ));
    };
    let status = match map.get(status_key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| format!("`{status_key}` {n} is not an HTTP status"))?
            as u16,
        None => 200,
        Some(other) => return Err(format!("`{status_key}` is {}, not a number", kind(other))),
    };
    let mut headers = Vec::new();
    if let Some(Value::Object(h)) = map.get("headers") {
        for (k, v) in h {
            headers.push((
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            ));
        }
    }
    let b64 = map
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = match map.get(body_key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if b64 => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("`body` is not valid base64: {e}"))?,
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
            }
            other.to_string().into_bytes()
        }
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::HttpEvent;

    fn routes() -> Routes {
        let a = [Event::Http(HttpEvent {
            method: HttpMethod::Get,
            path: "/orders/{id}".into(),
            public: false,
        })];
        let b = [Event::Http(HttpEvent {
            method: HttpMethod::Get,
            path: "/orders/latest".into(),
            public: false,
        })];
        let c = [Event::Http(HttpEvent {
            method: HttpMethod::Any,
            path: "/files/{rest+}".into(),
            public: false,
        })];
        Routes::new([("one", &a[..]), ("latest", &b[..]), ("files", &c[..])].into_iter())
    }

    #[test]
    fn literal_beats_parameter_and_params_decode() {
        let r = routes();
        let Match::Found(e, p) = r.find("GET", "/orders/latest") else {
            panic!()
        };
        assert_eq!(e.function, "latest");
        assert!(p.is_empty());
        let Match::Found(e, p) = r.find("GET", "/orders/a%20b") else {
            panic!()
        };
        assert_eq!(e.function, "one");
        assert_eq!(p["id"], "a b");
        assert!(matches!(r.find("POST", "/orders/1"), Match::WrongMethod));
        assert!(matches!(r.find("GET", "/nope"), Match::None));
        let Match::Found(e, p) = r.find("DELETE", "/files/a/b/c.txt") else {
            panic!()
        };
        assert_eq!(
            (e.function.as_str(), p["rest"].as_str()),
            ("files", "a/b/c.txt")
        );
    }

    #[test]
    fn responses_are_validated() {
        let ok = response(
            HandlerStyle::Neutral,
            r#"{"status": 201, "headers": {"x": "1"}, "body": "hi"}"#,
        )
        .unwrap();
        assert_eq!((ok.status, ok.body.as_slice()), (201, &b"hi"[..]));
        assert!(
            response(HandlerStyle::Neutral, "not json")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            response(HandlerStyle::Neutral, "[1]")
                .unwrap_err()
                .contains("a list")
        );
        assert!(
            response(HandlerStyle::Neutral, r#"{"status": "ok"}"#)
                .unwrap_err()
                .contains("not a number")
        );
        let native = response(HandlerStyle::Native, r#"{"statusCode": 404, "body": "x"}"#).unwrap();
        assert_eq!(native.status, 404);
    }
}
