//! Queue, schedule and storage triggers, each pinned to a release alias.
//!
//! - A queue is an SQS queue `{service}-{target}-{queue}` with a dead-letter
//!   queue after 5 receives; an event source mapping feeds it to the
//!   consuming function's release alias.
//! - A schedule is an EventBridge rule whose one target is the function's
//!   release alias, with the neutral schedule event as its input.
//! - A storage bucket is an S3 bucket `{service}-{target}-{bucket}-{account}`
//!   whose notifications invoke the release alias.
//!
//! The resources are made with the target's base (before anything is
//! published); API Gateway, EventBridge and S3 get permission on each
//! release's alias when it is staged; and a switch moves the mappings,
//! rule targets and bucket notifications to the new alias *after* the
//! stage's one `UpdateStage`. A trigger never crosses releases: an event
//! already handed to an alias (a batch a mapping polled, a scheduled
//! invocation, a notification) is served whole by that alias's versions,
//! and every `nubo.call` it makes goes to the same release. During a canary
//! the triggers stay on the primary release; they move when the canary is
//! promoted.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::Target as RuleTarget;
use aws_sdk_s3::types::{
    Event as S3Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration,
    NotificationConfiguration, NotificationConfigurationFilter, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{AwsProvider, Base, fail, not_found};
use crate::manifest::{Event, ScheduleEvent, StorageOn};
use crate::provider::{ProviderError, Result};

/// Receives before a message goes to the dead-letter queue.
const MAX_RECEIVES: u32 = 5;

/// A five-field cron (UTC) as EventBridge's six-field `cron(...)`: one of
/// day-of-month and day-of-week must be `?`, and days of the week count
/// from 1 (Sunday) instead of 0.
pub fn eventbridge_cron(cron: &str) -> std::result::Result<String, String> {
    let f: Vec<&str> = cron.split_whitespace().collect();
    let [min, hour, dom, month, dow] = f[..] else {
        return Err(format!("`{cron}` is not a five-field cron expression"));
    };
    let (dom, dow) = match (dom, dow) {
        (d, "*") => (d.to_owned(), "?".to_owned()),
        ("*", w) => ("?".to_owned(), shift_weekdays(w)?),
        _ => {
            return Err(format!(
                "`{cron}` sets both a day of the month and a day of the week, which \
                 EventBridge cannot express; use two schedules"
            ));
        }
    };
    Ok(format!("cron({min} {hour} {dom} {month} {dow} *)"))
}

/// Cron's 0–7 (0 and 7 are Sunday) as EventBridge's 1–7; names pass.
fn shift_weekdays(field: &str) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut number = String::new();
    let flush = |number: &mut String, out: &mut String| -> std::result::Result<(), String> {
        if !number.is_empty() {
            let n: u32 = number
                .parse()
                .map_err(|_| format!("bad day of the week `{number}`"))?;
            out.push_str(&((n % 7) + 1).to_string());
            number.clear();
        }
        Ok(())
    };
    let mut after_slash = false;
    for c in field.chars() {
        if c.is_ascii_digit() && !after_slash {
            number.push(c);
        } else {
            flush(&mut number, &mut out)?;
            after_slash = c == '/' || (after_slash && c.is_ascii_digit());
            out.push(c);
        }
    }
    flush(&mut number, &mut out)?;
    Ok(out)
}

/// `every` as EventBridge's `rate(...)`, in the largest whole unit.
pub fn eventbridge_rate(every: std::time::Duration) -> String {
    let minutes = (every.as_secs() / 60).max(1);
    let (n, unit) = if minutes.is_multiple_of(24 * 60) {
        (minutes / (24 * 60), "day")
    } else if minutes.is_multiple_of(60) {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    format!("rate({n} {unit}{})", if n == 1 { "" } else { "s" })
}

/// The schedule expression and the neutral `schedule` text of a schedule.
fn schedule_expression(s: &ScheduleEvent) -> std::result::Result<(String, String), String> {
    match (&s.cron, s.every) {
        (Some(c), _) => Ok((eventbridge_cron(c)?, format!("cron {c}"))),
        (None, Some(e)) => Ok((eventbridge_rate(e.0), format!("every {e}"))),
        (None, None) => Err("a schedule needs `cron` or `every`".to_owned()),
    }
}

/// A function's interest in a bucket: function, event, prefix, suffix.
type BucketUse<'a> = (&'a str, StorageOn, Option<&'a str>, Option<&'a str>);

