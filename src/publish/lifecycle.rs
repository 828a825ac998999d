//! The ECR lifecycle policy, rendered from `task-templates/lifecycle-policy.json` for the configured
//! rules (the AWS layer only puts it).

use crate::config::resolve::Lifecycle;
use crate::error::Result;

/// The lifecycle policy for the configured rules, from `task-templates/lifecycle-policy.json`.
pub fn lifecycle_policy(stages: &[String], lifecycle: &Lifecycle) -> Result<serde_json::Value> {
    let mut env = minijinja::Environment::new();
    env.add_template(
        "lifecycle",
        include_str!("../../task-templates/lifecycle-policy.json"),
    )?;
    let text = env.get_template("lifecycle")?.render(minijinja::context! {
        stages => stages,
        prefixes => stages.iter().map(|s| crate::names::image_tag_prefix(s)).collect::<Vec<_>>(),
        keep_last => lifecycle.keep_last,
        short_lived_prefixes => lifecycle.short_lived_prefixes,
        short_lived_expire_days => lifecycle.short_lived_expire_days,
        untagged_expire_days => lifecycle.untagged_expire_days,
    })?;
    Ok(serde_json::from_str(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_rules_come_first_and_each_prefix_has_its_own_rule() {
        let l = Lifecycle {
            untagged_expire_days: 1,
            keep_last: 10,
            short_lived_prefixes: vec!["testing".into(), "git-".into()],
            short_lived_expire_days: 3,
        };
        let p = lifecycle_policy(&["dev".into(), "prod".into()], &l).unwrap();
        let rules = p["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 5);
        let prios: Vec<i64> = rules
            .iter()
            .map(|r| r["rulePriority"].as_i64().unwrap())
            .collect();
        assert_eq!(prios, [1, 2, 3, 4, 5]);
        assert_eq!(rules[0]["selection"]["tagPrefixList"][0], "dev-");
        assert_eq!(rules[1]["selection"]["tagPrefixList"][0], "prod-");
        assert_eq!(rules[1]["selection"]["countNumber"], 10);
        assert_eq!(
            rules[2]["selection"]["tagPrefixList"],
            serde_json::json!(["testing"])
        );
        assert_eq!(rules[3]["selection"]["countType"], "sinceImagePushed");
        assert_eq!(rules[4]["selection"]["tagStatus"], "untagged");
        assert_eq!(rules[4]["selection"]["countNumber"], 1);
    }
}
