//! The task role's inline policy for ECS Exec (`exec = true`), named
//! [`crate::names::EXEC_POLICY_NAME`].

use serde_json::{json, Value};

/// What the ECS agent in the task needs for ECS Exec's channels.
pub fn policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EcsExecChannelsTakeNoResourceSoResourceIsStar",
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel"
            ],
            "Resource": "*"
        }]
    })
}
