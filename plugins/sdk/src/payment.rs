//! The `payment-gateway` world, with a small blocking HTTP client over `wasi:http` for talking to
//! the provider (only to hosts the manifest declares and the administrator approved).

use crate::Money;

pub use bindings::exports::emporium::plugin::payment::{
    Approval, Callback, CallbackKind, Card, Header, PaymentRequest, PaymentResult, Redirect,
};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "payment-gateway",
        with: {
            "emporium:plugin/types@0.1.0": crate::base::emporium::plugin::types,
            "emporium:plugin/host@0.1.0": crate::base::emporium::plugin::host,
        },
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "::emporium_plugin_sdk::payment::bindings",
    });
}

/// A payment gateway. Every operation answers with a [`PaymentResult`]: `Approved`,
/// `Declined` (message shown to the customer), `Error` (logged only) or `NextAction` (redirect).
pub trait PaymentGateway {
    fn authorize(request: PaymentRequest) -> PaymentResult;
    fn capture(reference: String, amount: Money) -> PaymentResult;
    fn refund(reference: String, amount: Money) -> PaymentResult;
    fn void(reference: String) -> PaymentResult;
    /// Finishes a redirect flow or handles a webhook. The default refuses, for gateways
    /// without redirects.
    fn handle_callback(callback: Callback) -> PaymentResult {
        let _ = callback;
        // Refused, not a fault: nothing about the shop or the provider is broken when someone
        // calls back a gateway that never sends anyone away (the shop answers 4xx, not 5xx).
        PaymentResult::Declined("this gateway does not handle callbacks".to_string())
    }
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: PaymentGateway> bindings::exports::emporium::plugin::payment::Guest for Adapter<T> {
    fn authorize(request: PaymentRequest) -> PaymentResult {
        T::authorize(request)
    }
    fn capture(reference: String, amount: Money) -> PaymentResult {
        T::capture(reference, amount)
    }
    fn refund(reference: String, amount: Money) -> PaymentResult {
        T::refund(reference, amount)
    }
    fn void(reference: String) -> PaymentResult {
        T::void(reference)
    }
    fn handle_callback(callback: Callback) -> PaymentResult {
        T::handle_callback(callback)
    }
}

/// Registers a [`PaymentGateway`]: `emporium_plugin_sdk::export_payment!(MyGateway);`
#[macro_export]
macro_rules! export_payment {
    ($plugin:ty) => {
        type __EmporiumPaymentExport = $crate::payment::Adapter<$plugin>;
        $crate::payment::bindings::export!(__EmporiumPaymentExport with_types_in $crate::payment::bindings);
    };
}

/// A minimal blocking HTTP client over `wasi:http/outgoing-handler`.
pub mod http {
    use super::bindings::wasi::http::outgoing_handler;
    use super::bindings::wasi::http::types::{
        Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
    };
    use super::bindings::wasi::io::streams::StreamError;

    /// A response with its body read completely.
    #[derive(Debug, Clone)]
    pub struct Response {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Response {
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    /// Responses larger than this are refused (the plugin's memory is capped anyway).
    pub const MAX_BODY: usize = 1 << 20;

    /// Splits "https://host:port/path?q" into scheme, authority and path-with-query.
    pub fn split_url(url: &str) -> Result<(Scheme, String, String), String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(format!("unsupported URL {url:?}: only http and https"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("URL {url:?} has no host"));
        }
        Ok((scheme, authority.to_string(), path.to_string()))
    }

    /// Sends one request and waits for the whole response. Errors are text for
    /// `PaymentResult::Error` (a denied host reads "HTTP request denied").
    pub fn send(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        let (scheme, authority, path) = split_url(url)?;
        let fields = Fields::new();
        for (name, value) in headers {
            fields
                .append(name, value.as_bytes())
                .map_err(|e| format!("bad header {name}: {e:?}"))?;
        }
        let request = OutgoingRequest::new(fields);
        let method = match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            other => Method::Other(other.to_string()),
        };
        request
            .set_method(&method)
            .map_err(|()| "bad method".to_string())?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| "bad scheme".to_string())?;
        request
            .set_authority(Some(&authority))
            .map_err(|()| format!("bad host {authority:?}"))?;
        request
            .set_path_with_query(Some(&path))
            .map_err(|()| format!("bad path {path:?}"))?;
        let outgoing_body = request
            .body()
            .map_err(|()| "request body already taken".to_string())?;
        let future = outgoing_handler::handle(request, None).map_err(http_error)?;
        {
            let stream = outgoing_body
                .write()
                .map_err(|()| "request body stream already taken".to_string())?;
            // blocking-write-and-flush accepts at most 4096 bytes per call.
            for chunk in body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| format!("writing request body: {e:?}"))?;
            }
        }
        OutgoingBody::finish(outgoing_body, None).map_err(http_error)?;
        let response = loop {
            match future.get() {
                Some(result) => break result,
                None => future.subscribe().block(),
            }
        };
        let response = response
            .map_err(|()| "response already taken".to_string())?
            .map_err(http_error)?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| "response body already taken".to_string())?;
        let mut body = Vec::new();
        {
            let stream = incoming
                .stream()
                .map_err(|()| "response stream already taken".to_string())?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => {
                        body.extend_from_slice(&chunk);
                        if body.len() > MAX_BODY {
                            return Err(format!("response larger than {MAX_BODY} bytes"));
                        }
                    }
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(format!("reading response: {e:?}")),
                }
            }
        }
        drop(IncomingBody::finish(incoming));
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn http_error(e: super::bindings::wasi::http::types::ErrorCode) -> String {
        use super::bindings::wasi::http::types::ErrorCode;
        match e {
            ErrorCode::HttpRequestDenied => "HTTP request denied".to_string(),
            other => format!("HTTP error: {other:?}"),
        }
    }
}
