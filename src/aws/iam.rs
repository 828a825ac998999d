//! IAM: reading roles (and their trust policies), and the few writes a managed role needs.
//! Policy documents come back URL-encoded from IAM; they are decoded here.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, Tag};
use serde_json::Value;

use super::{Aws, Found};
use crate::error::Result;

/// A role as IAM reports it.
#[derive(Debug, Clone)]
pub struct RoleInfo {
    pub name: String,
    pub arn: String,
    pub trust: Value,
    pub tags: BTreeMap<String, String>,
}

impl Aws {
    /// The role, or `None` when it does not exist.
    pub async fn get_role(&self, name: &str) -> Result<Option<RoleInfo>> {
        match self.iam().get_role().role_name(name).send().await {
            Ok(out) => {
                let role = out
                    .role()
                    .ok_or_else(|| anyhow::anyhow!("IAM returned no role for {name}"))?;
                let trust = role
                    .assume_role_policy_document()
                    .map(policy_document)
                    .transpose()?
                    .unwrap_or(Value::Null);
                Ok(Some(RoleInfo {
                    name: role.role_name().to_string(),
                    arn: role.arn().to_string(),
                    trust,
                    tags: role
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect(),
                }))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail(e, "iam:GetRole", |m| {
                anyhow::anyhow!("reading IAM role {name}: {}", m)
            })),
        }
    }

    /// Whether a managed policy ARN exists (and can be attached).
    pub async fn policy_exists(&self, arn: &str) -> Result<bool> {
        match self.iam().get_policy().policy_arn(arn).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail(e, "iam:GetPolicy", |m| {
                anyhow::anyhow!("reading IAM policy {arn}: {}", m)
            })),
        }
    }

    /// Creates the role; `None` when a role of that name already exists (another run made it
    /// between our read and this call: the caller reads it and checks whose it is).
    pub async fn create_role(
        &self,
        name: &str,
        description: &str,
        trust: &Value,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<String>> {
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<_, _>>()?;
        let out = self
            .iam()
            .create_role()
            .role_name(name)
            .description(description)
            .assume_role_policy_document(trust.to_string())
            .set_tags(Some(tags))
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(
                out.role().map(|r| r.arn().to_string()).unwrap_or_default(),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_already_exists_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail(e, "iam:CreateRole", |m| {
                anyhow::anyhow!("creating IAM role {name}: {}", m)
            })),
        }
    }

    pub async fn update_trust(&self, name: &str, trust: &Value) -> Result<()> {
        self.iam()
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust.to_string())
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "iam:UpdateAssumeRolePolicy", |m| {
                    anyhow::anyhow!("updating the trust policy of {name}: {}", m)
                })
            })?;
        Ok(())
    }

    /// ARNs of the managed policies attached to a role.
    pub async fn attached_policies(&self, role: &str) -> Result<BTreeSet<String>> {
        let mut pages = self
            .iam()
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        let mut arns = BTreeSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.fail(e, "iam:ListAttachedRolePolicies", |m| {
                    anyhow::anyhow!("listing the policies of {role}: {}", m)
                })
            })?;
            arns.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_string)),
            );
        }
        Ok(arns)
    }

    pub async fn attach_policy(&self, role: &str, arn: &str) -> Result<()> {
        self.iam()
            .attach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "iam:AttachRolePolicy", |m| {
                    anyhow::anyhow!("attaching {arn} to {role}: {}", m)
                })
            })?;
        Ok(())
    }

    pub async fn detach_policy(&self, role: &str, arn: &str) -> Result<()> {
        self.iam()
            .detach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "iam:DetachRolePolicy", |m| {
                    anyhow::anyhow!("detaching {arn} from {role}: {}", m)
                })
            })?;
        Ok(())
    }

    /// The inline policies of a role: name → document.
    pub async fn inline_policies(&self, role: &str) -> Result<BTreeMap<String, Value>> {
        let iam = self.iam();
        let mut pages = iam
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.fail(e, "iam:ListRolePolicies", |m| {
                    anyhow::anyhow!("listing the inline policies of {role}: {}", m)
                })
            })?;
            names.extend(page.policy_names().iter().cloned());
        }
        let mut policies = BTreeMap::new();
        for name in names {
            let out = iam
                .get_role_policy()
                .role_name(role)
                .policy_name(&name)
                .send()
                .await
                .map_err(|e| {
                    self.fail(e, "iam:GetRolePolicy", |m| {
                        anyhow::anyhow!("reading inline policy {name} of {role}: {}", m)
                    })
                })?;
            policies.insert(name, policy_document(out.policy_document())?);
        }
        Ok(policies)
    }

    pub async fn put_inline_policy(&self, role: &str, name: &str, document: &Value) -> Result<()> {
        self.iam()
            .put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "iam:PutRolePolicy", |m| {
                    anyhow::anyhow!("putting inline policy {name} on {role}: {}", m)
                })
            })?;
        Ok(())
    }

    pub async fn delete_inline_policy(&self, role: &str, name: &str) -> Result<()> {
        self.iam()
            .delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "iam:DeleteRolePolicy", |m| {
                    anyhow::anyhow!("deleting inline policy {name} of {role}: {}", m)
                })
            })?;
        Ok(())
    }

    /// Deletes a role that has no policies left (detach and delete them first).
    pub async fn delete_role(&self, name: &str) -> Result<()> {
        self.iam()
            .delete_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "iam:DeleteRole", |m| {
                    anyhow::anyhow!("deleting IAM role {name}: {}", m)
                })
            })?;
        Ok(())
    }
}

