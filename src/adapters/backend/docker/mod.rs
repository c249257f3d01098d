//! The Docker backend, through bollard. Green is a container beside the live
//! one on the app's own network, its port published on loopback for the
//! router. Everything deployflow needs to find a container again (app, slot,
//! deployment, attempt, release) is in its labels, so a restarted control
//! plane re-adopts what runs and creates nothing twice. Names follow the
//! process document (`naming.rs`): promotion renames, rollback restores.

mod build;
mod engine;
mod naming;

use std::collections::HashMap;

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, ContainerSummaryStateEnum, HealthStatusEnum, HostConfig,
    NetworkCreateRequest, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, RenameContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::{Backend, BackendError, Instance, InstanceSpec, NativeHealth};
use crate::events::Slot;
use engine::{Engine, error_text, is_conflict, is_not_found};

/// Log lines of a container kept for a diagnosis.
const LOG_TAIL: &str = "40";

#[derive(Default)]
pub struct DockerBackend {
    engine: Engine,
}

impl DockerBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// The app's containers, newest first; `slot` narrows to one slot and
    /// `running_only` to those running.
    async fn containers(
        &self,
        docker: &Docker,
        app: &str,
        slot: Option<Slot>,
        running_only: bool,
    ) -> Result<Vec<ContainerSummary>, BackendError> {
        let mut labels = vec![format!("{}={app}", naming::APP)];
        if let Some(slot) = slot {
            labels.push(format!("{}={}", naming::SLOT, slot.name()));
        }
        let mut filters = HashMap::from([("label".to_string(), labels)]);
        if running_only {
            filters.insert("status".into(), vec!["running".into()]);
        }
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let mut found = docker
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_call(format!("listing {app}'s containers"), &e))?;
        found.sort_by_key(|c| std::cmp::Reverse(c.created.unwrap_or_default()));
        Ok(found)
    }

    async fn ensure_network(&self, docker: &Docker, app: &str) -> Result<(), BackendError> {
        let name = naming::network(app);
        match docker.inspect_network(&name, None).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(engine_call(format!("looking up network {name}"), &e)),
        }
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(naming::APP.to_string(), app.to_string())])),
            ..Default::default()
        };
        match docker.create_network(request).await {
            // Created meanwhile by a concurrent start: as good.
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(engine_call(format!("creating network {name}"), &e)),
        }
    }

    /// The image to run: the configured one, a rolled-back release's own, or
    /// one built from the context now.
    async fn image(&self, docker: &Docker, spec: &InstanceSpec) -> Result<String, BackendError> {
        let start_error = |reason: String| BackendError::Start {
            release: spec.release.clone(),
            slot: spec.slot.name(),
            reason,
        };
        if let Some(image) = &spec.image {
            return match image_on_engine(docker, image).await {
                Ok(()) => Ok(image.clone()),
                Err(ImageMissing::NotThere(reason)) => Err(start_error(reason)),
                Err(ImageMissing::Engine(e)) => Err(e),
            };
        }
        let Some(build) = &spec.build else {
            return Err(start_error(
                "runtime has neither `image` nor `build`".into(),
            ));
        };
        if spec.restoring {
            // A release coming back runs the very image it ran before.
            if let Some(image) = self.retained_image(docker, spec).await? {
                return Ok(image);
            }
            let tag = naming::image_tag(&spec.app, &spec.release);
            if docker.inspect_image(&tag).await.is_ok() {
                return Ok(tag);
            }
        }
        let request = build::BuildRequest {
            app: &spec.app,
            release: &spec.release,
            deployment: &spec.deployment,
            context: &build.context,
            dockerfile: build.dockerfile.as_deref(),
        };
        build::build(docker, &request).await.map_err(start_error)
    }

    /// The image id of the newest kept container of the spec's release.
    async fn retained_image(
        &self,
        docker: &Docker,
        spec: &InstanceSpec,
    ) -> Result<Option<String>, BackendError> {
        let kept = self.containers(docker, &spec.app, None, false).await?;
        Ok(kept
            .into_iter()
            .find(|c| label(c, naming::RELEASE) == Some(spec.release.as_str()))
            .and_then(|c| c.image_id))
    }

    async fn create(
        &self,
        docker: &Docker,
        spec: &InstanceSpec,
        image: String,
    ) -> Result<String, BackendError> {
        let port = format!("{}/tcp", spec.container_port);
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("PORT={}", spec.container_port));
        env.push(format!("DEPLOYFLOW_SLOT={}", spec.slot.name()));
        env.push(format!("DEPLOYFLOW_RELEASE={}", spec.release));
        let labels = HashMap::from([
            (naming::APP.to_string(), spec.app.clone()),
            (naming::SLOT.to_string(), spec.slot.name().into()),
            (naming::DEPLOYMENT.to_string(), spec.deployment.clone()),
            (naming::ATTEMPT.to_string(), spec.attempt.to_string()),
            (naming::RELEASE.to_string(), spec.release.clone()),
            (naming::PORT.to_string(), spec.container_port.to_string()),
            (
                naming::STOP_TIMEOUT.to_string(),
                spec.stop_timeout.as_secs().to_string(),
            ),
            (naming::RETAIN.to_string(), spec.retain.to_string()),
        ]);
        let body = ContainerCreateBody {
            image: Some(image),
            env: Some(env),
            labels: Some(labels),
            exposed_ports: Some(vec![port.clone()]),
            stop_timeout: Some(spec.stop_timeout.as_secs() as i64),
            host_config: Some(HostConfig {
                network_mode: Some(naming::network(&spec.app)),
                binds: (!spec.volumes.is_empty()).then(|| spec.volumes.clone()),
                // Loopback only, on a port the kernel picks: the router is
                // the app's public face, and a new container gets a new port.
                port_bindings: Some(HashMap::from([(
                    port,
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = naming::candidate(&spec.app);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        // The body holds the secrets' values: errors name the container only.
        let created = docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| BackendError::Start {
                release: spec.release.clone(),
                slot: spec.slot.name(),
                reason: format!("creating container {name}: {}", error_text(&e)),
            })?;
        Ok(created.id)
    }

    /// Frees the candidate's name for a new candidate: a stopped holder is
    /// removed; a running one (a live container whose promotion was cut
    /// short) is renamed aside, never stopped.
    async fn free_candidate_name(&self, docker: &Docker, app: &str) -> Result<(), BackendError> {
        let name = naming::candidate(app);
        let holder = match docker.inspect_container(&name, None).await {
            Ok(holder) => holder,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(engine_call(format!("looking up {name}"), &e)),
        };
        let running = holder
            .state
            .as_ref()
            .and_then(|s| s.running)
            .unwrap_or(false);
        let id = holder.id.unwrap_or(name);
        if running {
            let labels = holder.config.and_then(|c| c.labels).unwrap_or_default();
            let aside = naming::retained(
                app,
                labels.get(naming::RELEASE).map_or("", String::as_str),
                labels.get(naming::DEPLOYMENT).map_or(&id, String::as_str),
            );
            self.rename_aside(docker, &id, &aside).await
        } else {
            self.remove(docker, &id).await
        }
    }

    /// Renames a release that is no longer live to its kept name; when a
    /// container already has that name (the same release and deployment
    /// kept twice, after rollbacks), the container's id tells them apart.
    async fn rename_aside(
        &self,
        docker: &Docker,
        id: &str,
        name: &str,
    ) -> Result<(), BackendError> {
        let options = RenameContainerOptionsBuilder::default().name(name).build();
        match docker.rename_container(id, options).await {
            Err(e) if is_conflict(&e) => {
                self.rename(docker, id, &format!("{name}-{}", short(id)))
                    .await
            }
            Err(e) => Err(engine_call(format!("renaming {} to {name}", short(id)), &e)),
            Ok(()) => Ok(()),
        }
    }

    async fn rename(&self, docker: &Docker, id: &str, name: &str) -> Result<(), BackendError> {
        let options = RenameContainerOptionsBuilder::default().name(name).build();
        docker
            .rename_container(id, options)
            .await
            .map_err(|e| engine_call(format!("renaming {} to {name}", short(id)), &e))
    }

    async fn remove(&self, docker: &Docker, id: &str) -> Result<(), BackendError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(engine_call(format!("removing container {}", short(id)), &e)),
        }
    }

    async fn stop_container(
        &self,
        docker: &Docker,
        container: &ContainerSummary,
    ) -> Result<(), BackendError> {
        let id = container.id.as_deref().unwrap_or_default();
        let timeout = label(container, naming::STOP_TIMEOUT)
            .and_then(|t| t.parse::<i32>().ok())
            .unwrap_or(10);
        let options = StopContainerOptionsBuilder::default().t(timeout).build();
        match docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // Gone, or already stopped (304 is not an error to bollard).
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(BackendError::Stop {
                slot: slot_of(container),
                reason: format!("stopping container {}: {}", short(id), error_text(&e)),
            }),
        }
    }

    /// Keeps the newest `retain` stopped releases of the app, and removes
    /// older ones with the images deployflow built for them.
    async fn prune(&self, docker: &Docker, app: &str, retain: usize) -> Result<(), BackendError> {
        let all = self.containers(docker, app, None, false).await?;
        let (running, stopped): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING));
        // The kept ones come first (newest first), so by the time a container
        // is removed every image still wanted is known.
        let mut in_use: Vec<String> = running.iter().filter_map(|c| c.image_id.clone()).collect();
        // A stopped container of a release that runs again (restored by a
        // rollback, from its image) or an older one of a release kept
        // already is no release to return to: it goes, not counted.
        let mut releases: Vec<&str> = running
            .iter()
            .filter_map(|c| label(c, naming::RELEASE))
            .collect();
        let mut kept = 0;
        for container in &stopped {
            let release = label(container, naming::RELEASE).unwrap_or_default();
            let again = releases.contains(&release);
            if !again && kept < retain {
                kept += 1;
                releases.push(release);
                in_use.extend(container.image_id.clone());
                continue;
            }
            self.remove(docker, container.id.as_deref().unwrap_or_default())
                .await?;
            let Some(image) = &container.image_id else {
                continue;
            };
            if !in_use.contains(image) && self.built_for(docker, image, app).await {
                // Refused while another container uses it: then it stays.
                let options = RemoveImageOptionsBuilder::default().build();
                let _ = docker.remove_image(image, Some(options), None).await;
                in_use.push(image.clone());
            }
        }
        Ok(())
    }

    /// Whether deployflow built `image` for `app` (its labels say so), so
    /// it is deployflow's to remove; an image given in `runtime.image` is not.
    async fn built_for(&self, docker: &Docker, image: &str, app: &str) -> bool {
        docker.inspect_image(image).await.is_ok_and(|inspected| {
            inspected
                .config
                .and_then(|c| c.labels)
                .is_some_and(|labels| labels.get(naming::APP).is_some_and(|a| a == app))
        })
    }

    async fn logs(&self, docker: &Docker, id: &str) -> String {
        self.logs_tail(docker, id, LOG_TAIL).await
    }

    async fn logs_tail(&self, docker: &Docker, id: &str, tail: &str) -> String {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(tail)
            .build();
        let mut stream = docker.logs(id, Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => text.push_str(&output.to_string()),
                Err(e) => {
                    text.push_str(&format!("(logs cut short: {})", error_text(&e)));
                    break;
                }
            }
        }
        text
    }
}

