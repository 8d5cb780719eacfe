{{/*
Deployment of a job role: (list $ "worker") or (list $ "scheduler"). The same image as the app, run
with OBAN_MODE=<role> and no PHX_SERVER: no ports, no probes, no lifecycle hook.
*/}}
{{- define "codex-pooler.obanDeployment" -}}
{{- $root := index . 0 -}}
{{- $role := index . 1 -}}
{{- $values := index $root.Values.oban $role -}}
{{- $component := printf "oban-%s" $role -}}
{{- $clustered := include "codex-pooler.clustered" (list $root $role) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "codex-pooler.fullname" $root }}-{{ $component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "codex-pooler.labels" (list $root $component) | nindent 4 }}
spec:
  replicas: {{ int64 $values.replicaCount }}
  revisionHistoryLimit: 2
  {{- include "codex-pooler.strategy" $values.strategy | nindent 2 }}
  selector:
    matchLabels:
      {{- include "codex-pooler.selectorLabels" (list $root $component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "codex-pooler.selectorLabels" (list $root $component) | nindent 8 }}
        {{- if $clustered }}
        codex-pooler.icoretech.io/cluster-member: "true"
        {{- end }}
      {{- with include "codex-pooler.podAnnotations" (list $root $values.podAnnotations) | trim }}
      {{- . | nindent 6 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "codex-pooler.serviceAccountName" $root }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ int64 $values.terminationGracePeriodSeconds }}
      {{- with include "codex-pooler.podSchedulingAndSecurity" (list $root $values) | trim }}
      {{- . | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: {{ include "codex-pooler.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: [{{ include "codex-pooler.bin" $root | quote }}, "start"]
          env:
            - name: OBAN_MODE
              value: {{ $role | quote }}
            {{- include "codex-pooler.runtimeEnv" (list $root $role) | nindent 12 }}
            {{- include "codex-pooler.commonEnv" $root | nindent 12 }}
            {{- with include "codex-pooler.extraEnv" (list $root $values.extraEnv) }}
            {{- . | nindent 12 }}
            {{- end }}
          {{- include "codex-pooler.volumeMounts" $root | nindent 10 }}
          {{- with include "codex-pooler.containerSecurityAndResources" (list $root $values) | trim }}
          {{- . | nindent 10 }}
          {{- end }}
      {{- include "codex-pooler.volumes" $root | nindent 6 }}
{{- end }}