/// An access key of an IAM user, without its secret.
#[derive(Debug, Clone)]
pub struct AccessKey {
    pub id: String,
    pub active: bool,
    /// When it was made (seconds since the epoch).
    pub created_secs: Option<i64>,
}

impl Aws {
    /// The access keys of `user`; `Err` says why they could not be read (the caller decides
    /// whether that matters).
    pub async fn access_keys(&self, user: &str) -> std::result::Result<Vec<AccessKey>, String> {
        let out = self
            .iam()
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| {
                super::fault::service_message(&super::fault::classify(&e))
                    .unwrap_or_else(|| e.to_string())
            })?;
        Ok(out
            .access_key_metadata()
            .iter()
            .map(|k| AccessKey {
                id: k.access_key_id().unwrap_or("?").to_string(),
                active: k.status().map(|s| s.as_str()) == Some("Active"),
                created_secs: k.create_date().map(|d| d.secs()),
            })
            .collect())
    }

    /// Deletes a role with its inline policies, after detaching its managed ones.
    pub async fn delete_role_and_policies(&self, name: &str) -> Result<()> {
        for policy in self.inline_policies(name).await?.keys() {
            self.delete_inline_policy(name, policy).await?;
        }
        for arn in self.attached_policies(name).await? {
            self.detach_policy(name, &arn).await?;
        }
        self.delete_role(name).await
    }
}

/// A policy element that is one string or a list of them (`Action`, `Resource`,
/// `Principal.Service`), as a list.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A policy's statements, whether `Statement` is a list or one object.
pub fn statements(policy: &Value) -> Vec<Value> {
    match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// A policy document as IAM returns it (RFC 3986 URL-encoded JSON) or as written (plain JSON).
pub fn policy_document(text: &str) -> Result<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .map_err(|e| anyhow::anyhow!("IAM returned a policy document that is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_documents_are_decoded() {
        let v =
            policy_document("%7B%22Statement%22%3A%5B%5D%2C%22a%22%3A%22b%20c+d%22%7D").unwrap();
        assert_eq!(v, serde_json::json!({ "Statement": [], "a": "b c+d" }));
        let v = policy_document("{\"Statement\": []}").unwrap();
        assert_eq!(v["Statement"], serde_json::json!([]));
    }
}

/// One action on one resource that IAM's policy simulator says the caller may not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub action: String,
    pub resource: String,
    pub decision: String,
}

