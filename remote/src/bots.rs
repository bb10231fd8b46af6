//! The Remote Workers API (`google.devtools.remoteworkers.v1test2.Bots`), the part a
//! worker needs: its messages written out by hand (the field numbers of the published
//! protos; `bazel-remote-apis` does not carry them) and a client of its two calls.

use bazel_remote_apis::google::protobuf::{Any, Timestamp};
use bazel_remote_apis::google::rpc::Status;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct BotSession {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(string, tag = "2")]
    pub(crate) bot_id: String,
    #[prost(enumeration = "BotStatus", tag = "3")]
    pub(crate) status: i32,
    #[prost(message, optional, tag = "4")]
    pub(crate) worker: Option<Worker>,
    #[prost(message, repeated, tag = "5")]
    pub(crate) leases: Vec<Lease>,
    #[prost(message, optional, tag = "6")]
    pub(crate) expire_time: Option<Timestamp>,
    #[prost(string, tag = "7")]
    pub(crate) version: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum BotStatus {
    Unspecified = 0,
    Ok = 1,
    Unhealthy = 2,
    HostRebooting = 3,
    BotTerminating = 4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum LeaseState {
    Unspecified = 0,
    Pending = 1,
    Active = 2,
    Completed = 4,
    Cancelled = 5,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Lease {
    #[prost(string, tag = "7")]
    pub(crate) id: String,
    #[prost(message, optional, tag = "8")]
    pub(crate) payload: Option<Any>,
    #[prost(message, optional, tag = "9")]
    pub(crate) result: Option<Any>,
    #[prost(enumeration = "LeaseState", tag = "2")]
    pub(crate) state: i32,
    #[prost(message, optional, tag = "3")]
    pub(crate) status: Option<Status>,
    #[prost(message, optional, tag = "4")]
    pub(crate) requirements: Option<Worker>,
    #[prost(message, optional, tag = "5")]
    pub(crate) expire_time: Option<Timestamp>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Worker {
    #[prost(message, repeated, tag = "1")]
    pub(crate) devices: Vec<Device>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) properties: Vec<KeyValue>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) configs: Vec<KeyValue>,
}

/// `Worker.Property`, `Worker.Config` and `Device.Property` have the same shape.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct KeyValue {
    #[prost(string, tag = "1")]
    pub(crate) key: String,
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Device {
    #[prost(string, tag = "1")]
    pub(crate) handle: String,
    #[prost(message, repeated, tag = "2")]
    pub(crate) properties: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct CreateBotSessionRequest {
    #[prost(string, tag = "1")]
    pub(crate) parent: String,
    #[prost(message, optional, tag = "2")]
    pub(crate) bot_session: Option<BotSession>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct UpdateBotSessionRequest {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(message, optional, tag = "2")]
    pub(crate) bot_session: Option<BotSession>,
}

pub(crate) struct BotsClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl BotsClient {
    pub(crate) fn new(channel: Channel) -> Self {
        BotsClient {
            grpc: tonic::client::Grpc::new(channel),
        }
    }

    async fn call<M, R>(
        &mut self,
        method: &'static str,
        request: tonic::Request<M>,
    ) -> Result<R, tonic::Status>
    where
        M: prost::Message + Send + Sync + 'static,
        R: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = PathAndQuery::from_static(method);
        let codec = tonic_prost::ProstCodec::<M, R>::default();
        Ok(self.grpc.unary(request, path, codec).await?.into_inner())
    }

    pub(crate) async fn create(
        &mut self,
        request: tonic::Request<CreateBotSessionRequest>,
    ) -> Result<BotSession, tonic::Status> {
        self.call(
            "/google.devtools.remoteworkers.v1test2.Bots/CreateBotSession",
            request,
        )
        .await
    }

    pub(crate) async fn update(
        &mut self,
        request: tonic::Request<UpdateBotSessionRequest>,
    ) -> Result<BotSession, tonic::Status> {
        self.call(
            "/google.devtools.remoteworkers.v1test2.Bots/UpdateBotSession",
            request,
        )
        .await
    }
}
