// Offline checks of the rendered Kubernetes manifests of metrics-analyzer.
//
//   node validate.mjs --binary PATH --base FILE [--ingress FILE] [--monitoring FILE]
//   node validate.mjs --binary PATH --base FILE --self-test
//
// FILEs are `kubectl kustomize` outputs (check-manifests.sh renders them). Every object
// is checked three ways:
//   1. schema: the JSON schema of its apiVersion/kind from kubernetes-models (Kubernetes
//      OpenAPI) or @kubernetes-models/prometheus-operator (CRDs): types, enums, required
//      fields. An apiVersion/kind neither package knows is an error.
//   2. unknown fields: Kubernetes' schemas allow any extra field (the API server drops
//      it, or rejects it under strict field validation), so a typo like `readinessprobe`
//      passes (1). The packages' TypeScript declarations list every field: each field of
//      the object must be declared there (via the TypeScript compiler's type checker).
//   3. invariants of this deployment (probes, securityContext, HPA target, selectors,
//      env vars the binary reads, image policy, grace period, monitoring wiring), and the
//      service's resolved environment is handed to the real binary, which must accept it
//      (an invalid value makes it exit 2 at once, as it would crash-loop in a pod).
// --self-test instead breaks the base (and synthetic monitoring objects) in several ways
// and asserts that each break is reported, so a validator that accepts everything fails.
// Exit status: 0 all good, 1 a check failed, 2 usage error.

import { readFileSync } from "node:fs";
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import YAML from "yaml";
import ts from "typescript";

const require = createRequire(import.meta.url);

// ------------------------------------------------------------------ arguments
function usage(code) {
  (code ? console.error : console.log)(
    "usage: node validate.mjs --binary PATH --base FILE [--ingress FILE] [--monitoring FILE] [--self-test]");
  process.exit(code);
}
const args = { self: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const next = () => (i + 1 < process.argv.length ? process.argv[++i] : usage(2));
  if (a === "--binary") args.binary = next();
  else if (a === "--base") args.base = next();
  else if (a === "--ingress") args.ingress = next();
  else if (a === "--monitoring") args.monitoring = next();
  else if (a === "--self-test") args.self = true;
  else if (a === "-h" || a === "--help") usage(0);
  else { console.error(`unknown argument ${a}`); usage(2); }
}
if (!args.binary || !args.base) usage(2);

// ------------------------------------------------------- what the binary reads
// `metrics-analyzer --help` lists every option as "  --flag (VARIABLE)" followed by a
// description line ending in "[default: ...]".
function binaryOptions(binary) {
  const text = execFileSync(binary, ["--help"], { encoding: "utf8" });
  const vars = new Map();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s+--[a-z0-9-]+ \(([A-Z][A-Z0-9_]*)\)\s*$/.exec(lines[i]);
    if (!m) continue;
    const d = /\[default: (.*)\]\s*$/.exec(lines[i + 1] || "");
    vars.set(m[1], d ? d[1] : undefined);
  }
  if (vars.size < 10) throw new Error(`${binary} --help lists only ${vars.size} variables; format changed?`);
  return vars;
}
const BINARY_VARS = binaryOptions(args.binary);

// --------------------------------------------------------------- YAML input
function parseDocs(text, source) {
  const docs = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${source}: YAML: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj !== null && obj !== undefined) docs.push(obj);
  }
  return docs;
}
const readDocs = (file) => parseDocs(readFileSync(file, "utf8"), file);

// ------------------------------------------------------- 1. schema (models)
function modelSpecifier(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  const parts = apiVersion.split("/");
  if (parts.length === 1) return `kubernetes-models/${parts[0]}/${kind}`;
  if (parts.length !== 2) return null;
  if (parts[0] === "monitoring.coreos.com") return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}
const modelCache = new Map();
async function loadModel(apiVersion, kind) {
  const spec = modelSpecifier(apiVersion, kind);
  if (!spec) return null;
  if (!modelCache.has(spec)) {
    let model = null;
    try {
      const mod = await import(spec);
      model = mod[kind] ? { ctor: mod[kind], dts: require.resolve(spec).replace(/\.js$/, ".d.ts"), kind } : null;
    } catch { model = null; }
    modelCache.set(spec, model);
  }
  return modelCache.get(spec);
}

