#!/usr/bin/env python3
"""Checks deploy/: the Kubernetes manifests parse and agree with each service's configuration
(variables from `<service> env`, admin port, consumer group, input topic), and the Prometheus
rules and Grafana dashboard parse and name only metrics the services export.

    python3 deploy/check_manifests.py BIN_DIR    (BIN_DIR holds the built service binaries)
"""
import glob, json, os, re, subprocess, sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = {  # service -> (group variable, input topic suffix, metric prefixes)
    "ingest": ("INGEST_GROUP_ID", "touchpoints.raw.v1", ["ingest"]),
    "enricher": ("ENRICHER_GROUP_ID", "touchpoints.valid.v1", ["enricher"]),
    "attributor": ("ATTRIBUTOR_GROUP_ID", "touchpoints.enriched.v1", ["attributor"]),
    "risk": ("RISK_ROUTER_GROUP_ID", "attributions.v1", ["risk", "risk_router"]),
    "ledger-writer": ("LEDGER_GROUP_ID", "commissions.v1", ["ledger", "ledger_analytics"]),
    "webhooks": ("WEBHOOKS_ROUTER_GROUP_ID", "ledger.entries.v1", ["webhooks_router", "webhooks_dispatcher"]),
    "trust": ("TRUST_ROUTER_GROUP_ID", "touchpoints.enriched.v1", ["trust_router", "trust_scorer"]),
}
# Prefixes of the services' stateful-harness metrics (`service.stateful(..., prefix, ...)`).
STATEFUL_PREFIXES = ["enricher", "attributor", "risk", "ledger", "webhooks", "trust"]
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


