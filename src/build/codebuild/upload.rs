//! The source archive of a CodeBuild build and the private bucket it goes to.
//!
//! The archive is the docker builder's build context as a deterministic zip (the project's files as
//! `package` archives them, plus the skeleton and template Dockerfile of `build::docker::generated`),
//! keyed in S3 by its sha256: `{project}/{stage}/source/{sha256}.zip`. An archive already there is
//! not uploaded again.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use zip::write::SimpleFileOptions;

use crate::aws::s3::{BucketSpec, BucketState, PART_SIZE};
use crate::aws::{Aws, Identity};
use crate::build::Plan;
use crate::config::Config;
use crate::error::Result;
use crate::output::Output;
use crate::project::Project;

/// Archives above this go up in parts, with a progress bar.
pub const MULTIPART_THRESHOLD: u64 = 2 * PART_SIZE;
/// Days an archive is kept (a build reads it within its timeout; a re-run re-uploads).
pub const EXPIRE_DAYS: i32 = 30;

/// The bucket, checked; what making it ready would change.
#[derive(Debug, Clone, Serialize)]
pub struct BucketPlan {
    pub name: String,
    pub region: String,
    #[serde(skip)]
    pub account: String,
    /// `{project}/`: the expiry rule's prefix (every stage's archives).
    pub prefix: String,
    /// Created (or finished, when a run stopped half-way through creating it).
    pub create: bool,
    #[serde(skip)]
    pub tags: BTreeMap<String, String>,
}

/// Reads and checks the bucket; changes nothing. A bucket of another account, in another region,
/// or not private is refused with the fix.
pub async fn plan_bucket(aws: &Aws, config: &Config, identity: &Identity) -> Result<BucketPlan> {
    let name = crate::names::bucket(config, &identity.account, &identity.region);
    let region = aws.region();
    let key_hint = if config.names.bucket.is_some() {
        "set `bucket` to another name"
    } else {
        "set `bucket` to a bucket of your own"
    };
    let state = aws.bucket_state(&name, &identity.account).await?;
    let tags = crate::names::project_tags(config);
    let create = match state {
        BucketState::Missing => true,
        BucketState::NotOurs => {
            return Err(config
                .key_error(
                    "bucket",
                    format!(
                        "S3 bucket `{name}` belongs to another account (or these credentials of account {} may not read it)",
                        identity.account
                    ),
                )
                .fix(format!("{key_hint}: source archives go only to a bucket of this account"))
                .into())
        }
        BucketState::Exists {
            region: found,
            public,
            tags: found_tags,
        } => {
            if found != region {
                return Err(config
                    .key_error(
                        "bucket",
                        format!("S3 bucket `{name}` is in {found}, but the build runs in {region}"),
                    )
                    .fix(format!(
                        "{key_hint} in {region} (or let cargo-fargate create one), or deploy to {found}"
                    ))
                    .into());
            }
            let ours = crate::names::is_managed(&found_tags);
            match public {
                // A bucket of ours a run left half-made: finish it.
                Some(_) if ours => true,
                Some(why) => {
                    return Err(config
                        .key_error("bucket", format!("S3 bucket `{name}` may be public: {why}"))
                        .fix(format!(
                            "block public access (`aws s3api put-public-access-block --bucket {name} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`), or {key_hint}"
                        ))
                        .into())
                }
                None => false,
            }
        }
    };
    Ok(BucketPlan {
        name,
        region,
        account: identity.account.clone(),
        prefix: crate::names::bucket_prefix(config),
        create,
        tags,
    })
}

/// Makes the bucket ready (see [`plan_bucket`]); true when something was created or set.
pub async fn apply_bucket(aws: &Aws, plan: &BucketPlan) -> Result<bool> {
    if !plan.create {
        return Ok(false);
    }
    aws.create_bucket(&BucketSpec {
        name: &plan.name,
        region: &plan.region,
        account: &plan.account,
        prefix: &plan.prefix,
        expire_days: EXPIRE_DAYS,
        tags: &plan.tags,
    })
    .await?;
    Ok(true)
}

/// The archive on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Archive {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub files: usize,
    /// Where it goes: `{project}/{stage}/source/{sha256}.zip`.
    pub key: String,
}

/// Writes the build context as a deterministic zip under `<target>/fargate/`.
pub fn archive(project: &Project, config: &Config, plan: &Plan) -> Result<Archive> {
    let generated = crate::build::docker::generated(project, plan)?;
    let dir = project.target_dir.join("fargate");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}-{}-codebuild.zip", config.project, config.stage));
    let tmp = dir.join(format!(
        ".{}-codebuild-{}.tmp",
        config.project,
        std::process::id()
    ));
    let written = (|| -> Result<()> {
        let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(&tmp)?));
        let options = |mode: u32, large: bool| {
            SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .compression_level(Some(6))
                .last_modified_time(zip::DateTime::default())
                .unix_permissions(mode)
                .large_file(large)
        };
        // The project's files first, as `package` orders them, then the generated ones (their
        // names, under .cargo-fargate/, never clash with a project file `package` keeps).
        for e in &plan.entries {
            zip.start_file(
                e.name.as_str(),
                options(
                    if e.executable { 0o755 } else { 0o644 },
                    e.size >= u32::MAX as u64,
                ),
            )?;
            let mut f = BufReader::new(
                File::open(&e.path).with_context(|| format!("reading {}", e.path.display()))?,
            );
            io::copy(&mut f, &mut zip)
                .with_context(|| format!("archiving {}", e.path.display()))?;
        }
        for (name, data) in &generated {
            if plan.entries.iter().any(|e| &e.name == name) {
                continue;
            }
            zip.start_file(name.as_str(), options(0o644, false))?;
            zip.write_all(data)?;
        }
        let f = zip.finish()?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    let sha256 = crate::steps::package::sha256_file(&path)?;
    let bytes = std::fs::metadata(&path)?.len();
    Ok(Archive {
        key: crate::names::archive_key(config, &sha256),
        path,
        sha256,
        bytes,
        files: plan.entries.len() + generated.len(),
    })
}

/// Uploads the archive unless the bucket already holds it; the bytes sent (0 when it was there).
pub async fn upload(
    aws: &Aws,
    bucket: &BucketPlan,
    archive: &Archive,
    out: &Output,
) -> Result<u64> {
    let location = format!("s3://{}/{}", bucket.name, archive.key);
    if !bucket.create
        && aws
            .object_exists(&bucket.name, &archive.key, &bucket.account)
            .await?
    {
        out.status(
            "Fresh",
            format_args!("{location} is already there (0 bytes uploaded)"),
        );
        return Ok(0);
    }
    out.status(
        "Uploading",
        format_args!("{location} ({} bytes)", archive.bytes),
    );
    if archive.bytes > MULTIPART_THRESHOLD {
        let bar = out.bar(archive.bytes, "Uploading");
        let parts = aws
            .put_file_in_parts(
                &bucket.name,
                &archive.key,
                &bucket.account,
                &archive.path,
                |n| bar.inc(n),
            )
            .await;
        bar.finish_and_clear();
        let parts = parts?;
        out.verbose(format_args!("{location}: {parts} parts"));
    } else {
        aws.put_file(&bucket.name, &archive.key, &bucket.account, &archive.path)
            .await?;
    }
    Ok(archive.bytes)
}
