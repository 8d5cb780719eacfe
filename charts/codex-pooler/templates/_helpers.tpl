{{/*
Chart name: nameOverride or the chart name.
*/}}
{{- define "codex-pooler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Base name of every resource: fullnameOverride or the name. The release name is deliberately not
prefixed, so the workloads keep the names the deployment docs use (codex-pooler-app, ...).
*/}}
{{- define "codex-pooler.fullname" -}}
{{- default (include "codex-pooler.name" .) .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "codex-pooler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of one component: include "codex-pooler.selectorLabels" (list $ "app").
*/}}
{{- define "codex-pooler.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "codex-pooler.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/*
All labels of one component: include "codex-pooler.labels" (list $ "app").
*/}}
{{- define "codex-pooler.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "codex-pooler.chart" $root }}
{{ include "codex-pooler.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: codex-pooler
{{- end }}

{{/*
The one image every role runs.
*/}}
{{- define "codex-pooler.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion (toString .Values.image.tag)) }}
{{- end }}

{{/*
The CLI inside the image.
*/}}
{{- define "codex-pooler.bin" -}}
/app/bin/codex-pooler
{{- end }}

{{- define "codex-pooler.secretName" -}}
{{- default (printf "%s-secrets" (include "codex-pooler.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "codex-pooler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "codex-pooler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "codex-pooler.clusterServiceName" -}}
{{- default (printf "%s-cluster" (include "codex-pooler.fullname" .)) .Values.clustering.headlessService.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "codex-pooler.clusterQuery" -}}
{{- default (printf "%s.%s.svc.cluster.local" (include "codex-pooler.clusterServiceName" .) .Release.Namespace) .Values.clustering.query }}
{{- end }}

{{/*
"true" when the role ("app", "worker", "scheduler") takes part in clustering.
*/}}
{{- define "codex-pooler.clustered" -}}
{{- $root := index . 0 -}}
{{- if and $root.Values.clustering.enabled (index $root.Values.clustering.participants (index . 1)) -}}
true
{{- end }}
{{- end }}

{{- define "codex-pooler.ownerForwarding" -}}
{{- $wc := .Values.app.websocketContinuity | default dict -}}
{{- $of := $wc.ownerForwarding | default dict -}}
{{- if $of.enabled -}}
true
{{- end }}
{{- end }}

{{/*
A value rendered as an env string: booleans and numbers become their text.
*/}}
{{- define "codex-pooler.envString" -}}
{{- if kindIs "float64" . -}}
{{- int64 . | toString -}}
{{- else -}}
{{- toString . -}}
{{- end }}
{{- end }}

{{/*
Environment shared by every role, migrations included: runtime settings, then the six secret keys.
*/}}
{{- define "codex-pooler.commonEnv" -}}
{{- $secret := include "codex-pooler.secretName" . -}}
- name: PORT
  value: {{ include "codex-pooler.envString" .Values.config.port | quote }}
- name: PHX_HOST
  value: {{ .Values.config.host | quote }}
- name: POOL_SIZE
  value: {{ include "codex-pooler.envString" .Values.config.poolSize | quote }}
- name: ECTO_IPV6
  value: {{ include "codex-pooler.envString" .Values.config.ectoIpv6 | quote }}
- name: OBAN_JOBS_QUEUE_LIMIT
  value: {{ include "codex-pooler.envString" .Values.config.obanJobsQueueLimit | quote }}
- name: OBAN_SHUTDOWN_GRACE_PERIOD_MS
  value: {{ include "codex-pooler.envString" .Values.config.obanShutdownGracePeriodMs | quote }}
- name: LANG
  value: {{ .Values.config.lang | quote }}
- name: LC_ALL
  value: {{ .Values.config.lcAll | quote }}
- name: CODEX_POOLER_DATA_DIR
  value: "/app/data"
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: database-url
- name: SECRET_KEY_BASE
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: secret-key-base
- name: CODEX_POOLER_TOTP_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: totp-encryption-key
- name: CODEX_POOLER_TOTP_KEY_VERSION
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: totp-key-version
- name: CODEX_POOLER_UPSTREAM_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: upstream-secret-key
- name: CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: upstream-secret-key-version
{{- end }}

{{/*
Pod identity of a long-running role (event origin id, own address excluded from DNS peers) and,
when the role takes part in clustering, the peer discovery query. Argument: (list $ "worker").
*/}}
{{- define "codex-pooler.runtimeEnv" -}}
{{- $root := index . 0 -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- if include "codex-pooler.clustered" . }}
- name: DNS_CLUSTER_QUERY
  value: {{ include "codex-pooler.clusterQuery" $root | quote }}
{{- end }}
{{- end }}

{{/*
Extra env as a YAML list (empty when none): the global list, then the role's own.
Argument: (list $ .Values.app.extraEnv).
*/}}
{{- define "codex-pooler.extraEnv" -}}
{{- $all := concat ((index . 0).Values.extraEnv | default list) (index . 1 | default list) -}}
{{- if $all }}{{ toYaml $all }}{{ end -}}
{{- end }}

{{/*
Pod annotations of a runtime role: the shared map, overridden by the role's own.
Argument: (list $ .Values.app.podAnnotations).
*/}}
{{- define "codex-pooler.podAnnotations" -}}
{{- $root := index . 0 -}}
{{- $merged := merge (deepCopy (index . 1 | default dict)) (deepCopy ($root.Values.podAnnotations | default dict)) -}}
{{- if $root.Values.secrets.create }}
{{- $_ := set $merged "checksum/secret" (include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum) -}}
{{- end }}
{{- with $merged }}
annotations:
  {{- range $key, $value := . }}
  {{ $key }}: {{ toString $value | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Pod-level settings shared by every role. Argument: (list $ .Values.oban.worker).
*/}}
{{- define "codex-pooler.podSchedulingAndSecurity" -}}
{{- $root := index . 0 -}}
{{- $role := index . 1 -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Writable scratch space: the data directory (control file of the drain command) and /tmp (drain
marker), so the root filesystem can stay read-only.
*/}}
{{- define "codex-pooler.volumes" -}}
volumes:
  - name: data
    emptyDir: {}
  - name: tmp
    emptyDir: {}
{{- end }}

{{- define "codex-pooler.volumeMounts" -}}
volumeMounts:
  - name: data
    mountPath: /app/data
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/*
Container-level security context and resources. Argument: (list $ .Values.oban.worker).
*/}}
{{- define "codex-pooler.containerSecurityAndResources" -}}
{{- $root := index . 0 -}}
{{- $role := index . 1 -}}
{{- with $root.Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
An HTTP probe on the app's port. Probes send X-Forwarded-Proto: https so that HTTPS enforcement
never redirects them. Argument: .Values.app.readinessProbe.
*/}}
{{- define "codex-pooler.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
  httpHeaders:
    - name: X-Forwarded-Proto
      value: https
initialDelaySeconds: {{ int .initialDelaySeconds }}
periodSeconds: {{ int .periodSeconds }}
failureThreshold: {{ int .failureThreshold }}
timeoutSeconds: {{ int .timeoutSeconds }}
{{- end }}

{{/*
Rolling update strategy of a Deployment. Argument: the role's strategy map.
*/}}
{{- define "codex-pooler.strategy" -}}
strategy:
  type: RollingUpdate
  rollingUpdate:
    maxUnavailable: {{ include "codex-pooler.intOrString" .maxUnavailable }}
    maxSurge: {{ include "codex-pooler.intOrString" .maxSurge }}
{{- end }}

{{/*
An int-or-string field (0, 1, "25%"): numbers as integers, strings quoted.
*/}}
{{- define "codex-pooler.intOrString" -}}
{{- if kindIs "string" . -}}
{{- quote . -}}
{{- else -}}
{{- int64 . -}}
{{- end }}
{{- end }}
