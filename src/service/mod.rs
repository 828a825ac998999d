//! Stages that keep running: `kind = "service"` (an ECS service with a rolling deployment the
//! circuit breaker rolls back) and `kind = "web"` (ECS Express Mode), with `status`, `rollback`,
//! `scale`, `delete` and `exec`.
//!
//! [`request`] builds the API requests and compares them with what runs (pure); [`wait`] decides
//! from DescribeServices when a deployment is done (pure) and follows it; [`deploy`] carries a
//! deploy's last step out, [`shift`] the blue-green, canary and linear strategies; [`express`] is Express Mode, [`infrastructure`] its role; [`status`] and [`exec`] the commands.

pub mod balancer;
pub mod deploy;
pub mod exec;
pub mod express;
pub mod request;
pub mod rollback;
pub mod scaling;
pub mod shift;
pub mod status;
mod task_logs;
pub mod wait;
