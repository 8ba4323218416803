//! WeCom's `errcode` values that change what the client does, and their classification.
//!
//! Owns only the numbers and what they mean for retrying; the retry loop itself lives in
//! [`client`](super::client). Codes come from the official global error-code page
//! (/document/path/90313).

/// Success.
pub const OK: i64 = 0;
/// 系统繁忙: "建议重试次数不超过3次" — back off and retry.
pub const SYSTEM_BUSY: i64 = -1;
/// 不合法的secret参数 — a configuration error in WeCom (not a token problem).
pub const INVALID_SECRET: i64 = 40001;
/// 不合法的CorpID.
pub const INVALID_CORP_ID: i64 = 40013;
/// 不合法的access_token — drop the cached token, fetch again, replay once.
pub const INVALID_ACCESS_TOKEN: i64 = 40014;
/// access_token已过期 — as [`INVALID_ACCESS_TOKEN`].
pub const ACCESS_TOKEN_EXPIRED: i64 = 42001;
/// 不合法的suite_token — as [`INVALID_ACCESS_TOKEN`], for suite tokens.
pub const INVALID_SUITE_TOKEN: i64 = 40082;
/// suite_access_token已过期 — as [`INVALID_ACCESS_TOKEN`], for suite tokens.
pub const SUITE_TOKEN_EXPIRED: i64 = 42009;
/// 接口调用超过限制: a per-minute/per-hour frequency limit was hit. Retrying within seconds
/// only spends more of the same quota, so it is reported at once.
pub const FREQUENCY_LIMIT: i64 = 45009;
/// 接口并发调用超过限制 (concurrency limit).
pub const CONCURRENCY_LIMIT: i64 = 45033;
/// API接口无权限调用: the secret's app may not call customer-contact APIs.
pub const NO_PERMISSION: i64 = 48002;
/// 无效的欢迎语code: the `welcome_code` expired (20 s) or was already used.
pub const WELCOME_CODE_INVALID: i64 = 41050;
/// 客户和服务人员已经开始聊天了: the welcome message is refused for good.
pub const ALREADY_CHATTING: i64 = 41051;
/// 不安全的访问IP (`not allow to access from your ip`): the caller's egress IP is not in the
/// app's 企业可信IP.
pub const UNTRUSTED_IP: i64 = 60020;
/// 非外部联系人 / the member has no customers: `externalcontact/list` answers it for a member
/// without customers, which the client turns into an empty list.
pub const NOT_EXTERNAL_CONTACT: i64 = 84061;

/// The path of `externalcontact/list`, the one endpoint where 84061 means "none".
const LIST_PATH: &str = "/cgi-bin/externalcontact/list";

/// What the client does about an `errcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// `errcode` 0: decode the payload.
    Success,
    /// The access token is invalid or expired: refresh it once and replay.
    TokenInvalid,
    /// The secret is wrong: a configuration error, never retried.
    InvalidSecret,
    /// WeCom is busy (-1) or over the concurrency limit (45033): back off and retry a bounded
    /// number of times.
    Busy,
    /// A frequency limit (45009): reported at once, never retried within seconds.
    FrequencyLimit,
    /// Anything else: returned to the caller as it is.
    Other,
}

/// Classifies an `errcode`.
pub(crate) fn classify(code: i64) -> Class {
    match code {
        OK => Class::Success,
        INVALID_ACCESS_TOKEN | ACCESS_TOKEN_EXPIRED | INVALID_SUITE_TOKEN | SUITE_TOKEN_EXPIRED => {
            Class::TokenInvalid
        }
        INVALID_SECRET => Class::InvalidSecret,
        SYSTEM_BUSY | CONCURRENCY_LIMIT => Class::Busy,
        FREQUENCY_LIMIT => Class::FrequencyLimit,
        _ => Class::Other,
    }
}

/// Whether `code` from `path` is WeCom's way of saying "nothing": the answer then counts as a
/// success with no items (84061 from `externalcontact/list`: the member has no customers).
pub(crate) fn means_empty(path: &str, code: i64) -> bool {
    code == NOT_EXTERNAL_CONTACT && path == LIST_PATH
}

/// What to do about `code`, for the error message: ` (cause: fix)`, or empty for codes whose
/// `errmsg` says enough.
pub(crate) fn hint(code: i64) -> &'static str {
    match code {
        UNTRUSTED_IP => {
            " (this server's egress IP is not in the app's 企业可信IP: add it in the admin \
             console under 应用管理 → the app → 企业可信IP, or send API calls through \
             [api] proxy from an address that is listed)"
        }
        NO_PERMISSION => {
            " (the secret's app may not call customer-contact APIs: use the 客户联系 secret, or \
             add the app under 客户联系 → 可调用接口的应用)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_codes_that_change_behaviour() {
        assert_eq!(classify(0), Class::Success);
        for code in [40014, 42001, 40082, 42009] {
            assert_eq!(classify(code), Class::TokenInvalid, "{code}");
        }
        assert_eq!(classify(40001), Class::InvalidSecret);
        for code in [-1, 45033] {
            assert_eq!(classify(code), Class::Busy, "{code}");
        }
        assert_eq!(classify(45009), Class::FrequencyLimit);
        assert_eq!(classify(41050), Class::Other);
    }

    #[test]
    fn only_list_treats_84061_as_empty() {
        assert!(means_empty("/cgi-bin/externalcontact/list", 84061));
        assert!(!means_empty("/cgi-bin/externalcontact/get", 84061));
        assert!(!means_empty("/cgi-bin/externalcontact/list", 84062));
    }

    #[test]
    fn untrusted_ip_names_the_fix() {
        assert!(hint(60020).contains("企业可信IP") && hint(60020).contains("egress IP"));
        assert_eq!(hint(41051), "");
    }
}
