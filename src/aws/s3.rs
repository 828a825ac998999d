//! S3: the private bucket of source archives (checked, or created the way the guides require) and
//! the archive upload (one request, or parts read from the file one at a time).

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, ObjectOwnership,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use tokio::io::AsyncReadExt;

use super::Aws;
use crate::error::Result;

/// What a bucket looks like to its would-be user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketState {
    Missing,
    /// Another account owns it (or the credentials may not see it).
    NotOurs,
    Exists {
        region: String,
        /// Why it is not private, when it is not.
        public: Option<String>,
        tags: BTreeMap<String, String>,
    },
}

/// How a new bucket is made.
pub struct BucketSpec<'a> {
    pub name: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// Objects under this prefix expire after `expire_days`.
    pub prefix: &'a str,
    pub expire_days: i32,
    pub tags: &'a BTreeMap<String, String>,
}

/// Parts of a multipart upload: S3's minimum is 5 MiB; one part is held in memory at a time.
pub const PART_SIZE: u64 = 8 << 20;

fn status_of<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

impl Aws {
    /// Reads what the checks need: existence and owner (HeadBucket with the expected owner), region
    /// (GetBucketLocation), public access block and policy status, tags. Changes nothing.
    pub async fn bucket_state(&self, name: &str, account: &str) -> Result<BucketState> {
        let s3 = self.s3();
        match s3
            .head_bucket()
            .bucket(name)
            .expected_bucket_owner(account)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                return Ok(BucketState::Missing)
            }
            Err(e) if status_of(&e) == 404 => return Ok(BucketState::Missing),
            Err(e) if status_of(&e) == 403 => return Ok(BucketState::NotOurs),
            // 301: in another region; GetBucketLocation below says which.
            Err(e) if status_of(&e) == 301 => {}
            Err(e) => {
                return Err(self.fail(e, "s3:HeadBucket", |m| {
                    anyhow::anyhow!("checking S3 bucket {name}: {m}")
                }))
            }
        }
        let location = s3
            .get_bucket_location()
            .bucket(name)
            .expected_bucket_owner(account)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "s3:GetBucketLocation", |m| {
                    anyhow::anyhow!("reading the region of S3 bucket {name}: {m}")
                })
            })?;
        let region = match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_string(),
            Some("EU") => "eu-west-1".to_string(),
            Some(r) => r.to_string(),
        };
        let public = self.public_reason(name, account).await?;
        let tags = match s3
            .get_bucket_tagging()
            .bucket(name)
            .expected_bucket_owner(account)
            .send()
            .await
        {
            Ok(out) => out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(e)
                if e.as_service_error().and_then(|s| s.meta().code()) == Some("NoSuchTagSet") =>
            {
                BTreeMap::new()
            }
            Err(e) if status_of(&e) == 404 => BTreeMap::new(),
            Err(e) => {
                return Err(self.fail(e, "s3:GetBucketTagging", |m| {
                    anyhow::anyhow!("reading the tags of S3 bucket {name}: {m}")
                }))
            }
        };
        Ok(BucketState::Exists {
            region,
            public,
            tags,
        })
    }

    /// Whether a bucket may be public: `None` when it does not exist (or is another account's),
    /// `Some(Some(why))` when it may be public, `Some(None)` when all public access is blocked and
    /// S3 calls its policy private.
    pub async fn bucket_privacy(
        &self,
        name: &str,
        account: &str,
    ) -> Result<Option<Option<String>>> {
        if let Err(e) = self
            .s3()
            .head_bucket()
            .bucket(name)
            .expected_bucket_owner(account)
            .send()
            .await
        {
            if matches!(status_of(&e), 403 | 404) {
                return Ok(None);
            }
            return Err(self.fail(e, "s3:HeadBucket", |m| {
                anyhow::anyhow!("checking S3 bucket {name}: {m}")
            }));
        }
        Ok(Some(self.public_reason(name, account).await?))
    }

    /// Why a bucket may be public: no public access block, one of its four settings off, or a policy
    /// S3 itself calls public. `None` when private.
    async fn public_reason(&self, name: &str, account: &str) -> Result<Option<String>> {
        let s3 = self.s3();
        match s3
            .get_public_access_block()
            .bucket(name)
            .expected_bucket_owner(account)
            .send()
            .await
        {
            Ok(out) => {
                let c = out.public_access_block_configuration();
                let off: Vec<&str> = [
                    ("BlockPublicAcls", c.and_then(|c| c.block_public_acls())),
                    ("IgnorePublicAcls", c.and_then(|c| c.ignore_public_acls())),
                    ("BlockPublicPolicy", c.and_then(|c| c.block_public_policy())),
                    (
                        "RestrictPublicBuckets",
                        c.and_then(|c| c.restrict_public_buckets()),
                    ),
                ]
                .into_iter()
                .filter(|(_, on)| *on != Some(true))
                .map(|(name, _)| name)
                .collect();
                if !off.is_empty() {
                    return Ok(Some(format!(
                        "its public access block has {} off",
                        off.join(", ")
                    )));
                }
            }
            Err(e)
                if e.as_service_error().and_then(|s| s.meta().code())
                    == Some("NoSuchPublicAccessBlockConfiguration")
                    || status_of(&e) == 404 =>
            {
                return Ok(Some("it has no public access block".into()))
            }
            Err(e) => {
                return Err(self.fail(e, "s3:GetPublicAccessBlock", |m| {
                    anyhow::anyhow!("reading the public access block of S3 bucket {name}: {m}")
                }))
            }
        }
        match s3
            .get_bucket_policy_status()
            .bucket(name)
            .expected_bucket_owner(account)
            .send()
            .await
        {
            Ok(out) if out.policy_status().and_then(|p| p.is_public()) == Some(true) => {
                Ok(Some("its bucket policy makes it public".into()))
            }
            Ok(_) => Ok(None),
            Err(e)
                if e.as_service_error().and_then(|s| s.meta().code())
                    == Some("NoSuchBucketPolicy")
                    || status_of(&e) == 404 =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail(e, "s3:GetBucketPolicyStatus", |m| {
                anyhow::anyhow!("reading the policy status of S3 bucket {name}: {m}")
            })),
        }
    }

    /// Creates the bucket and makes it private: owner-enforced ownership, tags (first, so a bucket
    /// left half-made is known as ours), public access block, SSE-S3, the expiry rule. Each call is
    /// idempotent, so finishing a half-made bucket is the same calls again.
    pub async fn create_bucket(&self, spec: &BucketSpec<'_>) -> Result<()> {
        let s3 = self.s3();
        let name = spec.name;
        let mut create = s3
            .create_bucket()
            .bucket(name)
            .object_ownership(ObjectOwnership::BucketOwnerEnforced);
        if spec.region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(spec.region))
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_exists()) =>
            {
                return Err(crate::error::UserError::new(format!(
                    "the S3 bucket name `{name}` is taken by another AWS account"
                ))
                .key("bucket")
                .fix("set `bucket` to a name of your own (bucket names are global)")
                .into())
            }
            Err(e) => {
                return Err(self.fail(e, "s3:CreateBucket", |m| {
                    anyhow::anyhow!("creating S3 bucket {name}: {m}")
                }))
            }
        }
        self.configure_bucket(spec).await
    }

    /// The settings of a bucket of ours (see [`Aws::create_bucket`]).
    pub async fn configure_bucket(&self, spec: &BucketSpec<'_>) -> Result<()> {
        let s3 = self.s3();
        let (name, account) = (spec.name, spec.account);
        let tags: Vec<Tag> = spec
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<_, _>>()?;
        s3.put_bucket_tagging()
            .bucket(name)
            .expected_bucket_owner(account)
            .tagging(Tagging::builder().set_tag_set(Some(tags)).build()?)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "s3:PutBucketTagging", |m| {
                    anyhow::anyhow!("tagging S3 bucket {name}: {m}")
                })
            })?;
        s3.put_public_access_block()
            .bucket(name)
            .expected_bucket_owner(account)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "s3:PutPublicAccessBlock", |m| {
                    anyhow::anyhow!("blocking public access to S3 bucket {name}: {m}")
                })
            })?;
        s3.put_bucket_encryption()
            .bucket(name)
            .expected_bucket_owner(account)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(ServerSideEncryption::Aes256)
                                    .build()?,
                            )
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "s3:PutBucketEncryption", |m| {
                    anyhow::anyhow!("turning on default encryption of S3 bucket {name}: {m}")
                })
            })?;
        let rule = LifecycleRule::builder()
            .id(crate::names::expiry_rule(spec.prefix))
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(spec.prefix).build())
            .expiration(
                LifecycleExpiration::builder()
                    .days(spec.expire_days)
                    .build(),
            )
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()?;
        s3.put_bucket_lifecycle_configuration()
            .bucket(name)
            .expected_bucket_owner(account)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "s3:PutBucketLifecycleConfiguration", |m| {
                    anyhow::anyhow!("setting the expiry rule of S3 bucket {name}: {m}")
                })
            })?;
        Ok(())
    }

    /// Whether the object is there (HeadObject).
    pub async fn object_exists(&self, bucket: &str, key: &str, account: &str) -> Result<bool> {
        match self
            .s3()
            .head_object()
            .bucket(bucket)
            .key(key)
            .expected_bucket_owner(account)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) if status_of(&e) == 404 => Ok(false),
            Err(e) => Err(self.fail(e, "s3:HeadObject", |m| {
                anyhow::anyhow!("checking s3://{bucket}/{key}: {m}")
            })),
        }
    }

    /// Uploads a file in one request, streamed from disk.
    pub async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        account: &str,
        path: &Path,
    ) -> Result<()> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        self.s3()
            .put_object()
            .bucket(bucket)
            .key(key)
            .expected_bucket_owner(account)
            .content_type("application/zip")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "s3:PutObject", |m| {
                    anyhow::anyhow!("uploading s3://{bucket}/{key}: {m}")
                })
            })?;
        Ok(())
    }

    /// Uploads a file in parts of [`PART_SIZE`], read one at a time; an upload that fails is
    /// aborted (and the bucket's rule removes any left behind after a day).
    pub async fn put_file_in_parts(
        &self,
        bucket: &str,
        key: &str,
        account: &str,
        path: &Path,
        on_part: impl Fn(u64),
    ) -> Result<usize> {
        let s3 = self.s3();
        let upload = s3
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .expected_bucket_owner(account)
            .content_type("application/zip")
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "s3:CreateMultipartUpload", |m| {
                    anyhow::anyhow!("starting the upload of s3://{bucket}/{key}: {m}")
                })
            })?;
        let id = upload.upload_id().unwrap_or_default().to_string();
        let parts = self
            .upload_parts(bucket, key, account, &id, path, on_part)
            .await;
        let parts = match parts {
            Ok(p) => p,
            Err(e) => {
                let _ = s3
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&id)
                    .expected_bucket_owner(account)
                    .send()
                    .await;
                return Err(e);
            }
        };
        let count = parts.len();
        s3.complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .expected_bucket_owner(account)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "s3:CompleteMultipartUpload", |m| {
                    anyhow::anyhow!("finishing the upload of s3://{bucket}/{key}: {m}")
                })
            })?;
        Ok(count)
    }

    async fn upload_parts(
        &self,
        bucket: &str,
        key: &str,
        account: &str,
        id: &str,
        path: &Path,
        on_part: impl Fn(u64),
    ) -> Result<Vec<CompletedPart>> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let mut parts = Vec::new();
        for number in 1.. {
            let mut buf = Vec::with_capacity(PART_SIZE as usize);
            (&mut file)
                .take(PART_SIZE)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            if buf.is_empty() && number > 1 {
                break;
            }
            let n = buf.len() as u64;
            let out = self
                .s3()
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .part_number(number)
                .expected_bucket_owner(account)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(|e| {
                    self.fail(e, "s3:UploadPart", |m| {
                        anyhow::anyhow!("uploading part {number} of s3://{bucket}/{key}: {m}")
                    })
                })?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            );
            on_part(n);
            if n < PART_SIZE {
                break;
            }
        }
        Ok(parts)
    }
}