// ----------------------------------------------- 2. unknown fields (TypeScript)
let tsChecker = null;
let tsProgram = null;
const tsRoots = new Set();
function ensureProgram(dtsFiles) {
  let grew = false;
  for (const f of dtsFiles) if (!tsRoots.has(f)) { tsRoots.add(f); grew = true; }
  if (!grew && tsChecker) return;
  tsProgram = ts.createProgram([...tsRoots], {
    noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
  }, undefined, tsProgram ?? undefined);
  tsChecker = tsProgram.getTypeChecker();
}
function rootType(model) {
  const sf = tsProgram.getSourceFile(model.dts);
  if (!sf) return null;
  for (const st of sf.statements) {
    if (ts.isInterfaceDeclaration(st) && st.name.text === `I${model.kind}`) return tsChecker.getTypeAtLocation(st.name);
  }
  return null;
}
const typeOfProp = (sym) => tsChecker.getNonNullableType(tsChecker.getTypeOfSymbol(sym));
function unknownFields(value, type, where, out) {
  if (value === null || typeof value !== "object") return;
  type = tsChecker.getNonNullableType(type);
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  const members = type.isUnion() ? type.types : [type];
  if (Array.isArray(value)) {
    const arr = members.find((t) => t.symbol && (t.symbol.name === "Array" || t.symbol.name === "ReadonlyArray"));
    if (!arr) return; // a type mismatch, reported by the schema check
    const elem = tsChecker.getTypeArguments(arr)[0];
    value.forEach((v, i) => unknownFields(v, elem, `${where}[${i}]`, out));
    return;
  }
  const objects = members.filter((t) => t.flags & ts.TypeFlags.Object && !(t.symbol && t.symbol.name === "Array"));
  if (!objects.length) return;
  const props = new Map();
  let index = null;
  for (const t of objects) {
    for (const p of tsChecker.getPropertiesOfType(t)) props.set(p.name, p);
    const info = tsChecker.getIndexInfoOfType(t, ts.IndexKind.String);
    if (info) index = info.type;
  }
  if (!props.size && !index) return; // `{}`: x-kubernetes-preserve-unknown-fields
  for (const key of Object.keys(value)) {
    const p = props.get(key);
    if (p) unknownFields(value[key], typeOfProp(p), `${where}.${key}`, out);
    else if (index) unknownFields(value[key], index, `${where}.${key}`, out);
    else out.push(`${where}.${key}: unknown field (not in the ${objects.map((t) => tsChecker.typeToString(t)).join(" | ").slice(0, 60)} schema)`);
  }
}

async function schemaCheck(docs, report) {
  const models = [];
  for (const obj of docs) {
    const id = objId(obj);
    const model = await loadModel(obj.apiVersion, obj.kind);
    if (!model) { report(id, `unknown apiVersion/kind ${obj.apiVersion}/${obj.kind}: no schema to validate against`); models.push(null); continue; }
    try { new model.ctor(obj).validate(); } catch (e) { report(id, `schema: ${String(e.message || e).split("\n").join("; ")}`); }
    models.push(model);
  }
  ensureProgram(models.filter(Boolean).map((m) => m.dts));
  docs.forEach((obj, i) => {
    if (!models[i]) return;
    const root = rootType(models[i]);
    if (!root) { report(objId(obj), `no TypeScript declaration I${models[i].kind} in ${models[i].dts}`); return; }
    const found = [];
    unknownFields(obj, root, "", found);
    for (const f of found) report(objId(obj), f.replace(/^\./, ""));
  });
}

// ---------------------------------------------------------------- helpers
function objId(o) {
  const name = o && o.metadata && o.metadata.name;
  return `${o && o.kind}/${name || "?"}`;
}
const byKind = (docs, kind) => docs.filter((d) => d.kind === kind);
const find = (docs, kind, name) => docs.find((d) => d.kind === kind && d.metadata && d.metadata.name === name);
function selectorMatches(sel, labels) {
  if (!sel) return false;
  labels = labels || {};
  const ml = sel.matchLabels || {};
  const me = sel.matchExpressions || [];
  if (!Object.keys(ml).length && !me.length) return true;
  for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
  for (const e of me) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}
const mapSelectorMatches = (sel, labels) =>
  !!sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => (labels || {})[k] === v);
const podTemplates = (docs) => docs
  .filter((d) => ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(d.kind))
  .map((d) => ({ owner: d, template: d.spec && d.spec.template }))
  .filter((p) => p.template);
const allContainers = (podSpec) => [...(podSpec.initContainers || []), ...(podSpec.containers || [])];
const imageName = (image) => String(image).replace(/@.*$/, "").replace(/:[^:/]*$/, "").split("/").pop();
function decodeSecret(secret) {
  const out = {};
  for (const [k, v] of Object.entries(secret.data || {})) out[k] = Buffer.from(String(v), "base64").toString("utf8");
  for (const [k, v] of Object.entries(secret.stringData || {})) out[k] = String(v);
  return out;
}