#[async_trait]
impl Backend for DockerBackend {
    async fn start(&self, spec: &InstanceSpec) -> Result<Instance, BackendError> {
        let docker = self.engine.get().await?;
        for container in self
            .containers(docker, &spec.app, Some(spec.slot), false)
            .await?
        {
            let id = container.id.as_deref().unwrap_or_default();
            let running = container.state == Some(ContainerSummaryStateEnum::RUNNING);
            let same_deployment = label(&container, naming::DEPLOYMENT) == Some(&spec.deployment);
            let same_attempt = same_deployment
                && label(&container, naming::ATTEMPT) == Some(&spec.attempt.to_string());
            if same_attempt && running {
                // Started before a restart: adopted, not started twice.
                if let Some(instance) = instance(&container) {
                    return Ok(instance);
                }
            }
            if same_deployment || is_named(&container, &naming::candidate(&spec.app)) {
                // An earlier attempt, or one that never got going.
                self.remove(docker, id).await?;
            } else if running {
                self.stop_container(docker, &container).await?;
            }
        }
        self.free_candidate_name(docker, &spec.app).await?;
        self.ensure_network(docker, &spec.app).await?;
        let image = self.image(docker, spec).await?;
        let id = self.create(docker, spec, image).await?;
        docker
            .start_container(&id, None)
            .await
            .map_err(|e| BackendError::Start {
                release: spec.release.clone(),
                slot: spec.slot.name(),
                reason: format!("starting container {}: {}", short(&id), error_text(&e)),
            })?;
        crate::crash_points::inside("docker_container_started");
        let started = self
            .containers(docker, &spec.app, Some(spec.slot), false)
            .await?;
        started
            .iter()
            .find(|c| c.id.as_deref() == Some(id.as_str()))
            .and_then(instance)
            .ok_or_else(|| BackendError::Start {
                release: spec.release.clone(),
                slot: spec.slot.name(),
                reason: format!(
                    "container {} stopped at once, before its port was published",
                    short(&id)
                ),
            })
    }

