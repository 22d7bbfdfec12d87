//! What the emulator answers: the pfrest envelope, errors with their response ids, raw bodies.

use bytes::Bytes;
use serde_json::{Value, json};

/// One finished HTTP answer, before it goes on the wire.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
        }
    }

    pub fn raw(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The success envelope: 200, "ok", "SUCCESS", "".
    pub fn ok(data: Value) -> Reply {
        Reply::json(
            200,
            &json!({
                "code": 200,
                "status": "ok",
                "response_id": "SUCCESS",
                "message": "",
                "data": data,
            }),
        )
    }

    /// nginx's own page for URLs that never reach the API.
    pub fn nginx_404() -> Reply {
        Reply::raw(
            404,
            "text/html",
            "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        )
    }
}

/// The status word pfrest puts in `status` for each code.
pub fn status_text(code: u16) -> &'static str {
    match code {
        200 => "ok",
        400 => "bad request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        405 => "method not allowed",
        406 => "not acceptable",
        409 => "conflict",
        415 => "unsupported media type",
        422 => "unprocessable entity",
        424 => "failed dependency",
        500 => "internal server error",
        503 => "service unavailable",
        _ => "unknown",
    }
}

/// An API error as pfrest reports it. Validation reports the first error only. Boxed so that
/// results stay small.
#[derive(Debug, Clone)]
pub struct ApiError(Box<ApiErrorBody>);

#[derive(Debug, Clone)]
pub struct ApiErrorBody {
    pub code: u16,
    pub response_id: String,
    pub message: String,
    pub data: Value,
    pub headers: Vec<(String, String)>,
}

impl std::ops::Deref for ApiError {
    type Target = ApiErrorBody;
    fn deref(&self) -> &ApiErrorBody {
        &self.0
    }
}

impl ApiError {
    pub fn new(code: u16, response_id: &str, message: impl Into<String>) -> ApiError {
        ApiError(Box::new(ApiErrorBody {
            code,
            response_id: response_id.to_string(),
            message: message.into(),
            data: json!([]),
            headers: Vec::new(),
        }))
    }

    pub fn bad(response_id: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(400, response_id, message)
    }

    pub fn with_data(mut self, data: Value) -> ApiError {
        self.0.data = data;
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> ApiError {
        self.0.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn not_found(id: &Value) -> ApiError {
        ApiError::new(
            404,
            "MODEL_OBJECT_NOT_FOUND",
            format!("Object with ID `{}` does not exist.", display_value(id)),
        )
    }

    pub fn into_reply(self) -> Reply {
        let this = *self.0;
        // pfrest turns quotes in messages into backticks.
        let message = this.message.replace(['"', '\''], "`");
        let mut reply = Reply::json(
            this.code,
            &json!({
                "code": this.code,
                "status": status_text(this.code),
                "response_id": this.response_id,
                "message": message,
                "data": this.data,
            }),
        );
        reply.headers = this.headers;
        reply
    }
}

/// A value as it appears inside an error message.
pub fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value as PHP writes it into a string (`"…$value…"`): null and false as nothing, true as
/// 1, a list as `Array` (pfrest's `FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE` message; lab: a null
/// sent reads "the requested value ``").
pub fn php_interpolated(v: &Value) -> String {
    match v {
        Value::Null | Value::Bool(false) => String::new(),
        Value::Bool(true) => "1".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => "Array".into(),
    }
}

/// PHP's name for a JSON value's type, as pfrest's type errors use it.
pub fn php_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "double",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) | Value::Object(_) => "array",
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
