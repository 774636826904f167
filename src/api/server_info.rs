//! `reestr.v1.ServerInfoService`: the register's calendar, as clients must apply it.

use reestr_domain::Error;
use reestr_domain::access::Action;
use tonic::{Request, Response, Status};

use super::call::Call;
use super::{ReadyStore, timestamp};
use crate::proto::v1 as pb;
use crate::proto::v1::server_info_service_server::ServerInfoService;

/// The server-info service.
#[derive(Debug, Clone)]
pub struct ServerInfoApi {
    store: ReadyStore,
}

impl ServerInfoApi {
    /// A service over the store (whose clock and calendar it reports).
    pub fn new(store: ReadyStore) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl ServerInfoService for ServerInfoApi {
    #[tracing::instrument(skip_all)]
    async fn get_server_info(
        &self,
        request: Request<pb::GetServerInfoRequest>,
    ) -> Result<Response<pb::ServerInfo>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::GetServerInfoRequest {} = request.into_inner();
        let result = (|| {
            call.authorize(Action::ReadRegister)?;
            let now = store.now();
            let calendar = store.calendar();
            let today = calendar
                .date_of(now)
                .ok_or_else(|| Error::Internal("the clock is outside the calendar".into()))?;
            Ok(pb::ServerInfo {
                time_zone: calendar.time_zone().to_string(),
                current_time: Some(timestamp(now)),
                today: today.to_string(),
            })
        })();
        Ok(Response::new(Call::read(result)?))
    }
}
