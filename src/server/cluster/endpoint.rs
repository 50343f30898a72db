//! Where the cluster's Redis is: one URL, or the primary that Redis Sentinel names now.
//!
//! `redis://[USER:PASSWORD@]HOST:PORT[/DB]` is one Redis. `redis+sentinel://[USER:PASSWORD@]
//! HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]` lists Sentinels (the form Centrifugo accepts);
//! the password and database are the primary's, as in a `redis://` URL. Sentinel is asked
//! which server is the primary when the store starts, every half second after, and at once
//! when a command fails in a way a failover causes (a refused or broken connection, a
//! timeout, `READONLY` from a primary that became a replica): the store then reconnects to
//! the new primary. Watching the answer, not only Sentinel's events, is deliberate: a node
//! that missed a `+switch-master` message would otherwise stay on the old primary while its
//! health looked fine (centrifugo#766, #1189).

use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::IntoConnectionInfo;

pub(crate) enum Endpoint {
    Direct(redis::Client),
    Sentinel {
        sentinels: tokio::sync::Mutex<SentinelClient>,
        /// For logs: the Sentinels and the master's name.
        name: String,
    },
}

impl Endpoint {
    /// Parses `--redis`; the error says what is wrong with the URL.
    pub(crate) fn parse(url: &str) -> Result<Endpoint, String> {
        let Some(rest) = url.strip_prefix("redis+sentinel://") else {
            return redis::Client::open(url)
                .map(Endpoint::Direct)
                .map_err(|e| format!("bad Redis URL {url}: {e}"));
        };
        let bad = |why: &str| {
            format!(
                "bad Sentinel URL {url}: {why} (expected redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB])"
            )
        };
        let (hosts, path) = rest.split_once('/').ok_or_else(|| bad("no master name"))?;
        let (auth, hosts) = match hosts.rsplit_once('@') {
            Some((auth, hosts)) => (Some(auth), hosts),
            None => (None, hosts),
        };
        let mut path = path.trim_end_matches('/').split('/');
        let master = path
            .next()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad("no master name"))?;
        let db = path.next().unwrap_or("0");
        if path.next().is_some() {
            return Err(bad("too many path segments"));
        }
        let sentinels: Vec<String> = hosts
            .split(',')
            .map(|h| {
                if h.is_empty() || !h.contains(':') {
                    Err(bad(&format!("{h:?} is not HOST:PORT")))
                } else {
                    Ok(format!("redis://{h}"))
                }
            })
            .collect::<Result<_, _>>()?;
        // The primary's credentials and database, read as redis:// would read them.
        let primary = match auth {
            Some(auth) => format!("redis://{auth}@sentinel-primary/{db}"),
            None => format!("redis://sentinel-primary/{db}"),
        };
        let info = primary
            .into_connection_info()
            .map_err(|e| bad(&e.to_string()))?;
        let node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(info.redis_settings().clone());
        let client = SentinelClient::build(
            sentinels.clone(),
            master.to_string(),
            Some(node),
            SentinelServerType::Master,
        )
        .map_err(|e| bad(&e.to_string()))?;
        Ok(Endpoint::Sentinel {
            sentinels: tokio::sync::Mutex::new(client),
            name: format!("{master} at {}", hosts),
        })
    }

    /// The server to talk to now: the one URL, or the primary Sentinel names.
    pub(crate) async fn primary(&self) -> redis::RedisResult<redis::Client> {
        match self {
            Endpoint::Direct(client) => Ok(client.clone()),
            Endpoint::Sentinel { sentinels, .. } => sentinels.lock().await.async_get_client().await,
        }
    }

    /// Whether the primary may move (so that it is watched).
    pub(crate) fn sentinel_name(&self) -> Option<&str> {
        match self {
            Endpoint::Direct(_) => None,
            Endpoint::Sentinel { name, .. } => Some(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(matches!(
            Endpoint::parse("redis://127.0.0.1:6379/0"),
            Ok(Endpoint::Direct(_))
        ));
        let e = Endpoint::parse("redis+sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster/2")
            .unwrap();
        assert_eq!(
            e.sentinel_name(),
            Some("mymaster at 127.0.0.1:26379,127.0.0.1:26380")
        );
        for bad in [
            "redis+sentinel://127.0.0.1:26379",
            "redis+sentinel://127.0.0.1:26379/",
            "redis+sentinel://127.0.0.1/m",
            "redis+sentinel://127.0.0.1:1/m/0/x",
        ] {
            let err = Endpoint::parse(bad).err().expect(bad);
            assert!(err.contains("bad Sentinel URL"), "{err}");
        }
        assert!(Endpoint::parse("nope://x")
            .err()
            .unwrap()
            .contains("bad Redis URL"));
    }
}