impl Aws {
    /// Asks IAM's policy simulator whether `principal` may do each `(action, resource)`, with the
    /// request context `context` (key, value) the real calls carry. `Ok(None)` when the simulator
    /// cannot be asked (not allowed to the caller, not offered by the endpoint, throttled): the
    /// caller then says it assumes the permissions. One request per resource, all at once; each is
    /// sent once — a simulator that fails is not retried as if the service were down.
    pub async fn simulate(
        &self,
        principal: &str,
        checks: &[(&'static str, String)],
        context: &[(&str, &str)],
    ) -> Result<Option<Vec<Denied>>> {
        // The simulator evaluates every action against every resource: group by resource.
        let mut by_resource: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (action, resource) in checks {
            let actions = by_resource.entry(resource).or_default();
            if !actions.contains(action) {
                actions.push(action);
            }
        }
        let entries: Vec<ContextEntry> = context
            .iter()
            .map(|(key, value)| {
                ContextEntry::builder()
                    .context_key_name(*key)
                    .context_key_values(*value)
                    .context_key_type(ContextKeyTypeEnum::String)
                    .build()
            })
            .collect();
        let once = aws_sdk_iam::config::Builder::default()
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1));
        let requests = by_resource.into_iter().map(|(resource, actions)| {
            let request = self
                .iam()
                .simulate_principal_policy()
                .policy_source_arn(principal)
                .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
                .resource_arns(resource)
                .set_context_entries((!entries.is_empty()).then(|| entries.clone()))
                .customize()
                .config_override(once.clone())
                .send();
            async move { (resource, request.await) }
        });
        let mut denied = Vec::new();
        for (resource, out) in futures_util::future::join_all(requests).await {
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    return match super::fault::classify(&e) {
                        super::fault::Fault::AccessDenied { .. }
                        | super::fault::Fault::Service { .. }
                        | super::fault::Fault::Throttled(_)
                        | super::fault::Fault::NotAws { .. } => Ok(None),
                        _ => Err(self.fail(e, "iam:SimulatePrincipalPolicy", |m| {
                            anyhow::anyhow!("simulating the deploy's permissions: {m}")
                        })),
                    };
                }
            };
            for r in out.evaluation_results() {
                let decision = r.eval_decision().as_str().to_string();
                // A denial only for want of a context key the simulation did not carry (a scoped
                // policy's condition) is no denial: the real request carries it.
                if decision != "allowed" && r.missing_context_values().is_empty() {
                    denied.push(Denied {
                        action: r.eval_action_name().to_string(),
                        resource: r.eval_resource_name().unwrap_or(resource).to_string(),
                        decision,
                    });
                }
            }
        }
        Ok(Some(denied))
    }
}

impl Aws {
    /// The audiences (client IDs) of the OIDC provider `arn`; `None` when it does not exist.
    pub async fn oidc_provider_audiences(&self, arn: &str) -> Result<Option<Vec<String>>> {
        let out = self
            .iam()
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .found(|e| e.is_no_such_entity_exception())
            .map_err(|e| {
                self.fail(e, "iam:GetOpenIDConnectProvider", |m| {
                    anyhow::anyhow!("reading OIDC provider {arn}: {m}")
                })
            })?;
        Ok(out.map(|o| o.client_id_list().to_vec()))
    }

    /// Creates an OIDC identity provider, tagged.
    pub async fn create_oidc_provider(
        &self,
        url: &str,
        audience: &str,
        thumbprints: &[String],
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let tags: Vec<Tag> = tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let out = self
            .iam()
            .create_open_id_connect_provider()
            .url(url)
            .client_id_list(audience)
            .set_thumbprint_list((!thumbprints.is_empty()).then(|| thumbprints.to_vec()))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "iam:CreateOpenIDConnectProvider", |m| {
                    crate::error::UserError::new(format!("could not create the OIDC provider {url}: {m}"))
                        .fix("your credentials need iam:CreateOpenIDConnectProvider (an account administrator runs this once)")
                        .into()
                })
            })?;
        Ok(out
            .open_id_connect_provider_arn()
            .unwrap_or_default()
            .to_string())
    }
}