def env_table(binary):
    """Variable name -> default, from the markdown table `<service> env` prints."""
    out = subprocess.run([binary, "env"], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        cells = [c.strip().strip("`") for c in line.split("|")[1:-1]]
        if len(cells) >= 3 and cells[0] not in ("Variable", "---"):
            table[cells[0]] = cells[1]
    return table


def known_metrics():
    names = set()
    for path in glob.glob(os.path.join(ROOT, "*", "src", "metrics.rs")):
        names |= set(re.findall(r'"([a-z][a-z0-9_]+)"', open(path).read()))
    plumbing = {n for n in re.findall(r'"([a-z_]+)"', open(os.path.join(ROOT, "runtime/src/metrics.rs")).read())}
    for prefixes in (p for _, _, p in SERVICES.values()):
        for prefix in prefixes:
            names |= {f"{prefix}_{n}" for n in plumbing}
    # The stateful harness names its metrics after the service: `<prefix>_state_bytes`, ...
    harness = re.findall(r'format!\("\{prefix\}(_[a-z_]+)"', open(os.path.join(ROOT, "runtime/src/stateful.rs")).read())
    for prefix in STATEFUL_PREFIXES:
        names |= {prefix + suffix for suffix in harness}
    # The reference follower's metrics are named after the service that follows the topic.
    follower = re.findall(r'name\("([a-z_]+)"\)', open(os.path.join(ROOT, "reference/src/follow.rs")).read())
    for service in ("enricher", "attributor", "risk", "collector", "webhooks", "trust"):
        names |= {f"{service}_{n}" for n in follower}
    # Start-up metrics are named after the service itself: `ledger_writer_kafka_waiting`, ...
    startup = re.findall(r'metric\(\s*"([a-z_]+)"', open(os.path.join(ROOT, "runtime/src/service.rs")).read())
    for service in SERVICES:
        names |= {f"{service.replace('-', '_')}_{n}" for n in startup}
    return names


def metric_names(expr):
    """Metric names an expression uses: plain names and `__name__=~"(a|b)_suffix"` expansions."""
    found = set()
    for alternatives, suffix in re.findall(r'__name__=~"\(([a-z_|]+)\)(_[a-z_]+)"', expr):
        found |= {a + suffix for a in alternatives.split("|")}
    for name in re.findall(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+_(?:total|messages|bytes|seconds|entries))\b", expr):
        found.add(name)
    return found


def pod_specs(doc):
    """The pod specs a workload makes (Deployment, CronJob, Job)."""
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [doc["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def restricted_problems(pod):
    """What keeps a pod spec from the Kubernetes "restricted" Pod Security Standard
    (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted)."""
    found = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            found.append(f"{field} is set")
    pod_sc = pod.get("securityContext", {})
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= allowed_volumes:
            found.append(f"volume {volume['name']} is of a kind restricted pods may not use: {kinds - allowed_volumes}")
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        sc = c.get("securityContext", {})
        name = c["name"]
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities", {})
        if caps.get("drop") != ["ALL"]:
            found.append(f"{name}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities")
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot is not set")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{name}: runs as user 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        if any("hostPort" in p for p in c.get("ports", [])):
            found.append(f"{name}: hostPort")
    return found


def main(bin_dir):
    docs = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "deploy/kubernetes/*.yaml"))):
        try:
            docs[os.path.basename(path)] = [d for d in yaml.safe_load_all(open(path)) if d]
        except yaml.YAMLError as e:
            problems.append(f"{path}: does not parse: {e}")
    shared = None
    all_vars = set()
    for service, (group_var, topic_suffix, _) in SERVICES.items():
        table = env_table(os.path.join(bin_dir, service))
        all_vars |= set(table)
        shared = set(table) if shared is None else shared & set(table)
        items = {(d["kind"], d["metadata"]["name"]): d for d in docs.get(f"{service}.yaml", [])}
        check(items, f"{service}.yaml is missing")
        if not items:
            continue
        config = items.get(("ConfigMap", f"attrib-{service}"), {}).get("data", {})
        for key in config:
            check(key in table, f"{service}.yaml: ConfigMap sets {key}, which `{service} env` does not read")
        port = int(table["ADMIN_LISTEN_ADDR"].rsplit(":", 1)[1])
        check(config.get("ADMIN_LISTEN_ADDR") == f"0.0.0.0:{port}", f"{service}.yaml: ADMIN_LISTEN_ADDR should be 0.0.0.0:{port}")
        deployment = items.get(("Deployment", service))
        check(deployment, f"{service}.yaml: no Deployment named {service}")
        if deployment:
            pod = deployment["spec"]["template"]
            check(pod["metadata"]["annotations"].get("prometheus.io/port") == str(port), f"{service}.yaml: scrape port is not {port}")
            containers = pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
            for c in pod["spec"]["containers"]:
                check({"name": "admin", "containerPort": port} in c["ports"], f"{service}.yaml: container port admin is not {port}")
                check(c["livenessProbe"]["httpGet"] == {"path": "/_liveness", "port": "admin"}, f"{service}.yaml: liveness probe")
                check(c["readinessProbe"]["httpGet"] == {"path": "/_readiness", "port": "admin"}, f"{service}.yaml: readiness probe")
                check("limits" in c["resources"] and "requests" in c["resources"], f"{service}.yaml: resources")
            for c in containers:
                refs = [e.get("configMapRef", {}).get("name") for e in c.get("envFrom", [])]
                check("attrib-common" in refs and f"attrib-{service}" in refs, f"{service}.yaml: {c['name']} lacks envFrom of its ConfigMaps")
            drain_s = int(table["SHUTDOWN_DRAIN_TIMEOUT_MS"]) / 1000
            check(pod["spec"]["terminationGracePeriodSeconds"] > drain_s, f"{service}.yaml: grace period must exceed the drain timeout")
        svc = items.get(("Service", service))
        check(svc and svc["spec"]["ports"][0]["port"] == port, f"{service}.yaml: Service port is not {port}")
        scaled = items.get(("ScaledObject", service))
        check(scaled, f"{service}.yaml: no ScaledObject")
        if scaled:
            trigger = scaled["spec"]["triggers"][0]["metadata"]
            group = config.get(group_var, table[group_var])
            check(trigger["consumerGroup"] == group, f"{service}.yaml: KEDA watches group {trigger['consumerGroup']}, the service uses {group}")
            common = next(d for d in docs["common.yaml"] if d["kind"] == "ConfigMap")["data"]
            check(trigger["topic"] == f"{common['TOPIC_NAMESPACE']}.{topic_suffix}", f"{service}.yaml: KEDA topic {trigger['topic']}")
            check(scaled["spec"]["maxReplicaCount"] <= int(common["KAFKA_TOPIC_PARTITIONS"]), f"{service}.yaml: more replicas than partitions")
    common = next(d for d in docs.get("common.yaml", []) if d["kind"] == "ConfigMap")["data"]
    for key in common:
        check(key in shared, f"common.yaml sets {key}, which not every service reads")
    # One Secret per service, required, holding only variables that service reads.
    secrets = {d["metadata"]["name"]: d for d in docs.get("secrets.example.yaml", []) if d["kind"] == "Secret"}
    for service in SERVICES:
        table = env_table(os.path.join(bin_dir, service))
        name = f"attrib-{service}-secrets"
        check(name in secrets, f"secrets.example.yaml has no Secret {name}")
        for key in secrets.get(name, {}).get("stringData", {}):
            known = key in table or (key.startswith("KAFKA_PROP_") and "KAFKA_PROP_<NAME>" in table)
            check(known, f"{name} sets {key}, which `{service} env` does not read")
        for doc in docs.get(f"{service}.yaml", []):
            for pod in pod_specs(doc):
                for c in pod.get("containers", []) + pod.get("initContainers", []):
                    refs = [e["secretRef"] for e in c.get("envFrom", []) if "secretRef" in e]
                    check(refs == [{"name": name}], f"{service}.yaml: {c['name']} must read exactly its own required Secret {name}, not {refs}")
        pdbs = [d for d in docs.get(f"{service}.yaml", []) if d["kind"] == "PodDisruptionBudget"]
        check(len(pdbs) == 1 and pdbs[0]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": service},
              f"{service}.yaml: needs one PodDisruptionBudget selecting its pods")

    # The "restricted" Pod Security Standard, for every pod the manifests make.
    namespace = next((d for d in docs.get("namespace.yaml", []) if d["kind"] == "Namespace"), None)
    check(namespace and namespace["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted",
          "namespace.yaml must enforce the restricted Pod Security Standard")
    for file, file_docs in docs.items():
        for doc in file_docs:
            for pod in pod_specs(doc):
                for problem in restricted_problems(pod):
                    problems.append(f"{file}: {doc['kind']} {doc['metadata']['name']}: {problem}")

    # Every pod carries the label the network policies select (DNS, Kafka, scrapes): a pod
    # without it is cut off by default-deny; every Secret a pod reads exists.
    for file, file_docs in docs.items():
        for doc in file_docs:
            kind = doc.get("kind")
            template = (doc["spec"]["template"] if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job")
                        else doc["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else None)
            if template is None:
                continue
            labels = template.get("metadata", {}).get("labels", {})
            check(labels.get("app.kubernetes.io/part-of") == "attrib",
                  f"{file}: {kind} {doc['metadata']['name']}: pods lack app.kubernetes.io/part-of: attrib (the network policies would cut them off)")
            for c in template["spec"].get("containers", []) + template["spec"].get("initContainers", []):
                for e in c.get("envFrom", []):
                    if "secretRef" in e:
                        check(e["secretRef"]["name"] in secrets, f"{file}: {c['name']} reads Secret {e['secretRef']['name']}, which secrets.example.yaml does not define")
    # The HTTP edges (partner API, collector): not consumers (no KEDA), but probes, ports and
    # config like the services, each reading exactly its own Secret.
    for name, listen_var in (("partner-api", "PARTNER_API_LISTEN_ADDR"), ("collector", "COLLECTOR_LISTEN_ADDR")):
        table = env_table(os.path.join(bin_dir, name))
        edge = {(d["kind"], d["metadata"]["name"]): d for d in docs.get(f"{name}.yaml", [])}
        config = edge.get(("ConfigMap", f"attrib-{name}"), {}).get("data", {})
        for key in config:
            check(key in table, f"{name}.yaml: ConfigMap sets {key}, which `{name} env` does not read")
        for key in secrets.get(f"attrib-{name}-secrets", {}).get("stringData", {}):
            known = key in table or (key.startswith("KAFKA_PROP_") and "KAFKA_PROP_<NAME>" in table)
            check(known, f"attrib-{name}-secrets sets {key}, which `{name} env` does not read")
        deployment = edge.get(("Deployment", name))
        check(deployment, f"{name}.yaml: no Deployment named {name}")
        if deployment:
            c = deployment["spec"]["template"]["spec"]["containers"][0]
            api_port = int(config.get(listen_var, "0:0").rsplit(":", 1)[1])
            admin_port = int(config.get("ADMIN_LISTEN_ADDR", "0:0").rsplit(":", 1)[1])
            check({"name": "api", "containerPort": api_port} in c["ports"] and {"name": "admin", "containerPort": admin_port} in c["ports"],
                  f"{name}.yaml: container ports must match {listen_var} and ADMIN_LISTEN_ADDR")
            check(c["livenessProbe"]["httpGet"] == {"path": "/_liveness", "port": "admin"} and c["readinessProbe"]["httpGet"] == {"path": "/_readiness", "port": "admin"},
                  f"{name}.yaml: probes on the admin port")
            refs = [e.get("secretRef", {}).get("name") for e in c["envFrom"] if "secretRef" in e]
            check(refs == [f"attrib-{name}-secrets"], f"{name}.yaml: must read exactly its own Secret")
        check(("PodDisruptionBudget", name) in edge, f"{name}.yaml: no PodDisruptionBudget")
    refresh = next((d for d in docs.get("reference.yaml", []) if d.get("kind") == "CronJob"), None)
    check(refresh and refresh["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0] == "refresh",
          "reference.yaml: no CronJob running `reference refresh` (the reference topic's retention would take the catalogue)")

    # Network: deny by default, then only what the services need.
    policies = {d["metadata"]["name"]: d for d in docs.get("network-policies.yaml", []) if d["kind"] == "NetworkPolicy"}
    deny = policies.get("default-deny", {}).get("spec", {})
    check(deny.get("podSelector") == {} and set(deny.get("policyTypes", [])) == {"Ingress", "Egress"},
          "network-policies.yaml: no default-deny of ingress and egress for every pod")
    for needed in ("allow-dns", "allow-kafka", "ledger-writer-to-clickhouse", "allow-metrics-scrape"):
        check(needed in policies, f"network-policies.yaml has no {needed}")

    kustomization = docs["kustomization.yaml"][0]
    for resource in kustomization["resources"]:
        check(os.path.exists(os.path.join(ROOT, "deploy/kubernetes", resource)), f"kustomization lists missing {resource}")

    metrics = known_metrics()
    yaml.safe_load(open(os.path.join(ROOT, "deploy/prometheus/prometheus.yml")))
    rules = yaml.safe_load(open(os.path.join(ROOT, "deploy/prometheus/alerts.yml")))
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    for needed in ("ConsumerLagHigh", "DeadLetterRateHigh", "RiskLevelCritical", "LedgerReconciliationFailed"):
        check(needed in alerts, f"alerts.yml has no {needed}")
    exprs = [r["expr"] for r in alerts.values()]
    dashboard = json.load(open(os.path.join(ROOT, "deploy/grafana/attrib-pipeline.json")))
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for expr in exprs:
        for name in metric_names(expr):
            base = re.sub(r"_bucket$", "", name)
            check(base in metrics or name.startswith("kube_"), f"{name} (in {expr!r}) is not a metric any service exports")
    for p in problems:
        print("problem:", p)
    print(f"checked {sum(len(d) for d in docs.values())} manifests, {len(alerts)} alerts, {len(dashboard['panels'])} panels: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