// The service's environment as the kubelet would build it: envFrom in order, then env
// (which wins). Returns { env, sources } where sources[name] says where it came from.
function resolveEnv(docs, container, report, id) {
  const env = {};
  const sources = {};
  for (const src of container.envFrom || []) {
    const prefix = src.prefix || "";
    const ref = src.configMapRef || src.secretRef;
    const kind = src.configMapRef ? "ConfigMap" : "Secret";
    const obj = ref && find(docs, kind, ref.name);
    if (!obj) { if (!(ref && ref.optional)) report(id, `envFrom ${kind} ${ref && ref.name} is not in the rendered manifests`); continue; }
    const data = kind === "Secret" ? decodeSecret(obj) : { ...(obj.data || {}) };
    for (const [k, v] of Object.entries(data)) { env[prefix + k] = String(v); sources[prefix + k] = `${kind} ${ref.name}`; }
  }
  for (const e of container.env || []) {
    if ("value" in e) { env[e.name] = String(e.value); sources[e.name] = "env"; continue; }
    const vf = e.valueFrom || {};
    const ref = vf.configMapKeyRef || vf.secretKeyRef;
    if (ref) {
      const kind = vf.configMapKeyRef ? "ConfigMap" : "Secret";
      const obj = find(docs, kind, ref.name);
      const data = obj ? (kind === "Secret" ? decodeSecret(obj) : obj.data || {}) : null;
      if (!data || !(ref.key in data)) {
        if (!ref.optional) report(id, `env ${e.name}: ${kind} ${ref.name} key ${ref.key} is not in the rendered manifests`);
        continue;
      }
      env[e.name] = String(data[ref.key]);
      sources[e.name] = `${kind} ${ref.name}`;
    } else if (vf.fieldRef) { env[e.name] = "metrics-analyzer-pod-0"; sources[e.name] = "fieldRef"; }
    else if (vf.resourceFieldRef) { env[e.name] = "1"; sources[e.name] = "resourceFieldRef"; }
    else { env[e.name] = ""; sources[e.name] = "env"; }
  }
  return { env, sources };
}
const setting = (env, name) => (name in env ? env[name] : BINARY_VARS.get(name));