    async fn running(&self, app: &str, slot: Slot) -> Option<Instance> {
        let docker = self.engine.get().await.ok()?;
        let found = self.containers(docker, app, Some(slot), true).await.ok()?;
        found.iter().find_map(instance)
    }

    async fn stop(&self, app: &str, slot: Slot, retain: bool) -> Result<(), BackendError> {
        let docker = self.engine.get().await?;
        let mut kept = None;
        let candidate = naming::candidate(app);
        for container in self.containers(docker, app, Some(slot), false).await? {
            let running = container.state == Some(ContainerSummaryStateEnum::RUNNING);
            let is_candidate = is_named(&container, &candidate);
            // Releases kept from earlier deployments stay as they are.
            if !running && !is_candidate {
                continue;
            }
            if running {
                self.stop_container(docker, &container).await?;
            }
            let id = container.id.as_deref().unwrap_or_default();
            // A candidate never promoted (running or already exited) is not
            // a release to come back to.
            if !retain || is_candidate {
                self.remove(docker, id).await?;
                continue;
            }
            if is_named(&container, &naming::live(app)) {
                let aside = retained_name(app, &container);
                self.rename_aside(docker, id, &aside).await?;
            }
            kept = label(&container, naming::RETAIN).and_then(|r| r.parse::<usize>().ok());
        }
        match kept {
            Some(retain) => self.prune(docker, app, retain).await,
            None => Ok(()),
        }
    }

