//! A CRI v1 gRPC client (image service + runtime `Version`) over a unix socket, with
//! hand-written prost messages (no protoc). Errors keep gRPC's code and message and
//! print like Go's `status.Error`: `rpc error: code = <Code> desc = <message>`.

pub mod api;

use std::path::{Path, PathBuf};

use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic_prost::ProstCodec;

pub use api::{AuthConfig, Image, ImageSpec, PodSandboxConfig, PodSandboxMetadata};

/// Errors of the CRI client layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CriError {
    /// The unix socket could not be connected.
    #[error("cannot connect to the CRI socket {socket}: {source}")]
    Connect {
        socket: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
    /// The runtime answered with a gRPC error status (formatted as Go does).
    #[error("rpc error: code = {} desc = {message}", go_code_name(*.code))]
    Status { code: tonic::Code, message: String },
}

impl CriError {
    /// The gRPC code, when the runtime answered.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            CriError::Status { code, .. } => Some(*code),
            CriError::Connect { .. } => None,
        }
    }

    /// The runtime's message without the `rpc error:` prefix.
    pub fn desc(&self) -> String {
        match self {
            CriError::Status { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

impl From<tonic::Status> for CriError {
    fn from(s: tonic::Status) -> Self {
        CriError::Status { code: s.code(), message: s.message().to_string() }
    }
}

/// Go's `codes.Code.String()` names (grpc-go), as printed in `status.Error`.
pub fn go_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// A CRI client bound to one runtime socket. Cheap to clone (one HTTP/2 channel).
#[derive(Clone, Debug)]
pub struct CriClient {
    channel: Channel,
    socket: PathBuf,
}

const IMAGE_SERVICE: &str = "/runtime.v1.ImageService/";
const RUNTIME_SERVICE: &str = "/runtime.v1.RuntimeService/";

impl CriClient {
    /// Connect to a CRI runtime listening on the unix socket `socket`.
    pub async fn connect(socket: impl AsRef<Path>) -> Result<Self, CriError> {
        let socket = socket.as_ref().to_path_buf();
        let path = socket.clone();
        // The URI is required by tonic but ignored by the connector.
        let channel = Endpoint::from_static("http://cri.sock")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|source| CriError::Connect { socket: socket.clone(), source })?;
        Ok(Self { channel, socket })
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn unary<Req, Resp>(&self, path: String, req: Req) -> Result<Resp, CriError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = Grpc::new(self.channel.clone());
        grpc.ready().await.map_err(|e| CriError::Status {
            code: tonic::Code::Unavailable,
            message: format!("connection error: {e}"),
        })?;
        let path = PathAndQuery::try_from(path).map_err(|e| CriError::Status {
            code: tonic::Code::Internal,
            message: e.to_string(),
        })?;
        let codec: ProstCodec<Req, Resp> = ProstCodec::default();
        let resp = grpc.unary(tonic::Request::new(req), path, codec).await?;
        Ok(resp.into_inner())
    }

    /// `RuntimeService/Version`.
    pub async fn version(&self) -> Result<api::VersionResponse, CriError> {
        let req = api::VersionRequest { version: "v1".into() };
        self.unary(format!("{RUNTIME_SERVICE}Version"), req).await
    }

    /// `ImageService/PullImage`; returns the image reference (id) on success.
    pub async fn pull_image(
        &self,
        image: &str,
        auth: Option<AuthConfig>,
        sandbox: Option<PodSandboxConfig>,
    ) -> Result<String, CriError> {
        let req = api::PullImageRequest {
            image: Some(ImageSpec::new(image)),
            auth,
            sandbox_config: sandbox,
        };
        let resp: api::PullImageResponse =
            self.unary(format!("{IMAGE_SERVICE}PullImage"), req).await?;
        Ok(resp.image_ref)
    }

    /// `ImageService/ImageStatus`; `None` when the image is not present.
    pub async fn image_status(&self, image: &str) -> Result<Option<Image>, CriError> {
        let req = api::ImageStatusRequest { image: Some(ImageSpec::new(image)), verbose: false };
        let resp: api::ImageStatusResponse =
            self.unary(format!("{IMAGE_SERVICE}ImageStatus"), req).await?;
        Ok(resp.image)
    }

    /// `ImageService/RemoveImage` (idempotent).
    pub async fn remove_image(&self, image: &str) -> Result<(), CriError> {
        let req = api::RemoveImageRequest { image: Some(ImageSpec::new(image)) };
        let _: api::RemoveImageResponse =
            self.unary(format!("{IMAGE_SERVICE}RemoveImage"), req).await?;
        Ok(())
    }

    /// `ImageService/ImageFsInfo`.
    pub async fn image_fs_info(&self) -> Result<api::ImageFsInfoResponse, CriError> {
        self.unary(format!("{IMAGE_SERVICE}ImageFsInfo"), api::ImageFsInfoRequest {}).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_error_prints_like_go() {
        let e = CriError::from(tonic::Status::new(tonic::Code::NotFound, "x: not found"));
        assert_eq!(e.to_string(), "rpc error: code = NotFound desc = x: not found");
        let e = CriError::from(tonic::Status::new(tonic::Code::Cancelled, "gone"));
        assert_eq!(e.to_string(), "rpc error: code = Canceled desc = gone");
        assert_eq!(e.desc(), "gone");
    }
}
