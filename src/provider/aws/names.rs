//! The names nubo gives AWS resources of one target.
//!
//! Every name starts with `{service}-{target}` (the validator checks the
//! function names against Lambda's 64-character limit); names with a
//! shorter limit (IAM roles: 64, S3 buckets: 63, lowercase) are cut and end
//! in a hash of the full name, so they stay unique and stable.

use sha2::Digest;

#[derive(Debug, Clone)]
pub struct Names {
    service: String,
    target: String,
}

/// `name` if it fits in `max`, else its head and a short hash of all of it.
fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let hash = crate::package::zip::hex(&sha2::Sha256::digest(name.as_bytes()));
    let head: String = name.chars().take(max - 9).collect();
    format!("{}-{}", head.trim_end_matches('-'), &hash[..8])
}

impl Names {
    pub fn new(service: &str, target: &str) -> Names {
        Names {
            service: service.to_owned(),
            target: target.to_owned(),
        }
    }

    /// `{service}-{target}-`: what every function name starts with.
    pub fn prefix(&self) -> String {
        format!("{}-{}-", self.service, self.target)
    }

    pub fn function(&self, function: &str) -> String {
        format!("{}{function}", self.prefix())
    }

    /// The function's logical name, if `physical` is one of this target's.
    pub fn logical<'a>(&self, physical: &'a str) -> Option<&'a str> {
        physical.strip_prefix(&self.prefix())
    }

    /// The service's execution role.
    pub fn role(&self) -> String {
        fit(&format!("nubo-{}-{}", self.service, self.target), 64)
    }

    /// The role API Gateway assumes to invoke the entry functions.
    pub fn gateway_role(&self) -> String {
        fit(&format!("nubo-{}-{}-apigw", self.service, self.target), 64)
    }

    /// The REST API's name.
    pub fn api(&self) -> String {
        format!("{}-{}", self.service, self.target)
    }

    /// The artifact bucket: one per account and region, shared by targets.
    pub fn artifact_bucket(&self, account: &str, region: &str) -> String {
        fit(&format!("nubo-artifacts-{account}-{region}"), 63)
    }

    /// The folder of the target's artifacts in the bucket.
    pub fn artifact_prefix(&self) -> String {
        format!("{}-{}", self.service, self.target)
    }

    /// An artifact's key: content-addressed under the target's prefix.
    pub fn artifact_key(&self, sha256: &str) -> String {
        format!("{}/{sha256}.zip", self.artifact_prefix())
    }

    /// Where the value of `${secret:NAME}` is read from at deploy time.
    pub fn secret_parameter(&self, name: &str) -> String {
        format!("/nubo/{}/{}/{name}", self.service, self.target)
    }

    /// A queue's SQS name (80 characters at most).
    pub fn queue(&self, queue: &str) -> String {
        fit(&format!("{}{queue}", self.prefix()), 80)
    }

    /// The dead-letter queue behind a queue.
    pub fn dead_letters(&self, queue: &str) -> String {
        fit(&format!("{}{queue}-dlq", self.prefix()), 80)
    }

    /// The EventBridge rule of a function's `n`th schedule (64 characters at most).
    pub fn rule(&self, function: &str, n: usize) -> String {
        fit(&format!("{}{function}-{n}", self.prefix()), 64)
    }

    /// A storage bucket's S3 name: global, so it carries the account.
    pub fn bucket(&self, bucket: &str, account: &str) -> String {
        fit(
            &format!("{}-{}-{bucket}-{account}", self.service, self.target).to_lowercase(),
            63,
        )
    }

    /// What nubo tags resources with.
    pub fn tags(&self) -> [(&'static str, String); 2] {
        [
            (super::TAG_SERVICE, self.service.clone()),
            (super::TAG_TARGET, self.target.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_and_stay_unique() {
        let a = Names::new(&"s".repeat(40), "production-eu-west-1");
        let b = Names::new(&"s".repeat(40), "production-eu-west-2");
        assert!(a.role().len() <= 64);
        assert_ne!(a.role(), b.role());
        assert_eq!(a.role(), a.role());
        assert_eq!(Names::new("shop", "prod").role(), "nubo-shop-prod");
        let bucket = a.artifact_bucket("123456789012", "ap-southeast-2");
        assert!(bucket.len() <= 63, "{bucket}");
    }

    #[test]
    fn logical_names_come_back() {
        let n = Names::new("shop", "prod");
        assert_eq!(n.function("charge"), "shop-prod-charge");
        assert_eq!(n.logical("shop-prod-charge"), Some("charge"));
        assert_eq!(n.logical("other-prod-charge"), None);
    }
}