    async fn promote(&self, app: &str, slot: Slot) -> Result<(), BackendError> {
        let docker = self.engine.get().await?;
        let Some(live) = self
            .containers(docker, app, Some(slot), true)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(());
        };
        let plain = naming::live(app);
        if is_named(&live, &plain) {
            return Ok(());
        }
        // The release that had the plain name keeps running (it drains) under
        // its retained name.
        let holder = self
            .containers(docker, app, None, false)
            .await?
            .into_iter()
            .find(|c| is_named(c, &plain));
        if let Some(holder) = holder {
            let aside = retained_name(app, &holder);
            self.rename_aside(docker, holder.id.as_deref().unwrap_or_default(), &aside)
                .await?;
            crate::crash_points::inside("docker_old_live_renamed");
        }
        self.rename(docker, live.id.as_deref().unwrap_or_default(), &plain)
            .await
    }

    async fn native_health(&self, app: &str, slot: Slot) -> NativeHealth {
        let Ok(docker) = self.engine.get().await else {
            return NativeHealth::None;
        };
        let Ok(found) = self.containers(docker, app, Some(slot), true).await else {
            return NativeHealth::None;
        };
        let Some(id) = found.first().and_then(|c| c.id.clone()) else {
            return NativeHealth::None;
        };
        let Ok(inspected) = docker.inspect_container(&id, None).await else {
            return NativeHealth::None;
        };
        let health = inspected.state.and_then(|s| s.health);
        let last_output = || {
            health
                .as_ref()
                .and_then(|h| h.log.as_ref())
                .and_then(|log| log.last())
                .and_then(|check| check.output.clone())
                .unwrap_or_default()
        };
        match health.as_ref().and_then(|h| h.status) {
            Some(HealthStatusEnum::HEALTHY) => NativeHealth::Healthy,
            Some(HealthStatusEnum::STARTING) => NativeHealth::Starting,
            Some(HealthStatusEnum::UNHEALTHY) => NativeHealth::Unhealthy(format!(
                "the container's HEALTHCHECK reports unhealthy: {}",
                last_output().trim()
            )),
            _ => NativeHealth::None,
        }
    }

    async fn output(
        &self,
        app: &str,
        slot: Slot,
        release: &str,
        tail: usize,
    ) -> Result<String, BackendError> {
        let docker = self.engine.get().await?;
        // Newest first: the release's latest container in the slot.
        let container = self
            .containers(docker, app, Some(slot), false)
            .await?
            .into_iter()
            .find(|c| label(c, naming::RELEASE) == Some(release));
        let Some(id) = container.and_then(|c| c.id) else {
            return Err(BackendError::EngineCall {
                what: format!("finding {release}'s container in the {} slot", slot.name()),
                reason: "no such container on the engine (removed, or never kept)".into(),
            });
        };
        Ok(self.logs_tail(docker, &id, &tail.to_string()).await)
    }

    async fn diagnose(&self, app: &str, slot: Slot) -> String {
        let docker = match self.engine.get().await {
            Ok(docker) => docker,
            Err(e) => return e.to_string(),
        };
        let newest = match self.containers(docker, app, Some(slot), false).await {
            Ok(found) => found.into_iter().next(),
            Err(e) => return e.to_string(),
        };
        let Some(id) = newest.and_then(|c| c.id) else {
            return format!("no container in the {} slot", slot.name());
        };
        let mut state_line = String::new();
        let mut running = true;
        if let Ok(inspected) = docker.inspect_container(&id, None).await {
            let name = inspected.name.unwrap_or_default();
            if let Some(state) = inspected.state {
                let status = state.status.map(|s| s.to_string()).unwrap_or_default();
                state_line.push_str(&format!(
                    "container {} {status}",
                    name.trim_start_matches('/')
                ));
                running = state.running == Some(true);
                if !running {
                    state_line.push_str(&format!(
                        ", exit code {}",
                        state.exit_code.unwrap_or_default()
                    ));
                }
                if state.oom_killed == Some(true) {
                    state_line.push_str(", killed for want of memory");
                }
                if let Some(error) = state.error.filter(|e| !e.is_empty()) {
                    state_line.push_str(&format!(", {error}"));
                }
            }
        }
        let logs = self.logs(docker, &id).await;
        let mut text = crate::flow::evidence::lead(&state_line, running, &logs);
        if logs.trim().is_empty() {
            text.push_str("\n(no output)");
        } else {
            text.push_str("\nlast output:\n");
            text.push_str(logs.trim_end());
        }
        text
    }

    async fn check_image(&self, image: &str) -> Result<String, BackendError> {
        let docker = self.engine.get().await?;
        match image_on_engine(docker, image).await {
            Ok(()) => Ok(format!("image {image} on the engine")),
            Err(ImageMissing::NotThere(reason)) => Err(BackendError::EngineCall {
                what: format!("finding image {image}"),
                reason,
            }),
            Err(ImageMissing::Engine(e)) => Err(e),
        }
    }

    async fn check_ready(&self) -> Result<String, BackendError> {
        let docker = self.engine.get().await?;
        let version = docker
            .version()
            .await
            .map_err(|e| engine_call("asking the engine's version".into(), &e))?;
        Ok(format!(
            "Docker engine {} (API {})",
            version.version.unwrap_or_default(),
            docker.client_version()
        ))
    }
}

