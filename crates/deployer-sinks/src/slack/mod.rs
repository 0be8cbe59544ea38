//! Slack: one message per deployment, updated in place with a bot token, or one message per
//! notified event with an incoming webhook.
//!
//! # Modes
//! - **Bot token** (`chat:write` scope, the bot invited to the channels): the first event of
//!   a deployment is posted with `chat.postMessage`; its channel id and `ts` are kept in a
//!   [`MessageRefs`](crate::slack::MessageRefs) store and every later event of the deployment rewrites the message with
//!   `chat.update`. If the message can no longer be edited (`message_not_found`,
//!   `cant_update_message`, `edit_window_closed`), a new one is posted. The channel is chosen
//!   by the deployment's environment (`channels = { production = "#deploys-prod", default =
//!   "#deploys" }`).
//! - **Incoming webhook**: posts to the hook's own channel; it cannot edit, so by default only
//!   `succeeded` and `failed` are sent.
//!
//! # Errors
//! HTTP 429 is retried after its `Retry-After`; 5xx and Slack's `ratelimited`,
//! `internal_error`, `fatal_error`, `service_unavailable` and `request_timeout` are retried.
//! The Web API answers other errors with HTTP 200 and `{"ok":false,"error":"…"}`; those
//! (`channel_not_found`, `not_in_channel`, `invalid_auth`, `token_revoked`, `invalid_payload`,
//! `no_text`, `msg_too_long`, …) are permanent: retrying cannot fix them. Unknown error
//! strings are treated as permanent too.

mod config;
mod deliver;
mod encode;
mod refs;

pub use config::{ChannelRoutes, CommitUrlTemplate, SlackConfig, SlackMode, SlackSettings};
pub use deliver::{SlackClient, SlackSink, classify_api_error};
pub use encode::{SlackMessage, render};
pub use refs::{MemoryMessageRefs, MessageRefs, RefsError, SlackMessageRef};