/// The triggers of the service, by kind.
struct Triggers<'a> {
    /// function → queue name, batch
    queues: Vec<(&'a str, &'a str, u32)>,
    /// function → its schedules, numbered
    schedules: Vec<(&'a str, usize, &'a ScheduleEvent)>,
    /// logical bucket → (function, on, prefix, suffix)
    buckets: BTreeMap<&'a str, Vec<BucketUse<'a>>>,
}

impl AwsProvider {
    fn triggers(&self) -> Triggers<'_> {
        let mut t = Triggers {
            queues: Vec::new(),
            schedules: Vec::new(),
            buckets: BTreeMap::new(),
        };
        for f in self.service.functions.values() {
            let mut n = 0;
            for e in &f.events {
                match e {
                    Event::Queue(q) => t.queues.push((&f.name, &q.name, q.batch)),
                    Event::Schedule(s) => {
                        t.schedules.push((&f.name, n, s));
                        n += 1;
                    }
                    Event::Storage(s) => t.buckets.entry(&s.bucket).or_default().push((
                        &f.name,
                        s.on,
                        s.prefix.as_deref(),
                        s.suffix.as_deref(),
                    )),
                    Event::Http(_) => {}
                }
            }
        }
        t
    }

    pub(super) fn has_triggers(&self) -> bool {
        let t = self.triggers();
        !(t.queues.is_empty() && t.schedules.is_empty() && t.buckets.is_empty())
    }

    fn queue_arn(&self, base: &Base, name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{name}", self.conn.region, base.account)
    }

    fn rule_arn(&self, base: &Base, name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:rule/{name}",
            self.conn.region, base.account
        )
    }

    /// The role's statements for triggers: its own queues, its own buckets.
    pub(super) fn trigger_statements(&self, base: &Base) -> Vec<serde_json::Value> {
        let t = self.triggers();
        let mut out = Vec::new();
        if !t.queues.is_empty() {
            let arns: Vec<String> = t
                .queues
                .iter()
                .map(|(_, q, _)| self.queue_arn(base, &self.names.queue(q)))
                .collect();
            out.push(serde_json::json!({
                "Sid": "Queues",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                           "sqs:ChangeMessageVisibility"],
                "Resource": arns,
            }));
        }
        if !t.buckets.is_empty() {
            let arns: Vec<String> = t
                .buckets
                .keys()
                .map(|b| format!("arn:aws:s3:::{}/*", self.names.bucket(b, &base.account)))
                .collect();
            out.push(serde_json::json!({
                "Sid": "Buckets",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": arns,
            }));
        }
        out
    }

    /// Environment a function's shim needs for its triggers: physical
    /// bucket names back to the manifest's.
    pub(super) fn trigger_env(&self, base: &Base, function: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (bucket, uses) in self.triggers().buckets {
            if uses.iter().any(|(f, ..)| *f == function) {
                let physical = self.names.bucket(bucket, &base.account);
                let key: String = physical
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                out.push((format!("NUBO_BUCKET_{key}"), bucket.to_owned()));
            }
        }
        out
    }

    /// Queues, rules and buckets, created when absent.
    pub(super) async fn ensure_triggers(&self, base: &Base) -> Result<()> {
        let t = self.triggers();
        let queues = Self::each(t.queues.iter(), 4, |(function, queue, _)| async move {
            let timeout = self.service.functions[*function].timeout.0.as_secs().max(1);
            self.ensure_queue(base, queue, timeout).await
        });
        let rules = Self::each(t.schedules.iter(), 4, |(function, n, s)| async move {
            let (expr, _) = schedule_expression(s).map_err(ProviderError::new)?;
            let name = self.names.rule(function, *n);
            let mut req = self
                .clients
                .events
                .put_rule()
                .name(&name)
                .schedule_expression(&expr)
                .description(format!("nubo: schedule of `{function}`"));
            for (k, v) in self.names.tags() {
                req = req.tags(
                    aws_sdk_eventbridge::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                        .map_err(|e| ProviderError::new(e.to_string()))?,
                );
            }
            req.send()
                .await
                .map_err(|e| fail(format!("events:PutRule {name}"), &e))?;
            Ok(())
        });
        let buckets = Self::each(t.buckets.keys(), 4, |bucket| async move {
            self.ensure_storage_bucket(base, bucket).await
        });
        let (q, r, b) = tokio::join!(queues, rules, buckets);
        q?;
        r?;
        b
    }

    async fn ensure_queue(&self, base: &Base, queue: &str, timeout_secs: u64) -> Result<()> {
        let sqs = &self.clients.sqs;
        let dlq = self.names.dead_letters(queue);
        let name = self.names.queue(queue);
        let tags = self.names.tags();
        let mut req = sqs.create_queue().queue_name(&dlq);
        for (k, v) in &tags {
            req = req.tags(*k, v);
        }
        req.send()
            .await
            .map_err(|e| fail(format!("sqs:CreateQueue {dlq}"), &e))?;
        // Lambda needs the visibility timeout to cover the function's; AWS
        // advises six times it.
        let visibility = (timeout_secs * 6).clamp(30, 43_200).to_string();
        let redrive = serde_json::json!({
            "deadLetterTargetArn": self.queue_arn(base, &dlq),
            "maxReceiveCount": MAX_RECEIVES,
        })
        .to_string();
        let mut req = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::VisibilityTimeout, &visibility)
            .attributes(QueueAttributeName::RedrivePolicy, &redrive);
        for (k, v) in &tags {
            req = req.tags(*k, v);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            // It exists with other attributes (a function's timeout changed): set them.
            Err(e) if matches!(e.code(), Some("QueueAlreadyExists" | "QueueNameExists")) => {
                let url = sqs
                    .get_queue_url()
                    .queue_name(&name)
                    .send()
                    .await
                    .map_err(|e| fail(format!("sqs:GetQueueUrl {name}"), &e))?;
                sqs.set_queue_attributes()
                    .queue_url(url.queue_url().unwrap_or_default())
                    .attributes(QueueAttributeName::VisibilityTimeout, &visibility)
                    .attributes(QueueAttributeName::RedrivePolicy, &redrive)
                    .send()
                    .await
                    .map_err(|e| fail(format!("sqs:SetQueueAttributes {name}"), &e))?;
                Ok(())
            }
            Err(e) => Err(fail(format!("sqs:CreateQueue {name}"), &e)),
        }
    }

    async fn ensure_storage_bucket(&self, base: &Base, bucket: &str) -> Result<()> {
        let s3 = &self.clients.s3;
        let name = self.names.bucket(bucket, &base.account);
        if !self.ensure_s3_bucket(&name).await? {
            return Ok(());
        }
        let tags: Vec<aws_sdk_s3::types::Tag> = self
            .names
            .tags()
            .into_iter()
            .filter_map(|(k, v)| {
                aws_sdk_s3::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .ok()
            })
            .collect();
        s3.put_bucket_tagging()
            .bucket(&name)
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .set_tag_set(Some(tags))
                    .build()
                    .map_err(|e| ProviderError::new(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| fail(format!("s3:PutBucketTagging {name}"), &e))?;
        Ok(())
    }

    /// EventBridge and S3 may invoke `release`'s aliases of the functions
    /// they trigger (the mappings of queues use the role instead).
    pub(super) async fn permit_triggers(&self, base: &Base, release: &str) -> Result<()> {
        let t = self.triggers();
        let schedules = Self::each(t.schedules.iter(), 8, |(function, n, _)| async move {
            let rule = self.names.rule(function, *n);
            self.permit(
                function,
                release,
                &format!("nubo-events-{n}"),
                "events.amazonaws.com",
                &self.rule_arn(base, &rule),
            )
            .await
        });
        let uses: Vec<(&str, &str)> = t
            .buckets
            .iter()
            .flat_map(|(b, uses)| uses.iter().map(move |(f, ..)| (*b, *f)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let buckets = Self::each(uses, 8, |(bucket, function)| async move {
            let name = self.names.bucket(bucket, &base.account);
            self.permit(
                function,
                release,
                &format!("nubo-s3-{bucket}"),
                "s3.amazonaws.com",
                &format!("arn:aws:s3:::{name}"),
            )
            .await
        });
        let (s, b) = tokio::join!(schedules, buckets);
        s?;
        b
    }

    /// Point every trigger at `release`'s aliases.
    pub(super) async fn move_triggers(&self, base: &Base, release: &str) -> Result<()> {
        let t = self.triggers();
        let alias = |function: &str| format!("{}:{release}", self.function_arn(base, function));
        let queues = Self::each(t.queues.iter(), 4, |(function, queue, batch)| {
            let target = alias(function);
            async move {
                self.point_mapping(base, function, queue, *batch, &target)
                    .await
            }
        });
        let rules = Self::each(t.schedules.iter(), 4, |(function, n, s)| {
            let target = alias(function);
            async move {
                let (_, text) = schedule_expression(s).map_err(ProviderError::new)?;
                let rule = self.names.rule(function, *n);
                let input = serde_json::json!({"nubo": "schedule", "schedule": text}).to_string();
                let target = RuleTarget::builder()
                    .id("nubo")
                    .arn(&target)
                    .input(input)
                    .build()
                    .map_err(|e| ProviderError::new(e.to_string()))?;
                // The rule may have been made a moment ago.
                let out = super::after_write(|| {
                    self.clients
                        .events
                        .put_targets()
                        .rule(&rule)
                        .targets(target.clone())
                        .send()
                })
                .await
                .map_err(|e| fail(format!("events:PutTargets {rule}"), &e))?;
                if out.failed_entry_count() > 0 {
                    return Err(ProviderError::new(format!(
                        "events:PutTargets {rule}: {:?}",
                        out.failed_entries()
                    )));
                }
                Ok(())
            }
        });
        let buckets = Self::each(t.buckets.iter(), 4, |(bucket, uses)| {
            let name = self.names.bucket(bucket, &base.account);
            let configs: Vec<LambdaFunctionConfiguration> = uses
                .iter()
                .enumerate()
                .filter_map(|(i, (function, on, prefix, suffix))| {
                    let mut rules = Vec::new();
                    if let Some(p) = prefix {
                        rules.push(
                            FilterRule::builder()
                                .name(FilterRuleName::Prefix)
                                .value(*p)
                                .build(),
                        );
                    }
                    if let Some(s) = suffix {
                        rules.push(
                            FilterRule::builder()
                                .name(FilterRuleName::Suffix)
                                .value(*s)
                                .build(),
                        );
                    }
                    let event = match on {
                        StorageOn::Created => S3Event::from("s3:ObjectCreated:*"),
                        StorageOn::Deleted => S3Event::from("s3:ObjectRemoved:*"),
                    };
                    let mut c = LambdaFunctionConfiguration::builder()
                        .id(format!("nubo-{function}-{i}"))
                        .lambda_function_arn(alias(function))
                        .events(event);
                    if !rules.is_empty() {
                        c = c.filter(
                            NotificationConfigurationFilter::builder()
                                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                                .build(),
                        );
                    }
                    c.build().ok()
                })
                .collect();
            async move {
                self.clients
                    .s3
                    .put_bucket_notification_configuration()
                    .bucket(&name)
                    .notification_configuration(
                        NotificationConfiguration::builder()
                            .set_lambda_function_configurations(Some(configs))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| {
                        fail(format!("s3:PutBucketNotificationConfiguration {name}"), &e)
                    })?;
                Ok(())
            }
        });
        let (q, r, b) = tokio::join!(queues, rules, buckets);
        q?;
        r?;
        b
    }

    /// The queue's event source mapping, onto `target` (created the first time).
    async fn point_mapping(
        &self,
        base: &Base,
        function: &str,
        queue: &str,
        batch: u32,
        target: &str,
    ) -> Result<()> {
        let lambda = &self.clients.lambda;
        let source = self.queue_arn(base, &self.names.queue(queue));
        let fn_arn = self.function_arn(base, function);
        let mut marker: Option<String> = None;
        let mut existing = None;
        loop {
            let page = lambda
                .list_event_source_mappings()
                .event_source_arn(&source)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| fail(format!("lambda:ListEventSourceMappings {queue}"), &e))?;
            existing = existing.or_else(|| {
                page.event_source_mappings()
                    .iter()
                    .find(|m| {
                        m.function_arn()
                            .is_some_and(|a| a == fn_arn || a.starts_with(&format!("{fn_arn}:")))
                    })
                    .cloned()
            });
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() || existing.is_some() {
                break;
            }
        }
        match existing {
            Some(m) if m.function_arn() == Some(target) => Ok(()),
            Some(m) => {
                let uuid = m.uuid().unwrap_or_default();
                lambda
                    .update_event_source_mapping()
                    .uuid(uuid)
                    .function_name(target)
                    .batch_size(batch as i32)
                    .send()
                    .await
                    .map_err(|e| fail(format!("lambda:UpdateEventSourceMapping {queue}"), &e))?;
                Ok(())
            }
            None => {
                lambda
                    .create_event_source_mapping()
                    .event_source_arn(&source)
                    .function_name(target)
                    .batch_size(batch as i32)
                    .enabled(true)
                    .send()
                    .await
                    .map_err(|e| fail(format!("lambda:CreateEventSourceMapping {queue}"), &e))?;
                Ok(())
            }
        }
    }

    /// The trigger resources `remove` deletes, by name.
    pub(super) fn trigger_inventory(&self, base: &Base) -> Vec<String> {
        let t = self.triggers();
        let mut out = Vec::new();
        for (_, queue, _) in &t.queues {
            out.push(format!(
                "SQS queues {} and {}, and the mapping that feeds them to Lambda",
                self.names.queue(queue),
                self.names.dead_letters(queue)
            ));
        }
        for (function, n, _) in &t.schedules {
            out.push(format!(
                "EventBridge rule {}",
                self.names.rule(function, *n)
            ));
        }
        for bucket in t.buckets.keys() {
            out.push(format!(
                "the notifications of S3 bucket {} (the bucket too, if it is empty)",
                self.names.bucket(bucket, &base.account)
            ));
        }
        out
    }

    /// Delete the queues, rules and bucket notifications; a bucket is
    /// deleted only when empty (nubo never deletes what users stored).
    pub(super) async fn remove_triggers(&self, base: &Base) -> Result<()> {
        let t = self.triggers();
        let lambda = &self.clients.lambda;
        let queues = Self::each(t.queues.iter(), 4, |(function, queue, _)| async move {
            let source = self.queue_arn(base, &self.names.queue(queue));
            let mappings = lambda
                .list_event_source_mappings()
                .event_source_arn(&source)
                .send()
                .await
                .map_err(|e| fail(format!("lambda:ListEventSourceMappings {queue}"), &e))?;
            let fn_arn = self.function_arn(base, function);
            for m in mappings.event_source_mappings() {
                if m.function_arn().is_some_and(|a| a.starts_with(&fn_arn))
                    && let Some(uuid) = m.uuid()
                {
                    match lambda.delete_event_source_mapping().uuid(uuid).send().await {
                        Ok(_) => {}
                        Err(e) if not_found(&e) => {}
                        Err(e) => {
                            return Err(fail(
                                format!("lambda:DeleteEventSourceMapping {queue}"),
                                &e,
                            ));
                        }
                    }
                }
            }
            for name in [self.names.queue(queue), self.names.dead_letters(queue)] {
                let url = match self
                    .clients
                    .sqs
                    .get_queue_url()
                    .queue_name(&name)
                    .send()
                    .await
                {
                    Ok(u) => u.queue_url().unwrap_or_default().to_owned(),
                    Err(e) if not_found(&e) => continue,
                    Err(e) => return Err(fail(format!("sqs:GetQueueUrl {name}"), &e)),
                };
                let tags = self
                    .clients
                    .sqs
                    .list_queue_tags()
                    .queue_url(&url)
                    .send()
                    .await
                    .map_err(|e| fail(format!("sqs:ListQueueTags {name}"), &e))?;
                let tags = tags.tags().cloned().unwrap_or_default();
                if !self
                    .names
                    .tags()
                    .iter()
                    .all(|(k, v)| tags.get(*k) == Some(v))
                {
                    continue;
                }
                self.clients
                    .sqs
                    .delete_queue()
                    .queue_url(&url)
                    .send()
                    .await
                    .map_err(|e| fail(format!("sqs:DeleteQueue {name}"), &e))?;
            }
            Ok(())
        });
        let rules = Self::each(t.schedules.iter(), 4, |(function, n, _)| async move {
            let rule = self.names.rule(function, *n);
            let events = &self.clients.events;
            match events.remove_targets().rule(&rule).ids("nubo").send().await {
                Ok(_) => {}
                Err(e) if not_found(&e) => return Ok(()),
                Err(e) => return Err(fail(format!("events:RemoveTargets {rule}"), &e)),
            }
            match events.delete_rule().name(&rule).send().await {
                Ok(_) => Ok(()),
                Err(e) if not_found(&e) => Ok(()),
                Err(e) => Err(fail(format!("events:DeleteRule {rule}"), &e)),
            }
        });
        let buckets = Self::each(t.buckets.keys(), 4, |bucket| async move {
            let name = self.names.bucket(bucket, &base.account);
            let s3 = &self.clients.s3;
            match s3
                .put_bucket_notification_configuration()
                .bucket(&name)
                .notification_configuration(NotificationConfiguration::builder().build())
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if not_found(&e) => return Ok(()),
                Err(e) => {
                    return Err(fail(
                        format!("s3:PutBucketNotificationConfiguration {name}"),
                        &e,
                    ));
                }
            }
            let listed = s3
                .list_objects_v2()
                .bucket(&name)
                .max_keys(1)
                .send()
                .await
                .map_err(|e| fail(format!("s3:ListObjectsV2 {name}"), &e))?;
            if listed.key_count().unwrap_or(0) > 0 || !listed.contents().is_empty() {
                return Ok(());
            }
            match s3.delete_bucket().bucket(&name).send().await {
                Ok(_) => Ok(()),
                Err(e) if not_found(&e) => Ok(()),
                Err(e) => Err(fail(format!("s3:DeleteBucket {name}"), &e)),
            }
        });
        let (q, r, b) = tokio::join!(queues, rules, buckets);
        q?;
        r?;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_becomes_eventbridge_cron() {
        assert_eq!(eventbridge_cron("0 3 * * *").unwrap(), "cron(0 3 * * ? *)");
        assert_eq!(
            eventbridge_cron("*/5 * 1 * *").unwrap(),
            "cron(*/5 * 1 * ? *)"
        );
        assert_eq!(
            eventbridge_cron("0 9 * * 1-5").unwrap(),
            "cron(0 9 ? * 2-6 *)"
        );
        assert_eq!(
            eventbridge_cron("0 9 * * 0,6").unwrap(),
            "cron(0 9 ? * 1,7 *)"
        );
        assert_eq!(eventbridge_cron("0 9 * * 7").unwrap(), "cron(0 9 ? * 1 *)");
        assert_eq!(
            eventbridge_cron("0 9 * * MON").unwrap(),
            "cron(0 9 ? * MON *)"
        );
        assert_eq!(
            eventbridge_cron("0 9 * * */2").unwrap(),
            "cron(0 9 ? * */2 *)"
        );
        assert!(eventbridge_cron("0 9 1 * 1").is_err());
        assert!(eventbridge_cron("0 9 1 *").is_err());
    }

    #[test]
    fn every_becomes_a_rate() {
        use std::time::Duration;
        assert_eq!(eventbridge_rate(Duration::from_secs(60)), "rate(1 minute)");
        assert_eq!(
            eventbridge_rate(Duration::from_secs(300)),
            "rate(5 minutes)"
        );
        assert_eq!(eventbridge_rate(Duration::from_secs(7200)), "rate(2 hours)");
        assert_eq!(eventbridge_rate(Duration::from_secs(86400)), "rate(1 day)");
        assert_eq!(
            eventbridge_rate(Duration::from_secs(5400)),
            "rate(90 minutes)"
        );
    }
}