/// Why an image cannot be run.
enum ImageMissing {
    NotThere(String),
    Engine(BackendError),
}

async fn image_on_engine(docker: &Docker, image: &str) -> Result<(), ImageMissing> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Err(ImageMissing::NotThere(format!(
            "image {image} is not on the Docker engine, and deployflow does not pull: \
             `docker pull` or `docker load` it first"
        ))),
        Err(e) => Err(ImageMissing::Engine(engine_call(
            format!("looking up image {image}"),
            &e,
        ))),
    }
}

fn engine_call(what: String, error: &bollard::errors::Error) -> BackendError {
    BackendError::EngineCall {
        what,
        reason: error_text(error),
    }
}

fn label<'a>(container: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    container
        .labels
        .as_ref()
        .and_then(|labels| labels.get(key))
        .map(String::as_str)
}

fn is_named(container: &ContainerSummary, name: &str) -> bool {
    container
        .names
        .iter()
        .flatten()
        .any(|n| n.trim_start_matches('/') == name)
}

fn retained_name(app: &str, container: &ContainerSummary) -> String {
    naming::retained(
        app,
        label(container, naming::RELEASE).unwrap_or_default(),
        label(container, naming::DEPLOYMENT)
            .or(container.id.as_deref())
            .unwrap_or_default(),
    )
}

fn slot_of(container: &ContainerSummary) -> &'static str {
    match label(container, naming::SLOT) {
        Some("blue") => Slot::Blue.name(),
        _ => Slot::Green.name(),
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A running container as the flow sees it; none without a published port.
fn instance(container: &ContainerSummary) -> Option<Instance> {
    let port: u16 = label(container, naming::PORT)?.parse().ok()?;
    let published = container
        .ports
        .iter()
        .flatten()
        .find(|p| p.private_port == port && p.public_port.is_some())?;
    let host = match published.ip.as_deref() {
        Some("") | Some("0.0.0.0") | None => "127.0.0.1",
        Some(ip) => ip,
    };
    Some(Instance {
        id: short(container.id.as_deref()?).to_string(),
        endpoint: format!("{host}:{}", published.public_port?),
        deployment: label(container, naming::DEPLOYMENT)?.to_string(),
        attempt: label(container, naming::ATTEMPT)?.parse().ok()?,
        release: label(container, naming::RELEASE)?.to_string(),
    })
}