// The binary must accept the configuration: started with it (on a free loopback port),
// it either exits 2 at once naming the bad variable, or keeps running. Still running
// after 1.5 s means accepted; then SIGKILL (a graceful stop would wait for the Redis
// restore of an unreachable REDIS_ADDR) and wait for the exit, so nothing outlives us.
function runBinaryWithEnv(env) {
  return new Promise((resolve) => {
    const child = spawn(args.binary, [], {
      env: { PATH: process.env.PATH || "/usr/bin:/bin", ...env, PORT: "0", BIND_ADDR: "127.0.0.1", SHUTDOWN_DELAY_MS: "0", LOG_LEVEL: "error" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let settled = false;
    child.stderr.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => { settled = true; child.kill("SIGKILL"); }, 1500);
    child.on("exit", (code, signal) => {
      if (settled) { resolve({ ok: true }); return; }
      clearTimeout(timer);
      resolve({ ok: false, detail: `exited with ${code ?? signal} at startup: ${stderr.trim().split("\n").slice(-2).join(" | ")}` });
    });
  });
}

// ----------------------------------------------------------- 3. invariants
const BUILTIN_GROUPS = new Set(["v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1", "batch/v1", "rbac.authorization.k8s.io/v1"]);

async function checkBase(docs, report, { runBinary }) {
  // The base must apply on any cluster: built-in APIs only, no prometheus-operator CRDs.
  for (const d of docs) if (!BUILTIN_GROUPS.has(d.apiVersion)) report(objId(d), `the base uses ${d.apiVersion}: only built-in APIs (monitoring objects belong in deploy/k8s/monitoring)`);

  // The service Deployment: the one running the metrics-analyzer image.
  const deployments = byKind(docs, "Deployment").filter((d) =>
    allContainers(d.spec.template.spec).some((c) => imageName(c.image) === "metrics-analyzer"));
  if (deployments.length !== 1) { report("base", `expected one Deployment running the metrics-analyzer image, found ${deployments.length}`); return; }
  const dep = deployments[0];
  const id = objId(dep);
  const pod = dep.spec.template.spec;
  const podLabels = dep.spec.template.metadata && dep.spec.template.metadata.labels;
  const c = pod.containers.find((x) => imageName(x.image) === "metrics-analyzer");
  if (!selectorMatches(dep.spec.selector, podLabels)) report(id, "spec.selector does not match the pod template's labels");
  if (!(dep.spec.replicas >= 2)) report(id, `replicas ${dep.spec.replicas}: expected at least 2`);

  // Environment: every variable set is one the binary reads.
  const { env, sources } = resolveEnv(docs, c, report, id);
  for (const name of Object.keys(env)) {
    if (!BINARY_VARS.has(name)) report(id, `env ${name} (from ${sources[name]}) is not a variable metrics-analyzer reads (see --help)`);
  }
  for (const cm of [...byKind(docs, "ConfigMap"), ...byKind(docs, "Secret")]) {
    const keys = cm.kind === "Secret" ? Object.keys(decodeSecret(cm)) : Object.keys(cm.data || {});
    for (const k of keys) if (!BINARY_VARS.has(k)) report(objId(cm), `key ${k} is not a variable metrics-analyzer reads (see --help)`);
    if (cm.binaryData) report(objId(cm), "binaryData: keys must be environment variables");
  }
  if (env.WINDOW_SCOPE !== undefined && !["instance", "shared"].includes(env.WINDOW_SCOPE)) report(id, `WINDOW_SCOPE=${env.WINDOW_SCOPE}: expected instance or shared`);
  if (env.WINDOW_SCOPE === "shared" && !env.REDIS_ADDR) report(id, "WINDOW_SCOPE=shared needs REDIS_ADDR");
  if (setting(env, "LOG_FORMAT") !== "json") report(id, `LOG_FORMAT=${setting(env, "LOG_FORMAT")}: expected json in the cluster`);

  // Port: the named port http is the port the binary listens on.
  const port = Number(setting(env, "PORT"));
  const http = (c.ports || []).find((p) => p.name === "http");
  if (!http) report(id, "container has no port named http");
  else if (http.containerPort !== port) report(id, `port http is ${http.containerPort} but the binary listens on PORT=${port}`);

  // Probes.
  const probe = (name, path) => {
    const p = c[name];
    if (!p || !p.httpGet) { report(id, `${name}: expected an httpGet probe on ${path}`); return; }
    if (p.httpGet.path !== path) report(id, `${name}: path ${p.httpGet.path}, expected ${path}`);
    if (p.httpGet.port !== "http") report(id, `${name}: port ${p.httpGet.port}, expected the named port http`);
  };
  probe("livenessProbe", "/health");
  probe("readinessProbe", "/ready");
  probe("startupProbe", "/health");

  // Resources: the HPA needs a cpu request; memory request and limit from measurements.
  const res = c.resources || {};
  for (const [k, where] of [["cpu", "requests"], ["memory", "requests"], ["memory", "limits"]]) {
    if (!(res[where] && res[where][k])) report(id, `resources.${where}.${k} is not set`);
  }

  // Security: the service runs as uid 10001, non-root, read-only root, no capabilities.
  const psc = pod.securityContext || {};
  const csc = c.securityContext || {};
  const eff = (k) => (k in csc ? csc[k] : psc[k]);
  if (eff("runAsNonRoot") !== true) report(id, "runAsNonRoot is not true");
  if (eff("runAsUser") !== 10001) report(id, `runAsUser ${eff("runAsUser")}, expected 10001 (the image's user)`);

  // Grace period: longer than the shutdown delay plus the drain bound.
  const delay = Number(setting(env, "SHUTDOWN_DELAY_MS"));
  const timeout = Number(setting(env, "SHUTDOWN_TIMEOUT_MS"));
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (!(delay > 0)) report(id, `SHUTDOWN_DELAY_MS=${delay}: expected a few seconds so endpoints update before draining`);
  if (!(grace > (delay + timeout) / 1000)) report(id, `terminationGracePeriodSeconds ${grace} is not above (SHUTDOWN_DELAY_MS ${delay} + SHUTDOWN_TIMEOUT_MS ${timeout}) / 1000`);

  // Service: selects the pods, named port http -> the container's http port, and the
  // label the ServiceMonitor selects.
  const services = byKind(docs, "Service").filter((s) => mapSelectorMatches(s.spec.selector, podLabels));
  const svc = services.find((s) => (s.spec.ports || []).some((p) => p.name === "http"));
  if (!svc) report(id, "no Service with a port named http selects the pod template's labels");
  else {
    const sp = svc.spec.ports.find((p) => p.name === "http");
    if (sp.targetPort !== "http" && sp.targetPort !== port) report(objId(svc), `port http targets ${sp.targetPort}, not the container port http`);
    if ((svc.metadata.labels || {})["app.kubernetes.io/name"] !== "metrics-analyzer") report(objId(svc), "missing label app.kubernetes.io/name: metrics-analyzer (selected by the ServiceMonitor)");
  }

  // HPA on the Deployment's rendered name, CPU-based, with a scale-down window.
  const hpas = byKind(docs, "HorizontalPodAutoscaler");
  if (!hpas.length) report("base", "no HorizontalPodAutoscaler");
  for (const h of hpas) {
    const t = h.spec.scaleTargetRef || {};
    if (t.kind !== "Deployment" || t.apiVersion !== "apps/v1" || t.name !== dep.metadata.name) report(objId(h), `scaleTargetRef ${t.apiVersion}/${t.kind}/${t.name} is not the rendered Deployment apps/v1/Deployment/${dep.metadata.name}`);
    const cpu = (h.spec.metrics || []).find((m) => m.type === "Resource" && m.resource && m.resource.name === "cpu");
    if (!cpu || cpu.resource.target.type !== "Utilization" || !cpu.resource.target.averageUtilization) report(objId(h), "no CPU Utilization target");
    if (!(h.spec.minReplicas >= 2) || !(h.spec.maxReplicas >= h.spec.minReplicas)) report(objId(h), `min/max replicas ${h.spec.minReplicas}/${h.spec.maxReplicas}`);
    if (!(h.spec.behavior && h.spec.behavior.scaleDown && h.spec.behavior.scaleDown.stabilizationWindowSeconds > 0)) report(objId(h), "no scale-down stabilization window");
  }

  // PodDisruptionBudget on the service's pods.
  const pdbs = byKind(docs, "PodDisruptionBudget").filter((p) => selectorMatches(p.spec.selector, podLabels));
  if (!pdbs.length) report("base", "no PodDisruptionBudget selects the service's pods");

  // Every pod: explicit pull policy, pinned tag, hardened securityContext, volumes and
  // references that exist in the rendering.
  for (const { owner, template } of podTemplates(docs)) {
    const ps = template.spec;
    const oid = objId(owner);
    if (!selectorMatches(owner.spec.selector, template.metadata && template.metadata.labels)) report(oid, "spec.selector does not match the pod template's labels");
    const psc2 = ps.securityContext || {};
    if (!psc2.seccompProfile || psc2.seccompProfile.type !== "RuntimeDefault") report(oid, "pod securityContext.seccompProfile is not RuntimeDefault");
    for (const ct of allContainers(ps)) {
      const cid = `${oid} container ${ct.name}`;
      const sc = ct.securityContext || {};
      if (!ct.imagePullPolicy) report(cid, "imagePullPolicy is not explicit");
      const img = String(ct.image || "");
      const tagged = /@sha256:/.test(img) || /:[^:/]+$/.test(img);
      if (!tagged || /:latest$/.test(img)) report(cid, `image ${img}: pin a tag, never :latest`);
      if (imageName(img) === "metrics-analyzer" && ct.imagePullPolicy !== "IfNotPresent") report(cid, "imagePullPolicy must be IfNotPresent (image loaded into the cluster, not pulled)");
      if (((k) => (k in sc ? sc[k] : psc2[k]))("runAsNonRoot") !== true) report(cid, "runAsNonRoot is not true");
      if (sc.allowPrivilegeEscalation !== false) report(cid, "allowPrivilegeEscalation is not false");
      if (sc.readOnlyRootFilesystem !== true) report(cid, "readOnlyRootFilesystem is not true");
      if (!(sc.capabilities && (sc.capabilities.drop || []).includes("ALL"))) report(cid, "capabilities.drop does not include ALL");
      if (sc.privileged === true) report(cid, "privileged");
      if (ct !== c) resolveEnv(docs, ct, report, cid); // references must exist
    }
    for (const v of ps.volumes || []) {
      if (v.persistentVolumeClaim && !find(docs, "PersistentVolumeClaim", v.persistentVolumeClaim.claimName)) report(oid, `volume ${v.name}: PVC ${v.persistentVolumeClaim.claimName} not in the manifests`);
      if (v.configMap && !find(docs, "ConfigMap", v.configMap.name)) report(oid, `volume ${v.name}: ConfigMap ${v.configMap.name} not in the manifests`);
      if (v.secret && !find(docs, "Secret", v.secret.secretName)) report(oid, `volume ${v.name}: Secret ${v.secret.secretName} not in the manifests`);
    }
  }

  // Every Service selects some pods; Redis is reachable only from the service's pods.
  for (const s of byKind(docs, "Service")) {
    if (!podTemplates(docs).some((p) => mapSelectorMatches(s.spec.selector, p.template.metadata.labels))) report(objId(s), "selects no pod template");
  }
  const redisAddr = setting(env, "REDIS_ADDR");
  if (redisAddr) {
    const [host, rport] = [redisAddr.replace(/:\d+$/, ""), Number(redisAddr.replace(/^.*:/, ""))];
    const rsvc = find(docs, "Service", host.split(".")[0]);
    if (!rsvc) report(id, `REDIS_ADDR=${redisAddr}: no Service ${host} in the manifests`);
    else {
      const redisPods = podTemplates(docs).filter((p) => mapSelectorMatches(rsvc.spec.selector, p.template.metadata.labels));
      const np = byKind(docs, "NetworkPolicy").find((n) => redisPods.some((p) => selectorMatches(n.spec.podSelector, p.template.metadata.labels)));
      if (!(rsvc.spec.ports || []).some((p) => p.port === rport)) report(objId(rsvc), `no port ${rport} (REDIS_ADDR=${redisAddr})`);
      if (!np) report("base", "no NetworkPolicy protects the Redis pods");
      else {
        const rules = np.spec.ingress || [];
        const ok = (np.spec.policyTypes || ["Ingress"]).includes("Ingress") && rules.length > 0 && rules.every((r) =>
          (r.from || []).length > 0 && r.from.every((f) => f.podSelector && !f.namespaceSelector && !f.ipBlock && selectorMatches(f.podSelector, podLabels)
            && !podTemplates(docs).some((p) => p.owner !== dep && selectorMatches(f.podSelector, p.template.metadata.labels)))
          && (r.ports || []).length > 0 && r.ports.every((p) => p.port === rport));
        if (!ok) report(objId(np), `must admit only the service's pods, only on ${rport}`);
      }
      if (setting(env, "REDIS_PASSWORD") === undefined) report(id, "REDIS_ADDR is set but REDIS_PASSWORD is not");
    }
  }

  if (runBinary) {
    const r = await runBinaryWithEnv(env);
    if (!r.ok) report(id, `metrics-analyzer rejects the Deployment's environment: ${r.detail}`);
  }
  return { dep, svc, podLabels };
}

function checkIngress(docs, base, report) {
  for (const ing of byKind(docs, "Ingress")) {
    for (const rule of ing.spec.rules || []) for (const p of (rule.http && rule.http.paths) || []) {
      const s = p.backend && p.backend.service;
      const svc = s && find(base, "Service", s.name);
      if (!svc) report(objId(ing), `backend Service ${s && s.name} is not in the base`);
      else if (!(svc.spec.ports || []).some((sp) => (s.port.name ? sp.name === s.port.name : sp.port === s.port.number))) report(objId(ing), `backend port ${JSON.stringify(s.port)} is not a port of Service ${s.name}`);
    }
  }
}

function checkMonitoring(docs, base, svc, report) {
  const sms = byKind(docs, "ServiceMonitor");
  const rules = byKind(docs, "PrometheusRule");
  if (!sms.length) report("monitoring", "no ServiceMonitor");
  if (!rules.length) report("monitoring", "no PrometheusRule");
  for (const sm of sms) {
    const id = objId(sm);
    if (!svc) { report(id, "no metrics-analyzer Service in the base to select"); continue; }
    if (!selectorMatches(sm.spec.selector, svc.metadata.labels)) report(id, `selector ${JSON.stringify(sm.spec.selector)} does not match the labels of Service ${svc.metadata.name}`);
    const portNames = (svc.spec.ports || []).map((p) => p.name);
    for (const ep of sm.spec.endpoints || []) {
      if (!ep.port || !portNames.includes(ep.port)) report(id, `endpoint port ${ep.port || ep.targetPort}: expected a named port of Service ${svc.metadata.name} (${portNames.join(", ")})`);
      if (ep.path && ep.path !== "/metrics") report(id, `endpoint path ${ep.path}: the service serves Prometheus text on /metrics`);
    }
    if (!(sm.spec.endpoints || []).length) report(id, "no endpoints");
  }
  for (const r of rules) {
    const groups = Array.isArray(r.spec && r.spec.groups) ? r.spec.groups : [];
    if (!groups.some((g) => (g.rules || []).length)) report(objId(r), "no rules");
    for (const g of groups) for (const rule of g.rules || []) {
      if (!String(rule.expr ?? "").trim()) report(objId(r), `group ${g.name}: rule ${rule.alert || rule.record} has an empty expr`);
    }
  }
  const dashboards = byKind(docs, "ConfigMap").filter((cm) => (cm.metadata.labels || {}).grafana_dashboard === "1");
  if (!dashboards.length) report("monitoring", 'no dashboard ConfigMap labelled grafana_dashboard: "1"');
  for (const cm of dashboards) {
    const jsons = Object.entries(cm.data || {}).filter(([k]) => k.endsWith(".json"));
    if (!jsons.length) report(objId(cm), "no *.json dashboard key");
    for (const [k, v] of jsons) {
      try {
        const d = JSON.parse(v);
        if (!Array.isArray(d.panels) || !d.panels.length) report(objId(cm), `${k}: dashboard has no panels`);
      } catch (e) { report(objId(cm), `${k}: not JSON (${e.message})`); }
    }
  }
  // The monitoring objects must not redefine the base's objects.
  for (const d of docs) if (find(base, d.kind, d.metadata && d.metadata.name)) report(objId(d), "also defined in the base");
}

// -------------------------------------------------------------- one full run
async function validateAll({ base, ingress, monitoring }, { runBinary = true } = {}) {
  const errors = [];
  const report = (where, msg) => errors.push(`${where}: ${msg}`);
  // Invariant checks read fields the schema check may just have reported as malformed;
  // a crash there is one more reported problem, not an abort.
  const guarded = async (what, fn) => {
    try { return await fn(); } catch (e) { report(what, `cannot check invariants of malformed objects (${e.message})`); return null; }
  };
  await schemaCheck(base, report);
  const ctx = await guarded("base", () => checkBase(base, report, { runBinary }));
  if (ingress) { await schemaCheck(ingress, report); await guarded("ingress", () => checkIngress(ingress, base, report)); }
  if (monitoring) { await schemaCheck(monitoring, report); await guarded("monitoring", () => checkMonitoring(monitoring, base, ctx && ctx.svc, report)); }
  return errors;
}

// ----------------------------------------------------------------- self-test
// A ServiceMonitor, PrometheusRule and dashboard like deploy/k8s/monitoring's, used when
// that folder does not exist yet, so the monitoring checks are exercised anyway.
const SYNTHETIC_MONITORING = `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: metrics-analyzer, labels: {app.kubernetes.io/name: metrics-analyzer}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: metrics-analyzer}}
  endpoints: [{port: http, path: /metrics, interval: 15s}]
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: metrics-analyzer}
spec:
  groups:
    - name: metrics-analyzer
      rules:
        - alert: MetricsAnalyzerDown
          expr: up{job="metrics-analyzer"} == 0
          for: 1m
---
apiVersion: v1
kind: ConfigMap
metadata: {name: metrics-analyzer-dashboard, labels: {grafana_dashboard: "1"}}
data:
  metrics-analyzer.json: '{"title": "metrics-analyzer", "panels": [{"type": "timeseries"}]}'
`;

async function selfTest(base, realMonitoring) {
  const clone = (x) => JSON.parse(JSON.stringify(x));
  const svcDep = (docs) => byKind(docs, "Deployment").find((d) => d.spec.template.spec.containers.some((c) => imageName(c.image) === "metrics-analyzer"));
  const svcC = (docs) => svcDep(docs).spec.template.spec.containers.find((c) => imageName(c.image) === "metrics-analyzer");
  const cmOf = (docs) => byKind(docs, "ConfigMap")[0];
  const mon = realMonitoring || parseDocs(SYNTHETIC_MONITORING, "synthetic monitoring");
  const cases = [
    ["schema: replicas is a string", "must be integer", (d) => { svcDep(d).spec.replicas = "two"; }],
    ["schema: bad imagePullPolicy enum", "allowed values", (d) => { svcC(d).imagePullPolicy = "Sometimes"; }],
    ["schema: missing containers", "required property", (d) => { delete svcDep(d).spec.template.spec.containers; }],
    ["unknown field: readinessprobe typo", "readinessprobe: unknown field", (d) => { const c = svcC(d); c.readinessprobe = c.readinessProbe; }],
    ["unknown field deep in securityContext", "runAsNonroot: unknown field", (d) => { svcC(d).securityContext.runAsNonroot = true; }],
    ["unknown apiVersion/kind", "unknown apiVersion/kind", (d) => { d.push({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }); }],
    ["CRD in the base", "only built-in APIs", (d) => { d.push(clone(mon.find((o) => o.kind === "ServiceMonitor") || parseDocs(SYNTHETIC_MONITORING, "s")[0])); }],
    ["liveness probe on /ready", "livenessProbe: path /ready", (d) => { svcC(d).livenessProbe.httpGet.path = "/ready"; }],
    ["readiness probe on a numeric port", "expected the named port http", (d) => { svcC(d).readinessProbe.httpGet.port = 8080; }],
    ["no startup probe", "startupProbe: expected", (d) => { delete svcC(d).startupProbe; }],
    ["no cpu request", "resources.requests.cpu", (d) => { delete svcC(d).resources.requests.cpu; }],
    ["runs as root", "runAsUser 0", (d) => { svcC(d).securityContext.runAsUser = 0; }],
    ["writable root filesystem", "readOnlyRootFilesystem", (d) => { svcC(d).securityContext.readOnlyRootFilesystem = false; }],
    ["capabilities kept", "capabilities.drop", (d) => { svcC(d).securityContext.capabilities.drop = ["NET_RAW"]; }],
    ["privilege escalation", "allowPrivilegeEscalation", (d) => { svcC(d).securityContext.allowPrivilegeEscalation = true; }],
    ["seccomp unconfined", "seccompProfile", (d) => { svcDep(d).spec.template.spec.securityContext.seccompProfile = { type: "Unconfined" }; }],
    ["HPA targets a wrong name", "scaleTargetRef", (d) => { byKind(d, "HorizontalPodAutoscaler")[0].spec.scaleTargetRef.name = "analyzer"; }],
    ["HPA without cpu", "no CPU Utilization", (d) => { byKind(d, "HorizontalPodAutoscaler")[0].spec.metrics[0].resource.name = "memory"; }],
    ["Service selector mismatch", "selects no pod template", (d) => { byKind(d, "Service").find((s) => s.metadata.name === "metrics-analyzer").spec.selector = { app: "other" }; }],
    ["ConfigMap key the binary does not read", "WINDOW_SIZ is not a variable", (d) => { cmOf(d).data.WINDOW_SIZ = "50"; }],
    ["env the binary does not read", "env LOGLEVEL", (d) => { svcC(d).env.push({ name: "LOGLEVEL", value: "debug" }); }],
    ["value the binary rejects", "rejects the Deployment's environment", (d) => { cmOf(d).data.WINDOW_SIZE = "1"; }],
    ["latest image", "never :latest", (d) => { svcC(d).image = "metrics-analyzer:latest"; }],
    ["untagged image", "pin a tag", (d) => { svcC(d).image = "metrics-analyzer"; }],
    ["implicit pull policy", "imagePullPolicy is not explicit", (d) => { delete svcC(d).imagePullPolicy; }],
    ["grace period too short", "terminationGracePeriodSeconds", (d) => { svcDep(d).spec.template.spec.terminationGracePeriodSeconds = 5; }],
    ["missing secret reference", "is not in the rendered manifests", (d) => { svcC(d).env.find((e) => e.valueFrom).valueFrom.secretKeyRef.name = "nope"; }],
    ["NetworkPolicy open to all pods", "must admit only the service's pods", (d) => { byKind(d, "NetworkPolicy")[0].spec.ingress[0].from = [{ podSelector: {} }]; }],
  ];
  const monCases = [
    ["ServiceMonitor selects other labels", "does not match the labels", (m) => { byKind(m, "ServiceMonitor")[0].spec.selector = { matchLabels: { "app.kubernetes.io/name": "other" } }; }],
    ["ServiceMonitor on an unnamed port", "endpoint port", (m) => { byKind(m, "ServiceMonitor")[0].spec.endpoints[0].port = "web"; }],
    ["PrometheusRule schema break", "PrometheusRule", (m) => { byKind(m, "PrometheusRule")[0].spec.groups = "none"; }],
    ["dashboard without label", "grafana_dashboard", (m) => { for (const cm of byKind(m, "ConfigMap")) delete (cm.metadata.labels || {}).grafana_dashboard; }],
    ["ServiceMonitor unknown field", "unknown field", (m) => { byKind(m, "ServiceMonitor")[0].spec.endpoint = []; }],
  ];
  let failed = 0;
  const pristine = await validateAll({ base: clone(base), monitoring: clone(mon) });
  if (pristine.length) { console.log(`FAIL pristine manifests${realMonitoring ? "" : " (with synthetic monitoring)"} are rejected:\n  ${pristine.join("\n  ")}`); failed++; }
  else console.log(`ok   pristine base${realMonitoring ? " + deploy/k8s/monitoring" : " + synthetic monitoring"} accepted`);
  for (const [name, expect, mutate] of cases) {
    const b = clone(base);
    mutate(b);
    const errs = await validateAll({ base: b }, { runBinary: expect.includes("rejects") });
    const hit = errs.some((e) => e.includes(expect));
    console.log(`${hit ? "ok  " : "FAIL"} rejects: ${name}${hit ? "" : `  (expected "${expect}", got: ${errs.join(" / ") || "no error"})`}`);
    if (!hit) failed++;
  }
  for (const [name, expect, mutate] of monCases) {
    const m = clone(mon);
    mutate(m);
    const errs = await validateAll({ base: clone(base), monitoring: m }, { runBinary: false });
    const hit = errs.some((e) => e.includes(expect));
    console.log(`${hit ? "ok  " : "FAIL"} rejects: ${name}${hit ? "" : `  (expected "${expect}", got: ${errs.join(" / ") || "no error"})`}`);
    if (!hit) failed++;
  }
  return failed;
}

// --------------------------------------------------------------------- main
const t0 = Date.now();
try {
  const base = readDocs(args.base);
  const ingress = args.ingress ? readDocs(args.ingress) : null;
  const monitoring = args.monitoring ? readDocs(args.monitoring) : null;
  if (args.self) {
    const failed = await selfTest(base, monitoring);
    console.log(failed ? `self-test: ${failed} case(s) FAILED` : `self-test: every deliberate break was rejected (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    process.exit(failed ? 1 : 0);
  }
  const errors = await validateAll({ base, ingress, monitoring });
  const count = base.length + (ingress ? ingress.length : 0) + (monitoring ? monitoring.length : 0);
  if (errors.length) {
    console.log(`FAIL ${errors.length} problem(s) in ${count} objects:`);
    for (const e of errors) console.log(`  ${e}`);
    process.exit(1);
  }
  const kinds = [...base, ...(ingress || []), ...(monitoring || [])].map(objId).join(", ");
  console.log(`ok: ${count} objects valid (schema, no unknown fields, invariants; binary accepts the environment): ${kinds}`);
  console.log(`    binary reads ${BINARY_VARS.size} variables; monitoring ${monitoring ? "validated" : "not given (no deploy/k8s/monitoring), skipped"} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
} catch (e) {
  console.log(`FAIL ${e.message}`);
  process.exit(1);
}
